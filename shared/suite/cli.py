"""`wgan-suite`: the command line. Thin: every subcommand parses, then calls a library function.

Mistakes the user can fix (bad path, corrupt file, impossible value, missing framework) end with one
line on stderr naming the problem and the fix, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from shared.core.errors import UserError

DEFAULT_OUT = Path("runs")


FRAMEWORK_HELP = ("pytorch, tensorflow, keras, keras:torch, keras:jax, or your own implementation's module "
                  "(e.g. my_package.my_wgan: docs/own-implementation.md)")


def require_importable(frameworks: list[str]) -> None:
    """A user's module that cannot be found is a one-line error before any work starts."""
    from shared.core.protocol import is_builtin, load_implementation
    for fw in frameworks:
        if not is_builtin(fw):
            load_implementation(fw)  # raises the UserError that says what is missing (the module, build_wgan)


def _add_spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None,
                   help="tutorial (default), corrected, wgan-gp, gan or native-FRAMEWORK; see `wgan-suite spec`")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", default=[],
                   help="override one spec field, e.g. --set lr=1e-4 --set dtype=float64 (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="seed of data order, noise and initial weights")


class OneLineErrors(argparse.ArgumentParser):
    """A bad option is one line naming it and the fix (`--help` lists them all), not the whole usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (a run of 0 iterations, seeds or threads is a typo, not a request)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: give a whole number >= 1")
    return value


def writable_folder(path: str | Path, flag: str) -> Path:
    """The folder a command will write to: an existing folder, or one that can be created (checked before any
    training, so that nothing is half-written when it cannot)."""
    import os
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a folder; choose another {flag}")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if parent.is_dir():
        import tempfile
        try:  # the real test: create (and remove) a folder there
            os.rmdir(tempfile.mkdtemp(dir=parent))
            return path
        except OSError:
            pass
    raise UserError(f"{flag} {path}: {parent} is not a folder this user can write in; choose another {flag}")


def check_data(dataset: str, data_dir: str | None) -> None:
    """Load the dataset once before any training: a wrong --data-dir is one line, not one failure per run."""
    if data_dir is not None:
        from shared.core.data import load_dataset
        load_dataset(dataset, data_dir, quiet=True)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    from shared.core.data import DATASETS
    p.add_argument("--dataset", default="mnist", choices=DATASETS)
    p.add_argument("--data-dir", default=None, help="folder with MNIST IDX files (raw or .gz) or mnist.npz")


def resolve_spec(args: argparse.Namespace, framework: str | None = None, data_dim: int | None = None):
    """The spec from --preset, --set and --seed (and --native for `framework`)."""
    from shared.core.spec import get_preset, native_spec, parse_overrides
    spec = get_preset(args.preset or "tutorial")
    if getattr(args, "native", False) and framework is not None:
        spec = native_spec(framework, spec)
    changes = parse_overrides(args.set)
    if args.seed is not None:
        changes["seed"] = args.seed
    if data_dim is not None and "data_dim" not in changes:
        changes["data_dim"] = data_dim
    return spec.replace(**changes) if changes else spec


# ---------------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from shared.core.data import load_dataset
    from shared.core.params import init_params
    from shared.core.protocol import canonical_framework
    from shared.suite.train import prepare_out_dir, train_run
    if args.resume:
        return _resume(args)
    if args.from_run:
        _reproduce_args(args)
    framework = canonical_framework(args.framework)
    require_importable([framework])
    resolve_spec(args, framework)  # fail on a bad spec before touching data
    out = Path(args.out) if args.out else DEFAULT_OUT / f"{framework.replace(':', '-')}-{args.dataset}-s{args.seed or 0}"
    prepare_out_dir(out, args.overwrite)
    dataset = load_dataset(args.dataset, args.data_dir)
    if args.from_run and dataset.sha256 != args.expected_sha256:
        raise UserError(f"{args.from_run} was trained on data with checksum {args.expected_sha256[:16]}…, but the "
                        f"{args.dataset} found now has {dataset.sha256[:16]}…; pass --data-dir with the original data")
    spec = resolve_spec(args, framework, data_dim=dataset.data_dim)
    iterations = budget_iterations(args, spec, len(dataset.train_x))
    params = None if args.init == "framework" else init_params(spec)
    info = train_run(framework, spec, dataset, iterations, out, sample_every=args.sample_every, params=params,
                     images_every=args.images_every,
                     checkpoint_every=args.checkpoint_every, device=args.device, threads=args.threads,
                     overwrite=args.overwrite, progress=args.progress, tensorboard=args.tensorboard,
                     quality=args.quality, extra={"native": bool(args.native), "init": args.init, "preset": args.preset})
    _print_summary(info, spec, out)
    return 0


def budget_iterations(args: argparse.Namespace, spec, n_train: int, default: int | None = None) -> int:
    """Generator iterations from --iterations, --epochs or --steps (critic steps), on the spec's schedule."""
    from shared.core.streams import Schedule
    schedule = Schedule(spec, n_train)
    if getattr(args, "iterations", None) is not None:
        return args.iterations
    if getattr(args, "epochs", None) is not None:
        return schedule.iterations_within(args.epochs * schedule.steps_per_epoch)
    if default is not None and not args.steps_given:
        return default
    return schedule.iterations_within(args.steps)


def _print_summary(info: dict, spec, out: Path) -> None:
    n = info["iterations"]
    print(f"{info['framework']}: {n} generator iterations ({info['critic_steps']} critic steps), "
          f"{info['iterations_per_second']:.1f} G-it/s; final critic loss {info['final']['critic_loss']:+.5f}, "
          f"W estimate {info['final']['wasserstein']:+.5f}")
    print(f"run folder: {out}  (samples/, metrics.jsonl, spec.json, run.json, checkpoint.npz, params_final.npz)")


