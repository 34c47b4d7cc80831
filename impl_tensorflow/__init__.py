"""The WGAN in TensorFlow 2. `build_wgan(spec, params)` gives the harness's contract; see wgan.py."""

from impl_tensorflow.contract import FRAMEWORK, WGAN, build_wgan, set_threads

__all__ = ["FRAMEWORK", "WGAN", "build_wgan", "set_threads"]
