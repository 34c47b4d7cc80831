"""Porting bug: BatchNorm with the library's default eps 1e-5, not the tutorial's 0.8."""

from examples.porting_bugs import ported_with, set_threads  # noqa: F401  (set_threads: the contract's)

build_wgan = ported_with(__name__, bn_eps=1e-5)
