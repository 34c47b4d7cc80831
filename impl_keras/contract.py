"""The harness's contract for impl_keras/wgan.py: threads, device, NumPy in and out, canonical
parameters (shared/core/protocol.py says what every implementation provides). Nothing of the algorithm is
here: WGAN below only converts arrays and calls the compiled steps of wgan.py's WGANModel.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Callable, Iterator

import keras
import numpy as np
from keras import ops

from impl_keras.backend import allow_float64, keep_malloc_thresholds, to_numpy
from impl_keras.wgan import BatchNorm, SpecAdam, WGANModel, make_optimizer
from shared.core.errors import UserError
from shared.core.machine import mkl_avx512_on_amd
from shared.core.params import bn_layers, check_params, trainable_names
from shared.core.protocol import CRITIC_RECORD, mixing_weights
from shared.core.spec import WGANSpec

FRAMEWORK = "keras"


# ==================================================================================================
# Setup: threads, dtype, device
# ==================================================================================================
def set_threads(n: int, mode: str | None = None) -> None:
    """Pin n threads (two framework processes asking for all cores on a 2-core box crawl); `mode` matters
    on TensorFlow only (fit+jit: XLA wants every thread in the intra-op pool)."""
    if keras.backend.backend() == "torch":
        import torch
        torch.set_num_threads(n)
        return
    if keras.backend.backend() == "jax":
        # XLA's CPU client sizes its Eigen pool from NPROC when it starts (the process's first computation;
        # once started, its first size stays, as TensorFlow's pools do). Without this it took every core
        # whatever n was; XLA_FLAGS' intra_op_parallelism_threads is no longer read. n workers: n - 1 (one
        # core left to the Python thread that dispatches the steps) was chosen on a Zen 5 when fit() swung
        # 11-35 G-it/s with two, but that was before clip_stats stopped concatenating the weights, which XLA
        # parallelised badly on two threads; since, two workers on two cores hold 33-35 G-it/s against 26-28
        # with one (Intel Xeon, `bench --quick --threads 2`, 2026-12-02).
        os.environ["NPROC"] = str(n)
    try:
        import tensorflow as tf
    except ImportError:  # Keras on JAX needs no TensorFlow (`.[keras-jax]`): nothing more to pin
        return
    # two ops side by side on n // 2 threads each, or XLA on all of them: impl_tensorflow.set_threads says why
    intra, inter = (n, n) if mode == "fit+jit" else (max(1, n // 2), min(n, 2))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        pass  # TensorFlow already started its thread pools in this process; they keep their size


def resolve_device(device: str) -> str:
    """'cpu' / 'cuda[:N]' -> a keras.device() name ('cpu:0' / 'gpu:N'); UserError when there is no GPU."""
    if not (device == "cpu" or device.startswith("cuda")):
        raise UserError(f"unknown device {device!r}; use cpu or cuda")
    if device == "cpu" and keras.backend.backend() == "torch":
        mkl_avx512_on_amd()   # torch's MKL: its AVX-512 kernels on AMD CPUs too, not its AVX2 ones (shared/core/machine.py)
    if device == "cpu":
        # torch: "cpu", not "cpu:0" -- Keras compares each tensor's device (torch.device("cpu"), no index) with
        # this one and calls .to() on every mismatch: ~1,400 needless .to() calls per G-it
        return "cpu" if keras.backend.backend() == "torch" else "cpu:0"
    if keras.backend.backend() == "torch":
        import torch
        has_gpu = torch.cuda.is_available()
    else:
        import tensorflow as tf
        has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if not has_gpu:
        raise UserError(f"--device {device}: Keras on {keras.backend.backend()} sees no GPU here; use --device cpu")
    return "gpu:" + (device.partition(":")[2] or "0")


# ==================================================================================================
# Contract: NumPy in, NumPy out, canonical parameters (see shared/core/protocol.py)
# ==================================================================================================
class WGAN:
    """The WGANModel behind the harness's contract."""

    framework = FRAMEWORK

    def __init__(self, spec: WGANSpec, params: dict[str, np.ndarray] | None = None, device: str = "cpu") -> None:
        self.spec = spec
        backend = keras.backend.backend()
        self.framework = FRAMEWORK if backend == "tensorflow" else f"{FRAMEWORK}:{backend}"
        self.device = resolve_device(device)
        if spec.dtype == "float64":
            allow_float64()
        with keras.device(self.device):
            self.model = WGANModel(spec)
            self.generator, self.critic = self.model.generator, self.model.critic
            self.model.compile(critic_optimizer=make_optimizer(self.critic, spec),
                               generator_optimizer=make_optimizer(self.generator, spec))
        if params is not None:
            self.set_params(params)
        keep_malloc_thresholds()  # freed tensors stay in the heap instead of page-faulting back every step
        if backend != "tensorflow" and spec.dtype == "float64":
            # Parity: Keras' JAX-style type promotion maps float64 to float32 on every backend but
            # TensorFlow: ops.mean computes in float32 on torch and JAX (~1e-8 off in float64), and on torch
            # ops.maximum(x, 0.0) (the GAN's softplus) too. The Dense layers' matmuls are float64 on both (on
            # torch torch's own addmm, backend.fused_dense; Keras' ops.matmul would compute in float32 there).
            ops_in_float32 = "means and maximum" if backend == "torch" else "means"
            warnings.warn(f"{self.framework} computes {ops_in_float32} in float32 even for dtype float64; it "
                          "agrees with the others to ~1e-7, not 1e-14 (use framework 'keras' for float64)",
                          stacklevel=2)

    def _tensor(self, array: np.ndarray):
        return ops.convert_to_tensor(np.asarray(array, dtype=self.spec.dtype))

    def critic_step(self, real: np.ndarray, z: np.ndarray, mix: np.ndarray | None = None) -> dict[str, float]:
        mix = mixing_weights(self.spec, real, mix)
        with keras.device(self.device):
            out = self.model.critic_update(self._tensor(real), self._tensor(z), self._tensor(mix))
        return {k: float(to_numpy(out[k])) for k in CRITIC_RECORD}

    def generator_step(self, z: np.ndarray) -> dict[str, float]:
        with keras.device(self.device):
            out = self.model.generator_update(self._tensor(z))
        return {k: float(to_numpy(v)) for k, v in out.items()}

    def critic_scores(self, x: np.ndarray) -> np.ndarray:
        with keras.device(self.device):
            return to_numpy(ops.reshape(self.critic(self._tensor(x), training=False), (-1,)))

    def generate(self, z: np.ndarray, training: bool = False) -> np.ndarray:
        with keras.device(self.device):
            return to_numpy(self.generator(self._tensor(z), training=training))

    # --- canonical parameters --------------------------------------------------------------------
    def _named_variables(self) -> dict[str, keras.Variable]:
        """Canonical name -> the Keras variable holding it (Dense kernels are already [in, out])."""
        out: dict[str, keras.Variable] = {}
        for network, model in (("generator", self.generator), ("critic", self.critic)):
            dense = [layer for layer in model.model.layers if isinstance(layer, keras.layers.Dense)]
            norms = iter(layer for layer in model.model.layers if isinstance(layer, BatchNorm))
            for k, layer in enumerate(dense):
                out[f"{network}.dense{k}.kernel"] = layer.kernel
                out[f"{network}.dense{k}.bias"] = layer.bias
                if network == "generator" and k in bn_layers(self.spec):
                    bn = next(norms)
                    out.update({f"generator.bn{k}.gamma": bn.gamma, f"generator.bn{k}.beta": bn.beta,
                                f"generator.bn{k}.moving_mean": bn.moving_mean,
                                f"generator.bn{k}.moving_var": bn.moving_variance})
        return out

    def get_params(self) -> dict[str, np.ndarray]:
        return {name: to_numpy(v) for name, v in self._named_variables().items()}

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        check_params(self.spec, params)
        for name, v in self._named_variables().items():
            v.assign(np.asarray(params[name], dtype=self.spec.dtype))

    def _optimizer_slots(self):
        """(state name, slot variable) for every optimizer slot, named as shared.core.params.optimizer_state_shapes."""
        named = self._named_variables()
        for network, optimizer in (("generator", self.model.generator_optimizer),
                                   ("critic", self.model.critic_optimizer)):
            for name in trainable_names(self.spec, network):
                yield name, optimizer.mean_square(named[name])
                if isinstance(optimizer, SpecAdam):
                    yield f"momentum/{name}", optimizer.momentum(named[name])
            if isinstance(optimizer, SpecAdam):
                yield f"step/{network}", optimizer.iterations  # Parity: an int64 count; the state holds a float

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        return {name: to_numpy(v).astype(self.spec.dtype) for name, v in self._optimizer_slots()}

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        check_params(self.spec, state, what="optimizer state")
        for name, v in self._optimizer_slots():
            v.assign(np.asarray(state[name]).astype(v.dtype))


