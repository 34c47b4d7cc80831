"""`wgan-suite parity`: proof that the implementations are the same algorithm, and where they part.

Checks (each framework against PyTorch, the tutorial's framework, as reference):
  golden      critic/generator loss of TF-GAN's golden scores (0.225 and -3.125), the GAN's cross-entropy on
              the same scores, and the gradient penalty of linear critics: weight * (||w|| - 1)^2
  forward     outputs from transplanted weights: generator (eval and train mode), critic, BN statistics
  lockstep    float64 free runs from shared weights on identical inputs: every loss and every parameter
              (both presets x both eps placements, the wgan-gp and gan variants, and the three 2-D toy
              presets on 8gaussians: ReLU, no BatchNorm, linear output, TF1's RMSprop)
  teacher     float32: one critic + one generator step from the same saved states along a run (tutorial),
              and from the start (wgan-gp, gan)
  free32      (information) float32 free runs: how far and where trajectories part — expected, see below

Every framework runs in its own process (shared/suite/worker.py); two at a time on two cores, one thread each.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.core.data import toy_dataset
from shared.core.errors import UserError
from shared.core.protocol import is_builtin
from shared.core.params import bn_layers, init_optimizer_state, init_params
from shared.core.spec import CORRECTED, PRESETS, TUTORIAL, WGANSpec, parse_overrides
from shared.core.streams import Streams

REFERENCE = "pytorch"
GOLDEN_REAL = [-5.0, 1.4, 12.5, 2.7]
GOLDEN_FAKE = [10.0, 4.4, -5.5, 3.6]
GOLDEN = {"critic_loss": 0.225, "generator_loss": -3.125}  # TF-GAN's convention, which is ours
GP_WEIGHT = 10.0
# Linear critics D(x) = x @ w + b: grad_x D = w everywhere, so the penalty is GP_WEIGHT * (||w|| - 1)^2.
LINEAR_CRITICS = {"norm 2": ([[1.2], [1.6], [0.0]], [0.5]), "norm 0.5": ([[0.0], [-0.3], [0.4]], [-1.0]),
                  "norm 1": ([[0.6], [0.0], [-0.8]], [0.0])}


def golden_values() -> dict[str, float]:
    """What every framework must compute on the golden inputs, from formulas written out in NumPy."""
    real, fake = np.array(GOLDEN_REAL), np.array(GOLDEN_FAKE)
    softplus = lambda x: np.logaddexp(0.0, x)  # noqa: E731 - log(1 + e^x)
    out = {"wgan/critic_loss": GOLDEN["critic_loss"], "wgan/generator_loss": GOLDEN["generator_loss"],
           "gan/critic_loss": (softplus(-real).mean() + softplus(fake).mean()) / 2,
           "gan/generator_loss": softplus(-fake).mean()}
    out.update({f"penalty/{name}": GP_WEIGHT * (np.linalg.norm(w) - 1.0) ** 2 for name, (w, _) in LINEAR_CRITICS.items()})
    return out


def golden_task() -> dict:
    gen = np.random.default_rng(7)
    return {"task": "golden", "d_real": GOLDEN_REAL, "d_fake": GOLDEN_FAKE, "gp_weight": GP_WEIGHT,
            "real": gen.uniform(-1, 1, (8, 3)), "fake": gen.uniform(-1, 1, (8, 3)), "mix": gen.random((8, 1)),
            "linear_critics": LINEAR_CRITICS}
# Keras on torch/jax computes some float64 ops in float32 (DESIGN.md): float32 checks only.
FLOAT64_FRAMEWORKS = ("pytorch", "tensorflow", "keras")

U32 = 2.0 ** -24  # float32's unit roundoff


def float32_tolerance(depth: int, width: int, margin: float = 4.0) -> float:
    """The relative float32 tolerance of a result that went through `depth` chained reductions (dot products,
    means) of length <= `width`, relative to the scale of what was summed: margin * depth * sqrt(width) * u.
    A length-K float32 sum is off by about sqrt(K) * u with high probability (rounding errors are nearly
    independent: Higham & Mary, SIAM J. Sci. Comput. 2019), and errors add along a chain. The margin covers
    the summation orders and fused multiply-adds that differ between libraries and CPU kinds (AVX2, AVX-512);
    docs/parity.md lists each tolerance beside what was measured on both kinds."""
    return margin * depth * np.sqrt(width) * U32


# Derived tolerances (float32_tolerance) where float32 rounding sets them; float64 ones are ~1e4 x double's
# roundoff; the teacher-params pair is measured (an element-wise threshold and the share allowed past it).
TOL = {"golden": 1e-12, "forward64": 1e-12, "lockstep_params": 1e-10, "lockstep_loss": 1e-9,
       # golden losses on 8 scores: one mean of length 8
       "golden32": float32_tolerance(depth=1, width=8),
       # generator (5 dense layers, widths to 1024) then critic (3): 8 chained reductions of length <= 1024
       "forward32": float32_tolerance(depth=8, width=1024),
       # one training step from a shared state, then the losses: forward (8) and backward (8) through both nets
       "teacher_loss": float32_tolerance(depth=16, width=1024),
       # the penalty: the critic's input gradient (forward 3 + backward 3 reductions of length <= 784), its norm
       # (1), squared (x2 relative) -- on top of the teacher step's 16
       "teacher_loss_gp": float32_tolerance(depth=16 + 2 * 7, width=1024),
       # measured on AVX2 and AVX-512: after one float32 step, < 1e-4 of the elements differ by > 1e-6
       "teacher_params": 1e-6, "teacher_outlier_share": 1e-4}


@dataclass
class Check:
    """One cell of the table: a check for one framework."""
    check: str
    framework: str
    measured: float
    tolerance: float | None            # None: information only
    detail: str = ""
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error:
            return "ERROR"
        if self.tolerance is None:
            return "info"
        return "PASS" if self.measured <= self.tolerance else "FAIL"


@dataclass
class ParityConfig:
    frameworks: list[str]
    iterations: int = 200                       # generator iterations of each float64 lockstep run
    teacher_points: tuple[int, ...] = (0, 50, 100)
    # 100 full batches and one of 32 (as MNIST's 60000 = 937 * 64 + 32): the tutorial preset's lockstep
    # crosses epoch ends (its count restarts), trains on the partial batch and steps the generator after it.
    data_samples: int = 6432
    perturb: dict[str, dict] = field(default_factory=dict)   # framework -> spec fields changed (test hook)
    lockstep: tuple[str, ...] | None = None     # names of lockstep_specs() to run; None: all of them
    jobs: int = 2
    threads: int = 1


def pre_bn_biases(spec: WGANSpec) -> set[str]:
    """Biases of the generator's dense layers that feed a BatchNorm (which subtracts them right away)."""
    return {f"generator.dense{k}.bias" for k in bn_layers(spec)}


