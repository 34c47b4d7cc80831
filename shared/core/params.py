"""Canonical parameters: named NumPy arrays in one documented layout, shared by every framework.

Layout (``G`` = generator, ``D`` = critic; ``k`` counts dense layers from 0):

    generator.dense{k}.kernel   [in, out]    y = x @ kernel + bias  (torch's Linear.weight is kernel.T)
    generator.dense{k}.bias     [out]
    generator.bn{k}.gamma/beta  [out]        BatchNorm after dense k, for k = 1 .. len(hidden) - 1
    generator.bn{k}.moving_mean [out]        running statistics (state, not trained, never clipped)
    generator.bn{k}.moving_var  [out]        running variance as the spec's bn_running_var defines it
    critic.dense{k}.kernel/bias              the critic's dense layers; the last one has out = 1

Initial values are drawn here, in NumPy, from the harness's seeded stream, so every framework can
start from the very same numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.core.errors import UserError
from shared.core.spec import WGANSpec
from shared.core.streams import rng

Params = dict[str, np.ndarray]


def layer_sizes(spec: WGANSpec) -> tuple[list[int], list[int]]:
    """Unit counts through generator and critic, e.g. [100, 128, 256, 512, 1024, 784] and [784, 512, 256, 1]."""
    return ([spec.latent_dim, *spec.generator_hidden, spec.data_dim],
            [spec.data_dim, *spec.critic_hidden, 1])


def bn_layers(spec: WGANSpec) -> list[int]:
    """Indices k of the generator's dense layers followed by BatchNorm (every hidden block but the first;
    none when spec.generator_batch_norm is False)."""
    return list(range(1, len(spec.generator_hidden))) if spec.generator_batch_norm else []


def param_shapes(spec: WGANSpec) -> dict[str, tuple[int, ...]]:
    """Every canonical name and its shape, generator first, in a fixed order."""
    g_sizes, d_sizes = layer_sizes(spec)
    shapes: dict[str, tuple[int, ...]] = {}
    for k, (n_in, n_out) in enumerate(zip(g_sizes[:-1], g_sizes[1:])):
        shapes[f"generator.dense{k}.kernel"] = (n_in, n_out)
        shapes[f"generator.dense{k}.bias"] = (n_out,)
        if k in bn_layers(spec):
            for stat in ("gamma", "beta", "moving_mean", "moving_var"):
                shapes[f"generator.bn{k}.{stat}"] = (n_out,)
    for k, (n_in, n_out) in enumerate(zip(d_sizes[:-1], d_sizes[1:])):
        shapes[f"critic.dense{k}.kernel"] = (n_in, n_out)
        shapes[f"critic.dense{k}.bias"] = (n_out,)
    return shapes


def is_trainable(name: str) -> bool:
    return not name.endswith(("moving_mean", "moving_var"))


def trainable_names(spec: WGANSpec, network: str) -> list[str]:
    """Trainable names of 'generator' or 'critic', in canonical order (also the optimizer state's keys)."""
    return [n for n in param_shapes(spec) if n.startswith(network + ".") and is_trainable(n)]


def init_params(spec: WGANSpec, seed: int | None = None) -> Params:
    """Fresh parameters drawn per spec.init from the seeded 'init' stream (float64 draws, cast to spec.dtype)."""
    gen = rng(spec.seed if seed is None else seed, "init")
    params: Params = {}
    shapes = param_shapes(spec)
    for name, shape in shapes.items():
        if name.endswith((".kernel", ".bias")):
            fan_in, fan_out = shapes[name.rsplit(".", 1)[0] + ".kernel"]
            if spec.init == "torch_default":
                # torch.nn.Linear: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias likewise.
                bound = 1.0 / np.sqrt(fan_in)
                value = gen.uniform(-bound, bound, size=shape)
            elif name.endswith(".kernel"):
                bound = np.sqrt(6.0 / (fan_in + fan_out))  # Glorot/Xavier uniform
                value = gen.uniform(-bound, bound, size=shape)
            else:
                value = np.zeros(shape)
        elif name.endswith(("gamma", "moving_var")):
            value = np.ones(shape)
        else:  # beta, moving_mean
            value = np.zeros(shape)
        params[name] = value.astype(spec.dtype)
    return params


def critic_forward(params: Params, x: np.ndarray, leaky_slope: float) -> np.ndarray:
    """The critic in plain NumPy from canonical parameters: x [N, data_dim] -> scores [N].

    Framework-free, so reports can draw a critic's value surface from a run's params_final.npz.
    """
    k, h = 0, np.asarray(x, dtype=np.float64)
    while f"critic.dense{k}.kernel" in params:
        h = h @ params[f"critic.dense{k}.kernel"] + params[f"critic.dense{k}.bias"]
        if f"critic.dense{k + 1}.kernel" in params:  # LeakyReLU between layers, none after the last
            h = np.where(h > 0, h, leaky_slope * h)
        k += 1
    return h[:, 0]


def optimizer_state_shapes(spec: WGANSpec) -> dict[str, tuple[int, ...]]:
    """Every optimizer-state name and its shape.

    Both optimizers keep a mean square v per trainable parameter, keyed by the parameter's canonical name.
    Adam adds its gradient mean as ``momentum/<name>`` and each network's update count as
    ``step/generator`` and ``step/critic`` (0-d), which its bias correction needs.
    """
    trainable = {n: s for n, s in param_shapes(spec).items() if is_trainable(n)}
    if spec.optimizer == "rmsprop":
        return trainable
    return {**trainable, **{f"momentum/{n}": s for n, s in trainable.items()},
            "step/generator": (), "step/critic": ()}


def init_optimizer_state(spec: WGANSpec) -> Params:
    """The optimizer state before the first update (see optimizer_state_shapes)."""
    start = spec.rms_initial_mean_square if spec.optimizer == "rmsprop" else 0.0
    return {name: np.full(shape, start if "/" not in name else 0.0, dtype=spec.dtype)
            for name, shape in optimizer_state_shapes(spec).items()}


def check_params(spec: WGANSpec, params: Params, what: str = "parameters") -> None:
    """UserError when names or shapes do not match the spec's layout."""
    expected = optimizer_state_shapes(spec) if what == "optimizer state" else param_shapes(spec)
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        raise UserError(f"{what} do not match the spec: missing {missing[:3]}, unexpected {extra[:3]}; "
                        "were they saved from a different spec?")
    for name, shape in expected.items():
        if tuple(np.shape(params[name])) != shape:
            raise UserError(f"{what}: {name} has shape {np.shape(params[name])}, the spec needs {shape}")


def save_npz(path: Path, arrays: Params) -> None:
    """Write atomically: a temp file beside the target, then rename (never a half-written file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    tmp.replace(path)


def load_npz(path: Path) -> Params:
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise UserError(f"no such parameter file: {path}") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read parameter file {path} ({exc}); is it a .npz written by wgan-suite?") from None