def _reproduce_args(args: argparse.Namespace) -> None:
    """--from RUN_DIR: take framework, spec, seed, data and length from a finished run folder."""
    run_dir = Path(args.from_run)
    try:
        info = json.loads((run_dir / "run.json").read_text())
        spec = json.loads((run_dir / "spec.json").read_text())
    except (OSError, ValueError):
        raise UserError(f"{run_dir} is not a run folder (no readable run.json/spec.json)") from None
    args.framework, args.dataset, args.native = info["framework"], info["dataset"]["name"], False
    args.init, args.preset, args.seed, args.epochs = info.get("init", "shared"), "tutorial", spec["seed"], None
    args.set = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in spec.items()]
    args.iterations = info["iterations"]
    args.expected_sha256 = info["dataset"]["sha256"]
    if not args.out:
        args.out = str(run_dir) + "-repro"


def _resume(args: argparse.Namespace) -> int:
    """--resume RUN_DIR [--framework X] [--steps N]: continue from the run folder's checkpoint."""
    from shared.core.data import load_dataset
    from shared.suite.train import load_checkpoint, train_run
    from shared.core.spec import WGANSpec
    run_dir = Path(args.resume)
    meta, params, state = load_checkpoint(run_dir)
    spec = WGANSpec.from_dict(meta["spec"])
    if args.preset is not None or args.set or args.seed is not None or args.native:
        asked = resolve_spec(args, args.framework, data_dim=spec.data_dim)
        if asked != spec:
            differs = sorted(k for k, v in asked.to_dict().items() if meta["spec"].get(k) != v)
            raise UserError(f"the checkpoint in {run_dir} is from a different spec (differs in {', '.join(differs)}); "
                            "drop --preset/--set/--seed to continue it as it was")
    info = json.loads((run_dir / "run.json").read_text())
    framework = args.framework or meta["framework"]
    dataset = load_dataset(info["dataset"]["name"], args.data_dir)
    if dataset.sha256 != meta["dataset_sha256"]:
        raise UserError(f"the checkpoint was trained on {info['dataset']['name']} with checksum "
                        f"{meta['dataset_sha256'][:16]}…, the data found now has {dataset.sha256[:16]}…; pass --data-dir")
    iterations = budget_iterations(args, spec, len(dataset.train_x), default=info["iterations"])
    result = train_run(framework, spec, dataset, iterations, run_dir, params=params, optimizer_state=state,
                       start_iteration=meta["iteration"], resume=True, sample_every=args.sample_every,
                       checkpoint_every=args.checkpoint_every, device=args.device, threads=args.threads,
                       progress=args.progress, tensorboard=args.tensorboard, quality=args.quality)
    _print_summary(result, spec, run_dir)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from shared.core.data import describe_sources, fetch, load_dataset
    if args.action == "fetch":
        path = fetch(args.dataset, args.data_dir)
        print(f"{args.dataset}: cached at {path}")
        return 0
    for source in describe_sources(args.dataset, args.data_dir):
        mark = "->" if source.get("used") else ("  " if not source.get("present") else " +")
        print(f"{mark} {source['name']:<28} {source.get('location', '')}")
        if source.get("used"):
            for split in ("train", "test"):
                counts = source.get(f"{split}_class_counts")
                if counts is not None:
                    print(f"     {split}: {sum(counts):>6} samples; per class: {' '.join(str(c) for c in counts)}")
    dataset = load_dataset(args.dataset, args.data_dir, quiet=True)
    print(f"using: {dataset.source}; train {len(dataset.train_x)}, test {len(dataset.test_x)}, "
          f"sha256 {dataset.sha256[:16]}…{' (SUBSET)' if dataset.subset else ''}")
    return 0


