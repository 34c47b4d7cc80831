"""`wgan-suite compare`: train the frameworks side by side on the same data, seed and spec; write the report.

Each framework × seed trains in its own process (`wgan-suite train`, threads pinned), one after another
by default (two framework processes asking for both cores of a 2-core machine crawl), all at once with
--parallel. A framework that fails is shown as failed; the others' results and the report still come out.

out/
    report.html           the page to open (self-contained: images embedded)
    agreement.csv         statistic x framework: value, reference, band, PASS/FAIL
    summary.json          the same plus speed, failures, spec, versions
    figures/*.png         the report's plots
    runs/FRAMEWORK-sSEED/ each run folder (metrics.jsonl, snapshots.jsonl, samples/, spec.json, run.json)
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.suite.agreement import (FAMILY_ALPHA, LOCKSTEP_TOLERANCE, LOCKSTEP_WINDOW, PIXEL_STATISTICS, STATISTICS, Null, in_run_null, load_calibration, loss_differences,
                                    run_statistics, verdict)
from shared.core.errors import UserError
from shared.core.machine import cpu_kind
from shared.suite.executors import RunJob, execute
from shared.suite.quality import RHO_MIN_SNAPSHOTS, mean_std, run_quality, seed_values, shown_metrics, shown_score

# Budgets: generator iterations per run and seeds. quick: ~5 minutes for three frameworks on 2 CPU cores.
BUDGETS = {
    "quick": {"iterations": 1000, "seeds": 1, "sample_every": 100},
    "full": {"iterations": 10000, "seeds": 3, "sample_every": 500},
}


@dataclass
class CompareConfig:
    frameworks: list[str]
    out: Path
    iterations: int
    seeds: int
    sample_every: int
    preset: str = "tutorial"
    overrides: list[str] = field(default_factory=list)
    native: bool = False
    init: str = "shared"
    dataset: str = "mnist"
    data_dir: str | None = None
    parallel: bool = False
    threads: int | None = None
    jobs: int | None = None  # training processes at a time (default: 1, or all of them with parallel)
    tensorboard: bool = False
    reference_seeds: int | None = None  # seeds of the first framework when it gets more than the others
    executor: str = "local"  # or "ray" (shared/suite/executors.py)
    address: str | None = None  # an existing Ray cluster to join (executor "ray"); None starts a local one


def run_name(framework: str, seed: int) -> str:
    return f"{framework.replace(':', '-')}-s{seed}"


def train_command(config: CompareConfig, framework: str, seed: int, threads: int) -> list[str]:
    cmd = [sys.executable, "-m", "shared.suite.cli", "train", "--framework", framework, "--seed", str(seed),
           "--iterations", str(config.iterations), "--out", str(config.out / "runs" / run_name(framework, seed)),
           "--threads", str(threads), "--progress", "run", "--preset", config.preset,
           "--dataset", config.dataset, "--sample-every", str(config.sample_every), "--init", config.init]
    for item in config.overrides:
        cmd += ["--set", item]
    if config.native:
        cmd.append("--native")
    if config.data_dir:
        cmd += ["--data-dir", config.data_dir]
    if config.tensorboard:
        cmd.append("--tensorboard")
    return cmd + ["--overwrite"]


def expected_spec(config: CompareConfig, framework: str, seed: int, data_dim: int) -> dict:
    """The spec `wgan-suite train` resolves for this run (what a finished run must have to be reused)."""
    from shared.core.spec import get_preset, native_spec, parse_overrides
    spec = get_preset(config.preset)
    if config.native:
        spec = native_spec(framework, spec)
    changes = {"data_dim": data_dim, **parse_overrides(config.overrides), "seed": seed}
    return spec.replace(**changes).to_dict()


def run_jobs(config: CompareConfig, jobs: list[tuple[str, int]] | None = None, label: str = "") -> dict[RunJob, tuple[str, int]]:
    """The RunJobs of every framework x seed (or of the (framework, seed) pairs given) -> their pair."""
    from shared.core.data import load_dataset
    pairs = jobs or [(fw, seed) for fw in config.frameworks for seed in range(seeds_of(config, fw))]
    dataset = load_dataset(config.dataset, config.data_dir, quiet=True)
    threads = config.threads or max(1, (os.cpu_count() or 1) // max(1, min(workers(config, len(pairs)), os.cpu_count() or 1)))
    out = {}
    for fw, seed in pairs:
        argv = train_command(config, fw, seed, threads)
        out[RunJob(label=f"{fw} seed {seed}{label}", out=config.out / "runs" / run_name(fw, seed), argv=argv,
                   framework=fw, spec=expected_spec(config, fw, seed, dataset.data_dim),
                   dataset_sha256=dataset.sha256, iterations=config.iterations, threads=threads,
                   resume_args=["--sample-every", str(config.sample_every)])] = (fw, seed)
    return out


def seeds_of(config: CompareConfig, framework: str) -> int:
    """Seeds 0..N-1 of one framework: config.seeds, or reference_seeds for the first (the reference) when given."""
    if config.reference_seeds and framework == config.frameworks[0]:
        return max(config.seeds, config.reference_seeds)
    return config.seeds


def workers(config: CompareConfig, n_runs: int) -> int:
    """Training processes at a time: --jobs, else all of them with --parallel, else one."""
    return config.jobs or (n_runs if config.parallel else 1)


def run_all(config: CompareConfig, walls: dict | None = None,
            jobs: list[tuple[str, int]] | None = None) -> dict[tuple[str, int], str | None]:
    """Train every framework x seed (or just the (framework, seed) jobs given) through config.executor, reusing
    finished runs and resuming interrupted ones (shared/suite/executors.py); returns (framework, seed) -> None on
    success, else the error line. walls, when given, receives (framework, seed) -> the run's process wall time."""
    planned = run_jobs(config, jobs)
    seconds: dict = {}
    results = execute(list(planned), config.executor, workers(config, len(planned)), config.address,
                      log=lambda line: print(f"compare: {line}", file=sys.stderr, flush=True), echo=True, walls=seconds)
    if walls is not None:
        walls.update({planned[job]: t for job, t in seconds.items()})
    return {planned[job]: error for job, error in results.items()}


