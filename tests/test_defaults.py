"""wgan-suite defaults reads each framework's defaults from the installed packages, and they match the
--native presets (so a native run really is what a port with the framework's defaults would do)."""

import subprocess
import sys

from shared.suite.defaults import FIELDS, _eps_placement, check_against_native, format_table
from shared.suite.parity import run_worker


def test_eps_placement_is_inferred_from_one_measured_step():
    # from v0 = 0, g = 1, lr = 1, eps = 1, decay 0.9: outside 1/(sqrt(0.1)+1) = 0.760, inside 1/sqrt(1.1) = 0.953
    assert _eps_placement(0.760, 1.0, 0.9, 1.0, 0.0, 1.0) == "outside"
    assert _eps_placement(0.953, 1.0, 0.9, 1.0, 0.0, 1.0) == "inside"


def test_values_read_from_the_frameworks_match_the_native_presets():
    values = {fw: run_worker(fw, {"d": {"task": "defaults"}})["d"] for fw in ("pytorch", "tensorflow", "keras")}
    assert all("error" not in v for v in values.values()), values
    assert check_against_native(values) == []
    assert values["pytorch"]["rms_eps_placement"] == "outside" and values["keras"]["rms_eps_placement"] == "inside"
    assert values["pytorch"]["bn_running_var"] == "unbiased" and values["keras"]["bn_running_var"] == "biased"
    assert values["keras"]["leaky_slope"] == 0.3 and values["tensorflow"]["leaky_slope"] == 0.2
    # a wrong preset value would be reported by name
    wrong = {**values, "keras": {**values["keras"], "leaky_slope": 0.25}}
    assert check_against_native(wrong) == ["keras.leaky_slope: installed framework says 0.25, native-keras preset says 0.3"]
    table = format_table(values)
    assert all(name in table for name in FIELDS) and "0.01*" in table


def test_defaults_command_prints_the_table():
    proc = subprocess.run([sys.executable, "-m", "shared.suite.cli", "defaults"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "rms_eps_placement" in proc.stdout and "spec (tutorial)" in proc.stdout
