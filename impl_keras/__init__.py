"""The WGAN in Keras 3. `build_wgan(spec, params)` gives the harness's contract; see wgan.py."""

from impl_keras.contract import FRAMEWORK, WGAN, build_wgan, set_threads

__all__ = ["FRAMEWORK", "WGAN", "build_wgan", "set_threads"]
