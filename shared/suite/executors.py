"""Where the runs of a compare or a results grid train: one `wgan-suite train` process per run, threads pinned.

    local  a thread pool on this machine, `jobs` training processes at a time (the default; no extra package)
    ray    one Ray task per run (`pip install '.[ray]'`): on a local Ray cluster started for the command, or
           on an existing one with --address (a workstation, or a cluster from `ray start`, Slurm or Kubernetes)

Every run is planned before anything trains (`plan`):
    done    run.json says finished, with the same spec, dataset checksum, framework, generator iterations and
            library versions: never trained again
    resume  an interrupted run (or a finished one asked for more iterations) with the same spec, data, framework
            and versions continues from its checkpoint.npz (`wgan-suite train --resume`)
    fresh   anything else is trained from the start (its folder is replaced)
so a grid that was killed, or grown from `quick` to `full`, picks up where it stopped.

On a cluster of several machines, every node needs this package installed the same way (`pip install -e
'.[all,ray]'` from the same checkout) and the output folder on storage every node mounts (NFS or similar):
a task writes its run folder where the command's --out says, and the driver reads it from there.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from shared.core.errors import UserError
from shared.core.spec import spec_differences
from shared.core.protocol import canonical_framework
from shared.suite.eta import estimate, remember, say, speed_key

EXECUTORS = ("local", "ray")

# TensorFlow 2.21 logs its oneDNN banner through absl before absl's logging is set up, whatever
# TF_CPP_MIN_LOG_LEVEL says (tensorflow#100442): two such pairs of lines from every TensorFlow or Keras run,
# between the progress bars a compare shows. Left out of what is echoed (not of an error's last line).
TF_BANNER = re.compile(rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\n"
                       rb"|I0000 [^\n]* port\.cc:\d+\] oneDNN custom operations are on\.[^\n]*\n")


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so a job can key the results
class RunJob:
    """One training run: its folder, how to start it, and what a finished run there must match to be reused."""
    label: str                 # e.g. "pytorch seed 0 (wgan-gp on 8gaussians)"
    out: Path                  # the run folder
    argv: list[str]            # the command line of a fresh start: python -m shared.suite.cli train ... --overwrite
    framework: str
    spec: dict                 # the spec the run must have (spec.json)
    dataset_sha256: str
    iterations: int
    threads: int = 1
    resume_args: list[str] = field(default_factory=list)   # --sample-every etc. for `train --resume`


def installed_versions(keys) -> dict[str, str]:
    """The installed versions of the packages a run.json names (python, numpy, torch, keras, ...)."""
    import importlib.metadata
    import platform

    import numpy as np
    out = {}
    for key in keys:
        if key == "python":
            out[key] = platform.python_version()
        elif key == "numpy":
            out[key] = np.__version__
        else:
            try:
                out[key] = importlib.metadata.version(key)
            except importlib.metadata.PackageNotFoundError:
                out[key] = "not installed"
    return out


def check_executor(executor: str, address: str | None = None) -> None:
    """Fail in one line, before anything trains, when the executor cannot run here."""
    import importlib.util
    if address and executor != "ray":
        raise UserError("--address is the Ray cluster to join; it goes with --executor ray")
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise UserError("--executor ray needs Ray: pip install -e '.[ray]' (or 'wgan-side-by-side[ray]'), "
                        "or use --executor local")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def plan(job: RunJob) -> tuple[str, str]:
    """('done' | 'resume' | 'fresh', why) for one run folder."""
    info, spec = _read_json(job.out / "run.json"), _read_json(job.out / "spec.json")
    if info is None or spec is None:
        return "fresh", "no run yet"
    differs = spec_differences(spec, job.spec)
    if differs:
        return "fresh", f"spec differs in {', '.join(differs)}"
    if info.get("dataset", {}).get("sha256") != job.dataset_sha256:
        return "fresh", "trained on other data"
    if canonical_framework(info.get("framework", "")) != canonical_framework(job.framework):
        return "fresh", f"trained by {info.get('framework')}"
    versions = info.get("versions", {})
    if versions != installed_versions(versions):
        return "fresh", "trained with other library versions"
    if info.get("status") == "finished" and info.get("iterations") == job.iterations:
        return "done", "finished"
    if not (job.out / "checkpoint.npz").exists():
        return "fresh", "no checkpoint to continue from"
    checkpoint_at = _checkpoint_iteration(job.out)
    if checkpoint_at is None or checkpoint_at >= job.iterations:
        return "fresh", "its checkpoint is past the asked length"
    return "resume", f"continues from generator iteration {checkpoint_at}"


def _checkpoint_iteration(run_dir: Path) -> int | None:
    from shared.suite.train import load_checkpoint
    try:
        meta, _, _ = load_checkpoint(run_dir)
    except (UserError, OSError, ValueError):
        return None
    return int(meta["iteration"])


def train_argv(job: RunJob, how: str, python: str) -> list[str]:
    """The training process's command line for a planned run."""
    if how == "resume":
        return [python, "-m", "shared.suite.cli", "train", "--resume", str(job.out), "--iterations", str(job.iterations),
                "--threads", str(job.threads), "--progress", "run", *job.resume_args]
    return [python, *job.argv[1:]]


