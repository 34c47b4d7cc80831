"""Checking your own implementation (docs/own-implementation.md): a module outside this project that
exposes the contract is run by parity and compare like a built-in framework; the same file with one planted
porting bug fails parity with the checks that caught it named; an incomplete module is a one-line error.
(tests/test_contract.py also runs every contract test on examples/torch_wgan.py.)"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="examples/torch_wgan.py is a PyTorch implementation: pip install -e '.[pytorch]'")

ROOT = Path(__file__).resolve().parents[1]


def wgan_suite(*args: str, cwd: Path = ROOT, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.suite.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def parity_table(stdout: str) -> dict[str, dict[str, str]]:
    """framework -> {check: PASS/FAIL/info/—} from parity's table (fixed-width columns after the tolerance)."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("check") and "tolerance" in line)
    header = lines[at]
    frameworks = header.split()[2:]
    first = header.index("tolerance") + len("tolerance") + 2
    col = (len(header) - first) // len(frameworks)
    table: dict[str, dict[str, str]] = {fw: {} for fw in frameworks}
    for line in lines[at + 1:]:
        if not line.strip():
            break
        check = line[:header.index("tolerance")].strip()
        for k, fw in enumerate(frameworks):
            table[fw][check] = line[first + k * col:first + (k + 1) * col].split()[-1]
    return table


@pytest.mark.slow
def test_parity_passes_the_example_and_names_the_checks_that_catch_the_planted_bug():
    # the lockstep runs this test reads (the others are the same code path on other presets: tests/test_parity.py)
    proc = wgan_suite("parity", "--quick", "--iterations", "8", "--frameworks", "examples.torch_wgan",
                      "examples.torch_wgan_buggy", "--lockstep", "tutorial/eps-outside", "corrected/eps-outside",
                      "wgan-gp", "gan")
    assert proc.returncode == 1, proc.stderr[-2000:]  # the buggy one fails
    table = parity_table(proc.stdout)
    good, buggy = table["examples.torch_wgan"], table["examples.torch_wgan_buggy"]
    assert len(good) >= 20 and "lockstep tutorial/eps-outside params" in good
    assert good and all(status in ("PASS", "info", "—") for status in good.values()), good
    caught = sorted(check for check, status in buggy.items() if status == "FAIL")
    # clipping biases matters only where there is clipping: the clipped presets fail, wgan-gp and gan pass
    assert "lockstep corrected/eps-outside params" in caught and "teacher float32 params" in caught, caught
    assert buggy["lockstep wgan-gp params"] == "PASS" and buggy["lockstep gan params"] == "PASS"
    assert "Where they part" in proc.stdout


@pytest.mark.slow
def test_compare_runs_a_users_module_beside_pytorch(tmp_path):
    out = tmp_path / "own"
    proc = wgan_suite("compare", "--frameworks", "pytorch", "examples.torch_wgan", "--iterations", "20",
                      "--threads", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["failures"] and summary["frameworks"] == ["pytorch", "examples.torch_wgan"]
    rows = [r for r in summary["agreement"] if r["framework"] == "examples.torch_wgan"]
    assert rows and not [r for r in rows if r["passed"] is False]
    assert next(r for r in rows if r["statistic"] == "lockstep")["passed"]  # in lockstep with PyTorch
    assert (out / "runs" / "examples.torch_wgan-s0" / "metrics.jsonl").exists()


INCOMPLETE = textwrap.dedent('''
    from examples import torch_wgan

    class WGAN(torch_wgan.WGAN):
        set_optimizer_state = None   # forgot this part of the contract

    def build_wgan(spec, params=None, device="cpu"):
        return WGAN(spec, params, device)
''')


@pytest.mark.parametrize("module, source, message", [
    ("lacks_a_method", INCOMPLETE, "lacks_a_method: the object build_wgan returns lacks set_optimizer_state"),
    ("no_builder", "x = 1\n", "no_builder has no build_wgan(spec, params=None, device='cpu')"),
    ("not_there", None, "unknown framework 'not_there': not one of pytorch"),
    ("broken", "import nonexistent_dependency_xyz\n", "broken cannot import nonexistent_dependency_xyz"),
])
def test_an_incomplete_module_is_one_line_naming_what_is_missing(tmp_path, module, source, message):
    if source is not None:
        (tmp_path / f"{module}.py").write_text(source)
    proc = wgan_suite("train", "--framework", module, "--iterations", "1", "--dataset", "8gaussians",
                      "--out", str(tmp_path / "run"), cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "run").exists(), "nothing is written when the module is unusable"


def test_build_tells_set_threads_the_mode_only_where_it_takes_one(monkeypatch):
    """set_threads(n, mode=None) hears the execution mode (TensorFlow's XLA wants its pools otherwise); a
    user's set_threads(n) is called as before."""
    import types

    from shared.core import protocol
    calls = []
    plain = types.SimpleNamespace(set_threads=lambda n: calls.append(("plain", n)), build_wgan=lambda spec, **kw: None)
    with_mode = types.SimpleNamespace(set_threads=lambda n, mode=None: calls.append(("mode", n, mode)),
                                      build_wgan=lambda spec, **kw: None)
    for module in (plain, with_mode):
        monkeypatch.setattr(protocol, "load_implementation", lambda framework, module=module: module)
        monkeypatch.setattr(protocol, "is_builtin", lambda framework: True)
        protocol.build("pytorch", None, threads=2, mode="xla")
        protocol.build("pytorch", None, threads=2)
    assert calls == [("plain", 2), ("plain", 2), ("mode", 2, "xla"), ("mode", 2, None)]