def reusable_summary(config: CompareConfig, path: Path | None = None) -> dict | None:
    """The summary in config.out (or at `path`, a kept copy) when that compare already ran with the same
    frameworks, seeds, length, preset and overrides and no run failed; else None."""
    path = path or config.out / "summary.json"
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
        same = (summary["frameworks"] == config.frameworks and summary["seeds"] == config.seeds
                and summary.get("reference_seeds") == config.reference_seeds
                and summary["iterations"] == config.iterations and summary.get("preset", config.preset) == config.preset
                and summary.get("overrides", []) == config.overrides and not summary["failures"])
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path} is not a readable compare summary ({type(error).__name__}: {error}); delete it "
                        "and the cell is judged again from its runs") from None
    return summary if same else None


def compare_or_reuse(config: CompareConfig, label: str, log=print) -> dict:
    """compare(config), unless reusable_summary finds it already done: how grids of compares resume."""
    summary = reusable_summary(config)
    if summary is not None:
        log(f"{label}: reusing {config.out / 'summary.json'}")
        return summary
    log(f"{label}: {len(config.frameworks)} framework(s) x {config.seeds} seed(s) x {config.iterations} generator "
        f"iterations -> {config.out}")
    return compare(config)  # finished runs in it are reused, interrupted ones resumed (shared/suite/executors.py)


