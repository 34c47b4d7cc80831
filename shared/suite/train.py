"""A training run of one framework, and the run folder it writes.

run folder/
    run.json            framework, library versions, data source and checksum, device, threads, status
    spec.json           the resolved spec (every hyperparameter, nothing left to framework defaults)
    metrics.jsonl       one line per generator iteration (shared.core.loop.LOG_KEYS), appended as it trains
    samples/            PNG grids from one fixed z (the same z in every framework), generator in eval mode;
                        for 2-D toy sets, final_points.npy (1024 generated points)
    snapshots.jsonl     at every grid: pixel mean/std of those samples, a histogram of the critic's weights and
                        (quality=True) sample quality of QUALITY_SAMPLES fixed-z samples (shared.suite.metrics.evaluate:
                        classifier FD, class coverage, IS-like score; toys: W1 and modes hit)
    params_final.npz    canonical parameters at the end (shared.core.params layout)
    optimizer_final.npz optimizer state at the end (shared.core.params.optimizer_state_shapes)
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from shared.core.data import Dataset
from shared.core.errors import UserError
from shared.core.images import grid, png_bytes, save_grid, write_png
from shared.core.params import load_npz, save_npz
from shared.core.protocol import build, canonical_framework, load_implementation, training_loop
from shared.core.spec import WGANSpec
from shared.core.streams import Schedule, Streams

HISTOGRAM_BINS = 40
HISTOGRAM_RANGE = 0.2
TOY_POINTS = 1024
QUALITY_SAMPLES = 2000  # per snapshot: FD from 2000 samples is biased upward against 10k, equally for every framework
_PACKAGES = {"pytorch": ["torch"], "tensorflow": ["tensorflow-cpu", "tensorflow"], "keras": ["keras", "tensorflow-cpu", "tensorflow"],
             "keras:torch": ["keras", "torch"], "keras:jax": ["keras", "jax"]}


def library_versions(framework: str) -> dict[str, str]:
    """Versions of Python, NumPy and the framework's packages (read from metadata, nothing imported)."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    framework = canonical_framework(framework)
    # a user's module (docs/own-implementation.md): the version of its top-level package, where it has one
    for package in _PACKAGES.get(framework) or [framework.split(".")[0]]:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def code_version() -> dict | None:
    """{"commit": this checkout's git commit, "modified": whether tracked files differ from it}, so a recorded
    figure names the code it measured; None outside a git checkout (an installed copy) or without git."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None   # installed into site-packages inside some other checkout: not this code's commit
        return {"commit": git("rev-parse", "HEAD"),
                "modified": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return None


def prepare_out_dir(out: Path, overwrite: bool) -> Path:
    """Refuse to write into a non-empty folder unless asked; nothing is created until training starts."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"output folder {out} already exists and is not empty; pass --overwrite or choose another --out")
    return out


def _write_json(path: Path, value) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


CHECKPOINT = "checkpoint.npz"
CHECKPOINT_FORMAT = 2  # 2: optimizer state under optimizer/ (Adam's slots too); 1 said rms/


class StopRequested(Exception):
    """Raised between generator iterations after Ctrl-C or SIGTERM, once the state is consistent."""


def critic_steps_done(spec: WGANSpec, iterations: int, n_train: int) -> int:
    """Critic steps trained by the end of generator iteration `iterations` (0 before the first)."""
    return Schedule(spec, n_train).generator_after(iterations - 1) + 1 if iterations > 0 else 0


