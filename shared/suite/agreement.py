"""Is each framework's run the same algorithm as the reference's? A verdict in two phases, with a known error rate.

Runs of different frameworks from the same data, seed, spec and initial weights are not expected to match digit
for digit in float32 forever (see `wgan-suite parity`), but the data says exactly what to expect instead:

1. Lockstep phase. With shared initial weights, batches and noise, the per-iteration critic and generator losses
   of two correct implementations agree to ~1e-7..1e-5 of their scale, until rounding differences,
   amplified by training, make the runs part (measured per preset and framework pair: docs/agreement.md). Over
   the first LOCKSTEP_WINDOW generator iterations they must agree to LOCKSTEP_TOLERANCE. A porting bug that
   changes what is computed parts them at once.
2. Behaviour phase. After parting, a framework's run is one more draw from the distribution the reference's
   seeds span. Each behaviour statistic (transformed to be near normal: logs of scales) is tested against that
   null: the reference's own seeds when a compare runs --seeds >= 2, else committed calibration data
   (`wgan-suite calibrate`, shared/suite/calibration/). The test is a t prediction interval, Bonferroni-corrected
   over statistics x frameworks, so that matched runs are flagged with probability <= FAMILY_ALPHA in all.

The measured false-alarm rate (matched runs) and detection rate (the porting-bug catalogue in examples/porting_bugs/)
are in docs/agreement.md, with the commands that reproduce them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.core.spec import spec_differences

FAMILY_ALPHA = 0.01      # the family-wise false-alarm rate the behaviour phase is built for
LOCKSTEP_WINDOW = 10     # generator iterations; matched float32 runs part later: GAN ~25, WGAN-GP ~80, WGAN ~560
LOCKSTEP_TOLERANCE = 1e-3  # |difference| / (|E D(real)| + |E D(fake)| + penalty): matched runs stay below 1e-5 there

# Behaviour statistics: name -> (transform, what it means). 'log': tested as log(value) (a scale: positive,
# right-skewed); 'id': as is. Not compared: D(real) and D(fake) themselves — the losses cancel any constant added
# to the critic, so their common level drifts freely; their range within a batch (the critic's scale) is compared.
BEHAVIOUR: dict[str, tuple[str, str]] = {
    "final_critic_loss": ("id", "mean critic loss over the last 10% of iterations (minus the Wasserstein estimate)"),
    "final_d_real_range": ("log", "max - min of D(real) in a batch, averaged over the last 10%"),
    "final_d_fake_range": ("log", "max - min of D(fake) in a batch, averaged over the last 10%"),
    "pixel_mean": ("id", "mean pixel of the fixed-z samples, the median over the snapshots of the run's second half"),
    "pixel_std": ("id", "pixel standard deviation of the fixed-z samples, the median over the second half's snapshots"),
    "clipped_share": ("id", "share of critic weights at +-c over the last 10% (clipped critics only)"),
}
# What a statistic can possibly be, whatever the preset. The t interval knows nothing of bounds (a null of small
# shares can give an interval that starts below 0); the interval shown is cut to this range, which never changes
# a PASS or FAIL. (Samples are in [-1, 1] only with a tanh output; the 2-D toys' generators have none.)
POSSIBLE: dict[str, tuple[float, float]] = {"pixel_std": (0.0, np.inf), "clipped_share": (0.0, 1.0)}
EXACT: dict[str, str] = {"clip_held": "every critic step ended with max |w| <= c (clipped critics only; 1 = held)"}
LOCKSTEP_MEANING = (f"largest difference of the per-iteration critic and generator losses over the first "
                    f"{LOCKSTEP_WINDOW} G-its, relative to the critic's scale; must stay <= {LOCKSTEP_TOLERANCE:g}")
# Every row name the compare table may show, in order, with what it means (the report's legend).
STATISTICS: dict[str, str] = {"lockstep": LOCKSTEP_MEANING, **{k: v for k, (_, v) in BEHAVIOUR.items()}, **EXACT}


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average (edges use the available values)."""
    window = max(1, min(window, len(values)))
    kernel = np.ones(window)
    num = np.convolve(values, kernel, mode="same")
    den = np.convolve(np.ones_like(values), kernel, mode="same")
    return num / den


