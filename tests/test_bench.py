"""bench: the FLOP count matches the architecture, and a short real run prints G-it/s and the roofline ratios."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.suite.bench import BenchResult, flops_per_iteration, format_table, matmul_shapes
from shared.core.spec import TUTORIAL

ROOT = Path(__file__).resolve().parents[1]


def test_flops_per_generator_iteration():
    # Forward 2*B*in*out per dense layer, backward twice that where weights and inputs need gradients.
    assert round(flops_per_iteration(TUTORIAL) / 1e9, 2) == 3.21
    assert len(matmul_shapes(TUTORIAL)) == 125
    assert flops_per_iteration(TUTORIAL.replace(batch_size=128)) == 2 * flops_per_iteration(TUTORIAL)


def test_bench_quick_prints_speed_and_roofline_ratios(tmp_path):
    # xla left out: it is the same worker path as tf.function, and compiling it is the slowest part (CI time)
    proc = subprocess.run([sys.executable, "-m", "shared.suite.cli", "bench", "--quick", "--frameworks", "pytorch", "tensorflow",
                           "--modes", "eager", "onednn", "tf.function", "--json", str(tmp_path / "bench.json")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    from shared.core.machine import cpu_isa, cpu_model
    assert f"machine: {cpu_model()}, {cpu_isa()}" in out
    record = json.loads((tmp_path / "bench.json").read_text())
    assert record["machine"]["cpu_model"] == cpu_model() and record["machine"]["isa"] == cpu_isa()
    assert record["threads"] == 1 and "torch" in record["versions"]["pytorch"]
    goals = {g["check"]: g for g in record["goals"]}   # the defaults only (onednn is not one), against 0.6
    assert set(goals) == {"pytorch eager / roofline", "tensorflow tf.function / roofline"}
    eager = next(r for r in record["results"] if r["mode"] == "eager")
    assert goals["pytorch eager / roofline"]["value"] == pytest.approx(eager["roofline_ratio"])
    assert all(g["goal"] == 0.6 and g["met"] == (g["value"] >= 0.6) for g in goals.values())
    assert "goals (issue #15, batch 64, 1 thread(s)): " in out
    if (ROOT / ".git").exists() and shutil.which("git"):   # the figures name the code they measured (CI: a clone)
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert record["code"]["commit"] == head.strip() and isinstance(record["code"]["modified"], bool)
    else:
        assert record["code"] is None
    assert {(r["framework"], r["mode"]) for r in record["results"]} >= {("pytorch", "eager"), ("tensorflow", "tf.function")}
    assert all(0 < r["roofline_ratio"] < 5 for r in record["results"]) and record["roofline_its_per_s"]["64"] > 0
    (split,) = record["roofline_splits"].values()   # one thread: one split of the pools, one roofline
    assert split["intra_op_threads"] == split["inter_op_threads"] == 1
    assert split["its_per_s"]["64"] == pytest.approx(record["roofline_its_per_s"]["64"])
    assert "3.21 GFLOP" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("pytorch ", "tensorflow "))]
    want = {("pytorch", "eager"), ("tensorflow", "tf.function")}
    if "pytorch onednn: not run on this machine (mode onednn: oneDNN computes fp32 matmuls in bf16" not in out:
        want.add(("pytorch", "onednn"))  # refused, with the error it measured, where oneDNN would round to bf16
    assert {(r[0], r[1]) for r in rows} == want
    assert all(float(r[3]) > 0 for r in rows)
    roofline = next(line for line in out.splitlines() if "roofline" in line and "ratios" in line)
    assert "pytorch eager b64" in roofline and "G-it/s at batch 64" in roofline
    overhead = next(line for line in out.splitlines() if line.startswith("harness overhead"))
    # A share of the run, printed beside its 3% goal. Not held to the goal here: it is a timing, and under a
    # parallel test suite on a noisy 2-core machine it read 16% once (docs/performance.md keeps the figures).
    assert 0 < float(overhead.split("at most ")[1].split("%")[0]) < 100 and "the goal is <= 3%" in overhead


def test_the_roofline_is_each_rounds_faster_split_of_the_thread_pools():
    from shared.suite.bench import ROOFLINE, ROOFLINE_WIDE, roofline_pools, roofline_rounds, roofline_sessions
    assert roofline_pools(1, "pairs") == (1, 1) and roofline_sessions(1) == [ROOFLINE]
    assert roofline_pools(2, "pairs") == (1, 2) and roofline_pools(2, "wide") == (2, 2)
    assert roofline_pools(8, "pairs") == (4, 2) and roofline_sessions(2) == [ROOFLINE, ROOFLINE_WIDE]
    got = {ROOFLINE: [{"its_per_s": [100, 60, 90]}, {"its_per_s": [10, 10, 10]}],
           ROOFLINE_WIDE: [{"its_per_s": [80, 95, 70]}, {"its_per_s": [20, 5, 30]}]}
    # round by round the faster (100, 95, 90 -> median 95), not the faster median (90 against 80)
    assert roofline_rounds(got, [64, 256]) == {64: 95, 256: 20}
    assert roofline_rounds({ROOFLINE: got[ROOFLINE], ROOFLINE_WIDE: ("error", "died")}, [64, 256]) == {64: 90, 256: 10}
    assert roofline_rounds({ROOFLINE: ("error", "died")}, [64]) is None


def test_the_table_keeps_a_long_module_name_apart_from_its_mode():
    """A user's own module (my_package.my_wgan) is longer than the built-in names; every row still splits into
    its columns (it once printed 'old_impl_pytorcheager')."""
    results = [BenchResult("pytorch", "eager", 64, 1, [10.0, 11.0], 0.1, 600.0, 0.01),
               BenchResult("my_package.my_own_wgan_module", "a-long-mode-name", 64, 1, [9.0], 0.2, 700.0, 0.02)]
    rows = [line.split() for line in format_table(results, {64: 20.0}).splitlines()[1:]]
    assert [r[:3] for r in rows] == [["pytorch", "eager", "64"], ["my_package.my_own_wgan_module", "a-long-mode-name", "64"]]
    assert rows[1][-1] == "0.45"


def test_each_run_judges_issue_15s_goals_from_its_own_figures():
    """Default modes against the roofline (0.6 on one thread, 0.5 on two), Keras on torch against PyTorch eager,
    Keras' fit() against its steps: each judged only where this run measured both sides."""
    from shared.suite.bench import format_goals, goal_checks

    def result(framework, mode, its):
        return BenchResult(framework, mode, 64, 2, [its], 0.1, 600.0, 0.01)

    results = [result("pytorch", "eager", 21.0), result("pytorch", "onednn", 30.0), result("keras:torch", "fit", 17.0),
               result("keras", "fit", 21.0), result("keras", "steps", 15.0), result("keras:jax", "fit", 32.0)]
    defaults = {"pytorch": "eager", "keras:torch": "fit", "keras": "fit", "keras:jax": "fit", "tensorflow": "tf.function"}
    checks = {c["check"]: (round(c["value"], 3), c["goal"], c["met"]) for c in goal_checks(results, {64: 40.0}, defaults, 2)}
    assert checks == {"pytorch eager / roofline": (0.525, 0.5, True),        # onednn is not the default: not judged
                      "keras:torch fit / roofline": (0.425, 0.5, False),
                      "keras fit / roofline": (0.525, 0.5, True),
                      "keras:jax fit / roofline": (0.8, 0.5, True),         # tensorflow not measured: not judged
                      "keras:torch fit / pytorch eager": (0.81, 0.8, True),
                      "keras fit / keras steps": (1.4, 0.95, True)}
    text = format_goals(goal_checks(results, {64: 40.0}, defaults, 2), 2)
    assert text.splitlines()[0] == "goals (issue #15, batch 64, 2 thread(s)): 5 of 6 met"
    assert [line.split()[-2:] for line in text.splitlines()[1:] if "NOT" in line] == [["NOT", "MET"]]
    one_thread = {c["check"]: c["met"] for c in goal_checks(results, {64: 40.0}, defaults, 1)}
    assert one_thread["pytorch eager / roofline"] is False   # 0.525 < 0.6
    # no roofline (no TensorFlow) or four threads (no goal set): the ratios to PyTorch and to the steps only
    assert [c["check"] for c in goal_checks(results, None, defaults, 2)] == ["keras:torch fit / pytorch eager",
                                                                           "keras fit / keras steps"]
    assert len(goal_checks(results, {64: 40.0}, defaults, 4)) == 2 and format_goals([], 2) == ""
    # a ratio that two decimals would round onto the goal is shown with the digit that decides it
    text = format_goals([{"check": "tensorflow tf.function / roofline", "value": 0.4990, "goal": 0.5, "met": False},
                         {"check": "pytorch eager / roofline", "value": 0.5142, "goal": 0.5, "met": True},
                         {"check": "keras fit / roofline", "value": 0.49996, "goal": 0.5, "met": False}], 2)
    assert [line.split("/ roofline")[1].split() for line in text.splitlines()[1:]] == [
        ["0.499", ">=", "0.50", "NOT", "MET"], ["0.51", ">=", "0.50", "met"], ["0.4999", ">=", "0.50", "NOT", "MET"]]


