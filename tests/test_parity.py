"""wgan-suite parity, shortened: every check passes on the real implementations, and a deliberately
broken one (LeakyReLU slope 0.3 in TensorFlow) is caught by name, with the step and parameter where it parts."""

import subprocess
import sys

import numpy as np
import pytest

from shared.suite.parity import ParityConfig, build_tasks, format_table, lockstep_specs, parse_perturb, run_parity
from shared.core.protocol import installed_frameworks

FRAMEWORKS = ["pytorch", "tensorflow", "keras"]


@pytest.fixture(scope="module")
def data(mnist):
    return mnist.train_x[:1056]


def short_config(**changes):
    # 10 generator iterations per float64 lockstep: for the tutorial's schedule 40 critic steps over 17-batch
    # epochs (16 full batches and one of 32), so it crosses two epoch ends; float32 states at G-it 0, 2, 4.
    return ParityConfig(frameworks=changes.pop("frameworks", FRAMEWORKS), iterations=10,
                        teacher_points=(0, 2, 4), data_samples=1056, **changes)


@pytest.mark.slow
def test_every_check_passes_for_every_installed_framework(data):
    frameworks = FRAMEWORKS + [fw for fw in installed_frameworks(("keras:torch", "keras:jax"))]
    checks = run_parity(short_config(frameworks=frameworks), data, progress=lambda _: None)
    table = format_table(checks)
    failed = [c for c in checks if c.status in ("FAIL", "ERROR")]
    assert not failed, table
    names = {c.check for c in checks}
    assert {"golden losses", "forward float64", "forward float32", "teacher float32 losses",
            "teacher float32 params"} <= names
    assert {f"lockstep {n} params" for n in lockstep_specs()} <= names  # both presets x both eps placements
    assert {c.framework for c in checks} >= set(FRAMEWORKS)
    lockstep = [c for c in checks if c.check.startswith("lockstep") and c.check.endswith("params")]
    assert {c.framework for c in lockstep} == {"tensorflow", "keras"} and max(c.measured for c in lockstep) <= 1e-10


@pytest.mark.slow
def test_a_broken_leaky_relu_is_caught_by_name(data):
    # two frameworks and one lockstep run suffice (the reference and the broken one; the run that locates the
    # first step where they part): every other is checked in the test above
    config = short_config(frameworks=["pytorch", "tensorflow"], perturb=parse_perturb(["tensorflow:leaky_slope=0.3"]),
                          lockstep=("tutorial/eps-outside",))
    checks = run_parity(config, data, progress=lambda _: None)
    failed = {(c.framework, c.check) for c in checks if c.status == "FAIL"}
    assert failed and {fw for fw, _ in failed} == {"tensorflow"}, format_table(checks)
    assert ("tensorflow", "forward float64") in failed and ("tensorflow", "golden losses") not in failed
    table = format_table(checks)
    assert "Where they part:" in table and "first parts at critic step 0" in table
    assert "parameter critic." in table or "parameter generator." in table


def test_float32_tolerances_cover_float32_rounding_and_still_catch_a_slip():
    """The derived tolerance of a float32 forward pass holds for float32 rounding (the critic in float32 against
    float64, relative to the scores' scale), and is far below what a porting slip of 1e-3 in the slope does."""
    from shared.core.params import critic_forward, init_params
    from shared.core.spec import get_preset
    from shared.suite.parity import TOL, float32_tolerance
    spec = get_preset("tutorial")
    params = init_params(spec, 0)
    x = np.random.default_rng(0).uniform(-1, 1, (256, 784))
    exact = critic_forward(params, x, 0.2)
    h = x.astype(np.float32)
    for k in range(3):  # the same critic, every product and sum in float32
        h = h @ params[f"critic.dense{k}.kernel"].astype(np.float32) + params[f"critic.dense{k}.bias"].astype(np.float32)
        if k < 2:
            h = np.where(h > 0, h, np.float32(0.2) * h)
    scale = np.abs(exact).max()
    rounding = np.abs(h[:, 0] - exact).max() / scale
    assert 0 < rounding <= float32_tolerance(depth=3, width=784) <= TOL["forward32"], rounding
    slip = np.abs(critic_forward(params, x, 0.201) - exact).max() / scale
    assert slip > 10 * TOL["forward32"], slip


def test_an_unknown_lockstep_run_is_a_one_line_error_before_any_work():
    proc = subprocess.run([sys.executable, "-m", "shared.suite.cli", "parity", "--lockstep", "tutorial", "wgan-gp"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and not proc.stdout.strip(), proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "wgan-suite: error: --lockstep tutorial: no such lockstep run; choose from " + ", ".join(lockstep_specs())]


def test_the_chosen_lockstep_runs_are_the_only_ones_built(data):
    tasks, _ = build_tasks(short_config(lockstep=("gan", "tutorial/eps-inside")), data)
    assert sorted(k for k in tasks if k.startswith("lockstep/")) == ["lockstep/gan", "lockstep/tutorial/eps-inside"]
    tasks, _ = build_tasks(short_config(), data)
    assert sorted(k for k in tasks if k.startswith("lockstep/")) == sorted(f"lockstep/{n}" for n in lockstep_specs())