def compare(config: CompareConfig, trained: tuple[dict, dict] | None = None) -> dict:
    """Run, measure agreement, write agreement.csv, summary.json and report.html; returns the summary.
    trained: (failures, walls) as run_all returns them, when the runs were already trained (a results grid)."""
    from shared.suite.report import write_report
    if config.out.exists() and not config.out.is_dir():
        raise UserError(f"--out {config.out} is a file, not a folder; choose another --out")
    if config.out.exists() and any(config.out.iterdir()) and not ((config.out / "summary.json").exists()
                                                                  or (config.out / "runs").is_dir()):
        raise UserError(f"{config.out} exists and is not a compare folder; choose another --out")
    config.out.mkdir(parents=True, exist_ok=True)
    from shared.suite.metrics import prepare_metrics
    prepare_metrics(config.dataset)  # build (MNIST) or train the quality classifier once, before parallel runs could race
    started = time.perf_counter()
    walls: dict[tuple[str, int], float] = {}
    if trained is None:
        failures = run_all(config, walls)
    else:
        failures, walls = trained
    runs: dict[str, list[Path]] = {}
    for (fw, seed), error in failures.items():
        if error is None:
            runs.setdefault(fw, []).append(config.out / "runs" / run_name(fw, seed))
    if not runs:
        raise UserError("every framework failed to train; see the messages above")
    spec = json.loads((next(iter(runs.values()))[0] / "spec.json").read_text())
    reference = next((fw for fw in config.frameworks if fw in runs), None)
    rows, null = judge(config, spec, runs, reference)
    quality = {fw: [run_quality(d, config.dataset) for d in dirs] for fw, dirs in runs.items()}
    with open(config.out / "agreement.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["statistic", "phase", "framework", "value", "null_mean", "low", "high", "status", "note"])
        for r in rows:
            writer.writerow([r.statistic, r.phase, r.framework, f"{r.value:.6g}", f"{r.reference:.6g}",
                             f"{r.low:.6g}", f"{r.high:.6g}", status(r.passed), r.note])
    info = {fw: json.loads((dirs[0] / "run.json").read_text()) for fw, dirs in runs.items()}
    summary = {
        "frameworks": config.frameworks, "reference": reference, "seeds": config.seeds,
        "reference_seeds": config.reference_seeds,
        "iterations": config.iterations, "sample_every": config.sample_every, "native": config.native, "init": config.init, "spec": spec,
        "preset": config.preset, "overrides": config.overrides,
        "failures": {f"{fw} seed {seed}": err for (fw, seed), err in failures.items() if err},
        "agreement": [dict(r.__dict__) for r in rows],
        "null": null_summary(null, reference),
        "family_alpha": FAMILY_ALPHA,
        "pixel_statistics": PIXEL_STATISTICS,
        "quality": quality,
        "speed": {fw: [json.loads((d / "run.json").read_text())["iterations_per_second"] for d in dirs]
                  for fw, dirs in runs.items()},
        "versions": {fw: i["versions"] for fw, i in info.items()},
        "dataset": next(iter(info.values()))["dataset"],
        "machine": cpu_kind(),
        "seconds": time.perf_counter() - started,
    }
    write_report(config.out, summary, runs)
    summary["seconds"] = time.perf_counter() - started
    summary["timing"] = timing_breakdown(summary["seconds"], walls, runs)
    (config.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def run_seed(run_dir: Path) -> int:
    return int(run_dir.name.rsplit("-s", 1)[1])


def judge(config: CompareConfig, spec: dict, runs: dict[str, list[Path]], reference: str):
    """The two-phase verdict (shared/suite/agreement.py) over the finished runs: (rows, the null used)."""
    clipped = spec.get("variant", "wgan") == "wgan"
    stats = {fw: [run_statistics(d, spec["clip_value"], clipped) for d in dirs] for fw, dirs in runs.items()}
    seeds = {fw: [run_seed(d) for d in dirs] for fw, dirs in runs.items()}
    null = in_run_null(stats, seeds, reference)
    if null is None and not config.overrides and not config.native:
        null = load_calibration(config.preset, spec, config.dataset, config.iterations)
    lockstep = None
    if config.init == "shared":  # same initial weights, batches and noise: the runs must start in lockstep
        by_seed = {run_seed(d): d for d in runs[reference]}
        lockstep = {fw: [loss_differences(d, by_seed[run_seed(d)]) for d in dirs if run_seed(d) in by_seed]
                    for fw, dirs in runs.items() if fw != reference}
    return verdict(stats, seeds, reference, null, lockstep), null


def status(passed: bool | None) -> str:
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


def null_summary(null: Null | None, reference: str) -> dict:
    if null is None:
        return {"source": None, "seeds": 0, "reference": reference, "values": []}
    return {"source": null.source, "seeds": len(null.values), "reference": reference, "values": null.values}


def timing_breakdown(wall: float, walls: dict[tuple[str, int], float], runs: dict[str, list[Path]]) -> dict:
    """Where a compare's wall time went: pure training (the runs' fit time without snapshots), scoring and
    snapshots inside the runs, each run's process around its training (start-up, data, first snapshot,
    final saves), and what compare itself did (plan the runs, estimate their time: a child process timing PyTorch's
    steps before minutes of training, eta.py; then statistics, quality, the report). overhead = wall / training."""
    trained_now = {(fw, run_seed(d)) for fw, dirs in runs.items() for d in dirs} & set(walls)
    infos = [json.loads((d / "run.json").read_text()) for fw, dirs in runs.items() for d in dirs
             if (fw, run_seed(d)) in trained_now]  # runs reused from an earlier compare took no time now
    training = sum(i.get("seconds", 0.0) - i.get("snapshot_seconds", 0.0) for i in infos)
    snapshots = sum(i.get("snapshot_seconds", 0.0) for i in infos)
    around = max(0.0, sum(walls.values()) - training - snapshots)
    analysis = max(0.0, wall - sum(walls.values()))  # sequential runs; with --parallel runs overlap (negative: 0)
    return {"wall": wall, "training": training, "snapshots_and_scoring": snapshots, "run_start_up_and_saves": around,
            "analysis_and_report": analysis, "overhead": wall / training if training > 0 else None}


def format_timing(summary: dict) -> str:
    """One line: compare's wall time and where it went."""
    t = summary.get("timing")
    if not t:
        return ""
    if not t.get("overhead"):
        return f"time: {t['wall']:.0f} s (every run was reused from an earlier compare: statistics and report only)"
    overhead = f"{t['overhead']:.2f}x the pure training time"
    return (f"time: {t['wall']:.0f} s = training {t['training']:.0f} s + scoring and snapshots "
            f"{t['snapshots_and_scoring']:.0f} s + run start-up and saves {t['run_start_up_and_saves']:.0f} s + "
            f"plan, estimate, statistics and report {t['analysis_and_report']:.0f} s ({overhead}; goal <= 1.25x)")


def format_agreement(summary: dict) -> str:
    """check x framework table: value, PASS/FAIL and the interval a matched run falls in; then the verdict line."""
    frameworks = [fw for fw in summary["frameworks"] if any(r["framework"] == fw for r in summary["agreement"])]
    cell = {(r["statistic"], r["framework"]): r for r in summary["agreement"]}
    width = max(31, *(len(fw) + 2 for fw in frameworks))  # a behaviour cell: "-0.2447 PASS [-0.885,+0.326]"
    lines = [f"{'check':<20}" + "".join(f"{fw + (' (ref)' if fw == summary['reference'] else ''):>{width}}"
                                        for fw in frameworks)]
    for name in [s for s in STATISTICS if (s, summary["reference"]) in cell]:
        text = f"{name:<20}"
        for fw in frameworks:
            text += " " + f"{agreement_cell(cell[(name, fw)], fw == summary['reference']):>{width - 1}}"
        lines.append(text)
    text = f"{'verdict':<20}"
    for fw in frameworks:
        mine = [r for r in summary["agreement"] if r["framework"] == fw]
        word = ("reference" if fw == summary["reference"] else "FAIL" if any(r["passed"] is False for r in mine)
                else "PASS" if all(r["passed"] for r in mine) else "PASS (lockstep only)")
        text += f"{word:>{width}}"
    lines.append(text)
    dataset = summary["dataset"]["name"]
    rho_missing = False
    for key, label, fmt, better in shown_metrics(dataset) + [("spearman", "rho(W, quality)", "{:+.2f}", "high")]:
        text = f"{label:<20}"
        for fw in frameworks:
            values = seed_values(summary, fw, key)
            mean, std = mean_std(values)
            rho_missing |= key == "spearman" and not math.isfinite(mean)
            text += f"{shown_score(fmt, mean) + (f' ±{std:.2g}' if len(values) > 1 and math.isfinite(std) else ''):>{width}}"
        lines.append(text)
    if rho_missing:
        every = f" (snapshots every {summary['sample_every']} G-its)" if summary.get("sample_every") else ""
        lines.append(f"rho n/a: fewer than {RHO_MIN_SNAPSHOTS} snapshots after the first, too few for a correlation{every}")
    lines.append("speed (G-it/s)      " + "".join(
        f"{sum(summary['speed'][fw]) / len(summary['speed'][fw]):>{width}.1f}" for fw in frameworks))
    for run, error in summary["failures"].items():
        lines.append(f"FAILED {run}: {error}")
    lines.append(verdict_legend(summary))
    return "\n".join(lines)


def agreement_cell(row: dict, is_reference: bool) -> str:
    """One table cell: the value, then PASS/FAIL with the interval (behaviour) or the note (lockstep)."""
    if row["phase"] == "lockstep":
        if is_reference:
            return "ref"
        if row["passed"] is None:
            return "n/a"
        return f"{row['value']:.1e} {status(row['passed'])}"
    if row["phase"] == "exact":
        return f"{'yes' if row['value'] == 1.0 else 'no'} {status(row['passed'])}"
    if is_reference or row["passed"] is None:
        return f"{row['value']:+.4f} {'' if is_reference else 'n/a'}".rstrip()
    return f"{row['value']:+.4f} {status(row['passed'])} [{row['low']:+.3g},{row['high']:+.3g}]"


def verdict_legend(summary: dict) -> str:
    """Which null the behaviour checks used and at which family-wise level; how lockstep went."""
    null = summary.get("null") or {}
    others = [fw for fw in summary["frameworks"] if fw != summary["reference"]
              and any(r["framework"] == fw for r in summary["agreement"])]
    behaviour = sorted({r["statistic"] for r in summary["agreement"] if r["phase"] == "behaviour"})
    notes = [f"{r['framework']}: {r['note']}" for r in summary["agreement"]
             if r["phase"] == "lockstep" and r["framework"] != summary["reference"] and r["note"]]
    lockstep = (f"lockstep: per-iteration losses within {LOCKSTEP_TOLERANCE:g} of the critic's scale over the first "
                f"{LOCKSTEP_WINDOW} G-its ({'; '.join(notes)})" if notes else "")
    if not null.get("source"):
        return (lockstep + "\nbehaviour: n/a — no null for this preset, dataset and length: run --seeds 2 or more, "
                "or `wgan-suite calibrate` it").strip()
    return (lockstep + f"\nbehaviour: each value inside the interval a matched run falls in, null = "
            f"{null['source']}; family-wise false-alarm level {summary['family_alpha']:.0%} "
            f"(Bonferroni over {len(behaviour)} statistics x {len(others)} framework(s))").strip()