# The training processes this process runs now (local executor), so an interrupted grid can stop them.
_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()
_stopping = False


def run_process(argv: list[str], echo: bool = False) -> tuple[int, str, float]:
    """Run one training process; (exit status, last line of its stderr, wall seconds). echo: its progress bar live."""
    started = time.perf_counter()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    with _live_lock:
        if _stopping:   # the grid was interrupted while this run waited for a worker: never start it
            return 130, "not started: interrupted", 0.0
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=_stop_with_parent if sys.platform == "linux" else None)
        _live.add(proc)
    tail = b""
    assert proc.stderr is not None
    try:
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            if echo:
                sys.stderr.buffer.write(TF_BANNER.sub(b"", chunk))
                sys.stderr.flush()
            tail = (tail + chunk)[-8192:]
        code = proc.wait()
    finally:
        with _live_lock:
            _live.discard(proc)
    lines = [ln.strip() for ln in tail.decode(errors="replace").replace("\r", "\n").splitlines() if ln.strip()]
    return code, (lines[-1] if lines else f"exit status {code}"), time.perf_counter() - started


def _stop_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux), so a run never outlives an interrupted
    grid (Ray ends its workers on shutdown) to race the next one on its folder. train stops cleanly on SIGTERM:
    checkpoint written, status 'interrupted'."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Progress:
    """'runs: 3/12 done (2 reused), 2 running, 0 failed; about 14 min left', weighted by generator iterations.

    The estimate comes early: `poll()` counts the lines the running runs have appended to their metrics.jsonl
    (one per G-it), so about FIRST_ESTIMATE_S seconds in, before any run has finished, the line gives the
    time left from the speed measured so far; then again every UPDATE_S seconds and as each run finishes."""

    FIRST_ESTIMATE_S, UPDATE_S = 30.0, 600.0

    def __init__(self, todo: list[RunJob], reused: int, slots: int, log, below_a_bar: bool = False) -> None:
        self.total, self.done, self.failed, self.reused = len(todo) + reused, reused, 0, reused
        self.below_a_bar = below_a_bar  # a run's progress bar is live on the terminal: start a line of our own
        self.slots, self.log, self.todo = slots, log, list(todo)
        self.total_iterations = sum(j.iterations for j in todo)
        self.at_start = {job: logged_iterations(job) for job in todo}  # a resumed run has some already
        self.finished_jobs: set = set()
        self.started = time.perf_counter()
        self.last_shown = None

    def trained(self) -> tuple[int, int]:
        """(G-its trained since this command started, G-its still to train), from the runs' own logs."""
        now, left = 0, 0
        for job in self.todo:
            count = job.iterations if job in self.finished_jobs else min(job.iterations, logged_iterations(job))
            now += max(0, count - self.at_start[job])
            left += job.iterations - count
        return now, left

    def finished(self, job: RunJob, error: str | None) -> None:
        self.done += error is None
        self.failed += error is not None
        self.finished_jobs.add(job)
        self.show(f"{job.label} {'failed: ' + error if error else 'finished'}")

    def poll(self) -> None:
        """Show the line when the first estimate is due, then every UPDATE_S seconds."""
        elapsed = time.perf_counter() - self.started
        due = self.FIRST_ESTIMATE_S if self.last_shown is None else self.last_shown + self.UPDATE_S
        if elapsed >= due:
            self.show()

    def show(self, event: str = "") -> None:
        pending = self.total - self.done - self.failed
        time_left = ""
        trained, left = self.trained()
        if trained and pending:
            time_left = f"; {say((time.perf_counter() - self.started) / trained * left)} left"
        self.last_shown = time.perf_counter() - self.started
        if self.below_a_bar and not event:
            sys.stderr.write("\n")  # the echoed bar (on stderr) has no newline until its run ends
        self.log(f"runs: {self.done}/{self.total} done ({self.reused} reused), {min(pending, self.slots)} running, "
                 f"{self.failed} failed{time_left}" + (f"  [{event}]" if event else ""))


