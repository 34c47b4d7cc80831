"""The harness's contract for impl_tensorflow/wgan.py: threads, dtype, device, the tf.function graphs,
NumPy in and out, canonical parameters (shared/core/protocol.py says what every implementation provides).
Nothing of the algorithm is here: WGAN below only converts arrays and calls wgan.py's critic_step and
generator_step, traced into graphs.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from impl_tensorflow.wgan import Critic, Generator, SpecAdam, critic_step, generator_step, make_optimizer
from shared.core.errors import UserError
from shared.core.params import bn_layers, check_params, trainable_names
from shared.core.protocol import mixing_weights
from shared.core.spec import WGANSpec

FRAMEWORK = "tensorflow"


# ==================================================================================================
# Setup: threads, dtype, device
# ==================================================================================================
def set_threads(n: int, mode: str | None = None) -> None:
    """Pin n threads (two framework processes asking for all cores on a 2-core box crawl): two ops side by
    side (inter-op), each on n // 2 threads (intra-op); for mode xla, n of each."""
    # A G-it's graph is about two ops wide (the critic's passes over real and fake, and the next critic step's
    # G(z), are independent), and a batch-64 matmul split over threads waits on its slowest part: on a 2-core
    # Zen 5, one intra-op thread and two inter-op ones ran the G-it at 55-59 G-it/s against 40-42 with two of
    # each and 29-31 with two intra-op and one inter-op (docs/performance.md). XLA runs its compiled G-it's
    # ops on the intra-op pool alone: one thread there halved it (24-29 against 47-53 G-it/s).
    intra, inter = (n, n) if mode == "xla" else (max(1, n // 2), min(n, 2))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        pass  # TF fixes its thread pools when it starts; once it has, the first setting stays.


def tf_dtype(spec: WGANSpec) -> tf.DType:
    return {"float32": tf.float32, "float64": tf.float64}[spec.dtype]


def resolve_device(device: str) -> str:
    if device == "cpu":
        return "/CPU:0"
    if not device.startswith(("cuda", "gpu")):
        raise UserError(f"unknown device {device!r}; use cpu or cuda")
    if not tf.config.list_physical_devices("GPU"):
        raise UserError(f"--device {device}: TensorFlow sees no GPU here; use --device cpu")
    return f"/GPU:{device.partition(':')[2] or 0}"  # cuda:1 -> /GPU:1



# ==================================================================================================
# Contract: NumPy in, NumPy out, canonical parameters (see shared/core/protocol.py)
# ==================================================================================================
class WGAN:
    """Generator, critic and their optimizers behind the harness's contract."""

    framework = FRAMEWORK
    jit_compile = False
    """True: train.py's iteration graphs are compiled with XLA (execution mode 'xla'; off by default)."""

    def __init__(self, spec: WGANSpec, params: dict[str, np.ndarray] | None = None, device: str = "cpu") -> None:
        self.spec = spec
        self.device = resolve_device(device)
        self.dtype = tf_dtype(spec)
        with tf.device(self.device):
            self.generator = Generator(spec)
            self.critic = Critic(spec)
            if params is not None:
                self.set_params(params)
            self.generator_optimizer = make_optimizer(self.generator, spec)
            self.critic_optimizer = make_optimizer(self.critic, spec)
        # Parity: torch runs the steps eagerly; here each step is traced once into a graph. The batch
        # dimension is left open, so one graph serves every batch size.
        real = tf.TensorSpec([None, spec.data_dim], self.dtype)
        z = tf.TensorSpec([None, spec.latent_dim], self.dtype)
        mix = tf.TensorSpec([None, 1], self.dtype)
        self._critic_step = tf.function(functools.partial(critic_step, self), input_signature=[real, z, mix])
        self._generator_step = tf.function(functools.partial(generator_step, self), input_signature=[z])
        # train.py's loop: a whole generator iteration as ONE graph (one call per G-it, not one per step).
        # The graph unrolls the iteration's k critic steps, so there is one per k (n_critic, and 1 for the
        # tutorial's very first G-it), each with the batch left open like the step graphs: with a static
        # batch TF rewrites the graph differently and float32 results part from the steps' in the last bit.
        self._signatures = (real, z, mix)
        self._iterations: dict[int, tf.types.experimental.GenericFunction] = {}

    def _generator_iteration(self, real: tf.Tensor, z: tf.Tensor, mix: tf.Tensor, z_gen: tf.Tensor):
        """k critic steps on real[t], z[t], mix[t] ([k, B, ...]), then the generator step on z_gen: the last
        critic step's record, its max_abs_weight the largest over the k steps, and the generator's record."""
        records = [critic_step(self, real[t], z[t], mix[t]) for t in range(real.shape[0])]
        # Return only what the G-it's log keeps of its critic steps (shared/core/loop.py's iteration_log): the
        # last step's record, with max_abs_weight the largest over all k steps, as Keras' fit() batch does. The
        # earlier steps' other statistics are then not outputs of the graph, so TF's graph optimizer removes the
        # ops that compute them (the count of clipped weights over all critic weights, D's ranges and means): a
        # G-it 4-7% faster on the AVX2 EPYC, one thread and two, the same float32 results bit for bit
        # (docs/performance.md, session 25).
        largest = tf.reduce_max(tf.stack([r["max_abs_weight"] for r in records]))
        return {**records[-1], "max_abs_weight": largest}, generator_step(self, z_gen)

    def train_iteration(self, inputs: dict[str, np.ndarray]) -> tuple[list[dict[str, float]], dict[str, float]]:
        """One generator iteration from Streams.iteration_inputs: ([critic record], generator record), a
        one-element list holding the last critic step's record with its max_abs_weight replaced by the largest
        over the iteration's steps: what shared/core/loop.py logs of them."""
        k = len(inputs["real"])
        if k not in self._iterations:
            stacked = [tf.TensorSpec([k, *s.shape], self.dtype) for s in self._signatures]
            self._iterations[k] = tf.function(self._generator_iteration, input_signature=[*stacked, self._signatures[1]],
                                              jit_compile=self.jit_compile)
        with tf.device(self.device):
            critic, generator = self._iterations[k](*(self._tensor(inputs[k]) for k in ("real", "z", "mix", "z_gen")))
        return [{k: float(v) for k, v in critic.items()}], {k: float(v) for k, v in generator.items()}

    def _tensor(self, array: np.ndarray) -> tf.Tensor:
        with tf.device(self.device):
            return tf.convert_to_tensor(np.asarray(array, dtype=self.spec.dtype))

    def critic_step(self, real: np.ndarray, z: np.ndarray, mix: np.ndarray | None = None) -> dict[str, float]:
        mix = mixing_weights(self.spec, real, mix)
        with tf.device(self.device):
            out = self._critic_step(self._tensor(real), self._tensor(z), self._tensor(mix))
        return {k: float(v) for k, v in out.items()}

    def generator_step(self, z: np.ndarray) -> dict[str, float]:
        with tf.device(self.device):
            out = self._generator_step(self._tensor(z))
        return {k: float(v) for k, v in out.items()}

    def critic_scores(self, x: np.ndarray) -> np.ndarray:
        with tf.device(self.device):
            return tf.reshape(self.critic(self._tensor(x)), [-1]).numpy()

    def generate(self, z: np.ndarray, training: bool = False) -> np.ndarray:
        with tf.device(self.device):
            return self.generator(self._tensor(z), training=training).numpy()

    # --- canonical parameters --------------------------------------------------------------------
    def _named_variables(self) -> dict[str, tf.Variable]:
        """Canonical name -> the tf.Variable holding it (Dense.kernel is [in, out]: no transpose)."""
        out: dict[str, tf.Variable] = {}
        for network, module in (("generator", self.generator), ("critic", self.critic)):
            for k, dense in enumerate(module.dense):
                out[f"{network}.dense{k}.kernel"] = dense.kernel
                out[f"{network}.dense{k}.bias"] = dense.bias
                if network == "generator" and k in bn_layers(self.spec):
                    bn = module.norms[f"bn{k}"]
                    out.update({f"generator.bn{k}.gamma": bn.gamma, f"generator.bn{k}.beta": bn.beta,
                                f"generator.bn{k}.moving_mean": bn.moving_mean,
                                f"generator.bn{k}.moving_var": bn.moving_var})
        return out

    def get_params(self) -> dict[str, np.ndarray]:
        return {name: v.numpy().copy() for name, v in self._named_variables().items()}

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        check_params(self.spec, params)
        for name, v in self._named_variables().items():
            v.assign(self._tensor(params[name]))

    def _optimizer_slots(self):
        """(state name, slot variable) for every optimizer slot, named as shared.core.params.optimizer_state_shapes."""
        named = self._named_variables()
        for network, optimizer in (("generator", self.generator_optimizer), ("critic", self.critic_optimizer)):
            for name in trainable_names(self.spec, network):
                yield name, optimizer.mean_square(named[name])
                if isinstance(optimizer, SpecAdam):
                    yield f"momentum/{name}", optimizer.momentum(named[name])
            if isinstance(optimizer, SpecAdam):
                yield f"step/{network}", optimizer.step

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        return {name: v.numpy().copy() for name, v in self._optimizer_slots()}

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        check_params(self.spec, state, what="optimizer state")
        for name, v in self._optimizer_slots():
            v.assign(self._tensor(state[name]))


def build_wgan(spec: WGANSpec, params: dict[str, np.ndarray] | None = None, device: str = "cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)


# ==================================================================================================
# Execution modes: how train.py's loop can run (`wgan-suite bench` asks for them by name)
# ==================================================================================================
EXECUTION_MODES = {
    "tf.function": "one graph per generator iteration (train.py), no XLA",
    "xla": "the same graphs compiled with XLA (jit_compile=True)",
    "eager": "the same Python run op by op (tf.config.run_functions_eagerly)",
}
"""name -> what runs; the first is the default, what `train` and `compare` use."""


def execution_modes() -> dict[str, str]:
    return dict(EXECUTION_MODES)


@contextlib.contextmanager
def execution_mode(wgan: WGAN, mode: str) -> Iterator[Callable]:
    """Set `wgan` up for `mode` and yield the fit function (train.py's) that trains it that way."""
    from impl_tensorflow.train import fit
    if mode not in EXECUTION_MODES:
        raise UserError(f"unknown mode {mode!r} for {FRAMEWORK}; choose one of {', '.join(EXECUTION_MODES)}")
    if mode == "xla":
        wgan.jit_compile = True  # the iteration graphs are traced on first use, now with XLA
    eager = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(mode == "eager" or eager)
    try:
        yield fit
    finally:
        tf.config.run_functions_eagerly(eager)
