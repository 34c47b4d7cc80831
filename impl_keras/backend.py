"""The backend-specific corners of a Keras 3 custom train step (impl_keras/wgan.py stays keras.ops).

Keras leaves a few things to the backend a model runs on (KERAS_BACKEND): taking gradients (GradientTape
on TensorFlow, autograd on torch, jax.value_and_grad over values on JAX), compiling a step, branching
inside a traced step, converting to NumPy, and on JAX handing the model's state in and out of the step.
On torch, which runs every op eagerly, EagerModel and run_layers also skip Keras' per-call machinery, and
fused_dense and fused_batch_norm run Dense and BatchNorm's training step as torch's own kernels.
"""

from __future__ import annotations

import contextlib
import ctypes

import keras
import numpy as np
from keras import ops


def compiled(fn, dtype: str, *shapes):
    """A step function (a bound method of the WGANModel), compiled: on TensorFlow one tf.function graph for
    inputs of `shapes` with the batch left open (as fit()'s graph leaves it, so the two round alike) and
    no XLA; on JAX one jax.jit of the step made stateless (jax_stateless_step); on torch plain eager
    Python, as Keras' own torch trainer runs."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, input_signature=[tf.TensorSpec(s, dtype) for s in shapes], jit_compile=False)
    if keras.backend.backend() == "jax":
        return jax_stateless_step(fn, fn.__self__)
    return fn


def state_variables(model: keras.Model) -> list:
    """Every variable a WGANModel step may read or assign: the networks', the metrics', both optimizers'."""
    everything = (*model.variables, *model.metrics_variables, *model.critic_optimizer.variables,
                  *model.generator_optimizer.variables)
    return list({id(v): v for v in everything}.values())


def stateless(fn, variables):
    """fn(*args), which reads and assigns `variables`, as a pure function (values, *args) -> (out, values
    after): the values go in through a StatelessScope, which also catches every assignment."""
    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            out = fn(*args)
        return out, [scope.get_current_value(v) for v in variables]
    return pure


def jax_stateless_step(step, model: keras.Model):
    """step(*args) as one jitted pure function, the way Keras' own JAX trainer runs a train step: every
    variable the step may touch goes in as a value, the values it assigned come out and are assigned for
    real after the call. jax.jit traces once per input shape (an epoch's short last batch is a second)."""
    import jax
    variables = state_variables(model)
    pure = jax.jit(stateless(step, variables))

    def run(*args):
        out, values = pure([v.value for v in variables], *args)
        for v, value in zip(variables, values):
            v.assign(value)
        return out

    return run


class EagerModel(keras.Model):
    """A keras.Model whose calls, on torch, go straight to its call(): net(x, training=...) is
    net.call(x, training=...) there. Keras' Layer.__call__ (input conversion, autocast and name scopes,
    masks, torch's module hooks) costs ~0.3 ms a call in torch's eager mode, three of them a critic step:
    ~5% of a G-it (A/B in one process, AVX2, one thread). The model is built in __init__ and the inputs
    are torch tensors, so __call__ has nothing left to do; anything else (TensorFlow, JAX, Keras' symbolic
    tensors, NumPy) takes Keras' own __call__."""

    def __call__(self, x, training=False):
        if keras.backend.backend() == "torch" and self.built:
            import torch
            if isinstance(x, torch.Tensor):
                return self.call(x, training=training)
        return super().__call__(x, training=training)


def run_layers(network: keras.Sequential, x, training: bool):
    """network(x, training=training), the Sequential's layers one after another.

    On torch, which runs every op eagerly, each layer's call() is called directly: Keras' Layer.__call__
    (input checks and conversion, autocast and name scopes, masks, torch's module hooks) costs ~0.3 ms a
    call there, as much as a [64, 512] layer's arithmetic (generator forward, batch 64, one AVX2 thread:
    12 ms through the Sequential, 7 ms layer by layer; PyTorch's own 5 ms). The layers are built and the
    inputs are tensors of their dtype, so __call__ has nothing left to do. TensorFlow and JAX trace a step
    once, so there the Sequential is called as Keras intends."""
    if keras.backend.backend() != "torch":
        return network(x, training=training)
    for layer in network.layers:
        x = layer.call(x, training=training) if layer._call_has_training_arg else layer.call(x)
    return x