def test_bench_json_into_a_missing_folder_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "shared.suite.cli", "bench", "--quick", "--json",
                           str(tmp_path / "nowhere" / "b.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--json" in proc.stderr and "folder does not exist" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not proc.stdout.strip()


def test_bench_on_a_missing_gpu_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "shared.suite.cli", "bench", "--quick", "--device", "cuda"],
                          capture_output=True, text=True, timeout=120)
    if cpu_has_gpu():
        return  # nothing to refuse here: the GPU run itself is the check
    assert proc.returncode == 2 and "no NVIDIA GPU" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not proc.stdout.strip()


def cpu_has_gpu() -> bool:
    import shutil
    from pathlib import Path
    return Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi") is not None


DYING_MODE = '''
"""examples.torch_wgan with two execution modes; the second's process dies in its second timed repeat."""
import contextlib, os
from examples.torch_wgan import *  # noqa: F401,F403 (FRAMEWORK, build_wgan, set_threads)
from shared.core.loop import fit_by_steps


def execution_modes():
    return {"steps": "the harness's loop", "dies": "the harness's loop, until the process exits"}


@contextlib.contextmanager
def execution_mode(wgan, mode):
    def dying(wgan, streams, iterations, on_iteration=None, **kwargs):
        def hook(i, log):
            if i == 30:  # warm-up ends at 2, each repeat is 10 G-its: inside the second round
                os._exit(3)
            if on_iteration:
                on_iteration(i, log)
        return fit_by_steps(wgan, streams, iterations, on_iteration=hook, **kwargs)
    yield dying if mode == "dies" else fit_by_steps
'''