def device_of(job: RunJob) -> str:
    """The --device a run's command line asks for (cpu when none)."""
    return job.argv[job.argv.index("--device") + 1] if "--device" in job.argv[:-1] else "cpu"


def to_train(job: RunJob, how: str) -> int:
    """The G-its a planned run still has to train: all of them, or those after its last log when it resumes."""
    return job.iterations - (min(job.iterations, logged_iterations(job)) if how == "resume" else 0)


def keep_speed(job: RunJob, trained: int, wall_seconds: float) -> None:
    """A finished local run's speed and the time around its training, for the next up-front estimate (eta.py)."""
    info = _read_json(job.out / "run.json")
    if info is not None:
        remember(speed_key(job.framework, job.spec, job.threads, device_of(job)), info, trained, wall_seconds)


def logged_iterations(job: RunJob) -> int:
    """The G-its a run folder's metrics.jsonl holds (a line each, appended as the run trains); 0 when none."""
    try:
        with open(job.out / "metrics.jsonl", "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


def execute(jobs: list[RunJob], executor: str = "local", workers: int = 1, address: str | None = None,
            log=print, echo: bool = False, walls: dict | None = None, on_done=None,
            train: bool = True) -> dict[RunJob, str | None]:
    """Plan every run, train those not done through the executor; returns job -> None (trained or reused) or
    the error line. walls, when given, receives job -> the wall seconds of its training process. on_done(job,
    error), when given, is called (in this thread) for each run as soon as it is known done: the reused ones
    first, then each as it finishes. train=False plans only: nothing trains, only done runs are reported."""
    check_executor(executor)
    plans = {job: plan(job) for job in jobs}
    todo = [job for job in jobs if plans[job][0] != "done"]
    results: dict[RunJob, str | None] = {job: None for job in jobs if plans[job][0] == "done"}
    resumed = sum(plans[j][0] == "resume" for j in todo)
    log(f"runs: {len(jobs)} planned — {len(results)} already done, {resumed} to resume from a checkpoint, "
        f"{len(todo) - resumed} to train from the start" + ("" if train else " (not trained now)"))
    finished = on_done or (lambda job, error: None)
    for job in results:
        finished(job, None)
    if not todo or not train:
        return results
    trains = {job: to_train(job, plans[job][0]) for job in todo}   # G-its each process will train
    seconds, source = estimate([(job.framework, job.spec, job.threads, device_of(job), trains[job]) for job in todo],
                               workers, probe=address is None)   # a joined cluster's runs train elsewhere
    log(f"runs: training should take {say(seconds)} ({source}; the runs' own speed updates it as they train)"
        if seconds is not None else f"runs: {source}; the runs' own speed gives the time left as they train")
    walls = {} if walls is None else walls
    if executor == "ray":
        results.update(_execute_ray(todo, plans, address, log, len(results), walls, finished))
    else:
        results.update(_execute_local(todo, plans, trains, workers, log, len(results), echo and workers == 1, walls,
                                      finished))
    return results


def _execute_local(todo, plans, trains, workers, log, reused, echo, walls, finished) -> dict[RunJob, str | None]:
    global _stopping
    _stopping = False
    progress = Progress(todo, reused, workers, log, below_a_bar=echo)
    results = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_process, train_argv(job, plans[job][0], sys.executable), echo): job for job in todo}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=5.0, return_when=FIRST_COMPLETED)
                if not done:
                    progress.poll()
                    continue
                future = done.pop()
                pending |= done  # one at a time: the others are picked up on the next pass, at once
                job = futures[future]
                code, last, walls[job] = future.result()
                results[job] = None if code == 0 else last
                if code == 0:
                    keep_speed(job, trains[job], walls[job])
                progress.finished(job, results[job])
                finished(job, results[job])
        except BaseException:   # Ctrl-C, or `kill -INT` of this process alone (its runs then see no signal)
            _stop_live_runs(pool)
            raise
    return results


