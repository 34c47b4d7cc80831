"""Sample quality along a run, and the tutorial's "meaningful loss" claim, read from a run folder.

`wgan-suite train` scores the fixed-z samples at every snapshot (shared.suite.metrics.evaluate, written to
snapshots.jsonl under "quality"). This module turns those records into what the compare report and
`wgan-suite results` show: the final scores, and the Spearman rank correlation between the critic's
Wasserstein estimate and the sample-quality distance along the run. The WGAN paper's claim (Section 4.2,
Fig. 3-4) is that the estimate falls as the samples get better, so the two should rise and fall together:
rho near +1 means the loss tracks quality, near 0 means it says nothing about it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.suite.agreement import read_jsonl

# What each dataset's quality is judged by (lower is better), and the scores shown in tables.
QUALITY_DISTANCE = {"mnist": "fd", "fashion-mnist": "fd", "8gaussians": "w1", "25gaussians": "w1", "swissroll": "w1"}
# (key, label, format, better): "low" / "high" says which way is better.
SHOWN = {
    "mnist": [("fd", "FD", "{:.1f}", "low"), ("classes_covered", "classes ≥5%", "{:.1f}", "high"),
              ("class_kl", "class KL", "{:.3f}", "low"), ("inception_score", "IS", "{:.2f}", "high")],
    "toy": [("w1", "W1", "{:.3f}", "low"), ("modes_hit", "modes hit", "{:.1f}", "high"),
            ("high_quality_share", "high-quality share", "{:.2f}", "high")],
}
WINDOW = 21  # generator iterations: the median filter of the Wasserstein estimate (the WGAN paper's Fig. 3)


def shown_metrics(dataset: str) -> list[tuple[str, str, str, str]]:
    rows = SHOWN["mnist" if dataset in ("mnist", "fashion-mnist") else "toy"]
    return [r for r in rows if dataset != "swissroll" or r[0] == "w1"]  # swissroll has no modes


def quality_series(run_dir: Path) -> tuple[np.ndarray, list[dict]]:
    """(snapshot iterations [S], quality dicts [S]) of one run; empty when it was trained without quality."""
    snaps = [s for s in read_jsonl(Path(run_dir) / "snapshots.jsonl") if "quality" in s]
    return np.array([s["iteration"] for s in snaps]), [s["quality"] for s in snaps]


def wasserstein_at(run_dir: Path, iterations: np.ndarray) -> np.ndarray:
    """The median-filtered Wasserstein estimate E[D(real)] - E[D(fake)] over the WINDOW generator iterations
    ending at each snapshot iteration (NaN before the first logged iteration)."""
    logs = read_jsonl(Path(run_dir) / "metrics.jsonl")
    done = np.array([r["iteration"] + 1 for r in logs])
    w = np.array([r["wasserstein"] for r in logs])
    out = []
    for it in iterations:
        window = w[(done <= it) & (done > it - WINDOW)]
        out.append(float(np.median(window)) if window.size else float("nan"))
    return np.array(out)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho over the finite pairs (NaN with fewer than RHO_MIN_SNAPSHOTS or when one side is constant)."""
    from scipy.stats import spearmanr
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < RHO_MIN_SNAPSHOTS or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return float("nan")
    return float(spearmanr(a[keep], b[keep]).statistic)


def run_quality(run_dir: Path, dataset: str) -> dict:
    """Final quality scores, and rho(Wasserstein estimate, quality distance) along the run (snapshots
    after the first, whose estimate window is empty)."""
    iterations, records = quality_series(run_dir)
    if not records:
        return {}
    distance = QUALITY_DISTANCE.get(dataset, "fd")
    estimate = wasserstein_at(run_dir, iterations)
    dist = np.array([r.get(distance, np.nan) for r in records], dtype=float)
    return {"final": records[-1], "distance": distance, "iterations": iterations.tolist(),
            "distance_series": dist.tolist(), "wasserstein_series": estimate.tolist(),
            "spearman": spearman(estimate, dist)}


def late_spearman(quality: dict) -> float:
    """rho(W estimate, quality distance) over the second half of a run's snapshots: whether the estimate
    tracks quality once the critic has grown (with clipping it first rises while FD falls)."""
    estimate = np.array(quality.get("wasserstein_series", []), dtype=float)
    distance = np.array(quality.get("distance_series", []), dtype=float)
    half = len(distance) // 2
    return spearman(estimate[half:], distance[half:])


def seed_values(summary: dict, framework: str, key: str) -> list[float]:
    """One framework's `key` over its seeds from a compare summary: a final score, "spearman" for rho along
    the run, or "spearman_late" for rho over its second half."""
    runs = [q for q in summary.get("quality", {}).get(framework, []) if q]
    special = {"spearman": lambda q: q["spearman"], "spearman_late": late_spearman}
    return [special[key](q) if key in special else q["final"].get(key) for q in runs]


RHO_MIN_SNAPSHOTS = 4   # spearman() needs this many snapshots (after the first) with a finite estimate


def shown_score(fmt: str, value: float) -> str:
    """A score as the tables show it; 'n/a' where there is none: rho over a run too short for RHO_MIN_SNAPSHOTS
    snapshots (compare --iterations 100 at --sample-every 100), or a score no seed could give."""
    return fmt.format(value) if np.isfinite(value) else "n/a"


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation over seeds, ignoring NaN."""
    v = np.array([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std())
