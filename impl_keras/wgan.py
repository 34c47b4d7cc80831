"""WGAN with weight clipping in Keras 3: keras.Model subclasses, compile()/fit() with a custom train_step,
clipping as a weight constraint, RMSprop as a small keras.optimizers.Optimizer.

The same file also runs the two variants the tutorial is measured against (spec.variant): WGAN-GP
(gradient penalty instead of clipping, Adam) and the original GAN (sigmoid cross-entropy, Adam).
Read this file top to bottom: the algorithm only. impl_pytorch/wgan.py and impl_tensorflow/wgan.py have
the same sections with the same names, so a diff between two of them shows only framework lines; the
last section, Train step, is Keras' own: the keras.Model whose fit() runs the tutorial's loop.
The four WGAN changes from the original GAN are marked `WGAN change 1..4`. The training loop is in
train.py; threads, devices and the harness's NumPy contract are in contract.py.

Keras 3 runs on several backends: KERAS_BACKEND (set before `import keras`; shared/core/protocol.py sets it)
picks TensorFlow ("keras"), PyTorch ("keras:torch") or JAX ("keras:jax"). Everything here is keras.ops
except what Keras leaves to the backend in a custom train_step: taking gradients and, on JAX, handing
state in and out. Those few functions are in backend.py, with some for speed in torch's eager mode
(run_layers: a Sequential's layers without Keras' per-call machinery; fused_dense and fused_batch_norm:
torch's own Linear and BatchNorm kernels) — and, on torch, leaky_relu is torch's own kernel.
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
from keras import ops

from impl_keras.backend import (EagerModel, apply_gradients, clip, compiled, cond, fused_batch_norm, fused_dense,
                                fused_update, input_gradient, jax_train_step, largest_and_count_at_least, run_layers,
                                value_and_grad, widest_float)
from shared.core.params import bn_layers, layer_sizes
from shared.core.protocol import CRITIC_RECORD, GENERATOR_RECORD
from shared.core.spec import WGANSpec


# ==================================================================================================
# Models
# ==================================================================================================
class Dense(keras.layers.Dense):
    """keras.layers.Dense: x [B, in] -> x @ kernel + bias [B, out], kernel [in, out]. On torch the same as one
    torch.addmm, for speed (backend.fused_dense); elsewhere Keras' own call."""

    def call(self, inputs, training=None):
        fused = fused_dense(self, inputs)  # on torch: torch's one addmm (backend.py)
        return super().call(inputs) if fused is None else fused


def _dense(spec: WGANSpec, n_in: int, n_out: int, name: str, constraint=None) -> Dense:
    """Dense layer (kernel [in, out], y = x @ kernel + bias) initialised per spec.init."""
    if spec.init == "torch_default":
        # Parity: torch.nn.Linear draws weight AND bias from U(+-1/sqrt(fan_in)); Keras: Glorot, zero bias.
        bound = 1.0 / np.sqrt(n_in)
        kernel_init = keras.initializers.RandomUniform(-bound, bound)
        bias_init = keras.initializers.RandomUniform(-bound, bound)
    else:
        kernel_init, bias_init = keras.initializers.GlorotUniform(), keras.initializers.Zeros()
    return Dense(n_out, kernel_initializer=kernel_init, bias_initializer=bias_init, kernel_constraint=constraint,
                 bias_constraint=constraint, dtype=spec.dtype, name=name)


def leaky_relu(x, slope: float):
    """x where x > 0, else slope * x."""
    if keras.backend.backend() == "torch":  # torch's own kernel computes exactly this, in one op instead of three
        return ops.leaky_relu(x, negative_slope=slope)
    # Parity: keras.layers.LeakyReLU defaults to slope 0.3, and on TensorFlow it calls tf.nn.leaky_relu,
    # which stores the slope in float32 (1e-8 off in float64); JAX's takes slope 1 at x == 0 in its
    # gradient. `where` is exact and has torch's gradient.
    return ops.where(x > 0, x, x * slope)


