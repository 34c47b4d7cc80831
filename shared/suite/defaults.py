"""`wgan-suite defaults`: each framework's own defaults next to the spec, read from the installed frameworks.

Signatures give most values (`inspect.signature(...).parameters[...].default`). What no signature says
— where RMSprop puts eps, what its mean square starts at, which variance BatchNorm keeps running, what
a Dense layer's initial weights look like — is measured by running the framework's own object once on
a tiny input. Each framework is read in its own process (Keras can hold one backend per process).
"""

from __future__ import annotations

import inspect

import numpy as np

from shared.core.spec import NATIVE, TUTORIAL

FIELDS = ("leaky_slope", "bn_eps", "bn_momentum", "bn_running_var", "init", "rms_decay", "rms_eps",
          "rms_eps_placement", "rms_initial_mean_square")

# What a difference in each field does to this WGAN (measured with the matched spec vs native runs,
# see ../shared/DESIGN.md and docs; the compare report shows it on your machine).
EFFECT = {
    "leaky_slope": "the critic's slope for negative inputs: 0.3 vs 0.2 changes every critic score and gradient",
    "bn_eps": "added to each unit's variance before dividing: 0.8 (tutorial) barely normalises units with variance below ~1",
    "bn_momentum": "Keras' 0.99 (= 0.01 here) makes running statistics 10x slower: eval-mode samples lag",
    "bn_running_var": "unbiased vs biased running variance (x 64/63 at batch 64): eval-mode outputs differ slightly",
    "init": "Glorot weights are larger than torch's 1/sqrt(fan_in) and biases start at 0: more weights start at +-c",
    "rms_decay": "0.9 vs 0.99: a shorter memory of squared gradients, noisier steps",
    "rms_eps": "1e-7 vs 1e-8: caps the step for near-zero gradients",
    "rms_eps_placement": "inside the sqrt, eps 1e-7 caps steps at lr/sqrt(eps); outside, near-zero gradients give near-sign steps",
    "rms_initial_mean_square": "TF1's RMSProp starts at 1: early steps are ~lr*g instead of ~10*lr*sign(g)",
}


def _eps_placement(update: float, lr: float, decay: float, eps: float, v0: float, g: float) -> str:
    """Which formula produced a measured one-step update of a parameter from 0 with gradient g."""
    v = decay * v0 + (1 - decay) * g * g
    outside, inside = lr * g / (np.sqrt(v) + eps), lr * g / np.sqrt(v + eps)
    return "outside" if abs(update - outside) < abs(update - inside) else "inside"


def read_pytorch() -> dict:
    import torch
    from torch import nn
    sig = lambda obj, name: inspect.signature(obj).parameters[name].default  # noqa: E731
    out = {"leaky_slope": sig(nn.LeakyReLU, "negative_slope"), "bn_eps": sig(nn.BatchNorm1d, "eps"),
           "bn_momentum": sig(nn.BatchNorm1d, "momentum"), "rms_decay": sig(torch.optim.RMSprop, "alpha"),
           "rms_eps": sig(torch.optim.RMSprop, "eps")}
    bn = nn.BatchNorm1d(1, momentum=1.0)
    bn(torch.tensor([[0.0], [2.0]]))  # biased variance 1, unbiased 2
    out["bn_running_var"] = "unbiased" if float(bn.running_var) > 1.5 else "biased"
    layer = nn.Linear(1000, 1000)
    bound = float(layer.weight.detach().abs().max())
    out["init"] = "torch_default" if bound < 1.1 / np.sqrt(1000) and float(layer.bias.detach().abs().max()) > 0 else "glorot_uniform"
    p = nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.RMSprop([p], lr=1.0, eps=1.0)
    p.grad = torch.ones(1, dtype=torch.float64)
    opt.step()
    v1 = float(opt.state[p]["square_avg"])
    out["rms_initial_mean_square"] = (v1 - (1 - out["rms_decay"])) / out["rms_decay"]
    out["rms_eps_placement"] = _eps_placement(-float(p), 1.0, out["rms_decay"], 1.0, out["rms_initial_mean_square"], 1.0)
    return out


