"""How long a compare's or a grid's runs should take, said before the first one starts.

Two sources, the better first:
    this machine's earlier runs  every run of MIN_KEPT_ITERATIONS G-its or more that the local executor
                                 finishes adds its training speed (G-it/s) and its time around the training
                                 (start-up, snapshots, saves) to <cache>/speeds.json, keyed by CPU (model, instruction set, cores), framework,
                                 threads, device and spec (the seed aside): the next compare of the same spec
                                 here knows them (the cache may outlive a machine's CPU: the CPU is in the key)
    a first guess                where no such run exists (a fresh clone's first compare): the G-it's matrix
                                 multiplies timed with NumPy in this process (~0.3 s), at GUESS_EFFICIENCY of
                                 that speed (less for a run on fewer threads than cores), plus
                                 GUESS_SECONDS_PER_GIT and GUESS_RUN_OVERHEAD_S a run; and where that says
                                 PROBE_WORTH_S of training or more, PyTorch's eager steps timed over a few G-its
                                 in a child process instead (~3 s with torch's import; runs on this machine only,
                                 not a Ray cluster joined by address)
The line says which it is; once runs train, executors.Progress replaces it with their own measured speed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared.core.data import default_cache_dir
from shared.core.machine import cpu_kind
from shared.suite.bench import WARM_UP_ITERATIONS

SPEEDS_FILE = "speeds.json"
# The first guess, calibrated on 2026-12-02's Zen 5 (2 cores): NumPy's OpenBLAS did the tutorial G-it's matmuls
# at 42.6 G-it/s on both cores, the three frameworks trained at 27.5-38 in a compare (0.65-0.9 of it), and a
# run spent 3-7 s around its training (start-up, 11 snapshots, saves). A guess, and the line says so: there it
# said "about 2 min" and, on a busier minute of the same host, "about 3 min" for runs that took 102 and 110 s.
GUESS_EFFICIENCY = 0.75
GUESS_SECONDS_PER_GIT = 0.002   # per G-it beyond its matmuls: the six steps' Python and framework dispatch
# NumPy times the matmuls on every core; a run pinned to fewer threads is slower by about (cores / threads)
# to this power (NumPy there: 42.6 G-it/s on two cores, 29.1 on one, 2 ** 0.55 = 1.46)
GUESS_THREAD_SCALING = 0.55
GUESS_RUN_OVERHEAD_S = 7.0
# NumPy's matmul speed says little of a training step's other work: the same 42.6 G-it/s on the Zen 5 above and on
# a 2-core AVX2 EPYC (Zen 2), where the frameworks trained at 18-19 G-it/s, so the guess said "about 2 min" for
# 163 s of training. Timing PyTorch's own steps costs ~3 s: worth it before minutes of training, not before the
# seconds of a short compare, and only for a spec with enough G-its to train that the probe's are a sliver of them.
PROBE_WORTH_S = 60.0
PROBE_ITERATIONS = 5    # G-its timed, after bench.run_mode's warm-up G-its
PROBE_MIN_ITERATIONS = 20 * (WARM_UP_ITERATIONS + PROBE_ITERATIONS)   # G-its to train before a spec is probed
PROBE_BATCHES = 64      # the probe's random training set, in batches: its G-its lie inside the first epoch
PROBE_TIMEOUT_S = 120
# A run's G-it/s counts its first G-it, tracing and compiling included (TensorFlow: 2-5 s): over a few dozen
# G-its that is most of it, and the speed would mislead every later estimate of the spec (the test suite's short
# runs read 5-13 G-it/s where 1000-G-it runs read 30-47). Shorter runs are not kept.
MIN_KEPT_ITERATIONS = 200


def speed_key(framework: str, spec: dict, threads: int, device: str = "cpu") -> str:
    """What a run's speed depends on here: CPU, framework, threads, device and the spec (all but the seed)."""
    spec_hash = hashlib.sha256(_without_seed(spec).encode()).hexdigest()[:16]
    return "|".join([cpu_kind(), framework, f"threads={threads}", device, spec_hash])