class BatchNorm(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization with the spec's running-variance convention.

    Training normalises with the batch mean and BIASED batch variance (every framework does); the running
    variance is updated with the unbiased one when spec.bn_running_var == 'unbiased' (torch), with the
    biased one otherwise (Keras' own layer, which has no switch). Inference is Keras' own code.
    """

    def __init__(self, spec: WGANSpec, **kwargs) -> None:
        # Parity: Keras' momentum is the weight of the OLD value, 1 - spec.bn_momentum (torch 0.1 -> 0.9).
        super().__init__(momentum=spec.keras_bn_momentum, epsilon=spec.bn_eps, dtype=spec.dtype, **kwargs)
        self.batch_weight = spec.bn_momentum  # 1 - (1 - 0.1) is 0.09999999999999998, not torch's 0.1
        self.unbiased = spec.bn_running_var == "unbiased"

    def call(self, inputs, training=None, mask=None):
        if not training:
            return super().call(inputs, training=False)
        fused = fused_batch_norm(self, inputs)  # on torch: all of the below as torch's one kernel (backend.py)
        if fused is not None:
            return fused
        # x [B, C]. Two-pass moments: Keras' torch backend computes E[x^2] - E[x]^2, which cancels badly.
        n = ops.cast(ops.shape(inputs)[0], inputs.dtype)
        mean = ops.mean(inputs, axis=0)
        sum_sq = ops.sum(ops.square(inputs - mean), axis=0)
        variance = sum_sq / n
        # x * (1 / (n - 1)), not x / (n - 1): TF's constant folding rewrites a division by a batch size
        # it can see into this product, so the contract's graph and fit()'s would round differently.
        running_variance = sum_sq * (1.0 / (n - 1.0)) if self.unbiased else variance
        m = self.batch_weight
        self.moving_mean.assign(self.moving_mean * (1.0 - m) + mean * m)
        self.moving_variance.assign(self.moving_variance * (1.0 - m) + running_variance * m)
        return ops.batch_normalization(inputs, mean, variance, axis=-1, offset=self.beta, scale=self.gamma,
                                       epsilon=self.epsilon)


class Generator(EagerModel):  # a keras.Model (EagerModel: faster calls on torch, backend.py)
    """z [B, latent] -> x [B, data_dim]: Dense/LeakyReLU blocks, BatchNorm on all but the first, tanh out
    (the tutorial; spec.generator_batch_norm and spec.generator_output turn them off for the 2-D toys)."""

    def __init__(self, spec: WGANSpec) -> None:
        super().__init__(dtype=spec.dtype, name="generator")
        sizes, _ = layer_sizes(spec)  # [100, 128, 256, 512, 1024, 784]
        act = functools.partial(leaky_relu, slope=spec.leaky_slope)
        layers: list = [keras.Input((sizes[0],), dtype=spec.dtype)]  # builds every layer now
        for k, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1])):
            layers.append(_dense(spec, n_in, n_out, f"dense{k}"))
            if k in bn_layers(spec):
                layers.append(BatchNorm(spec, name=f"bn{k}"))
            layers.append(keras.layers.Activation(act, dtype=spec.dtype))
        k = len(sizes) - 2
        layers.append(_dense(spec, sizes[-2], sizes[-1], f"dense{k}"))
        if spec.generator_output == "tanh":  # samples in [-1, 1], the range the data is scaled to
            layers.append(keras.layers.Activation("tanh", dtype=spec.dtype))
        self.model = keras.Sequential(layers)
        self.build((None, sizes[0]))

    def call(self, z, training=False):
        return run_layers(self.model, z, training)  # self.model(z, training=training), faster on torch


class Critic(EagerModel):  # a keras.Model, as Generator
    """x [B, data_dim] -> score [B, 1]. WGAN change 1: no sigmoid — the output is an unbounded score."""

    def __init__(self, spec: WGANSpec) -> None:
        super().__init__(dtype=spec.dtype, name="critic")
        sizes = layer_sizes(spec)[1]  # [784, 512, 256, 1]
        act = functools.partial(leaky_relu, slope=spec.leaky_slope)
        # WGAN change 3: on every kernel and bias (no BatchNorm here); WGAN-GP and GAN do not clip.
        clip = clip_critic_weights(spec.clip_value) if spec.variant == "wgan" else None
        layers: list = [keras.Input((sizes[0],), dtype=spec.dtype)]
        for k, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1])):
            layers += [_dense(spec, n_in, n_out, f"dense{k}", clip), keras.layers.Activation(act, dtype=spec.dtype)]
        k = len(sizes) - 2
        layers.append(_dense(spec, sizes[-2], sizes[-1], f"dense{k}", clip))  # WGAN change 1: no sigmoid here
        self.model = keras.Sequential(layers)
        self.build((None, sizes[0]))

    def call(self, x, training=False):
        return run_layers(self.model, x, training)  # self.model(x, training=training), faster on torch


# ==================================================================================================
# Losses
# ==================================================================================================
def critic_loss(d_real, d_fake, variant: str = "wgan"):
    """-E[D(real)] + E[D(fake)]. WGAN change 2: no log — raw scores, not log-probabilities.

    variant 'gan': the original GAN's -E[log sigmoid(D(real))] - E[log(1 - sigmoid(D(fake)))], halved as
    the tutorial's gan.py does; d_real, d_fake [B, 1] are logits.
    """
    if variant == "gan":
        return (ops.mean(softplus(-d_real)) + ops.mean(softplus(d_fake))) / 2
    return -ops.mean(d_real) + ops.mean(d_fake)


def generator_loss(d_fake, variant: str = "wgan"):
    """-E[D(G(z))]. WGAN change 2: no log. Variant 'gan': the non-saturating -E[log sigmoid(D(G(z)))]."""
    if variant == "gan":
        return ops.mean(softplus(-d_fake))
    return -ops.mean(d_fake)


def softplus(x):
    """log(1 + e^x) = -log sigmoid(-x), never overflowing."""
    # Parity: ops.softplus is each backend's own (torch's switches to x above 20); this formula is shared.
    return ops.maximum(x, 0.0) + ops.log1p(ops.exp(-ops.abs(x)))


def gradient_penalty(critic, real, fake, mix, weight: float):
    """WGAN-GP: weight * E[(||grad_x D(x)|| - 1)^2] at x = mix * real + (1 - mix) * fake, mix [B, 1]."""
    x = mix * real + (1.0 - mix) * fake
    # D's outputs depend on their own rows only, so the gradient of the sum is every row's gradient [B, data_dim].
    grad = input_gradient(critic, x)  # the critic has no BatchNorm or dropout: training mode changes nothing
    norm = ops.sqrt(ops.sum(grad * grad, axis=1))
    return weight * ops.mean(ops.square(norm - 1.0))


# ==================================================================================================
# Weight clipping
# ==================================================================================================
class WeightClip(keras.constraints.Constraint):
    """w -> clip(w, -c, c). Keras optimizers apply a variable's constraint right after each update."""

    def __init__(self, clip_value: float) -> None:
        self.clip_value = float(clip_value)

    def __call__(self, w):
        return clip(w, self.clip_value)   # ops.clip(w, -c, c), c in w's dtype (on torch in place: backend.py)

    def get_config(self) -> dict:
        return {"clip_value": self.clip_value}


def clip_critic_weights(clip_value: float) -> WeightClip:
    """WGAN change 3: every critic weight and bias is clamped into [-c, c] after every critic update.

    Keras' way: a constraint on each critic Dense kernel and bias, applied by the optimizer after its
    update (never get_weights()/set_weights(), which would clip BatchNorm statistics too).
    """
    return WeightClip(clip_value)


def clip_stats(critic: Critic, clip_value: float):
    """(max |w|, share of weights at +-c) over all critic parameters, after clipping (scalar tensors)."""
    # Weight by weight, then combined: no concatenated copy (XLA parallelised TensorFlow's concatenation so
    # badly on two threads that a G-it took 0.4 s). Counts: exact in every backend.
    weights = critic.trainable_variables
    per_weight = [largest_and_count_at_least(w, clip_value) for w in weights]   # (max |w|, count at c) each
    max_abs = ops.max(ops.stack([largest for largest, _ in per_weight]))
    at_bound = sum(count for _, count in per_weight)
    return max_abs, ops.cast(at_bound, widest_float()) / sum(math.prod(w.shape) for w in weights)


# ==================================================================================================
# Optimizer
# ==================================================================================================
class SpecRMSprop(keras.optimizers.Optimizer):
    """RMSprop with the spec's eps placement and starting mean square (Keras' own has neither switch).

    v <- decay * v + (1 - decay) * g^2;  w <- w - lr * g / (sqrt(v) + eps)   [eps 'outside', as torch]
                                         w <- w - lr * g / sqrt(v + eps)     [eps 'inside', as Keras]
    Everything else the Keras base class offers stays off: no weight decay, gradient clipping, EMA,
    loss scaling or gradient accumulation.
    """

    def __init__(self, spec: WGANSpec, name: str | None = None) -> None:
        super().__init__(learning_rate=spec.lr, name=name)
        self.spec = spec

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        self.mean_squares = self.add_optimizer_variables(
            variables, "mean_square", initializer=keras.initializers.Constant(self.spec.rms_initial_mean_square))

    def mean_square(self, variable):
        """The mean-square slot v of one trainable variable."""
        return self.mean_squares[self._get_variable_index(variable)]

    def _backend_update_step(self, grads, variables, learning_rate) -> None:
        # All variables at once, fused where the backend can (backend.py); else update_step per variable.
        if not fused_update(self, grads, variables):
            super()._backend_update_step(grads, variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate) -> None:
        spec = self.spec
        # Parity: Keras keeps `learning_rate` in a float32 variable (5e-5 is 2.6e-9 off in float64); the
        # spec's Python float is exact. The order of operations is torch's (addcmul_, addcdiv_).
        v = self.mean_square(variable)
        g = ops.cast(gradient, variable.dtype)
        self.assign(v, v * spec.rms_decay + (1.0 - spec.rms_decay) * g * g)
        if spec.rms_eps_placement == "outside":
            denom = ops.sqrt(v) + spec.rms_eps
        else:
            denom = ops.sqrt(v + spec.rms_eps)
        self.assign_sub(variable, spec.lr * g / denom)


class SpecAdam(SpecRMSprop):
    """Adam as torch.optim.Adam computes it (spec.optimizer 'adam': WGAN-GP, GAN): RMSprop's mean square
    plus a momentum slot and bias correction.

    m <- beta1 * m + (1 - beta1) * g;  v <- beta2 * v + (1 - beta2) * g^2;  t = self.iterations + 1
    w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    # Parity: keras.optimizers.Adam adds eps to the uncorrected sqrt(v) (an eps larger by 1/sqrt(1 - beta2^t)
    # than torch's) and keeps lr in float32.

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)  # the mean squares (the spec requires them to start at 0 for Adam)
        self.momenta = self.add_optimizer_variables(variables, "momentum")

    def momentum(self, variable):
        return self.momenta[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate) -> None:
        spec = self.spec
        t = ops.cast(self.iterations + 1, variable.dtype)  # the base class counts updates after this one
        # Parity: convert_to_tensor(beta, dtype), not cast(beta): cast goes through float32 first (0.999 -> 0.99900001).
        beta1, beta2 = (ops.convert_to_tensor(b, dtype=variable.dtype) for b in (spec.adam_beta1, spec.adam_beta2))
        step_size = spec.lr / (1.0 - ops.power(beta1, t))
        bias_correction2_sqrt = ops.sqrt(1.0 - ops.power(beta2, t))
        m, v = self.momentum(variable), self.mean_square(variable)
        g = ops.cast(gradient, variable.dtype)
        self.assign(m, m * spec.adam_beta1 + (1.0 - spec.adam_beta1) * g)
        self.assign(v, v * spec.adam_beta2 + (1.0 - spec.adam_beta2) * g * g)
        self.assign_sub(variable, step_size * (m / (ops.sqrt(v) / bias_correction2_sqrt + spec.adam_eps)))


def make_optimizer(network: keras.Model, spec: WGANSpec) -> SpecRMSprop | SpecAdam:
    """WGAN change 4: RMSprop (no momentum), built now so its mean squares exist before the first step."""
    # Parity: keras.optimizers.RMSprop puts eps inside the sqrt, starts its mean square at 0 and keeps lr
    # in float32; SpecRMSprop follows the spec in every dtype.
    if spec.optimizer == "adam":
        optimizer: SpecRMSprop | SpecAdam = SpecAdam(spec, name=f"{network.name}_adam")
    else:
        optimizer = SpecRMSprop(spec, name=f"{network.name}_rmsprop")
    optimizer.build(network.trainable_variables)
    return optimizer


# ==================================================================================================
# Critic step
# ==================================================================================================
def critic_step(wgan: "WGANModel", real, z, mix) -> dict:
    """One critic update: real [B, data_dim], z [B, latent], mix [B, 1] (WGAN-GP). Tensors for the record."""
    spec = wgan.spec
    fake = ops.stop_gradient(wgan.generator(z, training=True))  # train mode: BatchNorm uses and updates batch stats

    def loss_fn():
        d_real, d_fake = wgan.critic(real, training=True), wgan.critic(fake, training=True)
        loss = critic_loss(d_real, d_fake, spec.variant)
        penalty = ops.zeros((), dtype=loss.dtype)
        if spec.variant == "wgan-gp":
            penalty = gradient_penalty(wgan.critic, real, fake, mix, spec.gp_weight)
        return loss + penalty, (d_real, d_fake, penalty)

    (loss, (d_real, d_fake, penalty)), grads = value_and_grad(loss_fn, wgan.critic.trainable_variables, wgan)
    # WGAN change 3: apply() updates, then runs each variable's constraint: clip into [-c, c] after every update.
    apply_gradients(wgan.critic_optimizer, grads, wgan.critic.trainable_variables)
    return dict(critic_loss=loss, gradient_penalty=penalty, d_real=d_real, d_fake=d_fake)


# ==================================================================================================
# Generator step
# ==================================================================================================
def generator_step(wgan: "WGANModel", z) -> dict:
    """One generator update on z [B, latent] (the critic's weights are not updated)."""

    def loss_fn():
        return generator_loss(wgan.critic(wgan.generator(z, training=True), training=True), wgan.spec.variant), ()

    (loss, _), grads = value_and_grad(loss_fn, wgan.generator.trainable_variables, wgan)
    apply_gradients(wgan.generator_optimizer, grads, wgan.generator.trainable_variables)
    return dict(generator_loss=loss)


# ==================================================================================================
# Train step: the keras.Model that fit() trains
# ==================================================================================================
# What train_step logs as last_record, in this order (one value each).
LAST_RECORD = CRITIC_RECORD + GENERATOR_RECORD + ("critic_steps", "generator_stepped")


class WGANModel(keras.Model):
    """Generator, critic and their optimizers as one keras.Model: `fit()` trains it through `train_step`.

    One batch of fit() = one generator iteration of the tutorial's loop, as in Keras' own WGAN-GP example:
    its critic steps, then the generator step. The batch holds the critic steps' inputs side by side,
    real [B, S, data_dim], z [B, S, latent], mix [B, S, 1] with S = spec.n_critic slots, of which the first
    critic_steps [1] are used; then z_gen [B, latent] and generator_step [1] (False when the iteration goes
    on in the next batch: an epoch ends, or its short last batch cannot sit beside full ones). A Keras
    epoch is a pass over the training data. The contract (WGAN below) runs the same step code one step at
    a time, compiled on its own (`critic_update` / `generator_update`): the same results (on TensorFlow bit
    for bit, tests/test_variants.py).
    """

    def __init__(self, spec: WGANSpec) -> None:
        super().__init__(dtype=spec.dtype, name="wgan")
        self.spec = spec
        self.generator = Generator(spec)
        self.critic = Critic(spec)
        self.critic_loss_tracker = keras.metrics.Mean(name="critic_loss")
        self.wasserstein_tracker = keras.metrics.Mean(name="wasserstein")
        self.generator_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.build((None, spec.latent_dim))  # every variable exists now: fit() has nothing to infer from data

    def compile(self, critic_optimizer, generator_optimizer, **kwargs) -> None:
        # No optimizer or loss for Keras to drive (train_step does both); no XLA, so fit() computes
        # exactly what the contract's steps compute.
        # On JAX, Keras' trainer loop runs eagerly (its functional state has no room for the generator
        # optimizer's slots) and jax_train_step jits the whole step itself (backend.py).
        # Parity: Keras' JAX trainer needs an optimizer to carry in its state; it gets the critic's.
        on_jax = keras.backend.backend() == "jax"
        super().compile(optimizer=critic_optimizer if on_jax else None, jit_compile=False, run_eagerly=on_jax,
                        **kwargs)
        self.critic_optimizer = critic_optimizer
        self.generator_optimizer = generator_optimizer
        spec = self.spec
        self.critic_update = compiled(self._critic_update, spec.dtype, (None, spec.data_dim),
                                       (None, spec.latent_dim), (None, 1))
        self.generator_update = compiled(self._generator_update, spec.dtype, (None, spec.latent_dim))

    @property
    def metrics(self) -> list:
        return [self.critic_loss_tracker, self.wasserstein_tracker, self.generator_loss_tracker]

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def _critic_update(self, real, z, mix) -> dict:
        """critic_step and its record (CRITIC_RECORD, as scalar tensors)."""
        out = critic_step(self, real, z, mix)
        max_abs, share = clip_stats(self.critic, self.spec.clip_value)
        loss, d_real, d_fake = out["critic_loss"], out["d_real"], out["d_fake"]
        return dict(critic_loss=loss, wasserstein=ops.mean(d_real) - ops.mean(d_fake),
                    gradient_penalty=out["gradient_penalty"],
                    d_real_min=ops.min(d_real), d_real_max=ops.max(d_real), d_real_mean=ops.mean(d_real),
                    d_fake_min=ops.min(d_fake), d_fake_max=ops.max(d_fake), d_fake_mean=ops.mean(d_fake),
                    max_abs_weight=max_abs, clipped_share=share)

    def _generator_update(self, z) -> dict:
        return generator_step(self, z)

    def train_step(self, *args) -> dict:
        # Parity: Keras' JAX trainer calls train_step(state, data) and wants (logs, new state) back.
        if keras.backend.backend() == "jax":
            return jax_train_step(self, *args)
        return self._train_step(*args)

    def _train_step(self, data) -> dict:
        """The batch's critic steps, then the generator step if the batch asks for one. Logs: the Mean
        trackers (critic_loss, wasserstein, generator_loss over the epoch) and last_record, one float64
        vector in LAST_RECORD order: the last critic step's record (max_abs_weight: the largest over the
        batch's steps), the generator loss (NaN when no generator step ran), critic_steps and
        generator_stepped (1.0 or 0.0)."""
        # Slots on axis 1: Keras' data adapters leave only axis 0 open, and an epoch's last batch is shorter.
        real, z, mix, steps = data["real"], data["z"], data["mix"], data["critic_steps"][0]

        # The steps' code itself, not the compiled critic_update / generator_update the contract calls: on
        # TensorFlow a compiled call inside a cond runs as one op, so the next step's G(z) waits for the whole
        # step before it; traced in here, the two overlap on two threads (fit() x1.26 there, AVX2 EPYC).
        def critic_turn(t: int) -> dict:
            record = self._critic_update(real[:, t], z[:, t], mix[:, t])
            self.critic_loss_tracker.update_state(record["critic_loss"])
            self.wasserstein_tracker.update_state(record["wasserstein"])
            return record

        def generator_turn() -> dict:
            out = self._generator_update(data["z_gen"])
            self.generator_loss_tracker.update_state(out["generator_loss"])
            return {**out, "generator_stepped": ops.ones((), self.spec.dtype)}

        def no_generator_turn() -> dict:
            return {"generator_loss": ops.full((), float("nan"), self.spec.dtype),
                    "generator_stepped": ops.zeros((), self.spec.dtype)}

        def iteration(whole: bool) -> tuple:
            """(the last critic record, the largest max |w| of the batch's steps, the generator's record).
            whole: all n_critic steps and the generator step, no cond between them; else each step after
            the first, and the generator step, runs only if the batch asks for it."""
            record = critic_turn(0)
            max_abs = [record["max_abs_weight"]]
            for t in range(1, self.spec.n_critic):  # a slot past critic_steps holds no batch: skipped
                record = critic_turn(t) if whole else cond(t < steps, functools.partial(critic_turn, t),
                                                           lambda last=record: last, self)
                max_abs.append(record["max_abs_weight"])
            generator = generator_turn() if whole else cond(data["generator_step"][0], generator_turn,
                                                            no_generator_turn, self)
            # Parity: a max over a stack, not ops.maximum, which on torch returns float32 for two float64 scalars.
            return record, ops.max(ops.stack(max_abs)), generator

        # Almost every batch is a whole G-it; only an epoch's end cuts one short. A cond is a barrier on
        # TensorFlow (what follows it waits for all of it): one cond here, none between the steps.
        is_whole = ops.logical_and(steps == self.spec.n_critic, data["generator_step"][0])
        record, max_abs, generator = cond(is_whole, lambda: iteration(True), lambda: iteration(False), self)
        last = {**record, "max_abs_weight": max_abs, "critic_steps": steps, **generator}
        # One vector, not 14 logs: fit() hands each log to Python on its own, after every batch (Keras on
        # TensorFlow unpacks and checks each one: ~3% of a G-it for 13, measured on one AVX2 thread).
        # float64 holds every record exactly (float32 values and the clipped share); JAX without x64 has float32.
        dtype = widest_float()
        return {**{m.name: m.result() for m in self.metrics},
                "last_record": ops.stack([ops.cast(last[k], dtype) for k in LAST_RECORD])}
