"""Porting bug: RMSprop's eps inside the square root, as Keras puts it."""

from examples.porting_bugs import ported_with, set_threads  # noqa: F401  (set_threads: the contract's)

build_wgan = ported_with(__name__, rms_eps_placement="inside")