def _read_keras_optimizer(optimizer_class) -> dict:
    import keras
    sig = inspect.signature(optimizer_class).parameters
    decay, eps = sig["rho"].default, sig["epsilon"].default
    var = keras.Variable(np.zeros(1), dtype="float64")
    opt = optimizer_class(learning_rate=1.0, epsilon=1.0)
    opt.apply_gradients([(keras.ops.ones(1, dtype="float64"), var)])
    velocity = float(np.asarray(opt.variables[-1]).ravel()[0]) if opt.variables else 1 - decay
    v0 = (velocity - (1 - decay)) / decay
    return {"rms_decay": decay, "rms_eps": eps, "rms_initial_mean_square": round(v0, 12),
            "rms_eps_placement": _eps_placement(-float(np.asarray(var)[0]), 1.0, decay, 1.0, v0, 1.0)}


def _read_keras_layers() -> dict:
    import keras
    sig = lambda obj, name: inspect.signature(obj).parameters[name].default  # noqa: E731
    bn = keras.layers.BatchNormalization(momentum=0.0)  # Keras momentum 0 = take the batch value
    bn(np.array([[0.0], [2.0]], dtype="float32"), training=True)
    dense = keras.layers.Dense(1000)
    dense.build((None, 1000))
    kernel, bias = np.asarray(dense.kernel), np.asarray(dense.bias)
    return {"leaky_slope": sig(keras.layers.LeakyReLU, "negative_slope"),
            "bn_eps": sig(keras.layers.BatchNormalization, "epsilon"),
            "bn_momentum": round(1.0 - sig(keras.layers.BatchNormalization, "momentum"), 12),
            "bn_running_var": "unbiased" if float(np.asarray(bn.moving_variance)[0]) > 1.5 else "biased",
            "init": "glorot_uniform" if np.abs(kernel).max() > 1.1 / np.sqrt(1000) and not bias.any() else "torch_default"}


def read_keras() -> dict:
    import keras
    return {**_read_keras_layers(), **_read_keras_optimizer(keras.optimizers.RMSprop)}


def read_tensorflow() -> dict:
    """Raw TF2 has no layers or RMSprop of its own: a port takes tf.nn.leaky_relu and what TF ships (Keras)."""
    import tensorflow as tf
    out = {**_read_keras_layers(), **_read_keras_optimizer(tf.keras.optimizers.RMSprop)}
    out["leaky_slope"] = inspect.signature(tf.nn.leaky_relu).parameters["alpha"].default
    return out


READERS = {"pytorch": read_pytorch, "tensorflow": read_tensorflow, "keras": read_keras}


def format_table(values: dict[str, dict]) -> str:
    """Rows: spec fields; columns: the tutorial spec, then each framework ('*' where it differs)."""
    frameworks = list(values)
    lines = [f"{'field':<26}{'spec (tutorial)':>16}" + "".join(f"{fw:>16}" for fw in frameworks) + "   what a difference does"]
    for name in FIELDS:
        spec_value = getattr(TUTORIAL, name)
        row = f"{name:<26}{spec_value!s:>16}"
        for fw in frameworks:
            got = values[fw].get(name, "error")
            mark = "*" if got != spec_value else " "
            row += f"{(str(got) + mark):>16}"
        lines.append(row + "   " + EFFECT[name])
    lines.append("* differs from the spec. `wgan-suite train --native` runs a framework with its own column.")
    return "\n".join(lines)


def check_against_native(values: dict[str, dict]) -> list[str]:
    """Fields where what the framework says differs from shared.core.spec.NATIVE (the --native presets)."""
    problems = []
    for fw, read in values.items():
        for name in FIELDS:
            expected = NATIVE[fw][name] if name in NATIVE[fw] else getattr(TUTORIAL, name)
            got = read.get(name)
            if isinstance(expected, float) and isinstance(got, (int, float)):
                same = abs(expected - got) <= 1e-9 * max(1.0, abs(expected))
            else:
                same = expected == got
            if not same:
                problems.append(f"{fw}.{name}: installed framework says {got!r}, native-{fw} preset says {expected!r}")
    return problems