VARIANT_PRESETS = ("wgan-gp", "gan")
TOY_PRESETS = ("toy-wgan", "toy-wgan-gp", "toy-gan")
TOY_ITERATIONS = 20  # a toy G-it costs ~4 MNIST ones (widths 512, batch 256); the loop is the same


def lockstep_specs() -> dict[str, WGANSpec]:
    """Both presets x both eps placements, the two other variants and the toy presets, in float64."""
    specs = {f"{name}/eps-{placement}": base.replace(dtype="float64", rms_eps_placement=placement)
             for name, base in (("tutorial", TUTORIAL), ("corrected", CORRECTED))
             for placement in ("outside", "inside")}
    specs.update({variant: PRESETS[variant].replace(dtype="float64") for variant in VARIANT_PRESETS + TOY_PRESETS})
    return specs


def parse_perturb(items: list[str]) -> dict[str, dict]:
    """['tensorflow:leaky_slope=0.3'] -> {'tensorflow': {'leaky_slope': 0.3}}."""
    out: dict[str, dict] = {}
    for item in items:
        framework, sep, assignment = item.partition(":")
        if framework == "keras" and assignment.startswith(("torch:", "jax:", "tensorflow:")):
            backend, _, assignment = assignment.partition(":")
            framework = f"keras:{backend}"
        if not sep:
            raise UserError(f"--perturb {item!r} is not FRAMEWORK:FIELD=VALUE; e.g. tensorflow:leaky_slope=0.3")
        out.setdefault(framework, {}).update(parse_overrides([assignment]))
    return out


