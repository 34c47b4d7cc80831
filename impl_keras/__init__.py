"""The WGAN in Keras 3. wgan.py is the algorithm, train.py the training loop, contract.py what
the harness calls: `build_wgan(spec, params)` and the rest of shared/core/protocol.py's contract."""

from impl_keras.contract import FRAMEWORK, WGAN, build_wgan, execution_mode, execution_modes, set_threads

__all__ = ["FRAMEWORK", "WGAN", "build_wgan", "execution_mode", "execution_modes", "set_threads"]
