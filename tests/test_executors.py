"""Executors: every run is planned (done / resume / fresh) before anything trains, a finished run is never
trained again, an interrupted one continues from its checkpoint, and the grid runs on a real local Ray cluster
and resumes after being interrupted."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from shared.core.errors import UserError
from shared.suite.compare import CompareConfig, run_jobs
from shared.suite.executors import check_executor, execute, plan, run_process, spec_differences


def job_for(tmp_path, iterations, sample_every=10):
    config = CompareConfig(frameworks=["pytorch"], out=tmp_path / "cmp", iterations=iterations, seeds=1,
                           sample_every=sample_every, preset="toy-gan", dataset="8gaussians", threads=1)
    (job,) = run_jobs(config)
    return job


def metrics_iterations(run_dir):
    """The iterations of metrics.jsonl's whole lines. A run that is still training may be mid-write: a reader can
    see the first part of its last line (a regular file's write() is not atomic to readers), so that part is left."""
    whole = (run_dir / "metrics.jsonl").read_text().split("\n")[:-1]
    return [json.loads(line)["iteration"] for line in whole]


def test_a_run_is_fresh_then_done_then_resumed_when_interrupted_or_grown(tmp_path):
    job = job_for(tmp_path, 30)
    assert plan(job)[0] == "fresh"
    assert execute([job], log=lambda line: None) == {job: None}
    assert plan(job) == ("done", "finished")
    first = (job.out / "run.json").read_text()
    lines = []
    assert execute([job], log=lines.append) == {job: None}       # done: not trained again
    assert "1 already done" in lines[0] and (job.out / "run.json").read_text() == first

    # interrupted: SIGTERM mid-run stops at a consistent state with a checkpoint; the plan continues from it
    longer = job_for(tmp_path, 200, sample_every=50)
    proc = subprocess.Popen(longer.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not ((longer.out / "metrics.jsonl").exists()
                                          and len(metrics_iterations(longer.out)) > 60):
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    how, why = plan(longer)
    assert how == "resume" and "continues from generator iteration" in why
    assert execute([longer], log=lambda line: None) == {longer: None}
    info = json.loads((longer.out / "run.json").read_text())
    assert info["status"] == "finished" and info["iterations"] == 200 and info["resumed"]
    assert metrics_iterations(longer.out) == list(range(200))    # no iteration lost or repeated


def test_a_changed_spec_or_framework_trains_afresh(tmp_path):
    job = job_for(tmp_path, 5)
    execute([job], log=lambda line: None)
    spec = json.loads((job.out / "spec.json").read_text())
    (job.out / "spec.json").write_text(json.dumps({**spec, "lr": 1.0}))
    assert plan(job) == ("fresh", "spec differs in lr")
    # a field added to the spec later counts as its default (what older runs did) in older run folders
    tutorial = {**spec, "generator_output": "tanh", "generator_batch_norm": True}
    older = {k: v for k, v in tutorial.items() if k not in ("generator_output", "generator_batch_norm")}
    assert spec_differences(older, tutorial) == []
    assert spec_differences(older, spec) == ["generator_batch_norm", "generator_output"]   # toy-gan has neither


def test_executor_errors_are_one_line():
    with pytest.raises(UserError, match="unknown executor 'slurm'"):
        check_executor("slurm")
    proc = subprocess.run([sys.executable, "-m", "shared.suite.cli", "results", "--address", "10.0.0.1:6379",
                           "--doc", "-", "--out", "/tmp/never-written"], capture_output=True, text=True)
    assert proc.returncode != 0 and proc.stderr.strip().count("\n") == 0 and "--executor ray" in proc.stderr


def test_the_time_left_is_estimated_from_the_runs_own_logs_before_any_run_finishes(tmp_path, monkeypatch):
    from shared.suite.executors import Progress
    job = job_for(tmp_path, 1000)
    job.out.mkdir(parents=True)
    (job.out / "metrics.jsonl").write_text('{"iteration": 0}\n' * 100)  # resumed at G-it 100: not this command's
    lines = []
    progress = Progress([job], reused=0, slots=1, log=lines.append)
    progress.poll()
    assert lines == []  # too early: nothing measured yet
    with open(job.out / "metrics.jsonl", "a") as f:
        f.write('{"iteration": 1}\n' * 300)  # 300 G-its trained since the start, 600 to go
    monkeypatch.setattr(progress, "started", time.perf_counter() - 60.0)  # ... in 60 s: 120 s left
    progress.poll()
    assert len(lines) == 1 and "0/1 done" in lines[0] and "1 running" in lines[0], lines
    assert "about 2 min left" in lines[0], lines
    progress.poll()
    assert len(lines) == 1  # the next estimate only after UPDATE_S


def test_the_time_to_train_is_said_before_any_run_starts_then_learnt_from_the_runs(tmp_path, monkeypatch):
    from shared.suite import eta
    monkeypatch.setenv("WGAN_SUITE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / eta.SPEEDS_FILE).write_text("{not json")   # damaged: ignored, then replaced
    job = job_for(tmp_path, 20)
    lines = []
    assert execute([job], log=lines.append) == {job: None}
    up_front = [line for line in lines if "training should take" in line]
    assert len(up_front) == 1 and lines.index(up_front[0]) == 1, lines   # right after the plan, before any run
    assert "a first guess from this CPU's matrix-multiply speed" in up_front[0]
    assert eta.load_speeds() == {}   # 20 G-its: a speed that is mostly its first G-it's start-up is not kept
    monkeypatch.setattr(eta, "MIN_KEPT_ITERATIONS", 10)
    job = job_for(tmp_path / "kept", 20)
    assert execute([job], log=lambda line: None) == {job: None}
    info = json.loads((job.out / "run.json").read_text())
    (kept,) = eta.load_speeds().values()
    assert kept["iterations_per_second"] == pytest.approx(info["iterations_per_second"], rel=1e-3)
    assert 0 < kept["overhead_seconds"] < 120

    # the same spec in another folder (a second seed would differ only in its seed): now from that run's speed
    other = job_for(tmp_path / "again", 20)
    seconds, source = eta.estimate([(other.framework, other.spec, other.threads, "cpu", 200)])
    assert source == "from this machine's earlier runs of the same spec"
    assert seconds == pytest.approx(200 / kept["iterations_per_second"] + kept["overhead_seconds"])
    lines = []
    assert execute([other], log=lines.append) == {other: None}
    assert any("training should take" in line and "earlier runs" in line for line in lines), lines
    # another thread count, device or spec is another key: a first guess again
    assert eta.estimate([(job.framework, job.spec, 2, "cpu", 200)])[1].startswith("a first guess")
    assert eta.estimate([(job.framework, {**job.spec, "batch_size": 32}, 1, "cpu", 200)])[1].startswith("a first guess")
    assert eta.estimate([(job.framework, {**job.spec, "seed": 7}, 1, "cpu", 200)])[1].endswith("of the same spec")
    assert eta.estimate([(job.framework, job.spec, 1, "cuda", 200)]) == (
        None, "no estimate before a first cuda run of this spec here")   # a CPU's matmuls say nothing of a GPU's
    # the cache outlived this CPU: another kind than any machine this runs on (it once named the AVX2 EPYC's)
    other_cpu = f"not {eta.cpu_kind()}, AVX2, 2 cores"
    monkeypatch.setattr(eta, "cpu_kind", lambda: other_cpu)
    assert eta.estimate([(job.framework, job.spec, 1, "cpu", 200)])[1].startswith("a first guess")
    monkeypatch.setattr(eta, "matmul_speed", lambda spec: 100.0)   # the guess itself, from a fixed NumPy speed
    monkeypatch.setattr(eta, "PROBE_WORTH_S", float("inf"))        # (never a probe of the real speed here)
    monkeypatch.setattr(eta.os, "cpu_count", lambda: 4)   # 0.75 of 100 G-it/s on 4 cores
    on_all = eta.estimate([("x", job.spec, 4, "cpu", 1000)])[0]
    assert on_all == pytest.approx(1000 * (1 / 75 + 0.002) + 7.0)
    assert eta.estimate([("x", job.spec, 1, "cpu", 1000)])[0] == pytest.approx(1000 * (4 ** 0.55 / 75 + 0.002) + 7.0)
    assert eta.estimate([("x", job.spec, 1, "cpu", 1000)] * 4, workers=4)[0] == pytest.approx(
        eta.estimate([("x", job.spec, 1, "cpu", 1000)])[0])   # four one-thread runs side by side
    assert eta.estimate([("x", job.spec, 1, "cpu", 1000)] * 8, workers=8)[0] == pytest.approx(
        2 * eta.estimate([("x", job.spec, 1, "cpu", 1000)])[0])   # eight on four cores: two rounds


def long_compare(out, seeds, **popen):
    """A PyTorch compare of `seeds` 3000-G-it toy runs in its own process (one at a time), to be interrupted."""
    return subprocess.Popen([sys.executable, "-m", "shared.suite.cli", "compare", "--frameworks", "pytorch", "--seeds",
                             str(seeds), "--iterations", "3000", "--dataset", "8gaussians", "--preset", "toy-wgan",
                             "--threads", "1", "--out", str(out)], stdout=subprocess.DEVNULL, **popen)


def wait_past_20_iterations(run_dir):
    deadline = time.time() + 300
    while time.time() < deadline and not ((run_dir / "metrics.jsonl").exists() and len(metrics_iterations(run_dir)) > 20):
        time.sleep(0.5)


def test_before_minutes_of_training_the_first_guess_times_pytorch_here(tmp_path, monkeypatch):
    from shared.core.spec import get_preset
    from shared.suite import eta
    monkeypatch.setenv("WGAN_SUITE_CACHE", str(tmp_path / "cache"))   # no earlier runs
    # NumPy's guess fixed, whatever this machine: 1 core at 10 G-it/s of matmuls, 0.135 s a G-it
    monkeypatch.setattr(eta, "matmul_speed", lambda spec: 10.0)
    monkeypatch.setattr(eta.os, "cpu_count", lambda: 1)
    spec = get_preset("tutorial").to_dict()
    runs = [(framework, spec, 1, "cpu", 1000) for framework in ("pytorch", "tensorflow", "keras")]
    probed = []
    monkeypatch.setattr(eta, "probe_speed", lambda spec, threads: (probed.append(spec["batch_size"]) or 20.0, ""))
    seconds, source = eta.estimate(runs)   # NumPy says minutes: worth the probe, once for the spec
    assert source == "a first guess from PyTorch timed here over 5 G-its" and probed == [64]
    assert seconds == pytest.approx(3 * (1000 / 20.0 + eta.GUESS_RUN_OVERHEAD_S))
    # a short compare is not held up by a probe ...
    assert eta.estimate([run[:4] + (20,) for run in runs])[1] == "a first guess from this CPU's matrix-multiply speed"
    # ... nor a spec with too few G-its to train for the probe's to be a sliver of them
    few = ("pytorch", {**spec, "batch_size": 32}, 1, "cpu", eta.PROBE_MIN_ITERATIONS - 1)
    assert eta.estimate(runs + [few])[1] == ("a first guess from PyTorch timed here over 5 G-its for 1 of 2 specs, "
                                             "else this CPU's matrix-multiply speed")
    assert probed == [64, 64]
    # ... nor runs that train on a Ray cluster joined by address (they train elsewhere)
    assert eta.estimate(runs, probe=False)[1] == "a first guess from this CPU's matrix-multiply speed"
    # where the probe gives no figure, NumPy's guess stands and the line says why
    monkeypatch.setattr(eta, "probe_speed", lambda spec, threads: (None, "ModuleNotFoundError: No module named 'torch'"))
    seconds, source = eta.estimate(runs)
    assert source == ("a first guess from this CPU's matrix-multiply speed "
                      "(PyTorch could not be timed here: ModuleNotFoundError: No module named 'torch')")
    assert seconds == pytest.approx(3 * (1000 * (1 / 7.5 + eta.GUESS_SECONDS_PER_GIT) + eta.GUESS_RUN_OVERHEAD_S))
    monkeypatch.undo()
    # the real probe: PyTorch's steps on the tutorial's networks, a few G-its in a child process
    speed, why = eta.probe_speed(spec, 1)
    assert why == "" and 0.5 < speed < 1000, (speed, why)
    speed, why = eta.probe_speed({**spec, "batch_size": 0}, 1)   # anything failing there: no figure, one line why
    assert speed is None and "batch_size" in why and "\n" not in why, why


def test_interrupting_the_parent_alone_stops_its_runs_and_starts_no_more(tmp_path):
    """`kill -INT` of a compare (or a results grid) on the local executor: the run in progress stops at a
    checkpoint and the queued ones never start (before, the worker pool's shutdown trained every queued run).
    Started with SIGINT ignored, as a script's `wgan-suite compare ... &` is: the CLI takes SIGINT back."""
    out = tmp_path / "cmp"
    proc = long_compare(out, seeds=3, stderr=subprocess.PIPE, text=True,
                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    first = out / "runs" / "pytorch-s0"
    wait_past_20_iterations(first)
    proc.send_signal(signal.SIGINT)   # to the parent only: a terminal's Ctrl-C would reach the runs too
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130 and "interrupted" in stderr, stderr[-2000:]
    info = json.loads((first / "run.json").read_text())
    assert info["status"] == "interrupted" and (first / "checkpoint.npz").exists()
    assert not (out / "runs" / "pytorch-s1").exists() and not (out / "runs" / "pytorch-s2").exists()


def test_a_runs_echo_leaves_out_tensorflows_banner_and_keeps_the_rest(capfd):
    """TensorFlow 2.21 prints its oneDNN banner whatever TF_CPP_MIN_LOG_LEVEL says; compare's echo of a run's
    stderr drops those lines and nothing else (bars, real warnings, the last line an error would quote)."""
    lines = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
             "I0000 00:00:1796189743.135327   10502 port.cc:153] oneDNN custom operations are on. You may see "
             "slightly different numerical results (...) set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n",
             "tensorflow:  10%|#         | 100/1000\r", "I0000 something else TensorFlow says\n", "a real warning\n"]
    script = f"import sys\nfor line in {lines!r}:\n    sys.stderr.write(line); sys.stderr.flush()"
    code, last, _ = run_process([sys.executable, "-c", script], echo=True)
    echoed = capfd.readouterr().err
    assert code == 0 and last == "a real warning"
    assert "oneDNN" not in echoed and "absl" not in echoed
    assert "100/1000" in echoed and "I0000 something else" in echoed and "a real warning" in echoed


def test_a_progress_bar_whose_reader_is_gone_does_not_hide_why_training_stopped(monkeypatch, random_images):
    """The race behind the test below, made certain: the bar has not written since its reader died, a SIGTERM
    stops the loop (StopRequested from on_iteration), and closing the bar on the way out writes to the broken
    pipe. The BrokenPipeError replaced StopRequested, so the run never wrote 'interrupted' (seen once in CI)."""
    import io
    from shared.core.loop import TrainingLog
    from shared.core.protocol import CRITIC_RECORD
    from shared.core.spec import TUTORIAL
    from shared.core.streams import Streams

    class Pipe(io.StringIO):
        reader_gone = False

        def write(self, text):
            if self.reader_gone:
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(text)

    class StopRequested(Exception):
        pass

    stderr = Pipe()
    monkeypatch.setattr(sys, "stderr", stderr)
    streams = Streams(random_images[:128].astype(np.float64), TUTORIAL.replace(dtype="float64"))
    record = dict.fromkeys(CRITIC_RECORD, 0.0)
    with pytest.raises(StopRequested):
        with TrainingLog("pytorch", streams, range(3), progress="run") as log:
            log.add(0, [record], {"generator_loss": 0.0})   # the bar starts and draws
            assert "pytorch" in stderr.getvalue()
            stderr.reader_gone = True
            raise StopRequested


def test_a_run_whose_grid_is_killed_outright_still_stops_at_a_checkpoint(tmp_path):
    """SIGKILL of a compare (or a results grid): its run gets SIGTERM (PR_SET_PDEATHSIG) with the pipe its
    progress bar writes to gone. Before, the bar's BrokenPipeError ended the run at once with its status left
    'running' and the G-its since the last periodic checkpoint unsaved; now it stops as on any SIGTERM."""
    out = tmp_path / "cmp"
    proc = long_compare(out, seeds=1, stderr=subprocess.DEVNULL)
    run = out / "runs" / "pytorch-s0"
    wait_past_20_iterations(run)
    proc.kill()
    proc.wait()
    deadline = time.time() + 120
    while time.time() < deadline and json.loads((run / "run.json").read_text())["status"] == "running":
        time.sleep(0.5)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted", info
    # stopped after the G-it it was in (a checkpoint of its own), not back at the last periodic checkpoint
    assert info["interrupted_at"] == metrics_iterations(run)[-1] + 1 > 20