def fused_dense(layer: keras.layers.Dense, inputs):
    """Dense's inputs @ kernel + bias [B, out] as torch's one addmm (what PyTorch's nn.Linear runs) instead of
    Keras' matmul and add: one op and one autograd node fewer, and none of Keras' per-op conversions for the add
    (Keras on torch, fit(), two threads, AVX2 EPYC: 17.5 -> 18.6 G-it/s); in float64 it computes in float64, where
    Keras' matmul computes in float32. On torch only, for a built Dense with a bias, no activation and no LoRA or
    quantization, called on a [B, in] torch tensor of the kernel's dtype and device; None otherwise, and Keras' own
    call runs (it also takes N-D inputs, promotes dtypes and moves tensors to its device)."""
    if (keras.backend.backend() != "torch" or layer.bias is None or layer.lora_enabled or layer.quantization_mode
            or layer.activation is not keras.activations.linear):
        return None
    import torch
    kernel = layer.kernel.value
    # A meta tensor (Keras' shape inference) is on another device than the kernel, so it falls back too.
    if (not isinstance(inputs, torch.Tensor) or inputs.ndim != 2 or inputs.dtype != kernel.dtype
            or inputs.device != kernel.device):
        return None
    return torch.addmm(layer.bias.value, inputs, kernel)


def fused_batch_norm(layer: keras.layers.BatchNormalization, inputs):
    """BatchNorm's training-mode call as torch's one fused kernel (torch.nn.functional.batch_norm, what
    PyTorch's nn.BatchNorm1d runs): batch mean and biased variance, normalise, scale and shift, and the
    running mean and UNBIASED running variance updated in place with weight `layer.batch_weight`. On torch
    only, where the spec asks for the unbiased running variance (torch's convention); None elsewhere, and
    wgan.py's keras.ops lines compute the same in nine ops (the generator's forward on torch, batch 64, one
    AVX2 thread: 7.8 ms with them, 6.0 ms with this; PyTorch's 4.9)."""
    if keras.backend.backend() != "torch" or not layer.unbiased:
        return None
    import torch.nn.functional as F
    return F.batch_norm(inputs, layer.moving_mean.value, layer.moving_variance.value, layer.gamma.value,
                        layer.beta.value, training=True, momentum=layer.batch_weight, eps=layer.epsilon)


def to_numpy(x) -> np.ndarray:
    """A NumPy copy of a tensor or Keras variable (ops.convert_to_numpy goes through np.array(x), which
    NumPy 2 warns about for TensorFlow variables and torch tensors)."""
    x = x.value if isinstance(x, keras.Variable) else x
    if keras.backend.backend() == "torch":
        return x.detach().cpu().numpy().copy()
    if keras.backend.backend() == "jax":
        return np.array(x)
    return np.array(x.numpy())


