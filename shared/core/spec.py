"""The one typed, frozen spec every implementation is built from.

Every value that PyTorch, TensorFlow and Keras default differently is a named field here, so no
implementation ever falls back on its framework's default. Presets:

* ``tutorial``  — exactly what the tutorial's PyTorch script does, accidents included
  (``nn.BatchNorm1d(out_feat, 0.8)`` passes 0.8 as *eps*, not momentum; the generator step reuses the
  critic step's z; it follows the 1st, 6th, 11th ... critic step of every epoch, the count restarting
  each epoch; the epoch's last, partial batch is trained on).
* ``corrected`` — the paper's Algorithm 1 with the tutorial's values: BatchNorm eps 1e-5 (torch's
  default), a fresh z for the generator step, after every n_critic-th critic step on a global count,
  full batches only. Every other value is the tutorial's.
* ``wgan-gp`` / ``gan`` — the corrected preset with the gradient penalty (Adam lr 1e-4, betas (0, 0.9),
  no clipping) or the original GAN (sigmoid cross-entropy, Adam lr 2e-4, betas (0.5, 0.999), one
  discriminator step per generator step): the successor and the baseline the tutorial names.
* ``native-pytorch`` / ``native-tensorflow`` / ``native-keras`` — what a port that keeps its
  framework's own defaults would run (`wgan-suite train --native`); see `wgan-suite defaults`.
* ``toy-wgan`` / ``toy-wgan-gp`` / ``toy-gan`` — the WGAN-GP paper's 2-D setup (ReLU MLPs of 3 x 512, no
  BatchNorm, linear output, 2-D noise, batch 256) with its optimizers, for the 2-D sets; see TOY_NETWORKS.

Conventions (one per quantity, used by every implementation and by canonical parameters):
* BatchNorm ``bn_momentum`` is the weight of the *new* batch statistic (torch's convention):
  ``running = (1 - m) * running + m * batch``. Keras' ``momentum`` is ``1 - bn_momentum``.
* Dense kernels are stored ``[in, out]`` (``y = x @ W + b``); torch's ``Linear.weight`` is the transpose.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from shared.core.errors import UserError

Init = Literal["torch_default", "glorot_uniform"]
EpsPlacement = Literal["outside", "inside"]
GeneratorStepAt = Literal["first", "last"]
RunningVar = Literal["unbiased", "biased"]
DType = Literal["float32", "float64"]
Variant = Literal["wgan", "wgan-gp", "gan"]
Optimizer = Literal["rmsprop", "adam"]
GeneratorOutput = Literal["tanh", "linear"]


@dataclass(frozen=True)
class WGANSpec:
    """Hyperparameters of the MLP WGAN with weight clipping (Arjovsky, Chintala, Bottou 2017), and of the
    two variants it is measured against: WGAN-GP (its successor) and the original GAN (its predecessor)."""

    # --- variant -----------------------------------------------------------------------------------
    variant: Variant = "wgan"
    """'wgan': clipped critic, loss -E[D(real)] + E[D(fake)] (the tutorial). 'wgan-gp': the same loss plus
    gp_weight * E[(||grad D(x_mix)|| - 1)^2] on real/fake mixes, no clipping (Gulrajani et al. 2017).
    'gan': the original GAN with the non-saturating generator loss: a sigmoid on the critic's score,
    binary cross-entropy, no clipping (Goodfellow et al. 2014; the tutorial's gan.py baseline)."""

    # --- sizes -------------------------------------------------------------------------------------
    latent_dim: int = 100
    """Size of the noise vector z fed to the generator."""
    data_dim: int = 784
    """Size of one flattened sample (28*28 for MNIST, 2 for the 2-D toy sets)."""
    generator_hidden: tuple[int, ...] = (128, 256, 512, 1024)
    """Widths of the generator's hidden blocks; the first block has no BatchNorm, the others do (when
    generator_batch_norm)."""
    critic_hidden: tuple[int, ...] = (512, 256)
    """Widths of the critic's hidden layers; the critic ends in one linear unit (no sigmoid)."""

    # --- layers ------------------------------------------------------------------------------------
    leaky_slope: float = 0.2
    """LeakyReLU negative slope (torch default 0.01, Keras layer 0.3, tf.nn 0.2); 0 is a plain ReLU."""
    generator_batch_norm: bool = True
    """BatchNorm after every generator hidden block but the first (the tutorial); False: no BatchNorm at all
    (the WGAN-GP paper's toy MLPs)."""
    generator_output: GeneratorOutput = "tanh"
    """'tanh': samples squashed into [-1, 1], the range MNIST is scaled to (the tutorial); 'linear': no
    output activation (the WGAN-GP paper's toy generator)."""
    bn_eps: float = 0.8
    """BatchNorm epsilon. 0.8 is the tutorial's positional-argument accident; torch's default is 1e-5."""
    bn_momentum: float = 0.1
    """Weight of the new batch in BatchNorm's running statistics (torch 0.1; Keras 0.99 means 0.01 here)."""
    bn_running_var: RunningVar = "unbiased"
    """Running variance from the unbiased (torch) or biased (Keras) batch variance; training uses biased."""
    init: Init = "torch_default"
    """Dense initialiser: torch's U(+-1/sqrt(fan_in)) for weight and bias, or Glorot-uniform weights, zero bias."""

    # --- optimiser ---------------------------------------------------------------------------------
    optimizer: Optimizer = "rmsprop"
    """'rmsprop' (WGAN change 4: no momentum) or 'adam' (WGAN-GP and GAN), for critic and generator."""
    lr: float = 5e-5
    """Learning rate of both optimizers."""
    rms_decay: float = 0.99
    """RMSprop decay of the mean square (torch alpha 0.99, Keras rho 0.9)."""
    rms_eps: float = 1e-8
    """RMSprop epsilon (torch 1e-8, Keras 1e-7)."""
    rms_eps_placement: EpsPlacement = "outside"
    """Where eps sits: 'outside' g/(sqrt(v)+eps) as torch, 'inside' g/sqrt(v+eps) as Keras."""
    rms_initial_mean_square: float = 0.0
    """Starting value of the mean-square accumulator (torch and Keras 0; TF1's RMSProp starts at 1)."""
    adam_beta1: float = 0.0
    """Adam's decay of the gradient mean (torch and Keras default 0.9; WGAN-GP 0, GAN 0.5)."""
    adam_beta2: float = 0.9
    """Adam's decay of the mean square (torch and Keras default 0.999; WGAN-GP 0.9)."""
    adam_eps: float = 1e-8
    """Adam's epsilon, added to the bias-corrected sqrt(v) as torch does (Keras' default 1e-7, and Keras
    adds it to the uncorrected sqrt(v))."""

    # --- WGAN --------------------------------------------------------------------------------------
    clip_value: float = 0.01
    """c: every critic weight and bias is clipped into [-c, c] after every critic update (variant 'wgan')."""
    gp_weight: float = 10.0
    """lambda of the gradient penalty (variant 'wgan-gp'; the WGAN-GP paper's 10)."""
    n_critic: int = 5
    """Critic updates per generator update."""
    batch_size: int = 64
    """Real samples (and noise vectors) per step."""
    generator_reuses_z: bool = True
    """True: the generator step reuses the z of the critic step it follows (tutorial); False: a fresh draw."""

    # --- training schedule -------------------------------------------------------------------------
    generator_step_at: GeneratorStepAt = "first"
    """Where the generator step falls in each group of n_critic critic steps, counting critic steps i from
    0: 'first' — right after critic step i when i % n_critic == 0, i.e. after the 1st, 6th, 11th ... (the
    tutorial's `if i % opt.n_critic == 0`); 'last' — after i % n_critic == n_critic - 1, i.e. after every
    n_critic-th (the paper's Algorithm 1: n_critic critic updates, then one generator update)."""
    counter_restarts_each_epoch: bool = True
    """True: i is the batch index within the epoch and restarts at 0 every epoch (the tutorial's
    `for i, (imgs, _) in enumerate(dataloader)`: with 938 batches an epoch, not a multiple of 5, the groups
    are cut at every epoch end); False: i counts critic steps since the run began (Algorithm 1)."""
    drop_last_batch: bool = False
    """False: the last, smaller batch of every epoch is trained on (torch's DataLoader default
    drop_last=False: 60000 = 937 * 64 + 32, so MNIST's 938th batch has 32 images); True: dropped, so every
    step sees batch_size samples."""

    # --- numerics ----------------------------------------------------------------------------------
    dtype: DType = "float32"
    """Floating-point type of parameters and activations."""
    seed: int = 0
    """Seed of the harness's random streams (initial weights, batches, noise)."""

    def __post_init__(self) -> None:
        validate(self)

    # Helpers -----------------------------------------------------------------------------------------
    @property
    def keras_bn_momentum(self) -> float:
        """The same BatchNorm momentum in Keras' convention (weight of the old value)."""
        return 1.0 - self.bn_momentum

    def replace(self, **changes: Any) -> "WGANSpec":
        """A copy with some fields changed (validated); unknown field names are a UserError."""
        unknown = sorted(set(changes) - FIELD_NAMES)
        if unknown:
            raise UserError(f"unknown spec field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(FIELD_NAMES))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "WGANSpec":
        unknown = sorted(set(values) - FIELD_NAMES)
        if unknown:
            raise UserError(f"unknown spec field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(FIELD_NAMES))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(WGANSpec))


def spec_differences(saved: dict, expected: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """Fields where a saved spec (a run's spec.json, a calibration's) differs from the expected one. A field
    the saved spec lacks counts as its default: it was added to WGANSpec later, with the default that
    reproduces what older runs did (a calibration measured before `generator_output` existed still holds)."""
    defaults = WGANSpec().to_dict()
    return sorted(k for k in set(saved) | set(expected)
                  if k not in ignore and saved.get(k, defaults.get(k)) != expected.get(k, defaults.get(k)))


def validate(spec: WGANSpec) -> None:
    """Raise UserError (one line: what is wrong and the fix) for values no WGAN can train with."""

    def fail(problem: str, fix: str) -> None:
        raise UserError(f"invalid spec: {problem}; {fix}")

    for name in ("latent_dim", "data_dim", "n_critic", "batch_size"):
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            fail(f"{name} = {value!r}", f"{name} must be an integer >= 1")
    if not spec.generator_hidden or not spec.critic_hidden or any(
            (not isinstance(w, int) or w < 1) for w in spec.generator_hidden + spec.critic_hidden):
        fail("hidden widths must be non-empty tuples of positive integers", "e.g. generator_hidden=(128, 256)")
    for name in ("clip_value", "lr", "rms_eps", "bn_eps", "adam_eps", "gp_weight"):
        value = getattr(spec, name)
        if not isinstance(value, (int, float)) or not value > 0:
            fail(f"{name} = {value!r}", f"{name} must be > 0")
    if not 0 <= spec.leaky_slope < 1:
        fail(f"leaky_slope = {spec.leaky_slope!r}", "use a slope in [0, 1)")
    if not 0 < spec.bn_momentum <= 1:
        fail(f"bn_momentum = {spec.bn_momentum!r}", "use the weight of the new batch, in (0, 1] (torch: 0.1)")
    if not 0 <= spec.rms_decay < 1:
        fail(f"rms_decay = {spec.rms_decay!r}", "use a decay in [0, 1) (torch alpha 0.99)")
    for name in ("adam_beta1", "adam_beta2"):
        if not 0 <= getattr(spec, name) < 1:
            fail(f"{name} = {getattr(spec, name)!r}", "use a decay in [0, 1) (WGAN-GP: beta1 0, beta2 0.9)")
    if spec.optimizer == "adam" and spec.rms_initial_mean_square != 0:
        fail(f"rms_initial_mean_square = {spec.rms_initial_mean_square!r} with optimizer adam",
             "Adam's mean square starts at 0 in every framework; leave rms_initial_mean_square at 0")
    if spec.rms_initial_mean_square < 0:
        fail(f"rms_initial_mean_square = {spec.rms_initial_mean_square!r}", "use a value >= 0")
    if spec.batch_size < 2 and spec.generator_batch_norm:
        fail(f"batch_size = {spec.batch_size}", "BatchNorm needs at least 2 samples per batch (the tutorial uses 64)")
    choices = {"init": Init, "rms_eps_placement": EpsPlacement, "bn_running_var": RunningVar, "dtype": DType,
               "variant": Variant, "optimizer": Optimizer, "generator_step_at": GeneratorStepAt,
               "generator_output": GeneratorOutput}
    for name, literal in choices.items():
        allowed = literal.__args__  # type: ignore[attr-defined]
        if getattr(spec, name) not in allowed:
            fail(f"{name} = {getattr(spec, name)!r}", f"choose one of {', '.join(allowed)}")
    if spec.seed < 0:
        fail(f"seed = {spec.seed}", "use a seed >= 0")


# ---------------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------------
TUTORIAL = WGANSpec()

# The corrected preset differs from the tutorial in exactly these fields (documented in the README).
CORRECTIONS: dict[str, tuple[Any, str]] = {
    "bn_eps": (1e-5, "BatchNorm1d(out, 0.8) set eps = 0.8 by position; the author meant momentum (Keras original: 0.8)"),
    "generator_reuses_z": (False, "the paper's Algorithm 1 samples a fresh noise batch for the generator update"),
    "generator_step_at": ("last", "Algorithm 1 updates the generator after n_critic critic updates, not after the first"),
    "counter_restarts_each_epoch": (False, "Algorithm 1 has no epochs: every generator update follows n_critic critic updates"),
    "drop_last_batch": (True, "every critic update sees a full batch of m = batch_size samples, as Algorithm 1 draws"),
}
CORRECTED = TUTORIAL.replace(**{name: value for name, (value, _) in CORRECTIONS.items()})

# What each framework does when a port keeps its own defaults (see `wgan-suite defaults`, which reads
# them from the installed frameworks and checks these values). The architecture, lr, clip value,
# n_critic and batch stay the tutorial's: only framework defaults change.
NATIVE: dict[str, dict[str, Any]] = {
    "pytorch": dict(leaky_slope=0.01, bn_eps=1e-5, bn_momentum=0.1, bn_running_var="unbiased",
                    init="torch_default", rms_decay=0.99, rms_eps=1e-8, rms_eps_placement="outside"),
    # Raw TF2 has no layers or RMSprop of its own: a port takes tf.nn.leaky_relu (0.2), the Keras
    # optimizer and initialisers TF ships, and tf.nn.batch_normalization with Keras' BatchNorm values.
    "tensorflow": dict(leaky_slope=0.2, bn_eps=1e-3, bn_momentum=0.01, bn_running_var="biased",
                       init="glorot_uniform", rms_decay=0.9, rms_eps=1e-7, rms_eps_placement="inside"),
    "keras": dict(leaky_slope=0.3, bn_eps=1e-3, bn_momentum=0.01, bn_running_var="biased",
                  init="glorot_uniform", rms_decay=0.9, rms_eps=1e-7, rms_eps_placement="inside"),
}

# The two variants the tutorial's claims are measured against, on the corrected preset's networks, data
# and schedule; only what defines each variant changes (see `wgan-suite spec --preset wgan-gp`).
VARIANTS: dict[str, dict[str, Any]] = {
    "wgan": {},
    # Gulrajani et al. 2017, Algorithm 1: lambda 10, n_critic 5, Adam lr 1e-4, betas (0, 0.9); no clipping.
    "wgan-gp": dict(variant="wgan-gp", optimizer="adam", lr=1e-4, adam_beta1=0.0, adam_beta2=0.9),
    # The tutorial series' gan.py: Adam lr 2e-4, betas (0.5, 0.999), one discriminator step per generator step.
    "gan": dict(variant="gan", optimizer="adam", lr=2e-4, adam_beta1=0.5, adam_beta2=0.999, n_critic=1),
}

# The WGAN-GP paper's 2-D experiments (Gulrajani et al. 2017, Figure 1 and its released gan_toy.py): generator
# and critic are MLPs of three ReLU layers of 512, no BatchNorm, a linear output, 2-D Gaussian noise; batch
# 256, 5 critic updates per generator update, on the corrected preset's schedule (gan_toy.py's loop: one
# generator step, then five critic steps on fresh batches). Initial weights stay torch's default for every
# preset (gan_toy.py uses He-uniform hidden layers); the 2-D sets are shared/core/data.py's, scaled to
# fit [-1, 1] (gan_toy.py's 8 modes sit at radius 1.41 with std 0.014, ours at 0.75 with std 0.03).
TOY_NETWORKS = dict(latent_dim=2, data_dim=2, generator_hidden=(512, 512, 512), critic_hidden=(512, 512, 512),
                    leaky_slope=0.0, generator_batch_norm=False, generator_output="linear", batch_size=256)
TOY_VARIANTS: dict[str, dict[str, Any]] = {
    # gan_toy.py MODE 'wgan': tf.train.RMSPropOptimizer(5e-5) with TF1's defaults (decay 0.9, eps 1e-10 under
    # the sqrt, mean square starting at 1), clipping into [-0.01, 0.01] after every critic step.
    "toy-wgan": dict(rms_decay=0.9, rms_eps=1e-10, rms_eps_placement="inside", rms_initial_mean_square=1.0),
    # gan_toy.py MODE 'wgan-gp': Adam lr 1e-4, betas (0.5, 0.9), lambda 0.1 ("smaller lambda seems to help
    # for toy tasks"); TF1's Adam adds eps to the uncorrected sqrt(v), this spec to the corrected one (eps 1e-8).
    "toy-wgan-gp": dict(variant="wgan-gp", optimizer="adam", lr=1e-4, adam_beta1=0.5, adam_beta2=0.9, gp_weight=0.1),
    # gan_toy.py has no GAN mode: the baseline takes the WGAN-GP toy's Adam and one discriminator step per
    # generator step, as the GAN preset does.
    "toy-gan": dict(variant="gan", optimizer="adam", lr=1e-4, adam_beta1=0.5, adam_beta2=0.9, n_critic=1),
}

PRESETS: dict[str, WGANSpec] = {
    "tutorial": TUTORIAL,
    "corrected": CORRECTED,
    "wgan-gp": CORRECTED.replace(**VARIANTS["wgan-gp"]),
    "gan": CORRECTED.replace(**VARIANTS["gan"]),
    **{f"native-{fw}": TUTORIAL.replace(**values) for fw, values in NATIVE.items()},
    **{name: CORRECTED.replace(**TOY_NETWORKS, **values) for name, values in TOY_VARIANTS.items()},
}


def get_preset(name: str) -> WGANSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def native_spec(framework: str, base: WGANSpec) -> WGANSpec:
    """`base` with the given framework's own defaults in place of every framework-dependent field."""
    family = framework.split(":")[0]
    return base.replace(**NATIVE[family])


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """`--set lr=1e-4 --set dtype=float64` -> {"lr": 1e-4, "dtype": "float64"}, typed by the field."""
    types = {f.name: f.type for f in dataclasses.fields(WGANSpec)}
    out: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise UserError(f"--set {pair!r} is not NAME=VALUE; e.g. --set lr=1e-4")
        if name not in types:
            raise UserError(f"unknown spec field {name!r}; known fields: {', '.join(sorted(types))}")
        default = getattr(TUTORIAL, name)
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                value: Any = text.lower() in ("true", "1")
            elif isinstance(default, tuple):
                value = tuple(int(v) for v in text.split(",") if v.strip())
            elif isinstance(default, int):
                value = int(text)
            elif isinstance(default, float):
                value = float(text)
            else:
                value = text
        except ValueError:
            raise UserError(f"--set {name}={text!r}: expected a {type(default).__name__}") from None
        out[name] = value
    return out
