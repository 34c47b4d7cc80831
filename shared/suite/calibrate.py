"""`wgan-suite calibrate`: measure the null the compare verdict tests against, and the verdict's error rates.

1. Train the reference framework (PyTorch) at seeds 0..N-1 for one preset, dataset and length, and write each
   seed's behaviour statistics to shared/suite/calibration/PRESET-DATASET-ITERATIONS.json: the null a one-seed
   `wgan-suite compare` of that budget tests against (shared/suite/agreement.py).
2. With --check FRAMEWORK...: train those frameworks at the same seeds and judge every (framework, seed) run
   against the same-seed reference (lockstep) and the other seeds (behaviour: leave-one-out), exactly as compare
   does. Naming the reference itself checks each of its seeds against the others (no training). For a correct framework the flagged share is the verdict's false-alarm rate; for a porting bug
   (examples/porting_bugs/) it is the detection rate. The table goes to OUT/error_rates.md and .json.

Runs live under OUT/PRESET-DATASET-ITERATIONS/runs/FRAMEWORK-sSEED: a finished run with the same spec is reused,
so an interrupted calibration resumes where it stopped and a later --check adds to it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.suite.agreement import (CALIBRATION_DIR, FAMILY_ALPHA, LOCKSTEP_TOLERANCE, LOCKSTEP_WINDOW, Null,
                                    calibration_differences, calibration_key, calibration_null, flagged,
                                    loss_differences, parted_at, run_statistics, spec_without_seed, verdict)
from shared.core.spec import spec_differences
from shared.suite.compare import CompareConfig, run_all, run_name


@dataclass
class CalibrateConfig:
    out: Path
    preset: str = "tutorial"
    dataset: str = "mnist"
    iterations: int = 1000
    seeds: int = 20
    reference: str = "pytorch"
    check: list[str] = field(default_factory=list)
    check_seeds: int | None = None   # seeds of the checked frameworks (default: all calibration seeds)
    sample_every: int = 100
    data_dir: str | None = None
    threads: int | None = None
    jobs: int = 1
    write: Path | None = CALIBRATION_DIR  # where the calibration JSON goes (None: not written)
    null: Path | None = None   # judge the checks against this calibration file instead of this run's own seeds


def finished(run_dir: Path, spec: dict | None) -> bool:
    """A run folder that finished, with this spec (any seed) when spec is given."""
    info, spec_file = run_dir / "run.json", run_dir / "spec.json"
    if not info.exists() or not spec_file.exists():
        return False
    if json.loads(info.read_text()).get("status") != "finished":
        return False
    return spec is None or not spec_differences(json.loads(spec_file.read_text()), spec, ignore=("seed",))


def train_missing(config: CalibrateConfig, root: Path, frameworks: list[str], seeds: list[int], log=print) -> dict:
    """Train the (framework, seed) runs not yet finished under root; returns (framework, seed) -> error or None."""
    compare_config = CompareConfig(frameworks=frameworks, out=root, iterations=config.iterations, seeds=max(seeds) + 1,
                                   sample_every=config.sample_every, preset=config.preset, dataset=config.dataset,
                                   data_dir=config.data_dir, threads=config.threads, jobs=config.jobs)
    reference_spec = None
    ref_dir = root / "runs" / run_name(config.reference, seeds[0])
    if finished(ref_dir, None):
        reference_spec = spec_without_seed(json.loads((ref_dir / "spec.json").read_text()))
    todo = [(fw, s) for s in seeds for fw in frameworks
            if not finished(root / "runs" / run_name(fw, s), reference_spec)]
    done = len(seeds) * len(frameworks) - len(todo)
    log(f"calibrate: {done} of {len(seeds) * len(frameworks)} runs already finished under {root}; training {len(todo)}")
    if not todo:
        return {}
    started = time.perf_counter()
    results = {}
    for k, job in enumerate(todo):  # one at a time, so the ETA is honest and an interrupt loses one run at most
        results.update(run_all(compare_config, jobs=[job]))
        spent = time.perf_counter() - started
        log(f"calibrate: {k + 1}/{len(todo)} runs trained ({job[0]} seed {job[1]}: "
            f"{'ok' if results[job] is None else 'FAILED: ' + results[job]}); "
            f"about {spent / (k + 1) * (len(todo) - k - 1) / 60:.0f} min left")
    return results


def calibrate(config: CalibrateConfig, log=print) -> dict:
    """Train, measure, write; returns the calibration record (and the error rates under 'checks')."""
    from shared.suite.metrics import prepare_metrics
    key = calibration_key(config.preset, config.dataset, config.iterations)
    root = config.out / key
    seeds = list(range(config.seeds))
    prepare_metrics(config.dataset)
    errors = train_missing(config, root, [config.reference], seeds, log)
    failed = {job: e for job, e in errors.items() if e}
    if failed:
        from shared.core.errors import UserError
        raise UserError(f"{len(failed)} reference run(s) failed, e.g. {next(iter(failed.values()))}; "
                        f"fix that and run calibrate again (finished runs are kept)")
    ref_dirs = [root / "runs" / run_name(config.reference, s) for s in seeds]
    spec = json.loads(ref_dirs[0].joinpath("spec.json").read_text())
    clipped = spec["variant"] == "wgan"
    runs = [{"seed": s, "statistics": run_statistics(d, spec["clip_value"], clipped)} for s, d in zip(seeds, ref_dirs)]
    info = json.loads(ref_dirs[0].joinpath("run.json").read_text())
    from shared.core.machine import cpu_kind
    record = {
        "preset": config.preset, "dataset": config.dataset, "iterations": config.iterations,
        "reference": config.reference, "spec": spec_without_seed(spec), "runs": runs,
        "command": (f"wgan-suite calibrate --preset {config.preset} --dataset {config.dataset} --iterations "
                    f"{config.iterations} --seeds {config.seeds}"),
        "machine": cpu_kind(), "versions": info.get("versions", {}), "written": time.strftime("%Y-%m-%d"),
    }
    if config.check:
        null = (Null(seeds, [r["statistics"] for r in runs], key) if config.null is None
                else external_null(config.null, spec, config.preset, config.dataset, config.iterations))
        record["checks"] = check(config, root, spec, null, log)
        record["null_seeds"] = len(null.values)  # --null: the other file's seeds, not this machine's runs
        record["lockstep"] = {fw: row["parted_at"] for fw, row in record["checks"].items() if fw != config.reference}
    if config.write is not None:
        config.write.mkdir(parents=True, exist_ok=True)
        path = config.write / f"{key}.json"
        keep = {k: v for k, v in record.items() if k not in ("checks", "null_seeds")}
        if path.exists():  # a later --check run keeps the lockstep partings measured before
            old = json.loads(path.read_text())
            if not spec_differences(old.get("spec", {}), keep["spec"]):  # fields added to the spec since count as defaults
                keep["lockstep"] = {**old.get("lockstep", {}), **keep.get("lockstep", {})}
        path.write_text(json.dumps(keep, indent=1) + "\n")
        log(f"calibrate: wrote {path} ({len(runs)} {config.reference} seeds)")
    return record


def external_null(path: Path, spec: dict, preset: str, dataset: str, iterations: int) -> Null:
    """The null of another calibration file (e.g. the committed one, measured on another machine), for runs of this
    preset, dataset, length and spec: are this machine's runs matched runs of that null?"""
    from shared.core.errors import UserError
    try:
        data = json.loads(Path(path).read_text())
        null = calibration_null(data, Path(path).name)
        differs = calibration_differences(data, spec, dataset, iterations)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"--null {path}: not a calibration file ({type(e).__name__}: {e}); pass one written by "
                        "`wgan-suite calibrate`, e.g. shared/suite/calibration/tutorial-mnist-1000.json") from None
    if differs:
        raise UserError(f"--null {path} was measured for other runs (they differ in {', '.join(differs)}); pass the "
                        f"calibration of --preset {preset} --dataset {dataset} --iterations {iterations}")
    return null


