"""Porting bug: BatchNorm momentum=0.9 copied from Keras code, where it means the old statistics' weight."""

from examples.porting_bugs import ported_with, set_threads  # noqa: F401  (set_threads: the contract's)

build_wgan = ported_with(__name__, bn_momentum=0.9)