def save_checkpoint(out: Path, wgan, framework: str, iteration: int, dataset_sha256: str, n_train: int) -> None:
    """Canonical parameters + optimizer state + where the streams are (the step) + spec, atomically."""
    meta = {"format": CHECKPOINT_FORMAT, "framework": framework, "iteration": iteration,
            "step": critic_steps_done(wgan.spec, iteration, n_train), "spec": wgan.spec.to_dict(),
            "versions": library_versions(framework), "dataset_sha256": dataset_sha256,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S")}
    arrays = {f"param/{k}": v for k, v in wgan.get_params().items()}
    arrays.update({f"optimizer/{k}": v for k, v in wgan.get_optimizer_state().items()})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    save_npz(out / CHECKPOINT, arrays)


def load_checkpoint(run_dir: Path) -> tuple[dict, dict, dict]:
    """(meta, params, optimizer state) from RUN_DIR/checkpoint.npz, with one-line errors."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise UserError(f"no checkpoint in {run_dir} (expected {path.name}); is it a run folder written by wgan-suite train?")
    arrays = load_npz(path)
    try:
        meta = json.loads(arrays.pop("meta").tobytes())
    except (KeyError, ValueError):
        raise UserError(f"{path} has no readable metadata; it is not a wgan-suite checkpoint") from None
    if meta.get("format", 0) > CHECKPOINT_FORMAT:
        raise UserError(f"{path} has checkpoint format {meta['format']}, newer than this version reads "
                        f"({CHECKPOINT_FORMAT}); upgrade wgan-suite")
    params = {k[6:]: v for k, v in arrays.items() if k.startswith("param/")}
    prefix = "optimizer/" if meta.get("format", 1) >= 2 else "rms/"
    state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    return meta, params, state


def _truncate_jsonl(path: Path, keep) -> None:
    """Keep the lines for which keep(record) is true (a killed run may have logged past its checkpoint)."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = []
    for line in lines:
        try:
            if keep(json.loads(line)):
                kept.append(line)
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    tmp.replace(path)


class _StopOnSignal:
    """Ctrl-C / SIGTERM set a flag; the loop stops after the current generator iteration and checkpoints.
    A second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict = {}

    def __enter__(self) -> "_StopOnSignal":
        def handler(signum, frame):
            if self.requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.requested = True
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self.previous.items():
            signal.signal(sig, previous)


def train_run(framework: str, spec: WGANSpec, dataset: Dataset, iterations: int, out: Path, *,
              sample_every: int = 100, images_every: int | None = None, checkpoint_every: int = 100, device: str = "cpu", threads: int | None = None,
              params: dict[str, np.ndarray] | None = None, optimizer_state: dict[str, np.ndarray] | None = None,
              start_iteration: int = 0, resume: bool = False, overwrite: bool = False, progress: str = "epoch",
              tensorboard: bool = False, quality: bool = True, extra: dict | None = None) -> dict:
    """Train `framework` up to `iterations` generator iterations and write the run folder `out`.

    resume=True continues the run folder from `start_iteration` with the given params and optimizer
    state (from its checkpoint): metrics are appended after the checkpoint's iteration, never duplicated.
    quality=True scores the samples at every snapshot (shared.suite.metrics; MNIST checks its shipped classifier once).
    images_every=N also saves the tutorial script's images/B.png every N batches (B = batches done, counted
    from 0 as the tutorial's batches_done): 25 samples from the fixed z, 5 x 5, after that batch's G-it.
    """
    if iterations < 1:
        raise UserError(f"the budget gives {iterations} generator iterations; ask for more --steps (the first generator "
                        f"step follows critic step {Schedule(spec, len(dataset.train_x)).generator_after(0) + 1}) or --iterations")
    if start_iteration >= iterations:
        raise UserError(f"the run is already at generator iteration {start_iteration} of {iterations}; ask for more --steps")
    if dataset.data_dim != spec.data_dim:
        raise UserError(f"dataset {dataset.name} has {dataset.data_dim} features but the spec's data_dim is {spec.data_dim}")
    if not resume:
        out = prepare_out_dir(out, overwrite)
    if tensorboard:
        from shared.suite.tensorboard import check_available
        check_available()  # a missing package fails here, before anything is written
    if quality:
        from shared.suite.metrics import prepare_metrics
        prepare_metrics(dataset.name)  # trained and cached on first use: fail or train before the run starts
    framework = canonical_framework(framework)
    wgan = build(framework, spec, params, device=device, threads=threads)  # params None: the framework's own init
    if optimizer_state is not None:
        wgan.set_optimizer_state(optimizer_state)
    fit = training_loop(load_implementation(framework))
    streams = Streams(dataset.train_x, spec)
    fixed_z = streams.fixed_z(64)
    quality_z = streams.fixed_z(QUALITY_SAMPLES) if quality else None  # its first 64 rows are fixed_z

    if resume:
        _truncate_jsonl(out / "metrics.jsonl", lambda r: r["iteration"] < start_iteration)
        _truncate_jsonl(out / "snapshots.jsonl", lambda r: r["iteration"] <= start_iteration)
        info = json.loads((out / "run.json").read_text())
        info.setdefault("resumed", []).append({"at": start_iteration, "framework": framework,
                                               "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
        info.update(framework=framework, iterations=iterations, critic_steps=critic_steps_done(spec, iterations, len(dataset.train_x)),
                    status="running", versions=library_versions(framework))
    else:
        if out.exists() and overwrite:
            shutil.rmtree(out)
        (out / "samples").mkdir(parents=True)
        info = {"framework": framework, "versions": library_versions(framework), "device": device, "threads": threads,
                "dataset": {"name": dataset.name, "source": dataset.source, "sha256": dataset.sha256,
                            "subset": dataset.subset, "train": len(dataset.train_x)},
                "iterations": iterations, "critic_steps": critic_steps_done(spec, iterations, len(dataset.train_x)), "command": sys.argv,
                "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **(extra or {})}
        _write_json(out / "spec.json", spec.to_dict())
    _write_json(out / "run.json", info)

    board = None
    if tensorboard:
        from shared.suite.tensorboard import SAMPLES_TAG, TensorBoardWriter
        board = TensorBoardWriter(out / "tensorboard")
        # One row per run in the HPARAMS tab, so the frameworks (and presets) line up in one table.
        board.hparams({"framework": framework, "dataset": dataset.name, "preset": (extra or {}).get("preset", ""),
                       "native": bool((extra or {}).get("native", False)), **spec.to_dict()})
    image_shape = dataset.image_shape
    # Clipped critics live in [-c, c]; unclipped ones (wgan-gp, gan) are drawn over +-HISTOGRAM_RANGE (the ends
    # collect what lies beyond), so the pile-up at +-c that clipping causes shows against their spread.
    limit = spec.clip_value if spec.variant == "wgan" else HISTOGRAM_RANGE
    edges = np.linspace(-limit, limit, HISTOGRAM_BINS + 1)
    snapshots = open(out / "snapshots.jsonl", "a")

    snapshot_seconds = 0.0  # spent scoring and saving samples: not training, so not in the speed

    def snapshot(iteration: int, tag: str) -> None:
        """Sample grid from the fixed z, pixel statistics and the critic's weight histogram."""
        nonlocal snapshot_seconds
        started = time.perf_counter()
        samples = wgan.generate(fixed_z, training=False)  # eval mode: leaves BatchNorm statistics alone
        image = grid(samples, image_shape) if image_shape is not None else None
        if image is not None:
            write_png(out / "samples" / f"{tag}.png", image)
        critic_params = {k: v for k, v in wgan.get_params().items() if k.startswith("critic.")}
        critic = np.concatenate([v.ravel() for v in critic_params.values()])
        counts, _ = np.histogram(np.clip(critic, edges[0], edges[-1]), bins=edges)
        record = {"iteration": iteration, "pixel_mean": float(samples.mean()), "pixel_std": float(samples.std()),
                  "hist_counts": counts.tolist(), "hist_edges": edges.tolist()}
        if quality_z is not None:
            from shared.suite.metrics import evaluate
            # Not the features' exact W1 (optimal transport: ~1.5 s with POT's import, about seven times the
            # rest of a snapshot): no curve, check or table uses it; evaluate() gives it for any samples.
            record["quality"] = evaluate(np.clip(wgan.generate(quality_z, training=False), -1, 1), dataset.name,
                                         feature_w1=False)
        if board is not None:   # what the report shows, at the same iterations
            if image is not None:
                board.image(iteration, SAMPLES_TAG, png_bytes(image), *image.shape)
            board.histograms(iteration, {"weights/critic": critic, **{f"weights/{k}": v for k, v in critic_params.items()}})
            if "quality" in record:
                board.scalars(iteration, record["quality"], group="quality")
        snapshots.write(json.dumps(record) + "\n")
        snapshots.flush()
        if 0 < iteration < iterations:  # those that fall inside the timed iterations
            snapshot_seconds += time.perf_counter() - started

    def finish(status: str, **fields) -> None:
        info.update(status=status, **fields)
        _write_json(out / "run.json", info)

    if not resume:
        snapshot(0, "iter_000000")
        save_checkpoint(out, wgan, framework, 0, dataset.sha256, len(dataset.train_x))
    last_good = start_iteration
    with open(out / "metrics.jsonl", "a") as metrics, snapshots, _StopOnSignal() as stop:
        def on_iteration(i: int, log: dict) -> None:
            nonlocal last_good
            bad = [k for k, v in log.items() if isinstance(v, float) and not np.isfinite(v)]
            if bad:  # divergence guard: keep the last good checkpoint, say where and what
                finish("diverged", diverged_at={"iteration": i, "step": log["step"], "quantities": bad})
                raise UserError(f"training diverged at generator iteration {i} (critic step {log['step']}): "
                                f"{', '.join(f'{k} = {log[k]}' for k in bad[:3])}{' …' if len(bad) > 3 else ''}; the last good checkpoint "
                                f"(generator iteration {last_good}) is kept in {out}; lower lr or check the data")
            metrics.write(json.dumps(log) + "\n")
            metrics.flush()
            done = i + 1
            if board is not None:
                board.scalars(done, {k: v for k, v in log.items() if k not in ("iteration", "step", "epoch", "seconds")})
            if done % sample_every == 0:
                snapshot(done, f"iter_{done:06d}")
            if images_every and image_shape is not None:
                due = [t for t in streams.schedule.critic_steps(i) if t % images_every == 0]
                if due:
                    (out / "images").mkdir(exist_ok=True)
                    save_grid(out / "images" / f"{due[-1]}.png", wgan.generate(fixed_z[:25], training=False),
                              image_shape, nrow=5)
            if done % checkpoint_every == 0 or stop.requested:
                save_checkpoint(out, wgan, framework, done, dataset.sha256, len(dataset.train_x))
                last_good = done
            if stop.requested and done < iterations:
                raise StopRequested(done)

        fitted = False
        try:
            logs = fit(wgan, streams, range(start_iteration, iterations), on_iteration=on_iteration, progress=progress)
            fitted = True
        except StopRequested as stopped:
            finish("interrupted", interrupted_at=stopped.args[0])
            raise UserError(f"stopped at generator iteration {stopped.args[0]}; checkpoint saved; continue with "
                            f"--resume {out}") from None
        except KeyboardInterrupt:
            finish("interrupted", interrupted_at=last_good)
            raise
        finally:
            if board is not None and not fitted:
                board.close()   # on the way out with an error; a normal end closes after the last snapshot
        if iterations % sample_every:
            snapshot(iterations, f"iter_{iterations:06d}")
        if board is not None:
            board.close()
    save_checkpoint(out, wgan, framework, iterations, dataset.sha256, len(dataset.train_x))
    if image_shape is not None:
        shutil.copyfile(out / "samples" / f"iter_{iterations:06d}.png", out / "samples" / "final.png")
    else:  # 2-D toy sets: the generated points themselves, for scatter plots and critic surfaces
        np.save(out / "samples" / "final_points.npy", wgan.generate(streams.fixed_z(TOY_POINTS), training=False))
    save_npz(out / "params_final.npz", wgan.get_params())
    save_npz(out / "optimizer_final.npz", wgan.get_optimizer_state())
    seconds = logs[-1]["seconds"] if logs else 0.0
    finish("finished", seconds=seconds, snapshot_seconds=snapshot_seconds,
           iterations_per_second=len(logs) / max(seconds - snapshot_seconds, 1e-9),
           final={k: logs[-1][k] for k in ("critic_loss", "wasserstein", "generator_loss", "max_abs_weight")})
    return info