def cmd_classifier(args: argparse.Namespace) -> int:
    """The classifier behind sample quality: where its weights come from, or retrain them (torch)."""
    from shared.suite import metrics
    if args.retrain:
        path, sha, accuracy = metrics.retrain_shipped(args.dataset, Path(args.out) if args.out else None)
        print(f"{args.dataset}: wrote {path} (weights sha256 {sha}, test accuracy {accuracy:.4f})")
        known = metrics.SHIPPED.get(args.dataset)
        if known and known["weights_sha256"] == sha:
            print("identical to the shipped weights")
        else:
            print(f'to ship it: SHIPPED["{args.dataset}"] in shared/suite/metrics.py = {{"file": "{path.name}", '
                  f'"weights_sha256": "{sha}", "accuracy": {accuracy:.4f}}}; then re-measure the reference '
                  "values (python -m shared.suite.metrics) and docs/metrics.md")
        return 0
    if args.out:
        raise UserError("--out goes with --retrain (where to write the retrained weights)")
    clf = metrics.load_classifier(args.dataset)
    if args.dataset in metrics.SHIPPED:
        origin = (f"shipped weights {metrics.shipped_path(args.dataset)} (sha256 "
                  f"{metrics.SHIPPED[args.dataset]['weights_sha256'][:16]}..., verified)")
    else:
        origin = "trained on this machine with PyTorch (no shipped weights for this dataset)"
    print(f"{args.dataset}: {origin}")
    print(f"  test accuracy {clf.accuracy:.4f}; trained with torch {clf.info.get('torch', '?')}, seed "
          f"{clf.info.get('seed', '?')}, {clf.info.get('epochs', '?')} epochs on {clf.info.get('machine', 'this machine')}")
    print(f"  test-split features cached at {clf.path or 'nowhere (cache not writable)'}")
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from shared.core.data import load_dataset
    from shared.suite.parity import ParityConfig, chosen_lockstep_specs, format_table, parse_perturb, run_parity
    from shared.core.protocol import DEFAULT_FRAMEWORKS, canonical_framework, installed_frameworks
    from shared.core.spec import get_preset
    requested = args.frameworks or installed_frameworks(DEFAULT_FRAMEWORKS + ("keras:torch", "keras:jax"))
    frameworks = [canonical_framework(fw) for fw in requested]
    require_importable(frameworks)
    missing = [fw for fw in DEFAULT_FRAMEWORKS if fw not in installed_frameworks(DEFAULT_FRAMEWORKS)]
    if missing and not args.frameworks:
        print(f"note: not installed, not checked: {', '.join(missing)} (pip install -e '.[all]')", file=sys.stderr)
    perturb = parse_perturb(args.perturb)
    config = ParityConfig(frameworks=frameworks, iterations=args.iterations, perturb=perturb, jobs=args.jobs,
                          teacher_points=(0, 2, 4) if args.quick else (0, 50, 100),
                          data_samples=1056 if args.quick else 6432, lockstep=args.lockstep)
    chosen_lockstep_specs(config)  # an unknown name is a one-line error before any work
    dataset = load_dataset(args.dataset, args.data_dir, quiet=True)
    from shared.core.streams import Schedule
    schedule = Schedule(get_preset("tutorial"), config.data_samples)
    steps = schedule.generator_after(config.iterations - 1) + 1
    print(f"data: {dataset.source}; float64 lockstep: {config.iterations} generator iterations per preset and eps "
          f"placement ({steps} critic steps for the tutorial's schedule: {steps / schedule.steps_per_epoch:.1f} epochs "
          f"of {schedule.steps_per_epoch} batches, the last of {config.data_samples % 64})")
    checks = run_parity(config, dataset.train_x, progress=lambda msg: print(f"  … {msg}", flush=True))
    print()
    print(format_table(checks))
    print()
    print(FREE32_NOTE)
    failed = [c for c in checks if c.status in ("FAIL", "ERROR")]
    from shared.core.machine import cpu_kind
    print(f"parity: {len(checks) - len(failed)} passed, {len(failed)} failed  (CPU: {cpu_kind()})")
    return 1 if failed else 0


def cmd_defaults(args: argparse.Namespace) -> int:
    from shared.suite.defaults import check_against_native, format_table
    from shared.suite.parity import run_worker
    from shared.core.protocol import DEFAULT_FRAMEWORKS, installed_frameworks
    values, errors = {}, []
    for fw in installed_frameworks(DEFAULT_FRAMEWORKS):
        result = run_worker(fw, {"defaults": {"task": "defaults"}})["defaults"]
        if "error" in result:
            errors.append(f"{fw}: {result['error']}")
        else:
            values[fw] = result
    print(format_table(values))
    problems = check_against_native(values)
    for line in errors + problems:
        print(f"warning: {line}", file=sys.stderr)
    return 1 if errors or problems else 0


FREE32_NOTE = """Why float32 is checked one step at a time: a pre-activation within ~1e-9 of the LeakyReLU kink, or a
zero gradient, lands on different sides in different frameworks, and RMSprop's near-sign updates
(slope lr/eps = 5000 at g = 0 with eps outside the sqrt) amplify it; free float32 runs therefore part
after a while (the free32 row) while each single step from a shared state agrees (the teacher rows)."""