def _stop_live_runs(pool: ThreadPoolExecutor) -> None:
    """Start no queued run, and stop the running ones the way train stops cleanly (SIGTERM: checkpoint written,
    status 'interrupted'), so an interrupted grid ends now and resumes later, instead of leaving the pool's shutdown
    to train every queued run to the end."""
    global _stopping
    with _live_lock:
        _stopping = True
        running = list(_live)
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in running:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in running:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()


def _ray_train(argv: list[str]) -> tuple[int, str, float]:
    """A Ray task: the training process, with the worker's own Python (which may live elsewhere on a cluster)."""
    return run_process([sys.executable, *argv[1:]])


def _execute_ray(todo, plans, address, log, reused, walls, finished) -> dict[RunJob, str | None]:
    import ray
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address:
                ray.init(address=address, log_to_driver=False, include_dashboard=False, logging_level="ERROR")
            else:
                # "local": always a new cluster of this machine's cores, never one found running (another grid's)
                ray.init(address="local", num_cpus=os.cpu_count(), log_to_driver=False, include_dashboard=False,
                         logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(f"could not {'join the Ray cluster at ' + address if address else 'start a local Ray cluster'}:"
                            f" {first}; check the address (`ray status` on the head node) or use --executor local") from None
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        log(f"ray: {'joined ' + address if address else 'started a local cluster'} with {cpus} CPUs; "
            f"{len(todo)} run tasks, {todo[0].threads} CPU(s) each")
        progress = Progress(todo, reused, max(1, cpus // max(1, todo[0].threads)), log)
        task = ray.remote(max_retries=0)(_ray_train)
        refs = {task.options(num_cpus=job.threads).remote(train_argv(job, plans[job][0], "python")): job
                for job in todo}
        results = {}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)  # a timeout: Ctrl-C is seen within a second
            if not ready:
                progress.poll()
                continue
            job = refs.pop(ready[0])
            try:
                code, last, walls[job] = ray.get(ready[0])
            except Exception as error:  # a task that died (node lost, out of memory): that run failed, not the grid
                code, last = 1, f"ray task failed: {str(error).strip().splitlines()[-1] if str(error).strip() else error!r}"
            if code == 0 and not (job.out / "run.json").exists():
                code, last = 1, (f"the run folder {job.out} is not visible here: on a multi-node cluster put --out on "
                                 "storage every node mounts")
            results[job] = None if code == 0 else last
            progress.finished(job, results[job])
            finished(job, results[job])
        return results
    finally:
        if started_here:
            ray.shutdown()
