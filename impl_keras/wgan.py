"""WGAN with weight clipping in Keras 3: keras.Model subclasses, compile()/fit() with a custom train_step,
clipping as a weight constraint, RMSprop as a small keras.optimizers.Optimizer.

The same file also runs the two variants the tutorial is measured against (spec.variant): WGAN-GP
(gradient penalty instead of clipping, Adam) and the original GAN (sigmoid cross-entropy, Adam).

Read this file top to bottom; impl_pytorch/wgan.py and impl_tensorflow/wgan.py have the same sections
with the same names, so a diff between two of them shows only framework lines.
The four WGAN changes from the original GAN are marked `WGAN change 1..4`.

Keras 3 runs on several backends: KERAS_BACKEND (set before `import keras`; shared/protocol.py sets it)
picks TensorFlow ("keras"), PyTorch ("keras:torch") or JAX ("keras:jax"). Everything here is keras.ops
except what Keras leaves to the backend in a custom train_step: taking gradients (`_value_and_grad`,
`_input_gradient`) and, on JAX, handing state in and out (`WGANModel._jax_train_step`).
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import keras
import numpy as np
from keras import ops

from shared.errors import UserError
from shared.params import bn_layers, check_params, layer_sizes, trainable_names
from shared.protocol import CRITIC_RECORD, mixing_weights
from shared.spec import WGANSpec

FRAMEWORK = "keras"


# ==================================================================================================
# Setup: threads, dtype, device
# ==================================================================================================
def set_threads(n: int) -> None:
    """Pin intra-op threads (two framework processes asking for all cores on a 2-core box crawl)."""
    if keras.backend.backend() == "torch":
        import torch
        torch.set_num_threads(n)
        return
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        pass  # TensorFlow already started its thread pools in this process; they keep their size


def resolve_device(device: str) -> str:
    """'cpu' / 'cuda[:N]' -> a keras.device() name ('cpu:0' / 'gpu:N'); UserError when there is no GPU."""
    if not (device == "cpu" or device.startswith("cuda")):
        raise UserError(f"unknown device {device!r}; use cpu or cuda")
    if device == "cpu":
        return "cpu:0"
    if keras.backend.backend() == "torch":
        import torch
        has_gpu = torch.cuda.is_available()
    else:
        import tensorflow as tf
        has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if not has_gpu:
        raise UserError(f"--device {device}: Keras on {keras.backend.backend()} sees no GPU here; use --device cpu")
    return "gpu:" + (device.partition(":")[2] or "0")


def _compiled(fn, dtype: str, *shapes):
    """A step function, compiled: on TensorFlow one tf.function graph for inputs of `shapes` with the
    batch left open (so fit() and the contract's steps trace the same graph) and no XLA; on torch plain
    eager Python, as Keras' own torch trainer runs (and, here, on JAX)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, input_signature=[tf.TensorSpec(s, dtype) for s in shapes], jit_compile=False)
    return fn


def _numpy(x) -> np.ndarray:
    """A NumPy copy of a tensor or Keras variable (ops.convert_to_numpy goes through np.array(x), which
    NumPy 2 warns about for TensorFlow variables and torch tensors)."""
    x = x.value if isinstance(x, keras.Variable) else x
    if keras.backend.backend() == "torch":
        return x.detach().cpu().numpy().copy()
    if keras.backend.backend() == "jax":
        return np.array(x)
    return np.array(x.numpy())


def _value_and_grad(loss_fn, variables, model: keras.Model):
    """((loss, aux), d loss / d variables) for `loss, aux = loss_fn()`: the backend-specific part of a
    Keras 3 custom train_step (Keras' guides: GradientTape on TensorFlow, autograd on torch,
    jax.value_and_grad over values on JAX)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
        return (loss, aux), tape.gradient(loss, variables)
    if keras.backend.backend() == "torch":
        import torch
        loss, aux = loss_fn()
        return (loss, aux), list(torch.autograd.grad(loss, [v.value for v in variables]))
    # JAX differentiates functions of values, not variables: run loss_fn in a StatelessScope that maps
    # every variable of the model to its value (the differentiated ones to JAX's tracers), then carry the
    # values loss_fn assigned (BatchNorm statistics) out and assign them for real.
    import jax
    others = [v for v in model.variables if id(v) not in {id(x) for x in variables}]

    def f(values):
        mapping = [(v, v.value) for v in others] + list(zip(variables, values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss, aux = loss_fn()
        assigned = [scope.get_current_value(v) for v in model.non_trainable_variables]
        return loss, (aux, assigned)

    (loss, (aux, assigned)), grads = jax.value_and_grad(f, has_aux=True)([v.value for v in variables])
    for v, value in zip(model.non_trainable_variables, assigned):
        if value is not None:
            v.assign(value)
    return (loss, aux), grads


def _input_gradient(fn, x):
    """d sum(fn(x)) / dx, itself differentiable w.r.t. the weights fn reads (the gradient penalty's
    double backprop): a nested GradientTape on TensorFlow, create_graph on torch, jax.grad on JAX."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.gradient(y, x)
    if keras.backend.backend() == "torch":
        import torch
        x = x.detach().requires_grad_(True)
        return torch.autograd.grad(ops.sum(fn(x)), x, create_graph=True)[0]
    import jax
    return jax.grad(lambda v: ops.sum(fn(v)))(x)


def _if(condition, then_fn, else_fn):
    """then_fn() if the boolean tensor `condition` else else_fn(): ops.cond inside TensorFlow's traced
    train step; plain Python on torch and JAX, whose train steps run eagerly here (JAX's traced cond
    could not assign the optimizers' and BatchNorm's variables)."""
    if keras.backend.backend() == "tensorflow":
        return ops.cond(condition, then_fn, else_fn)
    return then_fn() if bool(condition) else else_fn()


def _apply_gradients(optimizer: "SpecRMSprop | SpecAdam", grads, variables) -> None:
    """optimizer.apply (update, then each variable's constraint); on torch outside autograd's tape."""
    no_grad = contextlib.nullcontext()
    if keras.backend.backend() == "torch":
        import torch
        no_grad = torch.no_grad()
    with no_grad:
        optimizer.apply(grads, variables)


# ==================================================================================================
# Models
# ==================================================================================================
def _dense(spec: WGANSpec, n_in: int, n_out: int, name: str, constraint=None) -> keras.layers.Dense:
    """Dense layer (kernel [in, out], y = x @ kernel + bias) initialised per spec.init."""
    if spec.init == "torch_default":
        # Parity: torch.nn.Linear draws weight AND bias from U(+-1/sqrt(fan_in)); Keras: Glorot, zero bias.
        bound = 1.0 / np.sqrt(n_in)
        kernel_init = keras.initializers.RandomUniform(-bound, bound)
        bias_init = keras.initializers.RandomUniform(-bound, bound)
    else:
        kernel_init, bias_init = keras.initializers.GlorotUniform(), keras.initializers.Zeros()
    return keras.layers.Dense(n_out, kernel_initializer=kernel_init, bias_initializer=bias_init,
                              kernel_constraint=constraint, bias_constraint=constraint, dtype=spec.dtype, name=name)


def leaky_relu(x, slope: float):
    """x where x > 0, else slope * x."""
    # Parity: keras.layers.LeakyReLU defaults to slope 0.3, and on TensorFlow it calls tf.nn.leaky_relu,
    # which stores the slope in float32 (1e-8 off in float64). `where` is exact and has torch's gradient.
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


class Generator(keras.Model):
    """z [B, latent] -> x [B, data_dim] in [-1, 1]: Dense/LeakyReLU blocks, BatchNorm on all but the first."""

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
        layers += [_dense(spec, sizes[-2], sizes[-1], f"dense{k}"),
                   keras.layers.Activation("tanh", dtype=spec.dtype)]
        self.model = keras.Sequential(layers)
        self.build((None, sizes[0]))

    def call(self, z, training=False):
        return self.model(z, training=training)


class Critic(keras.Model):
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
        return self.model(x, training=training)


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
    grad = _input_gradient(critic, x)  # the critic has no BatchNorm or dropout: training mode changes nothing
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
        # Parity: bounds as tensors of w's dtype; keras' torch backend would turn a Python float into a
        # float32 tensor and clip float64 weights to float32(c).
        c = ops.convert_to_tensor(self.clip_value, dtype=w.dtype)
        return ops.clip(w, -c, c)

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
    flat = ops.abs(ops.concatenate([ops.reshape(w, (-1,)) for w in critic.trainable_variables]))
    at_bound = ops.sum(ops.cast(flat >= clip_value, "float64"))  # a count: exact in every backend
    return ops.max(flat), at_bound / flat.shape[0]


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

    (loss, (d_real, d_fake, penalty)), grads = _value_and_grad(loss_fn, wgan.critic.trainable_variables, wgan)
    # WGAN change 3: apply() updates, then runs each variable's constraint: clip into [-c, c] after every update.
    _apply_gradients(wgan.critic_optimizer, grads, wgan.critic.trainable_variables)
    return dict(critic_loss=loss, gradient_penalty=penalty, d_real=d_real, d_fake=d_fake)


# ==================================================================================================
# Generator step
# ==================================================================================================
def generator_step(wgan: "WGANModel", z) -> dict:
    """One generator update on z [B, latent] (the critic's weights are not updated)."""

    def loss_fn():
        return generator_loss(wgan.critic(wgan.generator(z, training=True), training=True), wgan.spec.variant), ()

    (loss, _), grads = _value_and_grad(loss_fn, wgan.generator.trainable_variables, wgan)
    _apply_gradients(wgan.generator_optimizer, grads, wgan.generator.trainable_variables)
    return dict(generator_loss=loss)


# ==================================================================================================
# Contract: NumPy in, NumPy out, canonical parameters (see shared/protocol.py)
# ==================================================================================================
# --- the keras.Model that fit() trains -------------------------------------------------------------
class WGANModel(keras.Model):
    """Generator, critic and their optimizers as one keras.Model: `fit()` trains it through `train_step`.

    One batch of fit() = one batch of the tutorial's loop: {real [B, data_dim], z [B, latent], mix [B, 1],
    z_gen [B, latent], generator_step [1]} -> one critic step, then the generator step on z_gen when
    generator_step says the schedule puts one here (the tutorial's `if i % opt.n_critic == 0`). A Keras
    epoch is a pass over the training data. The contract (WGAN below) calls the very same compiled
    `critic_update` / `generator_update` one step at a time.
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
        # On JAX, fit() runs eagerly: the optimizers' slots live outside Keras' functional state.
        # Parity: Keras' JAX trainer needs an optimizer to carry in its state; it gets the critic's.
        on_jax = keras.backend.backend() == "jax"
        super().compile(optimizer=critic_optimizer if on_jax else None, jit_compile=False, run_eagerly=on_jax,
                        **kwargs)
        self.critic_optimizer = critic_optimizer
        self.generator_optimizer = generator_optimizer
        spec = self.spec
        self.critic_update = _compiled(self._critic_update, spec.dtype, (None, spec.data_dim),
                                       (None, spec.latent_dim), (None, 1))
        self.generator_update = _compiled(self._generator_update, spec.dtype, (None, spec.latent_dim))

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
            return self._jax_train_step(*args)
        return self._train_step(*args)

    def _jax_train_step(self, state, data):
        """The same train step on JAX: the model's variables read from `state`, every assignment caught by
        a StatelessScope and handed back as the new state. The two RMSprop optimizers are not Keras'
        `self.optimizer`, so their slots are not in `state`: they are assigned for real (fit() runs
        eagerly on JAX for that reason)."""
        trainable, non_trainable, optimizer, metrics = state
        groups = [(self.trainable_variables, trainable), (self.non_trainable_variables, non_trainable),
                  (self.optimizer.variables, optimizer), (self.metrics_variables, metrics)]
        mapping = [pair for variables, values in groups for pair in zip(variables, values)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._train_step(data)
        for v in self.generator_optimizer.variables:  # not in Keras' state: keep its slots for real
            if (value := scope.get_current_value(v)) is not None:
                v.assign(value)
        new_state = tuple([old if (value := scope.get_current_value(v)) is None else value
                           for v, old in zip(variables, values)] for variables, values in groups)
        return logs, new_state

    def _train_step(self, data) -> dict:
        """One critic step, and the generator step if the batch asks for one. Logs: the Mean trackers
        (critic_loss, wasserstein, generator_loss over the epoch), this batch's critic record and the
        generator loss as last_* (NaN when no generator step ran), and generator_stepped (1.0 or 0.0)."""
        record = self.critic_update(data["real"], data["z"], data["mix"])
        self.critic_loss_tracker.update_state(record["critic_loss"])
        self.wasserstein_tracker.update_state(record["wasserstein"])

        def generator_turn() -> dict:
            out = self.generator_update(data["z_gen"])
            self.generator_loss_tracker.update_state(out["generator_loss"])
            return {**out, "generator_stepped": ops.ones((), self.spec.dtype)}

        def no_generator_turn() -> dict:
            return {"generator_loss": ops.full((), float("nan"), self.spec.dtype),
                    "generator_stepped": ops.zeros((), self.spec.dtype)}

        generator = _if(data["generator_step"][0], generator_turn, no_generator_turn)
        last = {**record, "generator_loss": generator["generator_loss"]}
        return {**{m.name: m.result() for m in self.metrics}, **{f"last_{k}": v for k, v in last.items()},
                "generator_stepped": generator["generator_stepped"]}


# --- the harness's contract -----------------------------------------------------------------------
class WGAN:
    """The WGANModel behind the harness's contract."""

    framework = FRAMEWORK

    def __init__(self, spec: WGANSpec, params: dict[str, np.ndarray] | None = None, device: str = "cpu") -> None:
        self.spec = spec
        backend = keras.backend.backend()
        self.framework = FRAMEWORK if backend == "tensorflow" else f"{FRAMEWORK}:{backend}"
        self.device = resolve_device(device)
        with keras.device(self.device):
            self.model = WGANModel(spec)
            self.generator, self.critic = self.model.generator, self.model.critic
            self.model.compile(critic_optimizer=make_optimizer(self.critic, spec),
                               generator_optimizer=make_optimizer(self.generator, spec))
        if params is not None:
            self.set_params(params)
        if backend != "tensorflow" and spec.dtype == "float64":
            # Parity: Keras' JAX-style type promotion maps float64 to float32 on every backend but
            # TensorFlow, so ops.matmul and ops.mean on torch compute in float32 (~1e-8 off in float64).
            warnings.warn(f"{self.framework} computes matmul and mean in float32 even for dtype float64; it "
                          "agrees with the others to ~1e-7, not 1e-14 (use framework 'keras' for float64)",
                          stacklevel=2)

    def _tensor(self, array: np.ndarray):
        return ops.convert_to_tensor(np.asarray(array, dtype=self.spec.dtype))

    def critic_step(self, real: np.ndarray, z: np.ndarray, mix: np.ndarray | None = None) -> dict[str, float]:
        mix = mixing_weights(self.spec, real, mix)
        with keras.device(self.device):
            out = self.model.critic_update(self._tensor(real), self._tensor(z), self._tensor(mix))
        return {k: float(_numpy(out[k])) for k in CRITIC_RECORD}

    def generator_step(self, z: np.ndarray) -> dict[str, float]:
        with keras.device(self.device):
            out = self.model.generator_update(self._tensor(z))
        return {k: float(_numpy(v)) for k, v in out.items()}

    def critic_scores(self, x: np.ndarray) -> np.ndarray:
        with keras.device(self.device):
            return _numpy(ops.reshape(self.critic(self._tensor(x), training=False), (-1,)))

    def generate(self, z: np.ndarray, training: bool = False) -> np.ndarray:
        with keras.device(self.device):
            return _numpy(self.generator(self._tensor(z), training=training))

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
        return {name: _numpy(v) for name, v in self._named_variables().items()}

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        check_params(self.spec, params)
        for name, v in self._named_variables().items():
            v.assign(np.asarray(params[name], dtype=self.spec.dtype))

    def _optimizer_slots(self):
        """(state name, slot variable) for every optimizer slot, named as shared.params.optimizer_state_shapes."""
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
        return {name: _numpy(v).astype(self.spec.dtype) for name, v in self._optimizer_slots()}

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        check_params(self.spec, state, what="optimizer state")
        for name, v in self._optimizer_slots():
            v.assign(np.asarray(state[name]).astype(v.dtype))


def build_wgan(spec: WGANSpec, params: dict[str, np.ndarray] | None = None, device: str = "cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)