def value_and_grad(loss_fn, variables, model: keras.Model):
    """((loss, aux), d loss / d variables) for `loss, aux = loss_fn()`: the backend-specific part of a
    Keras 3 custom train_step (Keras' guides: GradientTape on TensorFlow, autograd on torch,
    jax.value_and_grad over values on JAX)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
        grads = tape.gradient(loss, variables)
        # The update waits for the loss and its parts. Without this, about one trace in 30 of the float64
        # WGAN-GP critic step reported another penalty and took another step (measured on TF 2.21; gone
        # with Grappler's dependency optimizer off: docs/parity.md). The values are already computed, so
        # this costs no arithmetic.
        with tf.control_dependencies(tf.nest.flatten((loss, aux))):
            grads = [tf.identity(g) for g in grads]
        return (loss, aux), grads
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


def input_gradient(fn, x):
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


def cond(condition, then_fn, else_fn, model: keras.Model):
    """then_fn() if the boolean tensor `condition` else else_fn(), inside a traced train step: ops.cond on
    TensorFlow; on JAX jax.lax.cond over the branches made stateless (a branch that assigns variables, as
    the generator step does, cannot otherwise be traced); plain Python on torch, whose steps run eagerly."""
    if keras.backend.backend() == "tensorflow":
        return ops.cond(condition, then_fn, else_fn)
    if keras.backend.backend() == "jax":
        import jax
        variables = state_variables(model)
        out, values = jax.lax.cond(condition, stateless(then_fn, variables), stateless(else_fn, variables),
                                   [v.value for v in variables])
        for v, value in zip(variables, values):
            v.assign(value)
        return out
    return then_fn() if bool(condition) else else_fn()


def apply_gradients(optimizer: keras.optimizers.Optimizer, grads, variables) -> None:
    """optimizer.apply (update, then each variable's constraint); on torch outside autograd's tape."""
    no_grad = contextlib.nullcontext()
    if keras.backend.backend() == "torch":
        import torch
        no_grad = torch.no_grad()
    with no_grad:
        optimizer.apply(grads, variables)


def fused_update(optimizer, grads, variables) -> bool:
    """SpecRMSprop's / SpecAdam's update (wgan.py, the same formulas) for all variables at once, fused where the
    backend can: on torch one call per line over all variables (torch._foreach_*, as Keras' own torch optimizers),
    RMSprop with eps outside as one pass (torch's fused Adam kernel, as impl_pytorch's SpecRMSprop); on
    TensorFlow update_step under XLA, one loop per variable instead of ~9 passes (a G-it ~10% faster). False on
    JAX, whose whole train step is one XLA program already: Keras then runs update_step per variable. Like
    update_step, it uses spec.lr, not Keras' float32 learning-rate variable."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        def update(grads):  # the variables' handles are captured, not passed; update_step uses spec.lr
            for g, v in zip(grads, variables):
                optimizer.update_step(g, v, optimizer.spec.lr)
        kept_for(optimizer, "xla_update", variables, lambda: tf.function(update, jit_compile=True))(list(grads))
        return True
    if backend != "torch":
        return False
    import math

    import torch
    spec = optimizer.spec
    params = [v.value for v in variables]
    g = [grad.to(p.dtype) for grad, p in zip(grads, params)]
    v = [optimizer.mean_square(x).value for x in variables]
    if spec.optimizer == "adam":
        t = int(optimizer.iterations.value) + 1  # the base class counts this update after it
        m = [optimizer.momentum(x).value for x in variables]
        torch._foreach_mul_(m, spec.adam_beta1)
        torch._foreach_add_(m, g, alpha=1.0 - spec.adam_beta1)
        torch._foreach_mul_(v, spec.adam_beta2)
        torch._foreach_addcmul_(v, g, g, value=1.0 - spec.adam_beta2)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, math.sqrt(1.0 - spec.adam_beta2 ** t))
        torch._foreach_add_(denom, spec.adam_eps)
        torch._foreach_addcdiv_(params, m, denom, value=-spec.lr / (1.0 - spec.adam_beta1 ** t))
        return True
    if spec.rms_eps_placement == "outside":
        # Fused Adam with beta1 = 0 and bias corrections of 1 is this RMSprop, g serving as its momentum
        # (impl_pytorch/wgan.py says why).
        steps = kept_for(optimizer, "fused_steps", variables, lambda: [
            torch.tensor(2.0 ** 60, dtype=torch.float32, device=p.device) for p in params])
        torch._fused_adam_(params, g, g, v, [], steps, lr=spec.lr, beta1=0.0, beta2=spec.rms_decay,
                           weight_decay=0.0, eps=spec.rms_eps, amsgrad=False, maximize=False)
        return True
    torch._foreach_mul_(v, spec.rms_decay)
    torch._foreach_addcmul_(v, g, g, value=1.0 - spec.rms_decay)
    denom = torch._foreach_sqrt(torch._foreach_add(v, spec.rms_eps))
    torch._foreach_addcdiv_(params, g, denom, value=-spec.lr)
    return True


def kept_for(optimizer, name: str, variables, make):
    """make() once, kept on the optimizer as `name` until it is asked to update other variables."""
    key = [id(v) for v in variables]
    kept = getattr(optimizer, name, None)
    if kept is None or kept[0] != key:
        kept = (key, make())
        setattr(optimizer, name, kept)
    return kept[1]


def jax_train_step(model: keras.Model, state, data):
    """model._train_step(data) as Keras' JAX trainer calls a train step, (state, data) -> (logs, new state),
    jitted whole here (fit() runs the trainer's loop eagerly: see WGANModel.compile). Keras' state holds the
    model's, the critic optimizer's (Keras' `model.optimizer`) and the metrics' values; the generator
    optimizer's slots ride along as extra values and are assigned for real after the step."""
    import jax
    groups = [model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
              model.metrics_variables]
    in_state = {id(v) for variables in groups for v in variables}
    extra = [v for v in model.generator_optimizer.variables if id(v) not in in_state]
    variables = [v for variables in groups for v in variables] + extra
    if getattr(model, "_jax_jitted_train_step", None) is None:
        model._jax_jitted_train_step = jax.jit(stateless(model._train_step, variables))
    logs, values = model._jax_jitted_train_step([x for values in state for x in values] + [v.value for v in extra], data)
    for v, value in zip(extra, values[len(values) - len(extra):]):
        v.assign(value)
    new_state, start = [], 0
    for variables_of_group in groups:
        new_state.append(values[start:start + len(variables_of_group)])
        start += len(variables_of_group)
    return logs, tuple(new_state)


def allow_float64() -> None:
    """JAX makes every array float32 unless x64 is enabled (jax_enable_x64): enable it for a float64 spec,
    so the model's variables, and what the contract returns, are float64 as asked."""
    if keras.backend.backend() == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)


def clip(w, clip_value: float):
    """clip(w, -c, c) for a weight constraint, the bounds in w's dtype. On torch in place on the variable's own
    tensor: Keras' optimizer assigns a constraint's result straight back (variable.assign(constraint(variable))),
    and torch's copy_ of a tensor onto itself returns at once, so the clip is one pass over the weights instead of
    a new tensor and a copy (30 against 104 + 97 us on the critic's 784x512 weight, one thread, Intel Xeon)."""
    if keras.backend.backend() == "torch" and isinstance(w, keras.Variable):
        return w.value.clamp_(-clip_value, clip_value)   # a Python float: compared in w's dtype, as torch's clamp_
    # Parity: bounds as tensors of w's dtype; keras' torch backend would turn a Python float into a float32 tensor
    # and clip float64 weights to float32(c).
    c = ops.convert_to_tensor(clip_value, dtype=w.dtype)
    return ops.clip(w, -c, c)