def cmd_compare(args: argparse.Namespace) -> int:
    from shared.suite.compare import BUDGETS, CompareConfig, compare, format_agreement, format_timing
    from shared.core.protocol import DEFAULT_FRAMEWORKS, canonical_framework, installed_frameworks
    from shared.core.spec import get_preset, parse_overrides
    get_preset(args.preset or "tutorial").replace(**parse_overrides(args.set))  # a bad spec fails before any training
    frameworks = [canonical_framework(fw) for fw in (args.frameworks or DEFAULT_FRAMEWORKS)]
    require_importable(frameworks)
    missing = [fw for fw in frameworks if fw not in installed_frameworks(frameworks)]
    if missing:
        print(f"warning: not installed, shown as failed: {', '.join(missing)} (pip install -e '.[all]')", file=sys.stderr)
    budget = BUDGETS[args.budget]
    out = writable_folder(args.out, "--out")
    check_data(args.dataset, args.data_dir)
    from shared.suite.executors import check_executor
    check_executor(args.executor, args.address)
    config = CompareConfig(frameworks=frameworks, out=out, iterations=args.iterations or budget["iterations"],
                           seeds=args.seeds or budget["seeds"], sample_every=budget["sample_every"],
                           preset=args.preset or "tutorial", overrides=args.set, native=args.native, init=args.init,
                           dataset=args.dataset, data_dir=args.data_dir, parallel=args.parallel, threads=args.threads,
                           tensorboard=args.tensorboard, executor=args.executor, address=args.address)
    summary = compare(config)
    print()
    print(format_agreement(summary))
    print(format_timing(summary))
    failed = [r for r in summary["agreement"] if r["passed"] is False]
    passed = [r for r in summary["agreement"] if r["passed"] and r["framework"] != summary["reference"]]
    untested = [r for r in summary["agreement"] if r["passed"] is None]
    print(f"\nreport: {out / 'report.html'}   ({len(passed)} agreement checks passed, {len(failed)} failed"
          + (f", {len(untested)} n/a" if untested else "")
          + f", {len(summary['failures'])} runs failed; {summary['seconds']:.0f} s)")
    if args.strict and (failed or summary["failures"]):
        return 1
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from shared.core.data import DATASETS
    from shared.core.protocol import canonical_framework
    from shared.core.spec import get_preset
    from shared.suite.calibrate import CalibrateConfig, calibrate, format_error_rates
    from shared.suite.compare import BUDGETS
    get_preset(args.preset)  # an unknown preset is a one-line error before any training
    if args.dataset not in DATASETS:
        raise UserError(f"unknown dataset {args.dataset!r}; choose one of {', '.join(DATASETS)}")
    if args.seeds < 4:
        raise UserError(f"--seeds {args.seeds}: a null needs at least 4 seeds (leave-one-out leaves 3); use 20 or more")
    if args.check_seeds and args.check_seeds > args.seeds:
        raise UserError(f"--check-seeds {args.check_seeds} exceeds --seeds {args.seeds}: each checked run needs the "
                        "reference run of its seed; raise --seeds or lower --check-seeds")
    reference = canonical_framework(args.reference)
    check = [canonical_framework(fw) for fw in args.check]
    require_importable([reference, *check])
    if args.null:  # a wrong file is a one-line error before any training
        if not check or args.porting_bugs:
            raise UserError("--null judges the --check runs: add --check FRAMEWORK ... (not --porting-bugs)")
        from shared.suite.calibrate import external_null
        external_null(args.null, json.loads(json.dumps(get_preset(args.preset).to_dict())), args.preset, args.dataset,
                      args.iterations)
    out = writable_folder(args.out, "--out")
    if not (args.no_write or args.null):
        writable_folder(args.write_to, "--write-to")
    check_data(args.dataset, args.data_dir)
    config = CalibrateConfig(out=out, preset=args.preset, dataset=args.dataset, iterations=args.iterations,
                             seeds=args.seeds, reference=reference, check=check, check_seeds=args.check_seeds,
                             sample_every=args.sample_every or BUDGETS["quick"]["sample_every"], data_dir=args.data_dir,
                             threads=args.threads, jobs=1,
                             write=None if args.no_write or args.null else Path(args.write_to),
                             null=Path(args.null) if args.null else None)
    if args.porting_bugs:
        from shared.suite.calibrate import porting_bugs
        print()
        print(porting_bugs(config))
        return 0
    record = calibrate(config)
    if record.get("checks"):
        print()
        print(format_error_rates(record["checks"], record["null_seeds"], config))
    return 0


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="where the runs train: local processes (default) or Ray tasks (pip install -e '.[ray]'); "
                        "finished runs are reused and interrupted ones resumed either way")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="with --executor ray: join this Ray cluster (e.g. 10.0.0.5:6379 or 'auto') instead of "
                        "starting a local one; --out must be on storage every node mounts")


