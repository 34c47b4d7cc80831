"""Porting bug: keras.layers.LeakyReLU() with its default slope."""

from examples.porting_bugs import ported_with, set_threads  # noqa: F401  (set_threads: the contract's)

build_wgan = ported_with(__name__, leaky_slope=0.3)
