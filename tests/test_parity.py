"""wgan-suite parity, shortened: every check passes on the real implementations, and a deliberately
broken one (LeakyReLU slope 0.3 in TensorFlow) is caught by name, with the step and parameter where it parts."""

import pytest

from shared.suite.parity import ParityConfig, format_table, lockstep_specs, parse_perturb, run_parity
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
    config = short_config(frameworks=["pytorch", "tensorflow", "keras"],
                          perturb=parse_perturb(["tensorflow:leaky_slope=0.3"]))
    checks = run_parity(config, data, progress=lambda _: None)
    failed = {(c.framework, c.check) for c in checks if c.status == "FAIL"}
    assert failed and {fw for fw, _ in failed} == {"tensorflow"}, format_table(checks)
    assert ("tensorflow", "forward float64") in failed and ("tensorflow", "golden losses") not in failed
    table = format_table(checks)
    assert "Where they part:" in table and "first parts at critic step 0" in table
    assert "parameter critic." in table or "parameter generator." in table
