"""The contract between the harness and the three implementations.

The harness knows an implementation only through this protocol: it builds one from a spec (and,
optionally, canonical parameters), hands it NumPy arrays, and reads back plain floats and arrays.
Every implementation package (`impl_pytorch`, `impl_tensorflow`, `impl_keras`) exposes
``build_wgan(spec, params=None, device="cpu") -> WGAN`` and ``set_threads(n)``.

So can a user's own module: every command that takes a framework also takes an importable module path
(`--framework my_package.my_wgan`, importable from the current directory or an installed package) whose
module has `build_wgan`; the object it returns must have every method of WGANImplementation below.
`set_threads(n)` (or `set_threads(n, mode=None)`, told the execution mode the process will run when its best
thread setup depends on it), `execution_modes()` / `execution_mode(wgan, name)` and a `train.fit` are optional.
See docs/own-implementation.md and examples/torch_wgan.py.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from types import ModuleType
from typing import Protocol

import numpy as np

from shared.core.errors import UserError
from shared.core.spec import WGANSpec

# The record every critic step returns (same names and signs in every framework).
CRITIC_RECORD = (
    "critic_loss",      # what the critic minimises: -E[D(real)] + E[D(fake)] (+ the penalty in wgan-gp;
                        # the cross-entropy in gan)
    "wasserstein",      # E[D(real)] - E[D(fake)]: the W1 estimate (wgan: = -critic_loss; gan: a logit gap)
    "gradient_penalty", # gp_weight * E[(||grad D(x_mix)|| - 1)^2] (wgan-gp; 0 in the other variants)
    "d_real_min", "d_real_max", "d_real_mean",
    "d_fake_min", "d_fake_max", "d_fake_mean",
    "max_abs_weight",   # max |w| over all critic weights and biases, after clipping
    "clipped_share",    # share of critic weights and biases at |w| >= c (after clipping, in wgan)
)
GENERATOR_RECORD = ("generator_loss",)  # -E[D(G(z))]


class WGANImplementation(Protocol):
    """What every framework's `WGAN` class provides. Arrays in and out are NumPy, in spec.dtype."""

    framework: str
    spec: WGANSpec

    def critic_step(self, real: np.ndarray, z: np.ndarray, mix: np.ndarray | None = None) -> dict[str, float]:
        """One critic update on real [B, data_dim] and G(z), z [B, latent]; mix [B, 1] are the gradient
        penalty's mixing weights (needed by wgan-gp only, see mixing_weights); clips in wgan; returns
        CRITIC_RECORD."""

    def generator_step(self, z: np.ndarray) -> dict[str, float]:
        """One generator update on z [B, latent]; returns GENERATOR_RECORD."""

    def critic_scores(self, x: np.ndarray) -> np.ndarray:
        """Critic scores [N] for samples x [N, data_dim] (no sigmoid)."""

    def generate(self, z: np.ndarray, training: bool = False) -> np.ndarray:
        """Samples [N, data_dim] in [-1, 1]; training=True uses (and updates) batch statistics."""

    def get_params(self) -> dict[str, np.ndarray]:
        """All canonical parameters (see shared.core.params), BatchNorm running statistics included."""

    def set_params(self, params: dict[str, np.ndarray]) -> None: ...

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        """Optimizer slots as shared.core.params.optimizer_state_shapes names them (mean squares keyed by the
        parameter's canonical name; Adam's momentum/<name> and step/<network> too)."""

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None: ...


def mixing_weights(spec: WGANSpec, real: np.ndarray, mix: np.ndarray | None) -> np.ndarray:
    """The critic step's mix [B, 1]: the harness's draw; zeros (unused) when a variant has no penalty."""
    if mix is not None:
        return mix
    if spec.variant == "wgan-gp":
        raise UserError("variant wgan-gp needs the penalty's mixing weights: pass mix (Streams.mix(step)) "
                        "to critic_step")
    return np.zeros((len(real), 1), dtype=spec.dtype)


# framework name -> (package, pip extra that installs it, KERAS_BACKEND or None)
FRAMEWORKS: dict[str, tuple[str, str, str | None]] = {
    "pytorch": ("impl_pytorch", "pytorch", None),
    "tensorflow": ("impl_tensorflow", "tensorflow", None),
    "keras": ("impl_keras", "keras", "tensorflow"),
    "keras:tensorflow": ("impl_keras", "keras", "tensorflow"),
    "keras:torch": ("impl_keras", "keras-torch", "torch"),
    "keras:jax": ("impl_keras", "keras-jax", "jax"),
}
DEFAULT_FRAMEWORKS = ("pytorch", "tensorflow", "keras")


_MODULE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
CONTRACT_METHODS = ("critic_step", "generator_step", "critic_scores", "generate", "get_params", "set_params",
                    "get_optimizer_state", "set_optimizer_state")


def is_builtin(framework: str) -> bool:
    """True for this project's frameworks; False for a user's module path."""
    return framework in FRAMEWORKS


