"""A training run of one framework, and the run folder it writes.

run folder/
    run.json            framework, library versions, data source and checksum, device, threads, status
    spec.json           the resolved spec (every hyperparameter, nothing left to framework defaults)
    metrics.jsonl       one line per generator iteration (shared.loop.LOG_KEYS), appended as it trains
    samples/            PNG grids from one fixed z (the same z in every framework), generator in eval mode
    snapshots.jsonl     at every grid: pixel mean/std of those samples and a histogram of the critic's weights
    params_final.npz    canonical parameters at the end (shared.params layout)
    optimizer_final.npz RMSprop mean squares at the end
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from shared.data import Dataset
from shared.errors import UserError
from shared.images import save_grid
from shared.params import save_npz
from shared.protocol import build, canonical_framework, load_implementation
from shared.spec import WGANSpec
from shared.streams import Streams

HISTOGRAM_BINS = 40
_PACKAGES = {"pytorch": ["torch"], "tensorflow": ["tensorflow-cpu", "tensorflow"], "keras": ["keras", "tensorflow-cpu", "tensorflow"],
             "keras:torch": ["keras", "torch"], "keras:jax": ["keras", "jax"]}


def library_versions(framework: str) -> dict[str, str]:
    """Versions of Python, NumPy and the framework's packages (read from metadata, nothing imported)."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for package in _PACKAGES[canonical_framework(framework)]:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


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


def train_run(framework: str, spec: WGANSpec, dataset: Dataset, iterations: int, out: Path, *,
              sample_every: int = 100, device: str = "cpu", threads: int | None = None,
              params: dict[str, np.ndarray] | None = None, overwrite: bool = False, progress: str = "epoch",
              extra: dict | None = None) -> dict:
    """Train `framework` for `iterations` generator iterations and write the run folder `out`."""
    if iterations < 1:
        raise UserError(f"--steps gives {iterations} generator iterations; ask for at least n_critic = {spec.n_critic} steps")
    if dataset.data_dim != spec.data_dim:
        raise UserError(f"dataset {dataset.name} has {dataset.data_dim} features but the spec's data_dim is {spec.data_dim}")
    out = prepare_out_dir(out, overwrite)
    framework = canonical_framework(framework)
    wgan = build(framework, spec, params, device=device, threads=threads)  # params None: the framework's own init
    fit = importlib.import_module(load_implementation(framework).__name__ + ".train").fit
    streams = Streams(dataset.train_x, spec)
    fixed_z = streams.fixed_z(64)

    if out.exists() and overwrite:
        shutil.rmtree(out)
    (out / "samples").mkdir(parents=True)
    info = {"framework": framework, "versions": library_versions(framework), "device": device, "threads": threads,
            "dataset": {"name": dataset.name, "source": dataset.source, "sha256": dataset.sha256,
                        "subset": dataset.subset, "train": len(dataset.train_x)},
            "iterations": iterations, "critic_steps": iterations * spec.n_critic, "command": sys.argv,
            "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **(extra or {})}
    _write_json(out / "spec.json", spec.to_dict())
    _write_json(out / "run.json", info)

    image_shape = dataset.image_shape
    edges = np.linspace(-spec.clip_value, spec.clip_value, HISTOGRAM_BINS + 1)
    snapshots = open(out / "snapshots.jsonl", "a")

    def snapshot(iteration: int, tag: str) -> None:
        """Sample grid from the fixed z, pixel statistics and the critic's weight histogram."""
        samples = wgan.generate(fixed_z, training=False)  # eval mode: leaves BatchNorm statistics alone
        if image_shape is not None:
            save_grid(out / "samples" / f"{tag}.png", samples, image_shape)
        critic = np.concatenate([v.ravel() for k, v in wgan.get_params().items() if k.startswith("critic.")])
        counts, _ = np.histogram(np.clip(critic, edges[0], edges[-1]), bins=edges)
        snapshots.write(json.dumps({"iteration": iteration, "pixel_mean": float(samples.mean()),
                                    "pixel_std": float(samples.std()), "hist_counts": counts.tolist(),
                                    "hist_edges": edges.tolist()}) + "\n")
        snapshots.flush()

    snapshot(0, "iter_000000")
    with open(out / "metrics.jsonl", "a") as metrics, snapshots:
        def on_iteration(i: int, log: dict) -> None:
            metrics.write(json.dumps(log) + "\n")
            metrics.flush()
            if (i + 1) % sample_every == 0:
                snapshot(i + 1, f"iter_{i + 1:06d}")

        try:
            logs = fit(wgan, streams, range(iterations), on_iteration=on_iteration, progress=progress)
        except KeyboardInterrupt:
            info["status"] = "interrupted"
            _write_json(out / "run.json", info)
            raise
        if iterations % sample_every:
            snapshot(iterations, f"iter_{iterations:06d}")
    if image_shape is not None:
        shutil.copyfile(out / "samples" / f"iter_{iterations:06d}.png", out / "samples" / "final.png")
    save_npz(out / "params_final.npz", wgan.get_params())
    save_npz(out / "optimizer_final.npz", wgan.get_optimizer_state())
    seconds = logs[-1]["seconds"] if logs else 0.0
    info.update(status="finished", seconds=seconds, iterations_per_second=iterations / max(seconds, 1e-9),
                final={k: logs[-1][k] for k in ("critic_loss", "wasserstein", "generator_loss", "max_abs_weight")})
    _write_json(out / "run.json", info)
    return info