def check(config: CalibrateConfig, root: Path, spec: dict, null: Null, log=print) -> dict:
    """Judge every checked framework's runs as compare would; framework -> flagged counts and what flagged them."""
    seeds = list(range(config.check_seeds or config.seeds))
    train_missing(config, root, [fw for fw in config.check if fw != config.reference], seeds, log)
    clipped = spec["variant"] == "wgan"
    out = {}
    for fw in config.check:
        judged = []
        for s in (range(config.seeds) if fw == config.reference else seeds):  # the reference: every seed, no training
            run_dir = root / "runs" / run_name(fw, s)
            if not finished(run_dir, None):
                judged.append({"seed": s, "flagged": ["run failed"], "parted_at": None})
                continue
            ref_dir = root / "runs" / run_name(config.reference, s)
            # the reference itself is checked leave-one-out: its run against the other seeds (lockstep trivially)
            label = f"{fw} (again)" if fw == config.reference else fw
            reference = (null.values[null.seeds.index(s)] if config.null is None  # measured once, for the null
                         else run_statistics(ref_dir, spec["clip_value"], clipped))  # --null: this machine's run
            stats = {config.reference: [reference], label: [run_statistics(run_dir, spec["clip_value"], clipped)]}
            diffs = loss_differences(run_dir, ref_dir)
            rows = verdict(stats, {config.reference: [s], label: [s]}, config.reference, null, {label: [diffs]})
            judged.append({"seed": s, "flagged": flagged(rows, label), "parted_at": parted_at(diffs)})
        partings = [j["parted_at"] for j in judged]
        out[fw] = {
            "runs": len(judged), "flagged": sum(bool(j["flagged"]) for j in judged),
            "by_lockstep": sum("lockstep" in j["flagged"] for j in judged),
            "by_behaviour": sum(any(f not in ("lockstep", "clip_held", "run failed") for f in j["flagged"])
                                for j in judged),
            "statistics": sorted({f for j in judged for f in j["flagged"]}),
            "parted_at": partings, "seeds": judged,
        }
    write_error_rates(config, root, out, len(null.values))
    return out