def _without_seed(spec: dict) -> str:
    return json.dumps({k: v for k, v in spec.items() if k != "seed"}, sort_keys=True)


def load_speeds(cache: Path | None = None) -> dict:
    """key -> {"iterations_per_second", "overhead_seconds", "measured"}; {} when there is no (readable) file."""
    try:
        speeds = json.loads(((cache or default_cache_dir()) / SPEEDS_FILE).read_text())
        return speeds if isinstance(speeds, dict) else {}
    except (OSError, ValueError):
        return {}   # none yet, or damaged: the estimate falls back to the first guess, never stops a compare


def remember(key: str, run_info: dict, trained: int, wall_seconds: float, cache: Path | None = None) -> None:
    """Keep a finished run's speed (its run.json) and the rest of its process's wall time, which trained
    `trained` G-its (fewer than the run's when it resumed); best effort."""
    ips = run_info.get("iterations_per_second")
    if run_info.get("status") != "finished" or not ips or trained < MIN_KEPT_ITERATIONS:
        return
    overhead = max(0.0, wall_seconds - trained / ips)
    cache = cache or default_cache_dir()
    speeds = load_speeds(cache)
    speeds[key] = {"iterations_per_second": round(float(ips), 3), "overhead_seconds": round(overhead, 2),
                   "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cache, suffix=".tmp", delete=False) as f:
            json.dump(speeds, f, indent=1, sort_keys=True)
        os.replace(f.name, cache / SPEEDS_FILE)   # whole or not at all: a concurrent reader sees the old file
    except OSError:
        pass   # an unwritable cache costs the next compare its better estimate, nothing else


def matmul_speed(spec: dict) -> float:
    """G-it/s if a G-it of `spec` were only its matrix multiplies, as NumPy does them here (best of 3 passes)."""
    import numpy as np

    from shared.core.spec import WGANSpec
    from shared.suite.bench import matmul_shapes
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32))
             for m, k, n in matmul_shapes(WGANSpec.from_dict(spec))]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for a, b in pairs:
            a @ b
        best = min(best, time.perf_counter() - started)
    return 1.0 / max(best, 1e-9)


def probe_speed(spec: dict, threads: int) -> tuple[float | None, str]:
    """(G-it/s, "") of PyTorch's eager steps training `spec` on `threads` threads, timed over PROBE_ITERATIONS
    G-its on random data as the bench times them (bench.run_mode), in a child process: a PyTorch that is missing,
    crashes or hangs costs the estimate, never the compare, and its memory and threads leave with the child.
    (None, why) where it gave no figure."""
    argv = [sys.executable, "-m", "shared.suite.eta", json.dumps(spec), str(threads)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"no figure within {PROBE_TIMEOUT_S} s"
    except OSError as error:
        return None, str(error)
    try:
        speed = float(proc.stdout.split()[-1]) if proc.returncode == 0 else None
    except (IndexError, ValueError):
        speed = None
    if speed is None:
        why = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}, no figure"])[-1]
        return None, why[:160]
    return speed, ""


