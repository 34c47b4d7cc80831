"""WGAN with weight clipping in TensorFlow 2: tf.Module models, GradientTape, tf.function, Variable.assign.

The same file also runs the two variants the tutorial is measured against (spec.variant): WGAN-GP
(gradient penalty instead of clipping, Adam) and the original GAN (sigmoid cross-entropy, Adam).
Read this file top to bottom: the algorithm only. impl_pytorch/wgan.py and impl_keras/wgan.py have
the same sections with the same names, so a diff between two of them shows only framework lines.
The four WGAN changes from the original GAN are marked `WGAN change 1..4`. The training loop is in
train.py; threads, devices, graphs and the harness's NumPy contract are in contract.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import math

import tensorflow as tf

from shared.core.params import bn_layers, layer_sizes
from shared.core.spec import WGANSpec

if TYPE_CHECKING:  # the object the steps update: its generator, critic and their optimizers
    from impl_tensorflow.contract import WGAN


# ==================================================================================================
# Models
# ==================================================================================================
def leaky_relu(x: tf.Tensor, slope: float) -> tf.Tensor:
    # Parity: tf.nn.leaky_relu stores its slope as float32 (0.2 -> 0.200000003), off by 1e-8 in float64.
    return tf.where(x > 0, x, slope * x)


class Dense(tf.Module):
    """y = x @ kernel + bias; kernel [in, out] is the canonical layout (torch's Linear.weight is its transpose)."""

    def __init__(self, n_in: int, n_out: int, spec: WGANSpec, name: str) -> None:
        super().__init__(name=name)
        dtype = tf.as_dtype(spec.dtype)
        # Parity: torch.nn.Linear draws its own start; TF has no layer, so draw spec.init here (the
        # harness overwrites it with shared.core.params.init_params anyway).
        if spec.init == "torch_default":  # U(+-1/sqrt(fan_in)) for kernel and bias
            bound = 1.0 / math.sqrt(n_in)
            kernel = tf.random.uniform([n_in, n_out], -bound, bound, dtype)
            bias = tf.random.uniform([n_out], -bound, bound, dtype)
        else:  # glorot_uniform kernel, zero bias
            bound = math.sqrt(6.0 / (n_in + n_out))
            kernel, bias = tf.random.uniform([n_in, n_out], -bound, bound, dtype), tf.zeros([n_out], dtype)
        self.kernel = tf.Variable(kernel, name="kernel")
        self.bias = tf.Variable(bias, name="bias")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return x @ self.kernel + self.bias


class BatchNorm(tf.Module):
    """(x - mean) / sqrt(var + eps) * gamma + beta over the batch axis of x [B, n].

    training=True: the batch's mean and biased variance, and the moving statistics move towards them
    (moving = (1 - m) * moving + m * batch, m = spec.bn_momentum, torch's convention); otherwise the
    moving statistics.
    """

    def __init__(self, n: int, spec: WGANSpec, name: str) -> None:
        super().__init__(name=name)
        dtype = tf.as_dtype(spec.dtype)
        self.eps, self.momentum = spec.bn_eps, spec.bn_momentum
        self.unbiased_moving_var = spec.bn_running_var == "unbiased"
        self.gamma = tf.Variable(tf.ones([n], dtype), name="gamma")
        self.beta = tf.Variable(tf.zeros([n], dtype), name="beta")
        self.moving_mean = tf.Variable(tf.zeros([n], dtype), trainable=False, name="moving_mean")
        self.moving_var = tf.Variable(tf.ones([n], dtype), trainable=False, name="moving_var")

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        if not training:
            return tf.nn.batch_normalization(x, self.moving_mean, self.moving_var, self.beta, self.gamma, self.eps)
        mean, var = tf.nn.moments(x, axes=[0])  # biased variance, as torch normalises with
        moving_var = var
        if self.unbiased_moving_var:
            b = tf.cast(tf.shape(x)[0], x.dtype)
            moving_var = var * b / (b - 1)  # torch's running_var: the unbiased batch variance
        m = self.momentum
        self.moving_mean.assign((1 - m) * self.moving_mean + m * mean)
        self.moving_var.assign((1 - m) * self.moving_var + m * moving_var)
        return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, self.eps)