# ---------------------------------------------------------------------------------------------------------------
# Statistics of one run
# ---------------------------------------------------------------------------------------------------------------
def run_statistics(run_dir: Path, clip_value: float, clipped: bool = True) -> dict[str, float]:
    """The behaviour and exact statistics of one run folder (clipped_share and clip_held: variant wgan only)."""
    logs = read_jsonl(Path(run_dir) / "metrics.jsonl")
    snapshots = read_jsonl(Path(run_dir) / "snapshots.jsonl")
    late = logs[-max(1, len(logs) // 10):]
    out = {
        "final_critic_loss": float(np.mean([log["critic_loss"] for log in late])),
        "final_d_real_range": float(np.mean([log["d_real_max"] - log["d_real_min"] for log in late])),
        "final_d_fake_range": float(np.mean([log["d_fake_max"] - log["d_fake_min"] for log in late])),
        "pixel_mean": late_median(snapshots, "pixel_mean"),
        "pixel_std": late_median(snapshots, "pixel_std"),
    }
    if clipped:
        out["clipped_share"] = float(np.mean([log["clipped_share"] for log in late]))
        out["clip_held"] = float(max(log["max_abs_weight"] for log in logs) <= np.float32(clip_value))
    return out


# How the pixel checks read a run, recorded in compare's summary: before 2026-12-02 (session 20) they read the
# final snapshot, and results' tables say which recorded cells were judged that way.
PIXEL_STATISTICS = "median over the second half's snapshots"


def late_median(snapshots: list[dict], key: str) -> float:
    """The median of a snapshot statistic over the snapshots of the run's second half (iteration >= half the last
    one's; a run with one snapshot there: that one). A clipped WGAN's samples now and then brighten for a snapshot
    or two (pixel_mean -0.65 to -0.68 against a late level near -0.735 +- 0.01 in the tutorial's 1000-G-it runs, in
    about one run in ten at the final snapshot; docs/agreement.md): the final snapshot alone made those runs
    outliers of the null, the median over six (G-its 500-1000 at compare's quick budget) sees through two."""
    last = snapshots[-1]["iteration"]
    return float(np.median([s[key] for s in snapshots if 2 * s["iteration"] >= last]))


def loss_differences(run_dir: Path, reference_dir: Path) -> np.ndarray:
    """Per generator iteration: the larger of the critic-loss and generator-loss differences between two runs,
    each relative to its scale in the reference, |E D(real)| + |E D(fake)| + |penalty| + |the loss| (the loss
    term keeps the GAN's, whose logits start near 0, meaningful). Shape [iterations]."""
    a, b = read_jsonl(Path(run_dir) / "metrics.jsonl"), read_jsonl(Path(reference_dir) / "metrics.jsonl")
    n = min(len(a), len(b))
    if n == 0:
        return np.zeros(0)

    def column(logs, key):
        return np.array([log.get(key, 0.0) for log in logs[:n]], dtype=np.float64)
    scores = np.abs(column(b, "d_real_mean")) + np.abs(column(b, "d_fake_mean")) + 1e-12
    critic = (np.abs(column(a, "critic_loss") - column(b, "critic_loss"))
              / (scores + np.abs(column(b, "gradient_penalty")) + np.abs(column(b, "critic_loss"))))
    generator = (np.abs(column(a, "generator_loss") - column(b, "generator_loss"))
                 / (scores + np.abs(column(b, "generator_loss"))))
    return np.maximum(critic, generator)


def parted_at(differences: np.ndarray, tolerance: float = LOCKSTEP_TOLERANCE) -> int | None:
    """The first generator iteration whose relative loss difference exceeds tolerance (None: never)."""
    over = np.flatnonzero(differences > tolerance)
    return int(over[0]) if len(over) else None


# ---------------------------------------------------------------------------------------------------------------
# The null: the reference's seed-to-seed distribution
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Null:
    """Behaviour statistics of the reference framework, one dict per seed, and where they come from."""
    seeds: list[int]
    values: list[dict[str, float]]
    source: str                     # "this compare's seeds" or the calibration file's name
    lockstep: dict = field(default_factory=dict)  # calibration's measured parting iterations, for the record

    def excluding(self, seeds: list[int]) -> "Null":
        """Leave-one-out: a run is never tested against a null that contains its own seed's reference run."""
        keep = [i for i, s in enumerate(self.seeds) if s not in seeds]
        return Null([self.seeds[i] for i in keep], [self.values[i] for i in keep], self.source, self.lockstep)


CALIBRATION_DIR = Path(__file__).parent / "calibration"


def calibration_key(preset: str, dataset: str, iterations: int) -> str:
    """File stem of the calibration for a preset, dataset and run length."""
    return f"{preset}-{dataset}-{iterations}"


def spec_without_seed(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "seed"}


def load_calibration(preset: str, spec: dict, dataset: str, iterations: int,
                     directory: Path = CALIBRATION_DIR) -> Null | None:
    """The committed null for this preset, dataset and budget, or None when there is none (or it was measured for a
    different spec: every field but the seed must match, so --set overrides never borrow a preset's null)."""
    path = directory / f"{calibration_key(preset, dataset, iterations)}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return None if calibration_differences(data, spec, dataset, iterations) else calibration_null(data, path.name)


def calibration_differences(data: dict, spec: dict, dataset: str, iterations: int) -> list[str]:
    """What a calibration record was measured for that these runs are not: spec fields (a field the record lacks
    counts as its default), 'dataset', 'iterations'. Empty: its null holds for them."""
    return (spec_differences(data["spec"], spec, ignore=("seed",))
            + [key for key, value in (("dataset", dataset), ("iterations", iterations)) if data[key] != value])


def calibration_null(data: dict, name: str) -> Null:
    """The null a calibration record holds (one statistics dict per reference seed)."""
    runs = data["runs"]
    return Null([r["seed"] for r in runs], [r["statistics"] for r in runs],
                f"calibration {name} ({len(runs)} {data['reference']} seeds)", data.get("lockstep", {}))


# ---------------------------------------------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Agreement:
    statistic: str
    framework: str
    value: float          # the framework's value (mean over its seeds)
    reference: float      # the null's mean (behaviour), 0 (lockstep), 1 (exact)
    low: float            # the interval a matched run falls in (raw units; cut to POSSIBLE); for lockstep 0
    high: float           # ... and its upper end; for lockstep the tolerance
    passed: bool | None   # None: not testable here (no null, or initial weights not shared)
    phase: str            # "lockstep", "behaviour" or "exact"
    note: str = ""


def _transform(name: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.log(np.maximum(values, 1e-12)) if BEHAVIOUR[name][0] == "log" else values


def _untransform(name: str, value: float) -> float:
    return float(np.exp(value)) if BEHAVIOUR[name][0] == "log" else float(value)


def prediction_interval(null_values, n_tested: int, alpha: float, tested=None) -> tuple[float, float, float]:
    """(low, high, centre) for the mean of n_tested new draws from the null's distribution, two-sided level alpha:
    centre +- t_{1-alpha/2, df} * s * sqrt(1/n_tested + 1/n_null). With the tested values given (n_tested >= 2),
    s pools both samples' variance (the two-sample t-test); else s is the null's (df = n_null - 1)."""
    from scipy.stats import t as student_t
    null_values = np.asarray(null_values, dtype=np.float64)
    n = len(null_values)
    centre = float(null_values.mean())
    if tested is not None and len(tested) >= 2:
        tested = np.asarray(tested, dtype=np.float64)
        df = n + len(tested) - 2
        var = (((null_values - centre) ** 2).sum() + ((tested - tested.mean()) ** 2).sum()) / df
    else:
        df = n - 1
        var = float(null_values.var(ddof=1))
    half = float(student_t.ppf(1 - alpha / 2, df)) * np.sqrt(var * (1 / n_tested + 1 / n))
    return centre - half, centre + half, centre


def verdict(stats: dict[str, list[dict]], seeds: dict[str, list[int]], reference: str, null: Null | None,
            lockstep: dict[str, list[np.ndarray]] | None, family_alpha: float = FAMILY_ALPHA) -> list[Agreement]:
    """Every check for every framework. stats: framework -> one statistics dict per seed; seeds: the seeds of those
    runs; null: the reference's seed distribution (None: behaviour untestable here); lockstep: framework -> the
    loss_differences against the same-seed reference run (None: initial weights not shared, lockstep n/a)."""
    rows: list[Agreement] = []
    others = [fw for fw in stats if fw != reference]
    names = [n for n in BEHAVIOUR if all(n in s for runs in stats.values() for s in runs)]
    usable = null is not None and len(null.values) >= 3
    alpha = family_alpha / max(1, len(names) * len(others))  # Bonferroni over statistics x frameworks
    for fw in stats:
        if fw == reference:
            rows.append(Agreement("lockstep", fw, 0.0, 0.0, 0.0, LOCKSTEP_TOLERANCE, True, "lockstep", "reference"))
        elif lockstep is None:
            rows.append(Agreement("lockstep", fw, float("nan"), 0.0, 0.0, LOCKSTEP_TOLERANCE, None, "lockstep",
                                  "n/a: initial weights are not shared"))
        else:
            worst, parts = 0.0, []
            for diffs in lockstep[fw]:
                window = diffs[:LOCKSTEP_WINDOW]
                worst = max(worst, float(window.max()) if len(window) else 0.0)
                parts.append(parted_at(diffs))
            first = [p for p in parts if p is not None]
            note = (f"parted at G-it {min(first)}" if first else f"never parted in {max(len(d) for d in lockstep[fw])} G-its")
            rows.append(Agreement("lockstep", fw, worst, 0.0, 0.0, LOCKSTEP_TOLERANCE, worst <= LOCKSTEP_TOLERANCE,
                                  "lockstep", note))
    for name in names:
        for fw in stats:
            values = [s[name] for s in stats[fw]]
            mean = float(np.mean(values))
            if fw == reference:
                rows.append(Agreement(name, fw, mean, mean, mean, mean, True, "behaviour", "reference"))
                continue
            if not usable:
                rows.append(Agreement(name, fw, mean, float("nan"), float("nan"), float("nan"), None, "behaviour",
                                      "n/a: no null (run --seeds >= 2, or `wgan-suite calibrate` this budget)"))
                continue
            own = null if null.source == "this compare's seeds" else null.excluding(seeds[fw])
            if len(own.values) < 3:
                rows.append(Agreement(name, fw, mean, float("nan"), float("nan"), float("nan"), None, "behaviour",
                                      "n/a: fewer than 3 null seeds left once this run's own are left out"))
                continue
            tested = _transform(name, values)
            low, high, centre = prediction_interval(_transform(name, [v[name] for v in own.values]), len(values), alpha,
                                                    tested if null.source == "this compare's seeds" else None)
            passed = bool(low <= tested.mean() <= high)
            floor, ceiling = POSSIBLE.get(name, (-np.inf, np.inf))
            rows.append(Agreement(name, fw, mean, _untransform(name, centre), max(floor, _untransform(name, low)),
                                  min(ceiling, _untransform(name, high)), passed, "behaviour"))
    for name in EXACT:
        if all(name in s for runs in stats.values() for s in runs):
            for fw in stats:
                held = all(s[name] == 1.0 for s in stats[fw])
                rows.append(Agreement(name, fw, float(held), 1.0, 1.0, 1.0, held, "exact"))
    return rows


def in_run_null(stats: dict[str, list[dict]], seeds: dict[str, list[int]], reference: str) -> Null | None:
    """The reference's own seeds as the null (a compare with --seeds >= 2), else None."""
    if len(stats.get(reference, [])) < 2:
        return None
    return Null(list(seeds[reference]), list(stats[reference]), "this compare's seeds")


def flagged(rows: list[Agreement], framework: str) -> list[str]:
    """The checks that failed for one framework (empty: the run agrees)."""
    return [r.statistic for r in rows if r.framework == framework and r.passed is False]