def test_bench_reports_a_mode_whose_process_dies_and_finishes_the_others(tmp_path):
    """Modes take turns in their own processes (bench.interleave): one that dies mid-run is one error line,
    the rounds go on without it, and the others' figures still print."""
    (tmp_path / "dying_modes.py").write_text(DYING_MODE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-m", "shared.suite.cli", "bench", "--quick", "--frameworks", "dying_modes"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "take turns, one process at a time: 6 rounds" in proc.stdout
    assert "round 6/6" in proc.stdout and "dying_modes steps" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("dying_modes ")]
    assert [(r[0], r[1]) for r in rows] == [("dying_modes", "steps")] and float(rows[0][3]) > 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: dying_modes dies: worker exited 3: no output"], proc.stderr[-2000:]


def test_a_bench_process_stays_idle_until_the_coordinator_closes_it(tmp_path):
    """A mode's process that has sent its result stays, idle, until every mode is timed: leaving at once
    tore its framework down (1-1.5 s) beside the next modes' timed turns, and the last round ran at half speed."""
    from shared.suite.bench import Session
    session = Session("pytorch", "eager", {"batches": [64], "threads": 1, "iterations": 5, "repeats": 2,
                                           "device": "cpu"}, str(tmp_path))
    try:
        kinds = []
        while not kinds or kinds[-1] == "turn over":
            kinds.append(session.turn()[0])
        assert kinds == ["turn over"] * 2 + ["result"]  # setup and warm-up, the first repeat; the last one's result
        with pytest.raises(subprocess.TimeoutExpired):
            session.process.wait(timeout=5)
    finally:
        session.close()
    assert session.process.returncode == 0