# ---------------------------------------------------------------------------------------------------
# Running workers
# ---------------------------------------------------------------------------------------------------
def worker_env() -> dict[str, str]:
    """The environment of a framework's worker process: no TensorFlow start-up banner, unbuffered output."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")


def worker_exit_error(returncode: int, stderr: str) -> str:
    """One line for a worker process that ended without its result: its exit code and last stderr line."""
    last = (stderr.strip().splitlines() or ["no output"])[-1]
    return f"worker exited {returncode}: {last}"


def run_worker(framework: str, tasks: dict[str, dict], perturb: dict | None = None) -> dict:
    """Run `tasks` for one framework in a fresh process; returns its results (or an error per task)."""
    if perturb:  # copies: the same task dicts go to every framework
        tasks = {name: ({**request, "spec": request["spec"].replace(**perturb)} if "spec" in request else request)
                 for name, request in tasks.items()}
    with tempfile.TemporaryDirectory(prefix="wgan-parity-") as tmp:
        request_path, result_path = Path(tmp) / "request.pkl", Path(tmp) / "result.pkl"
        with open(request_path, "wb") as f:
            pickle.dump({"framework": framework, "tasks": tasks}, f)
        proc = subprocess.run([sys.executable, "-m", "shared.suite.worker", str(request_path), str(result_path)],
                              env=worker_env(), capture_output=True, text=True)
        if proc.returncode != 0 or not result_path.exists():
            return {name: {"error": worker_exit_error(proc.returncode, proc.stderr)} for name in tasks}
        with open(result_path, "rb") as f:
            return pickle.load(f)


def build_tasks(config: ParityConfig, train_x: np.ndarray) -> tuple[dict, dict]:
    """The shared inputs: (float64 tasks for every framework, float32 free-run task for the reference)."""
    rng = np.random.default_rng(1234)
    tasks: dict[str, dict] = {"golden": golden_task()}
    for dtype in ("float64", "float32"):
        spec = TUTORIAL.replace(dtype=dtype)
        params = init_params(spec)
        tasks[f"forward/{dtype}"] = {"task": "forward", "spec": spec, "params": params,
                                     "z": rng.standard_normal((64, spec.latent_dim)).astype(dtype),
                                     "x": train_x[:64].astype(dtype), "threads": config.threads}
    toy_x = toy_dataset("8gaussians", n=4096)[0]
    for name, spec in chosen_lockstep_specs(config).items():
        toy = spec.data_dim == 2
        tasks[f"lockstep/{name}"] = {"task": "lockstep", "spec": spec, "params": init_params(spec),
                                     "train_x": toy_x if toy else train_x, "threads": config.threads,
                                     "iterations": min(config.iterations, TOY_ITERATIONS) if toy else config.iterations}
    spec32 = TUTORIAL
    free32 = {"task": "lockstep", "spec": spec32, "params": init_params(spec32), "train_x": train_x,
              "iterations": max(config.teacher_points) + 1, "snapshot_at": config.teacher_points,
              "threads": config.threads}
    return tasks, free32


def chosen_lockstep_specs(config: ParityConfig) -> dict[str, WGANSpec]:
    """lockstep_specs(), or the ones config.lockstep names (UserError naming the choices for an unknown one)."""
    specs = lockstep_specs()
    if config.lockstep is None:
        return specs
    unknown = [name for name in config.lockstep if name not in specs]
    if unknown or not config.lockstep:
        raise UserError(f"--lockstep {' '.join(unknown)}: no such lockstep run; choose from {', '.join(specs)}")
    return {name: specs[name] for name in config.lockstep}


def start_states(spec: WGANSpec, train_x: np.ndarray) -> list[dict]:
    """The state before the first step (shared initial weights, fresh optimizer) and its inputs."""
    streams = Streams(train_x, spec)
    return [{"iteration": 0, "params": init_params(spec), "optimizer": init_optimizer_state(spec),
             "real": streams.real_batch(0), "z": streams.critic_z(0), "mix": streams.mix(0),
             "z_gen": streams.generator_z(streams.schedule.generator_after(0))}]


def teacher_states(free32_result: dict, config: ParityConfig, train_x: np.ndarray) -> list[dict]:
    """Saved reference states (params + optimizer) plus the next step's inputs."""
    spec = TUTORIAL
    streams = Streams(train_x, spec)
    snapshots = dict(free32_result["snapshots"])
    snapshots[0] = (init_params(spec), init_optimizer_state(spec))
    states = []
    for point in config.teacher_points:
        params, optimizer = snapshots[point]
        t = streams.schedule.critic_steps(point).start  # the next critic step after `point` generator iterations
        states.append({"iteration": point, "params": params, "optimizer": optimizer,
                       "real": streams.real_batch(t), "z": streams.critic_z(t), "mix": streams.mix(t),
                       "z_gen": streams.generator_z(streams.schedule.generator_after(point))})
    return states