class Generator(tf.Module):
    """z [B, latent] -> x [B, data_dim]: Dense/LeakyReLU blocks, BatchNorm on all but the first, tanh out
    (the tutorial; spec.generator_batch_norm and spec.generator_output turn them off for the 2-D toys)."""

    def __init__(self, spec: WGANSpec) -> None:
        super().__init__(name="generator")
        self.tanh_output = spec.generator_output == "tanh"
        sizes, _ = layer_sizes(spec)  # [100, 128, 256, 512, 1024, 784]
        self.slope = spec.leaky_slope
        self.dense = [Dense(n_in, n_out, spec, name=f"dense{k}")
                      for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))]
        # eps and momentum by name, from the spec: no framework default (the tutorial's 0.8 is eps).
        self.norms = {f"bn{k}": BatchNorm(sizes[k + 1], spec, name=f"bn{k}") for k in bn_layers(spec)}

    def __call__(self, z: tf.Tensor, training: bool) -> tf.Tensor:
        # Parity: torch keeps train/eval mode on the module; TF passes `training` to every call.
        x = z
        for k, dense in enumerate(self.dense[:-1]):
            x = dense(x)
            if f"bn{k}" in self.norms:
                x = self.norms[f"bn{k}"](x, training)
            x = leaky_relu(x, self.slope)
        x = self.dense[-1](x)
        return tf.tanh(x) if self.tanh_output else x  # tanh: samples in [-1, 1], the range the data is scaled to