def build_wgan(spec: WGANSpec, params: dict[str, np.ndarray] | None = None, device: str = "cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)


# ==================================================================================================
# Execution modes: how train.py's loop can run (`wgan-suite bench` asks for them by name)
# ==================================================================================================
EXECUTION_MODES = {
    "fit": "model.fit() over the epoch's batches with callbacks (train.py)",
    "steps": "the contract's compiled steps in a plain Python loop (shared/core/loop.py: fit_by_steps)",
    "fit+jit": "model.fit() with jit_compile=True (XLA; TensorFlow backend only)",
}
"""name -> what runs; the first is the default, what `train` and `compare` use."""


def execution_modes() -> dict[str, str]:
    """The modes of the backend this process runs (XLA's fit+jit on TensorFlow only)."""
    return {k: v for k, v in EXECUTION_MODES.items() if k != "fit+jit" or keras.backend.backend() == "tensorflow"}


@contextlib.contextmanager
def execution_mode(wgan: WGAN, mode: str) -> Iterator[Callable]:
    """Set `wgan` up for `mode` and yield the fit function that trains it that way."""
    from impl_keras.train import fit
    from shared.core.loop import fit_by_steps
    modes = execution_modes()
    if mode not in modes:
        raise UserError(f"unknown mode {mode!r} for {wgan.framework}; choose one of {', '.join(modes)}")
    if mode == "fit+jit":
        wgan.model.jit_compile = True
    yield fit_by_steps if mode == "steps" else fit
