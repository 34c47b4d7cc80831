"""Porting bug: RMSprop decay 0.9, Keras' default rho."""

from examples.porting_bugs import ported_with, set_threads  # noqa: F401  (set_threads: the contract's)

build_wgan = ported_with(__name__, rms_decay=0.9)
