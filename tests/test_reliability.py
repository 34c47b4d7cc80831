"""Checkpoints, exact resume after a real kill, cross-framework resume, determinism, divergence guards."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from shared.core.params import load_npz, save_npz
from shared.suite.train import CHECKPOINT, load_checkpoint


def train(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "shared.suite.cli", "train", "--threads", "1", "--progress", "none", *args],
                          capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def metrics(run):
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in log.items() if k != "seconds"} for log in logs]


def assert_same_run(a, b):
    pa, pb = load_npz(a / "params_final.npz"), load_npz(b / "params_final.npz")
    assert all(pa[k].tobytes() == pb[k].tobytes() for k in pb)  # bit for bit
    oa, ob = load_npz(a / "optimizer_final.npz"), load_npz(b / "optimizer_final.npz")
    assert all(oa[k].tobytes() == ob[k].tobytes() for k in ob)
    assert metrics(a) == metrics(b)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mnist):
    run = tmp_path_factory.mktemp("full") / "run"
    train("--steps", "200", "--checkpoint-every", "5", "--sample-every", "10", "--out", str(run))
    return run


def start_and_wait(run, min_iteration):
    """Start a 40-G-it run and return the process once its checkpoint has passed `min_iteration`."""
    proc = subprocess.Popen([sys.executable, "-m", "shared.suite.cli", "train", "--threads", "1", "--progress", "none",
                             "--steps", "200", "--checkpoint-every", "5", "--sample-every", "10", "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (run / CHECKPOINT).exists() and load_checkpoint(run)[0]["iteration"] >= min_iteration:
            return proc
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the run never reached its checkpoint")


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run_bit_for_bit(tmp_path, uninterrupted):
    run = tmp_path / "killed"
    proc = start_and_wait(run, 10)
    proc.send_signal(signal.SIGKILL)  # no handler runs: whatever was logged past the checkpoint is stale
    proc.wait()
    meta = load_checkpoint(run)[0]
    assert 10 <= meta["iteration"] < 40
    train("--resume", str(run))
    assert_same_run(run, uninterrupted)
    assert [log["iteration"] for log in metrics(run)] == list(range(40))  # appended, never duplicated or lost
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["resumed"][0]["at"] == meta["iteration"]


@pytest.mark.slow
def test_sigterm_stops_cleanly_with_a_checkpoint_and_resume_matches(tmp_path, uninterrupted):
    run = tmp_path / "stopped"
    proc = start_and_wait(run, 5)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--resume" in stderr
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and load_checkpoint(run)[0]["iteration"] == info["interrupted_at"]
    train("--resume", str(run))
    assert_same_run(run, uninterrupted)


def test_from_reproduces_a_run_bit_for_bit(tmp_path, uninterrupted):
    repro = tmp_path / "repro"
    train("--from", str(uninterrupted), "--out", str(repro))
    assert_same_run(repro, uninterrupted)
    assert json.loads((repro / "spec.json").read_text()) == json.loads((uninterrupted / "spec.json").read_text())


@pytest.fixture(scope="module")
def float64_halfway(tmp_path_factory, mnist):
    """A float64 PyTorch run stopped at G-it 20 (its folder is copied, never changed), and that run continued
    in PyTorch to G-it 40: what every other framework's continuation must match."""
    root = tmp_path_factory.mktemp("cross")
    start, same = root / "start", root / "same"
    train("--steps", "20", "--set", "dtype=float64", "--out", str(start))
    subprocess.run(["cp", "-r", str(start), str(same)], check=True)
    train("--resume", str(same), "--framework", "pytorch", "--steps", "40")
    return start, same


@pytest.mark.slow
@pytest.mark.parametrize("other", ["tensorflow", "keras"])
def test_cross_framework_resume_matches_continuing_in_pytorch(tmp_path, float64_halfway, other):
    start, same = float64_halfway
    cross = tmp_path / "cross"
    subprocess.run(["cp", "-r", str(start), str(cross)], check=True)
    train("--resume", str(cross), "--framework", other, "--steps", "40")
    a, b = load_npz(same / "params_final.npz"), load_npz(cross / "params_final.npz")
    assert max(float(np.max(np.abs(a[k] - b[k]))) for k in a) <= 1e-10
    assert json.loads((cross / "run.json").read_text())["resumed"][0]["framework"] == other


def test_nan_injection_stops_names_step_and_quantity_and_keeps_the_good_checkpoint(tmp_path, mnist):
    run = tmp_path / "run"
    train("--steps", "50", "--checkpoint-every", "5", "--out", str(run))
    # inject: a NaN in one critic weight of the checkpoint at generator iteration 10, then continue
    path = run / CHECKPOINT
    arrays = load_npz(path)
    arrays["param/critic.dense0.kernel"][0, 0] = np.nan
    save_npz(path, arrays)
    before = path.read_bytes()
    proc = train("--resume", str(run), "--steps", "100", check=False)
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    # the tutorial's schedule: generator iteration 10 ends with the generator step after critic step 50
    assert "diverged at generator iteration 10 (critic step 51)" in line and "critic_loss = nan" in line
    assert path.read_bytes() == before  # the last checkpoint is kept, not overwritten by the bad state
    assert json.loads((run / "run.json").read_text())["status"] == "diverged"


def test_exploding_learning_rate_is_caught(tmp_path, mnist):
    proc = train("--steps", "50", "--set", "lr=1e30", "--set", "clip_value=1e30", "--out", str(tmp_path / "r"), check=False)
    assert proc.returncode == 2 and "diverged at generator iteration" in proc.stderr


def test_resume_refuses_another_spec_a_newer_format_and_a_missing_checkpoint(tmp_path, uninterrupted):
    proc = train("--resume", str(uninterrupted), "--set", "lr=1e-4", "--steps", "400", check=False)
    assert proc.returncode == 2 and "different spec (differs in lr)" in proc.stderr
    newer = tmp_path / "newer"
    subprocess.run(["cp", "-r", str(uninterrupted), str(newer)], check=True)
    arrays = load_npz(newer / CHECKPOINT)
    meta = json.loads(arrays["meta"].tobytes())
    arrays["meta"] = np.frombuffer(json.dumps({**meta, "format": 99}).encode(), dtype=np.uint8)
    save_npz(newer / CHECKPOINT, arrays)
    proc = train("--resume", str(newer), "--steps", "400", check=False)
    assert proc.returncode == 2 and "newer than this version reads" in proc.stderr
    proc = train("--resume", str(tmp_path), check=False)
    assert proc.returncode == 2 and "no checkpoint" in proc.stderr
    proc = train("--resume", str(uninterrupted), check=False)
    assert proc.returncode == 2 and "already at generator iteration 40" in proc.stderr
