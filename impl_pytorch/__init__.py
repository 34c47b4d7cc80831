"""The WGAN in PyTorch. `build_wgan(spec, params)` gives the harness's contract; see wgan.py."""

from impl_pytorch.contract import FRAMEWORK, WGAN, build_wgan, set_threads

__all__ = ["FRAMEWORK", "WGAN", "build_wgan", "set_threads"]
