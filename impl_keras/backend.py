"""The backend-specific corners of a Keras 3 custom train step (impl_keras/wgan.py stays keras.ops).

Keras leaves a few things to the backend a model runs on (KERAS_BACKEND): taking gradients (GradientTape
on TensorFlow, autograd on torch, jax.value_and_grad over values on JAX), compiling a step, branching
inside a traced step, converting to NumPy, and on JAX handing the model's state in and out of the step.
"""

from __future__ import annotations

import contextlib
import ctypes

import keras
import numpy as np
from keras import ops


def compiled(fn, dtype: str, *shapes):
    """A step function, compiled: on TensorFlow one tf.function graph for inputs of `shapes` with the
    batch left open (so fit() and the contract's steps trace the same graph) and no XLA; on torch plain
    eager Python, as Keras' own torch trainer runs (and, here, on JAX)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, input_signature=[tf.TensorSpec(s, dtype) for s in shapes], jit_compile=False)
    return fn


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


def cond(condition, then_fn, else_fn):
    """then_fn() if the boolean tensor `condition` else else_fn(): ops.cond inside TensorFlow's traced
    train step; plain Python on torch and JAX, whose train steps run eagerly here (JAX's traced cond
    could not assign the optimizers' and BatchNorm's variables)."""
    if keras.backend.backend() == "tensorflow":
        return ops.cond(condition, then_fn, else_fn)
    return then_fn() if bool(condition) else else_fn()


def apply_gradients(optimizer: keras.optimizers.Optimizer, grads, variables) -> None:
    """optimizer.apply (update, then each variable's constraint); on torch outside autograd's tape."""
    no_grad = contextlib.nullcontext()
    if keras.backend.backend() == "torch":
        import torch
        no_grad = torch.no_grad()
    with no_grad:
        optimizer.apply(grads, variables)


def jax_train_step(model: keras.Model, state, data):
    """model._train_step(data) as Keras' JAX trainer calls a train step: the model's variables read from
    `state`, every assignment caught by a StatelessScope and handed back as the new state. The two RMSprop optimizers are not Keras'
    `model.optimizer`, so their slots are not in `state`: they are assigned for real (fit() runs
    eagerly on JAX for that reason)."""
    trainable, non_trainable, optimizer, metrics = state
    groups = [(model.trainable_variables, trainable), (model.non_trainable_variables, non_trainable),
              (model.optimizer.variables, optimizer), (model.metrics_variables, metrics)]
    mapping = [pair for variables, values in groups for pair in zip(variables, values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = model._train_step(data)
    for v in model.generator_optimizer.variables:  # not in Keras' state: keep its slots for real
        if (value := scope.get_current_value(v)) is not None:
            v.assign(value)
    new_state = tuple([old if (value := scope.get_current_value(v)) is None else value
                       for v, old in zip(variables, values)] for variables, values in groups)
    return logs, new_state


def allow_float64() -> None:
    """JAX makes every array float32 unless x64 is enabled (jax_enable_x64): enable it for a float64 spec,
    so the model's variables, and what the contract returns, are float64 as asked."""
    if keras.backend.backend() == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)


# glibc's mallopt parameters (malloc.h) and the ceiling its dynamic mmap threshold grows to on 64-bit.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, DYNAMIC_MMAP_THRESHOLD_MAX = -1, -3, 32 * 1024 * 1024
_malloc_restored = False


def keep_malloc_thresholds() -> None:
    """Undo what TensorFlow's tf.data generator op does to glibc's malloc, once per process.

    fit() on TensorFlow reads the PyDataset through tf.data.Dataset.from_generator. The first time that
    op runs it sets M_TRIM_THRESHOLD to 128 KB (TensorFlow logs "Memory patch applied"), and setting it
    freezes glibc's otherwise growing mmap threshold at 128 KB: from then on every tensor over 128 KB (a
    [64, 784] batch, a [784, 512] gradient) is mmap'd and unmapped again, ~1,500 page faults per critic
    step, and fit() ran at half the speed of the same compiled steps (measured on AVX2 EPYC, TF 2.21).
    So run the op once now, then put back the thresholds glibc's dynamic rule would reach
    (mmap 32 MiB, trim twice that). A no-op on other backends and where libc has no mallopt."""
    global _malloc_restored
    if _malloc_restored or keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf
    next(iter(tf.data.Dataset.from_generator(lambda: iter([0]), output_signature=tf.TensorSpec((), tf.int32))))
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, DYNAMIC_MMAP_THRESHOLD_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, 2 * DYNAMIC_MMAP_THRESHOLD_MAX)
    except (OSError, AttributeError):
        pass  # not glibc: no patch to undo
    _malloc_restored = True