def format_error_rates(checks: dict, n_null: int, config: CalibrateConfig) -> str:
    """Markdown: one row per checked framework — runs, flagged (share), by which phase, which checks."""
    source = f" of {Path(config.null).name}" if config.null else ""
    lines = [f"{config.preset}, {config.dataset}, {config.iterations} G-its; null: {n_null} {config.reference} "
             f"seeds{source} (leave-one-out); lockstep: first {LOCKSTEP_WINDOW} G-its within {LOCKSTEP_TOLERANCE:g}; "
             f"family-wise level {FAMILY_ALPHA:.0%}", "",
             "| framework | runs | flagged | by lockstep | by behaviour | checks that flagged | lockstep parted at G-it |",
             "|---|---|---|---|---|---|---|"]
    for fw, row in checks.items():
        parts = [p for p in row["parted_at"] if p is not None]
        parting = (f"{min(parts)}–{max(parts)}" + (f" ({len(row['parted_at']) - len(parts)} never)"
                                                    if len(parts) < len(row["parted_at"]) else "")
                   if parts else f"never (in {config.iterations})")
        lines.append(f"| {fw} | {row['runs']} | {row['flagged']} ({row['flagged'] / max(1, row['runs']):.0%}) | "
                     f"{row['by_lockstep']} | {row['by_behaviour']} | {', '.join(row['statistics']) or '—'} | "
                     f"{parting} |")
    return "\n".join(lines)


def write_error_rates(config: CalibrateConfig, root: Path, checks: dict, n_null: int) -> None:
    (root / "error_rates.json").write_text(json.dumps(checks, indent=1) + "\n")
    (root / "error_rates.md").write_text(format_error_rates(checks, n_null, config) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# The porting-bug catalogue: does parity catch each bug, and how often does compare's verdict flag it?
# ---------------------------------------------------------------------------------------------------------------
def porting_bugs(config: CalibrateConfig, parity_iterations: int = 20, log=print) -> str:
    """Run parity (quick) and the compare verdict (config.check_seeds seeds at config's budget) on every module
    of examples/porting_bugs; returns the Markdown table of docs/agreement.md and writes it to OUT/porting_bugs.md."""
    import importlib
    import os
    import sys
    from shared.core.errors import UserError
    if os.getcwd() not in sys.path:  # examples/ is importable from the repository root, as `python -m` would
        sys.path.insert(0, os.getcwd())
    try:
        CATALOGUE = importlib.import_module("examples.porting_bugs").CATALOGUE
    except ModuleNotFoundError:
        raise UserError("examples/porting_bugs cannot be imported from here: run this from the repository root") from None
    from shared.core.data import load_dataset
    from shared.suite.parity import ParityConfig, run_parity
    modules = [f"examples.porting_bugs.{name}" for name in CATALOGUE]
    log(f"porting bugs: parity (quick, {parity_iterations} G-its) on {len(modules)} modules")
    dataset = load_dataset(config.dataset if config.dataset == "mnist" else "mnist", config.data_dir, quiet=True)
    checks = run_parity(ParityConfig(frameworks=[config.reference, *modules], iterations=parity_iterations,
                                     teacher_points=(0, 2, 4), data_samples=1056), dataset.train_x,
                        progress=lambda msg: log(f"  … {msg}"))
    caught = {m: [c.check for c in checks if c.framework == m and c.status in ("FAIL", "ERROR")] for m in modules}
    record = calibrate(CalibrateConfig(**{**config.__dict__, "check": modules, "write": None}), log=log)
    rates = record["checks"]
    lines = [f"compare's verdict: {config.preset}, {config.dataset}, {config.iterations} G-its, "
             f"{config.check_seeds or config.seeds} seeds per bug against {config.seeds} {config.reference} seeds; "
             f"parity: `--quick --iterations {parity_iterations}`", "",
             "| bug | what slipped | parity: checks failed | compare: runs flagged | by lockstep | by behaviour |",
             "|---|---|---|---|---|---|"]
    for name, module in zip(CATALOGUE, modules):
        failed = caught[module]
        shown = ", ".join(failed[:3]) + (f" (+{len(failed) - 3} more)" if len(failed) > 3 else "")
        row = rates[module]
        lines.append(f"| `{name}` | {CATALOGUE[name]} | {len(failed)}: {shown or 'none'} | "
                     f"{row['flagged']}/{row['runs']} | {row['by_lockstep']} | {row['by_behaviour']} |")
    table = "\n".join(lines)
    root = config.out / calibration_key(config.preset, config.dataset, config.iterations)
    (root / "porting_bugs.md").write_text(table + "\n")
    return table