def largest_and_count_at_least(w, bound) -> tuple:
    """(max |w|, how many entries have |w| >= bound) of one weight, as tensors. On torch straight on the
    variable's tensor and outside autograd: Keras' ops add ~15 us a call there (clip_stats took 970 us a critic
    step through them against 390 us for PyTorch's own, one AVX2 thread); the count is a float compare in place
    (1.0/0.0) summed row by row (whole numbers below 2^24: exact), then in float64: torch's bool compare and
    count_nonzero took 177 + 71 us on the critic's 784x512 weight against 45 + 22 (one thread, Intel Xeon), and
    Keras' own count_nonzero there transposes the 0-D count, which torch warns is deprecated."""
    if keras.backend.backend() == "torch":
        import torch
        with torch.no_grad():
            magnitude = w.value.abs()
            return magnitude.amax(), magnitude.ge_(bound).sum(-1).sum(dtype=torch.float64)
    magnitude = ops.abs(w)
    return ops.max(magnitude), ops.count_nonzero(magnitude >= bound)


def widest_float() -> str:
    """float64, or float32 on JAX without x64, where a float64 cast would give float32 and a warning."""
    if keras.backend.backend() == "jax":
        import jax
        if not jax.config.jax_enable_x64:
            return "float32"
    return "float64"


# glibc's mallopt parameters (malloc.h) and the ceiling its dynamic mmap threshold grows to on 64-bit.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, DYNAMIC_MMAP_THRESHOLD_MAX = -1, -3, 32 * 1024 * 1024
_malloc_restored = False


def keep_malloc_thresholds() -> None:
    """Keep glibc's malloc reusing freed blocks instead of returning them to the system, once per process.

    TensorFlow: fit() reads the PyDataset through tf.data.Dataset.from_generator. The first time that
    op runs it sets M_TRIM_THRESHOLD to 128 KB (TensorFlow logs "Memory patch applied"), and setting it
    freezes glibc's otherwise growing mmap threshold at 128 KB: from then on every tensor over 128 KB (a
    [64, 784] batch, a [784, 512] gradient) is mmap'd and unmapped again, ~1,500 page faults per critic
    step, and fit() ran at half the speed of the same compiled steps (measured on AVX2 EPYC, TF 2.21).
    So run the op once now, then put back the thresholds glibc's dynamic rule would reach
    (mmap 32 MiB, trim twice that).
    torch: no patch, but Keras' eager temporaries still page-faulted 71 and 1,275 times per critic and
    generator step (PyTorch's own steps: 39 and 0); with these thresholds, about once. JAX: the same
    thresholds, harmless. A no-op where libc has no mallopt."""
    global _malloc_restored
    if _malloc_restored:
        return
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        next(iter(tf.data.Dataset.from_generator(lambda: iter([0]), output_signature=tf.TensorSpec((), tf.int32))))
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, DYNAMIC_MMAP_THRESHOLD_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, 2 * DYNAMIC_MMAP_THRESHOLD_MAX)
    except (OSError, AttributeError):
        pass  # not glibc: no thresholds to set
    _malloc_restored = True


def fit_input(items: keras.utils.PyDataset):
    """What model.fit() reads for a PyDataset of dicts of arrays (axis 0 the batch): the PyDataset itself,
    but on TensorFlow a tf.data pipeline over its items, in order, with tf.data's autotuning off.

    For a PyDataset Keras' TensorFlow trainer builds `from_generator(...).prefetch(AUTOTUNE)`. Autotuning
    runs a thread that sleeps between its tuning rounds, each sleep twice the last (up to 60 s), and a
    pipeline's teardown at the end of a fit() call waits for that thread: 3-20 s lost at the end of 10-30 s
    fit() calls (Zen 5 and AVX2 EPYC, two threads, TF 2.21; py-spy: RootDataset::Iterator's destructor).
    The same items through a fixed prefetch of two batches end at once."""
    if keras.backend.backend() != "tensorflow":
        return items
    import tensorflow as tf
    signature = {key: tf.TensorSpec((None, *np.shape(x)[1:]), tf.as_dtype(np.asarray(x).dtype))
                 for key, x in items[0].items()}
    pipeline = tf.data.Dataset.from_generator(lambda: (items[j] for j in range(len(items))),
                                              output_signature=signature)
    options = tf.data.Options()
    options.autotune.enabled = False
    return pipeline.prefetch(2).with_options(options)