class Critic(tf.Module):
    """x [B, data_dim] -> score [B, 1]. WGAN change 1: no sigmoid — the output is an unbounded score."""

    def __init__(self, spec: WGANSpec) -> None:
        super().__init__(name="critic")
        sizes = layer_sizes(spec)[1]  # [784, 512, 256, 1]
        self.slope = spec.leaky_slope
        self.dense = [Dense(n_in, n_out, spec, name=f"dense{k}")
                      for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        for dense in self.dense[:-1]:
            x = leaky_relu(dense(x), self.slope)
        return self.dense[-1](x)  # WGAN change 1: no tf.sigmoid here


# ==================================================================================================
# Losses
# ==================================================================================================
def critic_loss(d_real: tf.Tensor, d_fake: tf.Tensor, variant: str = "wgan") -> tf.Tensor:
    """-E[D(real)] + E[D(fake)]. WGAN change 2: no log — raw scores, not log-probabilities.

    variant 'gan': the original GAN's -E[log sigmoid(D(real))] - E[log(1 - sigmoid(D(fake)))], halved as
    the tutorial's gan.py does; d_real, d_fake [B, 1] are logits.
    """
    if variant == "gan":
        return (tf.reduce_mean(softplus(-d_real)) + tf.reduce_mean(softplus(d_fake))) / 2
    return -tf.reduce_mean(d_real) + tf.reduce_mean(d_fake)


def generator_loss(d_fake: tf.Tensor, variant: str = "wgan") -> tf.Tensor:
    """-E[D(G(z))]. WGAN change 2: no log. Variant 'gan': the non-saturating -E[log sigmoid(D(G(z)))]."""
    if variant == "gan":
        return tf.reduce_mean(softplus(-d_fake))
    return -tf.reduce_mean(d_fake)


def softplus(x: tf.Tensor) -> tf.Tensor:
    """log(1 + e^x) = -log sigmoid(-x), never overflowing."""
    # Parity: tf.nn.softplus has its own cut-offs; this formula is the same in every framework.
    return tf.maximum(x, 0) + tf.math.log1p(tf.exp(-tf.abs(x)))


def gradient_penalty(critic, real: tf.Tensor, fake: tf.Tensor, mix: tf.Tensor, weight: float) -> tf.Tensor:
    """WGAN-GP: weight * E[(||grad_x D(x)|| - 1)^2] at x = mix * real + (1 - mix) * fake, mix [B, 1]."""
    x = mix * real + (1 - mix) * fake
    with tf.GradientTape() as tape:  # inside the caller's tape, which differentiates this again w.r.t. w
        tape.watch(x)
        d = critic(x)
    # D's outputs depend on their own rows only, so the gradient of the sum is every row's gradient [B, data_dim].
    grad = tape.gradient(d, x)
    norm = tf.sqrt(tf.reduce_sum(grad * grad, axis=1))
    return weight * tf.reduce_mean((norm - 1) ** 2)


# ==================================================================================================
# Weight clipping
# ==================================================================================================
def clip_critic_weights(critic: Critic, clip_value: float) -> None:
    """WGAN change 3: clamp every critic weight and bias into [-c, c] (the critic has no BatchNorm)."""
    for v in critic.trainable_variables:
        v.assign(tf.clip_by_value(v, -clip_value, clip_value))


def clip_stats(critic: Critic, clip_value: float) -> tuple[tf.Tensor, tf.Tensor]:
    """(max |w|, share of weights at +-c) over all critic variables, after clipping."""
    # Parity: tensors, so a tf.function step computes them in-graph; torch returns floats.
    # Weight by weight, then combined: with the weights concatenated first, XLA parallelised the concatenation
    # so badly on two threads that a G-it took 0.4 s (2.6 against 47-53 G-it/s). Counts: no float64 copy.
    magnitudes = [tf.abs(w) for w in critic.trainable_variables]   # |w|, once per weight tensor
    max_abs = tf.reduce_max(tf.stack([tf.reduce_max(m) for m in magnitudes]))
    at_bound = tf.add_n([tf.math.count_nonzero(m >= clip_value) for m in magnitudes])
    return max_abs, tf.cast(at_bound, tf.float64) / sum(m.shape.num_elements() for m in magnitudes)


# ==================================================================================================
# Optimizer
# ==================================================================================================
class SpecRMSprop(tf.Module):
    """RMSprop with the spec's eps placement and starting mean square (TF2 has none outside Keras).

    v <- decay * v + (1 - decay) * g^2;  w <- w - lr * g / (sqrt(v) + eps)   [eps 'outside', as torch]
                                         w <- w - lr * g / sqrt(v + eps)     [eps 'inside', as Keras]
    """

    def __init__(self, variables, spec: WGANSpec) -> None:
        super().__init__(name="rmsprop")
        self.spec = spec
        # One mean square per variable, made now so get/set_optimizer_state work before the first step.
        self.mean_squares = {v.ref(): tf.Variable(tf.fill(v.shape, tf.constant(spec.rms_initial_mean_square, v.dtype)),
                                                  trainable=False, name="mean_square")
                             for v in variables}

    def mean_square(self, variable: tf.Variable) -> tf.Variable:
        return self.mean_squares[variable.ref()]

    def apply_gradients(self, grads_and_vars) -> None:
        """One update from (gradient, variable) pairs, the argument Keras optimizers take too."""
        grads, variables = zip(*grads_and_vars)
        self.update(list(variables), [self.mean_square(w) for w in variables], list(grads))

    # XLA fuses each variable's update into one pass over memory; as separate TF ops it is ~9 passes, ~10% of a
    # G-it on the CPU. The matmuls around it stay TensorFlow's (oneDNN).
    @tf.function(jit_compile=True)
    def update(self, variables: list[tf.Variable], mean_squares: list[tf.Variable], grads: list[tf.Tensor]) -> None:
        spec = self.spec
        for w, v, g in zip(variables, mean_squares, grads):
            v.assign(spec.rms_decay * v + (1 - spec.rms_decay) * g * g)
            if spec.rms_eps_placement == "outside":
                denom = tf.sqrt(v) + spec.rms_eps
            else:
                denom = tf.sqrt(v + spec.rms_eps)
            w.assign_sub(spec.lr * g / denom)


class SpecAdam(tf.Module):
    """Adam as torch.optim.Adam computes it (spec.optimizer 'adam': WGAN-GP, GAN).

    m <- beta1 * m + (1 - beta1) * g;  v <- beta2 * v + (1 - beta2) * g^2;  t <- t + 1
    w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    def __init__(self, variables, spec: WGANSpec) -> None:
        super().__init__(name="adam")
        self.spec = spec
        dtype = variables[0].dtype
        self.step = tf.Variable(tf.zeros([], dtype), trainable=False, name="step")
        self.mean_squares = {v.ref(): tf.Variable(tf.zeros(v.shape, dtype), trainable=False, name="mean_square")
                             for v in variables}
        self.momenta = {v.ref(): tf.Variable(tf.zeros(v.shape, dtype), trainable=False, name="momentum")
                        for v in variables}

    def mean_square(self, variable: tf.Variable) -> tf.Variable:
        return self.mean_squares[variable.ref()]

    def momentum(self, variable: tf.Variable) -> tf.Variable:
        return self.momenta[variable.ref()]

    def apply_gradients(self, grads_and_vars) -> None:
        spec = self.spec
        self.step.assign_add(tf.ones([], self.step.dtype))
        step_size = spec.lr / (1 - spec.adam_beta1 ** self.step)
        bias_correction2_sqrt = tf.sqrt(1 - spec.adam_beta2 ** self.step)
        for g, w in grads_and_vars:
            m, v = self.momentum(w), self.mean_square(w)
            # Parity: torch updates m with lerp(m, g, 1 - beta1); equal up to the last bit.
            m.assign(spec.adam_beta1 * m + (1 - spec.adam_beta1) * g)
            v.assign(spec.adam_beta2 * v + (1 - spec.adam_beta2) * g * g)
            w.assign_sub(step_size * (m / (tf.sqrt(v) / bias_correction2_sqrt + spec.adam_eps)))


def make_optimizer(module: tf.Module, spec: WGANSpec) -> SpecRMSprop | SpecAdam:
    """WGAN change 4: RMSprop (no momentum) over the module's trainable variables (moving statistics excluded)."""
    # Parity: TF2's only RMSprop besides Keras' is tf.compat.v1's, which starts its mean square at 1.
    if spec.optimizer == "adam":
        return SpecAdam(module.trainable_variables, spec)
    return SpecRMSprop(module.trainable_variables, spec)


# ==================================================================================================
# Critic step
# ==================================================================================================
def critic_step(wgan: "WGAN", real: tf.Tensor, z: tf.Tensor, mix: tf.Tensor) -> dict[str, tf.Tensor]:
    """One critic update: real [B, data_dim], z [B, latent], mix [B, 1] (WGAN-GP). The record as scalar tensors."""
    spec = wgan.spec
    # Generator in training mode, as torch's train(): BatchNorm uses and updates batch stats.
    fake = tf.stop_gradient(wgan.generator(z, training=True))
    with tf.GradientTape() as tape:
        d_real, d_fake = wgan.critic(real), wgan.critic(fake)
        loss = critic_loss(d_real, d_fake, spec.variant)
        penalty = tf.zeros([], loss.dtype)
        if spec.variant == "wgan-gp":
            penalty = gradient_penalty(wgan.critic, real, fake, mix, spec.gp_weight)
        loss = loss + penalty
    variables = wgan.critic.trainable_variables
    wgan.critic_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    if spec.variant == "wgan":
        clip_critic_weights(wgan.critic, spec.clip_value)  # WGAN change 3: after every critic update
    max_abs, share = clip_stats(wgan.critic, spec.clip_value)
    return dict(critic_loss=loss, wasserstein=tf.reduce_mean(d_real) - tf.reduce_mean(d_fake),
                gradient_penalty=penalty,
                d_real_min=tf.reduce_min(d_real), d_real_max=tf.reduce_max(d_real), d_real_mean=tf.reduce_mean(d_real),
                d_fake_min=tf.reduce_min(d_fake), d_fake_max=tf.reduce_max(d_fake), d_fake_mean=tf.reduce_mean(d_fake),
                max_abs_weight=max_abs, clipped_share=share)


# ==================================================================================================
# Generator step
# ==================================================================================================
def generator_step(wgan: "WGAN", z: tf.Tensor) -> dict[str, tf.Tensor]:
    """One generator update on z [B, latent] (the critic's weights are not updated)."""
    with tf.GradientTape() as tape:
        loss = generator_loss(wgan.critic(wgan.generator(z, training=True)), wgan.spec.variant)
    variables = wgan.generator.trainable_variables  # gamma and beta, not the moving statistics
    wgan.generator_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return dict(generator_loss=loss)