# ---------------------------------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------------------------------
def max_rel(a, b) -> float:
    """Largest |a - b| relative to the largest |b| of the array (element-wise relative error would blow
    up on outputs that merely happen to sit near zero, e.g. a tanh output of 1e-7)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300)) if a.size else 0.0


def param_diffs(a: dict, b: dict) -> dict[str, float]:
    """Max |difference| per canonical name (a name missing on one side counts as infinite)."""
    return {name: (float(np.max(np.abs(np.asarray(a[name], np.float64) - np.asarray(b[name], np.float64))))
                   if name in a and np.shape(a[name]) == np.shape(b[name]) else float("inf"))
            for name in b}


def compare_forward(fw: str, ref: dict, got: dict, dtype: str) -> Check:
    tol = TOL["forward64" if dtype == "float64" else "forward32"]
    parts = {key: max_rel(got[key], ref[key]) if dtype == "float32" else
             float(np.max(np.abs(np.asarray(got[key], np.float64) - ref[key])))
             for key in ("generator_eval", "generator_train", "critic")}
    stats = param_diffs(got["params_after_train_forward"], ref["params_after_train_forward"])
    parts["bn_statistics"] = max(v for k, v in stats.items() if "moving" in k)
    roundtrip = max(param_diffs(got["params_roundtrip"], ref["params_roundtrip"]).values())
    parts["params_roundtrip"] = roundtrip
    worst = max(parts, key=parts.get)
    measure = "relative" if dtype == "float32" else "abs"
    return Check(f"forward {dtype}", fw, parts[worst], tol, f"{measure}; worst: {worst}")


def compare_lockstep(fw: str, name: str, ref: dict, got: dict) -> list[Check]:
    loss_rel = max(max_rel(got["critic_loss"], ref["critic_loss"]), max_rel(got["generator_loss"], ref["generator_loss"]))
    diffs = {**param_diffs(got["params"], ref["params"]),
             **{f"rms.{k}": v for k, v in param_diffs(got["optimizer"], ref["optimizer"]).items()}}
    worst = max(diffs, key=diffs.get)
    params = Check(f"lockstep {name} params", fw, diffs[worst], TOL["lockstep_params"],
                   f"{len(ref['generator_loss'])} G-it; worst {worst}")
    losses = Check(f"lockstep {name} losses", fw, loss_rel, TOL["lockstep_loss"], "relative")
    if params.status == "FAIL" or losses.status == "FAIL":
        where = first_parting(ref, got, TOL["lockstep_loss"])
        params.detail += f"; {where}"
        losses.detail += f"; {where}"
    return [params, losses]


def first_parting(ref: dict, got: dict, tol: float) -> str:
    """'first parts at critic step S (loss) / generator iteration I in parameter NAME'."""
    n = min(len(ref["critic_loss"]), len(got["critic_loss"]))
    rel = np.abs(got["critic_loss"][:n] - ref["critic_loss"][:n]) / np.maximum(np.abs(ref["critic_loss"][:n]), 1e-12)
    step = int(np.argmax(rel > tol)) if np.any(rel > tol) else None
    fp_ref, fp_got = ref["fingerprints"], got["fingerprints"]
    m = min(len(fp_ref), len(fp_got))
    scale = np.maximum(np.abs(fp_ref[:m]), 1e-12)
    rel = np.abs(fp_got[:m] - fp_ref[:m]) / scale
    bad_rows = np.flatnonzero(np.any(rel > tol, axis=1))
    if bad_rows.size:
        iteration = int(bad_rows[0])
        index = int(np.argmax(rel[iteration]))  # the parameter that moved apart the most at that point
        param = f"generator iteration {iteration + 1}, parameter {ref['names'][index]}"
    else:
        param = "parameters agree at every generator iteration"
    return f"first parts at critic step {step} (loss); {param}"


def compare_teacher(fw: str, ref: dict, got: dict, pre_bn_biases: set[str], loss_tol: float = TOL["teacher_loss"]) -> list[Check]:
    """Losses within loss_tol of their scale (derived: float32_tolerance); parameters: the share of elements off by more than 1e-6.

    A loss's error is measured against the size of the terms float32 rounded, not against the loss: the
    WGAN critic loss -E[D(real)] + E[D(fake)] is a difference of two nearly equal means (the loss can be
    1e-3 of them), so relative to itself its float32 error depends on how close they happen to be — that
    made one CPU kind fail where another passed. Against max|D(real)| + max|D(fake)| (+ the penalty; for
    the generator loss max|D(fake)|), the largest terms float32 rounds, the error of a 64-sample mean
    through a 3-layer critic is ~1e-7..1e-6 on every backend measured.

    The generator's biases in front of BatchNorm are reported apart: BatchNorm cancels them, so their
    true gradient is 0 and each framework computes rounding noise (~1e-12 or exactly 0). One RMSprop
    step from a fresh state moves a weight by ~10 lr whatever the gradient's size, so that noise becomes
    5e-4 steps there: counted and named, not hidden, and not mistaken for a disagreement elsewhere.
    """
    loss_rel, diffs, bias_diffs, by_name = 0.0, [], [], {}
    for r, g in zip(ref["states"], got["states"]):
        loss_rel = max(loss_rel, abs(g["critic_loss"] - r["critic_loss"]) / max(r["critic_scale"], 1e-30),
                       abs(g["generator_loss"] - r["generator_loss"]) / max(r["generator_scale"], 1e-30))
        for name in r["params"]:
            d = np.abs(np.asarray(g["params"][name], np.float64) - r["params"][name]).ravel()
            (bias_diffs if name in pre_bn_biases else diffs).append(d)
            if name not in pre_bn_biases:
                by_name[name] = by_name.get(name, 0) + int(np.sum(d > TOL["teacher_params"]))
    rest, biases = np.concatenate(diffs), np.concatenate(bias_diffs) if bias_diffs else np.zeros(1)
    share = float(np.mean(rest > TOL["teacher_params"]))
    worst = ", ".join(f"{n} ({c})" for n, c in sorted(by_name.items(), key=lambda kv: -kv[1])[:3] if c)
    return [Check("teacher float32 losses", fw, loss_rel, loss_tol,
                  f"relative to the terms' scale (max|D(real)| + max|D(fake)|); {len(ref['states'])} states"),
            Check("teacher float32 params", fw, share, TOL["teacher_outlier_share"],
                  f"share of elements off by > {TOL['teacher_params']:.0e}: median {np.median(rest):.1e}, "
                  f"max {rest.max():.1e}, outliers in {worst or 'none'}; pre-BatchNorm biases (true gradient 0): "
                  f"{np.mean(biases > TOL['teacher_params']):.0%} off, max {biases.max():.1e}")]


def compare_free32(fw: str, ref: dict, got: dict) -> Check:
    rel = np.abs(got["critic_loss"] - ref["critic_loss"]) / np.maximum(np.abs(ref["critic_loss"]), 1e-12)
    parted = np.argmax(rel > 1e-4) if np.any(rel > 1e-4) else None
    return Check("free32 losses (info)", fw, float(np.median(rel)), None,
                 f"median rel; max {rel.max():.1e}; " + ("never parts by 1e-4" if parted is None else f"parts by 1e-4 at step {parted}"))


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------
def run_parity(config: ParityConfig, train_x: np.ndarray, progress=print) -> list[Check]:
    train_x = train_x[:config.data_samples]
    tasks, free32 = build_tasks(config, train_x)
    # The reference's float32 free run comes first: every framework's teacher-forced states are taken from
    # it. Then every framework runs its checks in its own process, the reference's own among them, side by side.
    progress(f"reference {REFERENCE}: float32 run to G-it {max(config.teacher_points)} (the teacher states)")
    free_ref = run_worker(REFERENCE, {"free32": free32}, config.perturb.get(REFERENCE))["free32"]
    if "error" in free_ref:
        return [Check("free32", REFERENCE, float("nan"), None, error=free_ref["error"])]
    teacher = {"teacher": {"task": "teacher", "spec": TUTORIAL, "threads": config.threads,
                           "states": teacher_states(free_ref, config, train_x)}}
    for variant in VARIANT_PRESETS:
        spec = PRESETS[variant]
        teacher[f"teacher/{variant}"] = {"task": "teacher", "spec": spec, "threads": config.threads,
                                         "states": start_states(spec, train_x)}

    def one(fw: str) -> tuple[str, dict]:
        if fw == REFERENCE:
            lockstep_runs = sum(name.startswith("lockstep/") for name in tasks)
            progress(f"reference {REFERENCE}: golden, forward, {lockstep_runs} float64 lockstep runs x "
                     f"{config.iterations} G-it, teacher steps")
            return fw, run_worker(fw, {**tasks, **teacher}, config.perturb.get(fw))
        float64_ok = fw in FLOAT64_FRAMEWORKS or not is_builtin(fw)  # a user's module: float64 is asked of it
        mine = {k: v for k, v in tasks.items()
                if (float64_ok or not (k.endswith("float64") or k.startswith("lockstep")))
                and (k != "golden" or is_builtin(fw))}  # golden calls wgan.py's loss functions: not the contract
        mine.update(teacher)
        mine["free32"] = free32
        progress(f"{fw}: running its checks in its own process")
        return fw, run_worker(fw, mine, config.perturb.get(fw))

    frameworks = [REFERENCE] + [fw for fw in config.frameworks if fw != REFERENCE]
    with ThreadPoolExecutor(max_workers=config.jobs) as pool:
        results = dict(pool.map(one, frameworks))
    ref = {**results[REFERENCE], "free32": free_ref}
    checks = [Check(name, REFERENCE, float("nan"), None, error=result["error"]) for name, result in ref.items()
              if "error" in result and name not in ("golden", "teacher")]  # those two are reported below

    for fw in frameworks:
        got = results[fw]
        if not is_builtin(fw):
            checks.append(Check("golden losses", fw, float("nan"), None, "a user's module: its losses are checked "
                                "through its steps (lockstep, teacher), not on golden scores"))
        for name, result in got.items():
            if fw == REFERENCE and name not in ("golden", "teacher"):
                continue  # the reference against itself proves nothing; its errors were reported above
            if "error" in result:
                checks.append(Check(name, fw, float("nan"), None, error=result["error"]))
                continue
            if name == "golden":
                want = golden_values()
                # Keras on torch/jax computes float64 inputs in float32: a float32 tolerance there.
                tol = TOL["golden"] if fw in FLOAT64_FRAMEWORKS else TOL["golden32"]
                for group, detail in (("wgan", "critic 0.225, generator -3.125"),
                                      ("gan", "sigmoid cross-entropy on the same scores"),
                                      ("penalty", "linear critics: 10 * (||w|| - 1)^2 = 10, 2.5, 0")):
                    keys = [k for k in want if k.startswith(group + "/")]
                    measured = max(abs(result.get(k, float("inf")) - want[k]) / max(abs(want[k]), 1.0) for k in keys)
                    label = {"wgan": "golden losses", "gan": "golden gan losses", "penalty": "golden gradient penalty"}[group]
                    checks.append(Check(label, fw, measured, tol, detail))
            elif name.startswith("forward/"):
                checks.append(compare_forward(fw, ref[name], result, name.split("/")[1]))
            elif name.startswith("lockstep/"):
                checks.extend(compare_lockstep(fw, name.split("/", 1)[1], ref[name], result))
            elif name.startswith("teacher") and "error" not in results[REFERENCE][name]:
                tol = TOL["teacher_loss_gp" if name == "teacher/wgan-gp" else "teacher_loss"]
                for check in compare_teacher(fw, results[REFERENCE][name], result, pre_bn_biases(TUTORIAL), tol):
                    if "/" in name:  # teacher/wgan-gp -> "teacher float32 losses [wgan-gp]"
                        check.check += f" [{name.split('/')[1]}]"
                    checks.append(check)
            elif name == "free32":
                checks.append(compare_free32(fw, ref["free32"], result))
    return checks


def format_table(checks: list[Check]) -> str:
    """check x framework: measured difference and PASS/FAIL, tolerance in its own column."""
    frameworks = list(dict.fromkeys(c.framework for c in checks))
    rows = list(dict.fromkeys(c.check for c in checks))
    cell = {(c.check, c.framework): c for c in checks}
    width = max(len(r) for r in rows) + 2
    col = max(20, *(len(fw) + 2 for fw in frameworks))  # a user's module path can be long
    lines = [f"{'check':<{width}}{'tolerance':>10}  " + "".join(f"{fw:>{col}}" for fw in frameworks)]
    for row in rows:
        tol = next((cell[(row, fw)].tolerance for fw in frameworks if (row, fw) in cell), None)
        text = f"{row:<{width}}{(f'{tol:.0e}' if tol is not None else 'info'):>10}  "
        for fw in frameworks:
            c = cell.get((row, fw))
            shown = "n/a " if c is not None and c.measured != c.measured and not c.error else ""  # NaN: not measured
            value = shown or (f"{c.measured:.1e} " if c is not None and not c.error else "")
            text += f"{'—':>{col}}" if c is None else f"{value + c.status:>{col}}"
        lines.append(text)
    notes = [f"  {c.framework} / {c.check}: {c.error or c.detail}" for c in checks
             if c.status in ("FAIL", "ERROR")]
    if notes:
        lines += ["", "Where they part:"] + notes
    row_tol = {row: next((cell[(row, fw)].tolerance for fw in frameworks if (row, fw) in cell), None) for row in rows}
    details = [f"  {c.framework} / {c.check}: {c.detail}" for c in checks
               if c.status in ("PASS", "info") and c.check.startswith(("teacher float32 params", "free32"))]
    details += [f"  {c.framework} / {c.check}: tolerance {c.tolerance:.0e} (Keras on this backend computes some float64 ops in float32)"
                for c in checks if c.tolerance is not None and c.tolerance != row_tol[c.check]]
    if details:
        lines += ["", "float32 details:"] + details
    return "\n".join(lines)