def first_guess(runs: list[tuple[dict, int, int]], probe: bool = True) -> tuple[float, str]:
    """(seconds, how) for runs (spec, threads, G-its) that have no earlier run here, each on its own: NumPy's
    matmul speed; where that adds up to PROBE_WORTH_S or more (and `probe`), PyTorch's speed probed here for each
    spec and thread count with PROBE_MIN_ITERATIONS G-its or more to train."""
    cores = os.cpu_count() or 1
    numpy_speed: dict[str, float] = {}
    seconds_per_git: dict[tuple[str, int], float] = {}
    specs: dict[tuple[str, int], dict] = {}
    to_train: dict[tuple[str, int], int] = {}
    for spec, threads, iterations in runs:
        shape = _without_seed(spec)
        key = (shape, threads)
        if shape not in numpy_speed:
            numpy_speed[shape] = matmul_speed(spec)
        fewer_threads = cores / max(1, min(threads, cores))
        seconds_per_git[key] = fewer_threads ** GUESS_THREAD_SCALING / (numpy_speed[shape] * GUESS_EFFICIENCY) \
            + GUESS_SECONDS_PER_GIT
        specs[key], to_train[key] = spec, to_train.get(key, 0) + iterations
    probed, failed = 0, ""
    if probe and sum(n * seconds_per_git[key] for key, n in to_train.items()) >= PROBE_WORTH_S:
        for key, spec in specs.items():
            if to_train[key] < PROBE_MIN_ITERATIONS:
                continue
            speed, why = probe_speed(spec, key[1])
            if speed:
                seconds_per_git[key], probed = 1.0 / speed, probed + 1
            else:
                failed = failed or why
    how = "this CPU's matrix-multiply speed"
    if probed == len(specs):
        how = f"PyTorch timed here over {PROBE_ITERATIONS} G-its"
    elif probed:
        how = f"PyTorch timed here over {PROBE_ITERATIONS} G-its for {probed} of {len(specs)} specs, else {how}"
    if failed:
        how += f" (PyTorch could not be timed here: {failed})"
    seconds = sum(n * seconds_per_git[key] for key, n in to_train.items()) + GUESS_RUN_OVERHEAD_S * len(runs)
    return seconds, how


def estimate(runs: list[tuple[str, dict, int, str, int]], workers: int = 1,
             cache: Path | None = None, probe: bool = True) -> tuple[float | None, str]:
    """(seconds, where the figure comes from) for runs (framework, spec, threads, device, G-its to train),
    `workers` of them at a time; seconds None where a GPU run has no earlier run here (the CPU says nothing).
    probe=False: the runs train elsewhere (a Ray cluster), so a first guess never times this machine."""
    speeds = load_speeds(cache)
    seconds, unknown = 0.0, []
    for framework, spec, threads, device, iterations in runs:
        known = speeds.get(speed_key(framework, spec, threads, device))
        if known and known.get("iterations_per_second"):
            seconds += iterations / known["iterations_per_second"] + known.get("overhead_seconds", 0.0)
            continue
        if device != "cpu":
            return None, f"no estimate before a first {device} run of this spec here"
        unknown.append((spec, threads, iterations))
    guessed, how = first_guess(unknown, probe) if unknown else (0.0, "")
    seconds += guessed
    # side by side: `workers` at a time, but no more than the cores hold (three one-thread runs on two cores
    # share them)
    cores, widest = os.cpu_count() or 1, max(run[2] for run in runs)
    seconds /= max(1, min(workers, len(runs), cores // max(1, widest)))
    if not unknown:
        source = "from this machine's earlier runs of the same spec"
    elif len(unknown) == len(runs):
        source = f"a first guess from {how}"
    else:
        source = f"{len(runs) - len(unknown)} of {len(runs)} runs from this machine's earlier runs, the rest a first guess"
    return seconds, source


def say(seconds: float) -> str:
    """'about 3 min', 'about 40 s'."""
    return f"about {seconds / 60:.0f} min" if seconds >= 60 else f"about {seconds:.0f} s"


def _probe_main(argv: list[str]) -> None:
    """`python -m shared.suite.eta SPEC_JSON THREADS`: probe_speed's child; prints G-it/s."""
    from shared.core.spec import WGANSpec
    from shared.suite.bench import run_mode
    spec = WGANSpec.from_dict(json.loads(argv[0]))
    result = run_mode("pytorch", "eager", spec, int(argv[1]), PROBE_ITERATIONS, repeats=1,
                      rows=PROBE_BATCHES * spec.batch_size, time_inputs=False)
    print(result.median)


if __name__ == "__main__":
    _probe_main(sys.argv[1:])