def canonical_framework(name: str) -> str:
    """A built-in framework's canonical name, or a user's module path as given (checked when loaded)."""
    if name in FRAMEWORKS:
        return "keras" if name == "keras:tensorflow" else name
    if ":" in name or not _MODULE_PATH.fullmatch(name):
        raise UserError(f"unknown framework {name!r}; choose one of {', '.join(FRAMEWORKS)}, or name your own "
                        "implementation's module (e.g. my_package.my_wgan)")
    return name


def _load_user_module(name: str) -> ModuleType:
    """Import a user's implementation module (the current directory first, as `python -m` does)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):  # the module itself (or its package) is not there
            raise UserError(f"unknown framework {name!r}: not one of {', '.join(FRAMEWORKS)}, and no module "
                            f"{name} can be imported from {os.getcwd()} or the installed packages") from None
        raise UserError(f"{name} cannot import {exc.name}: install what it needs") from None
    except Exception as exc:  # noqa: BLE001 - a user's module may fail in any way at import
        raise UserError(f"importing {name} failed: {type(exc).__name__}: {exc}") from None
    if not callable(getattr(module, "build_wgan", None)):
        raise UserError(f"{name} has no build_wgan(spec, params=None, device='cpu'); the contract "
                        "(shared/core/protocol.py) starts there")
    return module


def check_contract(framework: str, wgan) -> None:
    """UserError naming what `wgan` (built by `framework`) lacks of WGANImplementation, if anything."""
    missing = [m for m in CONTRACT_METHODS if not callable(getattr(wgan, m, None))]
    if missing:
        raise UserError(f"{framework}: the object build_wgan returns lacks {', '.join(missing)} (the contract: "
                        "shared/core/protocol.py, WGANImplementation); add them")
    if not isinstance(getattr(wgan, "spec", None), WGANSpec):
        raise UserError(f"{framework}: the object build_wgan returns has no .spec (the WGANSpec it was built "
                        "from); set self.spec = spec")


def load_implementation(framework: str) -> ModuleType:
    """Import an implementation package lazily; a missing framework is a one-line UserError."""
    framework = canonical_framework(framework)
    if not is_builtin(framework):
        return _load_user_module(framework)
    package, extra, backend = FRAMEWORKS[framework]
    if backend is not None:
        loaded = sys.modules.get("keras")
        if loaded is not None and loaded.backend.backend() != backend:
            raise UserError(f"{framework} needs Keras on the {backend} backend, but this process already "
                            f"runs Keras on {loaded.backend.backend()}; run it in its own process")
        os.environ["KERAS_BACKEND"] = backend
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as exc:
        missing = exc.name or "a dependency"
        raise UserError(f"framework {framework!r} is not installed (cannot import {missing}); "
                        f"install it with: pip install -e '.[{extra}]'") from None


def build(framework: str, spec: WGANSpec, params: dict[str, np.ndarray] | None = None,
          device: str = "cpu", threads: int | None = None, mode: str | None = None) -> WGANImplementation:
    """Build `framework`'s WGAN from the spec and (optionally) canonical parameters; threads pinned first,
    for execution `mode` (None: the default one) where the implementation's set_threads takes one."""
    module = load_implementation(framework)
    if threads and hasattr(module, "set_threads"):
        if mode is not None and "mode" in inspect.signature(module.set_threads).parameters:
            module.set_threads(threads, mode=mode)
        else:
            module.set_threads(threads)
    wgan = module.build_wgan(spec, params=params, device=device)
    if not is_builtin(framework):
        check_contract(framework, wgan)
        if not isinstance(getattr(wgan, "framework", None), str):
            wgan.framework = framework  # the name its logs and progress bars carry
    return wgan


def training_loop(module: ModuleType):
    """The fit function that trains `module`'s WGAN: its package's train.fit when it has one, else the
    harness's loop through the contract alone (shared/core/loop.py: fit_by_steps)."""
    try:
        return importlib.import_module(module.__name__ + ".train").fit
    except ModuleNotFoundError as exc:
        if exc.name != module.__name__ + ".train":
            raise
    from shared.core.loop import fit_by_steps
    return fit_by_steps


def installed_frameworks(candidates=DEFAULT_FRAMEWORKS) -> list[str]:
    """Frameworks whose packages can be imported here (checked without importing them)."""
    import importlib.util
    need = {"pytorch": ["torch"], "tensorflow": ["tensorflow"], "keras": ["keras", "tensorflow"],
            "keras:tensorflow": ["keras", "tensorflow"], "keras:torch": ["keras", "torch"],
            "keras:jax": ["keras", "jax"]}

    def found(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except (ModuleNotFoundError, ValueError):  # a user's dotted path whose package is missing
            return False

    if os.getcwd() not in sys.path:  # a user's module next to where the command runs
        sys.path.insert(0, os.getcwd())
    return [fw for fw in candidates if all(found(m) for m in need.get(fw, [fw]))]