def cmd_results(args: argparse.Namespace) -> int:
    from shared.core.data import DATASETS
    from shared.core.protocol import DEFAULT_FRAMEWORKS, canonical_framework, installed_frameworks
    from shared.suite.results import DATASETS as GRID_DATASETS, ResultsConfig, results
    datasets = args.datasets or list(GRID_DATASETS)
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise UserError(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    frameworks = [canonical_framework(fw) for fw in (args.frameworks or DEFAULT_FRAMEWORKS)]
    require_importable(frameworks)
    missing = [fw for fw in frameworks if fw not in installed_frameworks(frameworks)]
    if missing:
        raise UserError(f"not installed: {', '.join(missing)}; pip install -e '.[all]' or pass --frameworks")
    doc = None if args.doc == "-" else Path(args.doc)
    if doc is not None:
        if doc.is_dir():
            raise UserError(f"--doc {doc} is a folder; give the Markdown file to write, or '-' for none")
        writable_folder(doc.parent, "--doc's folder")
    writable_folder(args.out, "--out")
    if args.records:
        writable_folder(args.records, "--records")
    for dataset in datasets:
        if dataset in ("mnist", "fashion-mnist"):
            check_data(dataset, args.data_dir)
    from shared.suite.executors import check_executor
    check_executor(args.executor, args.address)
    config = ResultsConfig(frameworks=frameworks, variants=args.variants, datasets=datasets, budget=args.budget,
                           out=Path(args.out), doc=doc, seeds=args.seeds, data_dir=args.data_dir, threads=args.threads,
                           jobs=args.jobs, executor=args.executor, address=args.address, train=not args.report_only,
                           records=Path(args.records) if args.records else doc.parent / "results" if doc else None)
    written = results(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    if written is not None:
        print(f"results: {written}")
    elif doc is not None:
        print(f"results: no cell has all its runs done yet; {doc} left as it was")
    return 0


def cmd_accidents(args: argparse.Namespace) -> int:
    from shared.suite.accidents import AccidentsConfig, accidents, table_markdown
    from shared.core.protocol import canonical_framework, installed_frameworks
    frameworks = [canonical_framework(fw) for fw in args.frameworks]
    missing = [fw for fw in frameworks if fw not in installed_frameworks(frameworks)]
    if missing:
        raise UserError(f"not installed: {', '.join(missing)}; pip install -e '.[all]' or pass --frameworks")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose another --out")
    config = AccidentsConfig(frameworks=frameworks, budget=args.budget, out=out,
                             docs=None if args.docs == "-" else Path(args.docs), seeds=args.seeds,
                             data_dir=args.data_dir, threads=args.threads, jobs=args.jobs)
    values = accidents(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(table_markdown(values))
    if config.docs is not None:
        print(f"written: {config.docs / 'accidents.json'} and the tables in {config.docs / 'tutorial.md'}, "
              f"{config.docs / 'tutorial.zh.md'}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from shared.suite.bench import (BF16_MODES, ROOFLINE_SPLITS, BenchResult, bench_spec, flops_per_iteration,
                                    format_goals, format_table, goal_checks, interleave, roofline_rounds,
                                    roofline_sessions)
    from shared.suite.parity import run_worker
    from shared.core.protocol import FRAMEWORKS, canonical_framework, installed_frameworks
    default = tuple(fw for fw in FRAMEWORKS if fw != "keras:tensorflow")  # that one is "keras"
    frameworks = [canonical_framework(fw) for fw in (args.frameworks or installed_frameworks(default))]
    if args.device != "cpu" and not (Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi")):
        raise UserError(f"--device {args.device}: no NVIDIA GPU or driver on this machine; use --device cpu")
    json_path = Path(args.json) if args.json else None
    if json_path is not None and (json_path.is_dir() or not json_path.parent.is_dir()):
        raise UserError(f"--json {json_path}: {'is a folder' if json_path.is_dir() else 'its folder does not exist'}; "
                        "name a file in an existing folder")
    batches = [args.batch] if args.batch else ([64] if args.quick else [64, 256, 1024])
    iterations, repeats = (10, 6) if args.quick else (50, 10)  # short turns, many rounds: see bench.py
    flops = flops_per_iteration(bench_spec(64))
    from shared.core.machine import cpu_kind
    print(f"machine: {cpu_kind()}")
    print(f"one generator iteration at batch 64: {flops / 1e9:.2f} GFLOP of matrix multiplies; "
          f"{iterations} G-it x {repeats} repeats per mode, {args.threads} thread(s), each mode in its own process")
    jobs, errors, refused, defaults = [], [], [], {}
    for fw in frameworks:
        modes = run_worker(fw, {"m": {"task": "bench", "list_modes": True}})["m"]
        if "error" in modes:
            errors.append(f"{fw}: {modes['error']}")
            continue
        defaults[fw] = next(iter(modes["modes"]))   # the first mode is what train and compare use
        jobs += [(fw, mode) for mode in (list(modes["modes"])[:2] if args.quick else modes["modes"])
                 if not args.modes or mode in args.modes]
    has_roofline = "tensorflow" in installed_frameworks(("tensorflow",))
    rooflines = roofline_sessions(args.threads) if has_roofline else []
    what = {0: "", 1: " and one roofline measurement", 2: " and one roofline measurement per split of its thread pools"}
    print(f"{len(jobs)} modes{' and the roofline' if has_roofline else ''} take turns, one process at a time: "
          f"{repeats} rounds, each one timed repeat of every mode" + what[len(rooflines)], flush=True)

    def on_round(batch: int, r: int, rates: dict) -> None:
        print(f"  … batch {batch}, round {r + 1}/{repeats}: "
              + ", ".join(f"{job[1] if job in ROOFLINE_SPLITS else ' '.join(job)} {rate:.1f}" for job, rate in rates.items())
              + " G-it/s", flush=True)

    got = interleave(rooflines + jobs, batches, args.threads, iterations, repeats, args.device, on_round)
    roofline = roofline_rounds(got, batches) if has_roofline else None
    errors += [f"{job[1]}: {got.get(job, ('error', 'no result'))[1]}" for job in rooflines
               if not isinstance(got.get(job), list)]
    results = []
    for fw, mode in jobs:
        outcome = got.get((fw, mode), ("error", "no result"))
        if isinstance(outcome, list):
            results += [BenchResult(**r) for r in outcome]
        elif outcome[0] == "refused":
            refused.append(f"{fw} {mode}: {outcome[1]}")
            print(f"  … {fw} {mode}: not run on this machine ({outcome[1]})", flush=True)
        else:
            errors.append(f"{fw} {mode}: {outcome[1]}")
    print()
    print(format_table(results, roofline))
    if roofline:
        print("roofline (matmuls alone, TensorFlow/oneDNN, same threads"
              + (", each round the faster of two splits of its thread pools" if len(rooflines) > 1 else "") + "): "
              + ", ".join(f"{v:.0f} G-it/s at batch {b} ({v * flops_per_iteration(bench_spec(b)) / 1e9:.0f} GFLOP/s)"
                          for b, v in roofline.items())
              + "; ratios: " + ", ".join(f"{r.framework} {r.mode} b{r.batch} {r.median / roofline[r.batch]:.2f}"
                                         for r in results))
    if results:
        worst = max(results, key=lambda r: r.stream_share)
        print(f"harness overhead (drawing the identical inputs every framework gets): at most {worst.stream_share:.1%} "
              f"of a run ({worst.framework} {worst.mode}, batch {worst.batch}); the goal is <= 3%")
    if any((r.framework, r.mode) in BF16_MODES for r in results):
        print("bf16 modes compute their matmuls in bfloat16: their ratio is against the fp32 roofline")
    goals = goal_checks(results, roofline, defaults, args.threads)
    if goals:
        print(format_goals(goals, args.threads))
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if json_path is not None:
        from shared.suite.bench import bench_record, roofline_split_record
        record = bench_record(results, roofline, frameworks, args.threads, args.device, errors, refused,
                              roofline_split_record(got, batches, args.threads), goals)
        tmp = json_path.with_name(json_path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(json_path)
        print(f"figures written to {json_path}")
    return 1 if errors else 0


def cmd_code(args: argparse.Namespace) -> int:
    from shared.suite.code import update_readme, write_code_view
    if args.update_readme:
        print(f"updated the WGAN-change table in {update_readme()}")
        return 0
    path = write_code_view(Path(args.out))
    print(f"code view: {path}  (the three implementations, section by section, generated from source)")
    return 0


def cmd_spec(args: argparse.Namespace) -> int:
    spec = resolve_spec(args, args.framework)
    print(spec.to_json())
    return 0


# ---------------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(prog="wgan-suite", description="The same WGAN in PyTorch, TensorFlow and Keras.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrors)

    p = sub.add_parser("train", help="train one framework and write a run folder")
    p.add_argument("--framework", default=None, metavar="FRAMEWORK", help=f"{FRAMEWORK_HELP} (default pytorch)")
    _add_spec_args(p)
    _add_data_args(p)
    p.add_argument("--native", action="store_true", help="use the framework's own defaults instead of the spec's")
    p.add_argument("--init", default="shared", choices=["shared", "framework"],
                   help="initial weights: the harness's canonical draw (same numbers everywhere) or the framework's own")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=None,
                        help="critic steps (default 1000); the run ends at the last generator step within them")
    length.add_argument("--epochs", type=positive_int, default=None, help="passes over the training set instead of --steps")
    length.add_argument("--iterations", type=positive_int, default=None, help="generator iterations instead of --steps")
    p.add_argument("--out", default=None, help=f"run folder (default {DEFAULT_OUT}/FRAMEWORK-DATASET-sSEED)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--sample-every", type=positive_int, default=100, help="save a sample grid every N generator iterations")
    p.add_argument("--images-every", type=positive_int, default=None, metavar="BATCHES",
                   help="also save the tutorial's images/BATCHES.png (25 samples, 5 x 5) every N batches")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files (RUN_DIR/tensorboard)")
    p.add_argument("--no-quality", dest="quality", action="store_false",
                   help="skip scoring the samples at every snapshot (shared/suite/metrics.py: FD, coverage, W1, modes)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="write checkpoint.npz every N generator iterations")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue RUN_DIR from its checkpoint (--framework may name another framework)")
    p.add_argument("--from", dest="from_run", default=None, metavar="RUN_DIR",
                   help="reproduce RUN_DIR: same framework, spec, seed, data and length, into --out")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=positive_int, default=None, help="pin the framework's CPU threads")
    p.add_argument("--progress", default="epoch", choices=["epoch", "run", "none"],
                   help="a bar per epoch (the tutorial's), one bar for the run, or none")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("data", help="where the datasets come from; fill the cache")
    p.add_argument("action", choices=["info", "fetch"])
    _add_data_args(p)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("classifier", help="the MNIST classifier behind FD and coverage: its origin, or --retrain it")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--retrain", action="store_true",
                   help="train it again with PyTorch (about 1.5 minutes on 2 cores) and write the shipped-format file")
    p.add_argument("--out", default=None, help="with --retrain: where to write (default shared/suite/classifier-DATASET.npz)")
    p.set_defaults(func=cmd_classifier)

    p = sub.add_parser("spec", help="print the resolved spec as JSON")
    _add_spec_args(p)
    p.add_argument("--framework", default=None, metavar="FRAMEWORK", help=FRAMEWORK_HELP)
    p.add_argument("--native", action="store_true")
    p.set_defaults(func=cmd_spec)

    p = sub.add_parser("parity", help="prove the implementations agree: golden, forward, float64 lockstep, float32 steps")
    p.add_argument("--frameworks", nargs="+", default=None, metavar="FRAMEWORK",
                   help="default: every installed one (keras:torch and keras:jax when their backends exist)")
    p.add_argument("--iterations", type=positive_int, default=200, help="generator iterations of each float64 lockstep run")
    p.add_argument("--quick", action="store_true", help="short float32 run and less data (CI); set --iterations too")
    p.add_argument("--lockstep", nargs="+", default=None, metavar="NAME",
                   help="only these float64 lockstep runs (default all: tutorial/eps-outside, tutorial/eps-inside, "
                        "corrected/eps-outside, corrected/eps-inside, wgan-gp, gan, toy-wgan, toy-wgan-gp, toy-gan)")
    p.add_argument("--perturb", action="append", default=[], metavar="FRAMEWORK:FIELD=VALUE",
                   help="break one framework on purpose, e.g. tensorflow:leaky_slope=0.3 (it must be caught)")
    p.add_argument("--jobs", type=positive_int, default=2, help="framework processes at a time (one thread each)")
    _add_data_args(p)
    p.set_defaults(func=cmd_parity)

    p = sub.add_parser("compare", help="the main job: train the frameworks side by side and write the report")
    p.add_argument("--frameworks", nargs="+", default=None, metavar="FRAMEWORK",
                   help="default: pytorch tensorflow keras (keras:torch, keras:jax on request)")
    p.add_argument("--budget", default="quick", choices=["quick", "full"],
                   help="quick: 1000 generator iterations, 1 seed (~3 min on 2 cores); full: 10000 x 3 seeds (~1 h)")
    p.add_argument("--iterations", type=positive_int, default=None, help="generator iterations per run (overrides the budget)")
    p.add_argument("--seeds", type=positive_int, default=None,
                   help="seeds per framework (overrides the budget); with 2 or more the verdict's behaviour null is "
                        "the reference's own seeds, with 1 the committed calibration (docs/agreement.md)")
    p.add_argument("--out", default="runs/compare", help="report folder (default runs/compare)")
    _add_spec_args(p)
    _add_data_args(p)
    p.add_argument("--native", action="store_true", help="each framework's own defaults: the naive port")
    p.add_argument("--init", default="shared", choices=["shared", "framework"])
    p.add_argument("--parallel", action="store_true", help="run all frameworks at once (needs spare cores)")
    p.add_argument("--threads", type=positive_int, default=None, help="threads per framework process")
    p.add_argument("--strict", action="store_true", help="exit 1 when any verdict check (lockstep, behaviour, "
                   "clipping) or run fails")
    p.add_argument("--tensorboard", action="store_true", help="TensorBoard event files in every run folder")
    add_executor_arguments(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("calibrate", help="measure the null compare's verdict tests against, and its error rates")
    p.add_argument("--preset", default="tutorial", help="the preset to calibrate (default tutorial)")
    p.add_argument("--dataset", default="mnist", help="default mnist")
    p.add_argument("--iterations", type=positive_int, default=1000, help="generator iterations per run (the compare's budget)")
    p.add_argument("--seeds", type=positive_int, default=20, help="reference seeds 0..N-1 (default 20)")
    p.add_argument("--reference", default="pytorch", help="the reference framework (default pytorch)")
    p.add_argument("--check", nargs="*", default=[], metavar="FRAMEWORK",
                   help="also train these at the same seeds and measure how often the verdict flags them: "
                        "false alarms for correct ones, detection for examples.porting_bugs.*")
    p.add_argument("--check-seeds", type=positive_int, default=None, help="seeds of the checked frameworks (default --seeds)")
    p.add_argument("--porting-bugs", action="store_true",
                   help="instead of --check: run parity and the verdict on every bug in examples/porting_bugs "
                        "(the table of docs/agreement.md)")
    p.add_argument("--sample-every", type=positive_int, default=None,
                   help="snapshot interval (default 100, as compare's quick budget; the pixel statistics are "
                        "the median over the second half's snapshots)")
    p.add_argument("--out", default="runs/calibration", help="run folders (resumable; default runs/calibration)")
    p.add_argument("--write-to", default=str(Path(__file__).parent / "calibration"),
                   help="folder of the calibration JSON (default the committed shared/suite/calibration)")
    p.add_argument("--no-write", action="store_true", help="measure only; leave the calibration files alone")
    p.add_argument("--null", default=None, help="with --check: judge the checked runs against this calibration file "
                   "(e.g. the committed one, measured on another machine) instead of this run's own reference seeds; "
                   "writes no calibration file")
    p.add_argument("--data-dir", default=None, help="folder with MNIST IDX files (raw or .gz) or mnist.npz")
    p.add_argument("--threads", type=positive_int, default=1, help="threads per training process (default 1)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("results", help="the grid framework x variant x dataset x seed; writes docs/results.md")
    p.add_argument("--budget", default="quick", choices=["smoke", "quick", "full"],
                   help="quick: 1000 generator iterations (MNIST) / 500 (2-D) x 3 seeds per framework (117 runs, "
                        "about 3 hours on 2 cores); full: 10000 (MNIST) / 3000 (2-D), 3 seeds of the first framework "
                        "and 1 of the others (65 runs, about 20 core-hours); smoke: a few iterations (tests)")
    p.add_argument("--frameworks", nargs="+", default=None, metavar="FRAMEWORK", help=FRAMEWORK_HELP)
    p.add_argument("--variants", nargs="+", default=["tutorial", "wgan", "wgan-gp", "gan"],
                   choices=["tutorial", "wgan", "wgan-gp", "gan"],
                   help="tutorial (MNIST only), wgan (corrected; toy-wgan on 2-D sets), wgan-gp, gan (default: all)")
    add_executor_arguments(p)
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: judge the cells whose runs are all done and rewrite --doc, listing the rest "
                        "as not yet at this budget")
    p.add_argument("--datasets", nargs="+", default=None,
                   help="default: mnist 8gaussians 25gaussians swissroll")
    p.add_argument("--seeds", type=positive_int, default=None, help="seeds per framework (overrides the budget)")
    p.add_argument("--out", default="runs/results", help="folder of the grid's compare reports (default runs/results)")
    p.add_argument("--doc", default="docs/results.md", help="the Markdown table to write ('-' for none)")
    p.add_argument("--records", default=None,
                   help="folder of the judged cells' summaries, kept in git so the page regenerates and a judged cell "
                        "is not trained again after the run folders are gone (default: DOC's folder/results)")
    p.add_argument("--data-dir", default=None, help="folder with MNIST IDX files (raw or .gz) or mnist.npz")
    p.add_argument("--threads", type=positive_int, default=None, help="threads per framework process")
    p.add_argument("--jobs", type=positive_int, default=2, help="training processes at a time (default 2)")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("accidents", help="what each of the tutorial script's accidents costs, on the same seeds")
    p.add_argument("--budget", default="quick", help="smoke, quick (1000 G-its x 3 seeds) or full (10k x 3)")
    p.add_argument("--frameworks", nargs="+", default=["pytorch"], metavar="FRAMEWORK",
                   help="default pytorch (the accidents are the PyTorch script's)")
    p.add_argument("--seeds", type=positive_int, default=None, help="seeds per row (overrides the budget)")
    p.add_argument("--out", default="runs/accidents", help="folder of the rows' compare reports")
    p.add_argument("--docs", default="docs", help="docs folder whose tutorial pages get the table ('-' for none)")
    p.add_argument("--data-dir", default=None, help="folder with MNIST IDX files (raw or .gz) or mnist.npz")
    p.add_argument("--threads", type=positive_int, default=None, help="threads per training process")
    p.add_argument("--jobs", type=positive_int, default=2, help="training processes at a time (default 2)")
    p.set_defaults(func=cmd_accidents)

    p = sub.add_parser("bench", help="G-it/s per framework and execution mode, against the matmul roofline")
    p.add_argument("--quick", action="store_true", help="batch 64, fewer iterations and modes (about a minute per framework)")
    p.add_argument("--frameworks", nargs="+", default=None, metavar="FRAMEWORK", help=FRAMEWORK_HELP)
    p.add_argument("--threads", type=positive_int, default=1, help="threads per framework process (default 1)")
    p.add_argument("--batch", type=positive_int, default=None, help="one batch size instead of 64, 256 and 1024")
    p.add_argument("--modes", nargs="+", default=None, help="only these modes (each implementation's contract.py: EXECUTION_MODES)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (PyTorch, TensorFlow and Keras place their steps there)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="also write the figures with the machine (CPU model, ISA, cores), threads and versions as JSON")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("code", help="the three implementations side by side, section by section, as one HTML page")
    p.add_argument("--out", default="runs/code.html", help="the page to write (default runs/code.html)")
    p.add_argument("--update-readme", action="store_true",
                   help="instead, rewrite README.md's table of the WGAN-change lines from the sources")
    p.set_defaults(func=cmd_code)

    p = sub.add_parser("defaults", help="each framework's own defaults next to the spec, read from the installed frameworks")
    p.set_defaults(func=cmd_defaults)

    return parser


TUTORIAL_FLAGS = """the tutorial script's flags, with its meanings and defaults:
  --n_epochs 200 --batch_size 64 --lr 0.00005 --n_cpu 8 --latent_dim 100 --img_size 28 --channels 1
  --n_critic 5 --clip_value 0.01 --sample_interval 400 (batches between the images/BATCHES.png grids)"""


def standalone(framework: str, argv: list[str] | None = None) -> int:
    """`python -m impl_X`: the tutorial script's command line (argparse flags, defaults, progress and sample
    images) on the suite's code; everything else is `wgan-suite train`'s (--preset, --seed, --out ...)."""
    p = argparse.ArgumentParser(prog=f"python -m impl_{framework.split(':')[0]}",
                                description=f"Train the {framework} WGAN alone, like the tutorial script.",
                                epilog=TUTORIAL_FLAGS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n_epochs", type=int, default=200, help="number of epochs of training (the tutorial's 200)")
    p.add_argument("--batch_size", type=int, default=64, help="size of the batches")
    p.add_argument("--lr", type=float, default=0.00005, help="learning rate")
    p.add_argument("--n_cpu", type=int, default=8, help="the tutorial's DataLoader worker processes; accepted and "
                   "unused: the harness draws every batch in this process (framework threads: --threads)")
    p.add_argument("--latent_dim", type=int, default=100, help="dimensionality of the latent space")
    p.add_argument("--img_size", type=int, default=28, help="size of each image dimension (MNIST: 28 only)")
    p.add_argument("--channels", type=int, default=1, help="number of image channels (MNIST: 1 only)")
    p.add_argument("--n_critic", type=int, default=5, help="number of training steps for discriminator per iter")
    p.add_argument("--clip_value", type=float, default=0.01, help="lower and upper clip value for disc. weights")
    p.add_argument("--sample_interval", type=int, default=400, help="interval between image samples, in batches")
    p.add_argument("--steps", type=positive_int, default=None, help="critic steps instead of --n_epochs (e.g. a short try)")
    p.add_argument("--preset", default="tutorial")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    if (args.img_size, args.channels) != (28, 1):
        print(f"python -m impl_{framework}: error: --img_size {args.img_size} --channels {args.channels}: this WGAN "
              "trains on 28x28 single-channel images (MNIST, Fashion-MNIST); use --img_size 28 --channels 1", file=sys.stderr)
        return 2
    if args.sample_interval < 1:
        print(f"python -m impl_{framework}: error: --sample_interval {args.sample_interval}: use a number of batches >= 1",
              file=sys.stderr)
        return 2
    if args.n_cpu != 8:
        print(f"note: --n_cpu {args.n_cpu} sets the tutorial's DataLoader workers; here the harness draws the batches "
              "in this process, so it changes nothing (use --threads for the framework's threads)", file=sys.stderr)
    forwarded = ["train", "--framework", framework, "--preset", args.preset, "--dataset", args.dataset,
                 "--device", args.device, "--images-every", str(args.sample_interval)]
    forwarded += ["--steps", str(args.steps)] if args.steps else ["--epochs", str(args.n_epochs)]
    for field in ("batch_size", "latent_dim", "n_critic", "lr", "clip_value"):
        forwarded += ["--set", f"{field}={getattr(args, field)}"]
    for flag, value in (("--data-dir", args.data_dir), ("--seed", args.seed), ("--out", args.out),
                        ("--threads", args.threads)):
        if value is not None:
            forwarded += [flag, str(value)]
    if args.overwrite:
        forwarded.append("--overwrite")
    return main(forwarded)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    take_back_sigint()
    if args.command == "train":
        args.steps_given = args.steps is not None or args.epochs is not None or args.iterations is not None
        args.steps = 1000 if args.steps is None else args.steps
        args.framework = args.framework or (None if args.resume else "pytorch")
    try:
        return args.func(args)
    except UserError as exc:
        print(f"wgan-suite: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wgan-suite: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `wgan-suite spec | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0


def take_back_sigint() -> None:
    """A shell without job control (a script's `wgan-suite results ... &`, nohup in one) starts the command with
    SIGINT ignored, and Python then never raises KeyboardInterrupt: `kill -INT`, the way a grid, a compare or a
    run is stopped cleanly (checkpoints written, resumable), would do nothing. Take SIGINT back."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def program() -> None:
    """The `wgan-suite` program (and `python -m shared.suite.cli`): main(), then out without the interpreter's
    teardown. By then every file is written and closed (a run's last checkpoint, run.json, the report), and
    the teardown is only the frameworks' finalizers and module cleanup: 1-1.5 s a `train` process, once for
    each run of a compare. Tests call main() and keep their interpreter."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError, ValueError):  # the reader left, or the stream is closed
            pass
    os._exit(code)


if __name__ == "__main__":
    program()
