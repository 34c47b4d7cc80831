"""Installs where learners are (#18): pyproject's markers pick the TensorFlow package per platform, the
Makefile's torch choice, and the whole dependency set (with constraints.txt) resolving for Linux x86-64,
Linux aarch64 and macOS arm64 without installing anything.

The resolving tests ask PyPI for metadata (about 1.5 minutes for the three platforms, CI reaches PyPI);
they are marked slow and still run in CI, since they guard the README's install promise.
"""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shared.suite import install
from shared.core.errors import UserError

ROOT = Path(__file__).resolve().parent.parent


# --- markers: which TensorFlow where ------------------------------------------------------------------

@pytest.mark.parametrize("target, tensorflow", [("linux-x86_64", "tensorflow-cpu"), ("windows-amd64", "tensorflow-cpu"),
                                                ("linux-aarch64", "tensorflow"), ("macos-arm64", "tensorflow")])
@pytest.mark.parametrize("extra", ["tensorflow", "keras", "all"])
def test_every_tensorflow_extra_asks_for_exactly_one_tensorflow_package_per_platform(target, tensorflow, extra):
    names = [r.split(">")[0].split("=")[0].split("[")[0] for r in install.requirements_for(target, (extra,))]
    assert [n for n in names if n.startswith("tensorflow")] == [tensorflow]


def test_gpu_extra_asks_for_cuda_tensorflow_on_linux_x86_64_only_and_never_for_tensorflow_cpu():
    assert "tensorflow[and-cuda]>=2.16" in install.requirements_for("linux-x86_64", ("gpu",))
    for target in ("linux-aarch64", "macos-arm64"):
        reqs = install.requirements_for(target, ("gpu",))
        assert "tensorflow>=2.16" in reqs and not any("cpu" in r or "cuda" in r for r in reqs)


def test_ray_extra_exists_and_stays_out_of_all():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("ray") for r in extras["ray"]) and not any(r.startswith("ray") for r in extras["all"])


def test_constraints_pin_the_versions_the_docs_were_measured_with():
    pins = dict(line.split("#")[0].strip().split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line.split("#")[0])
    assert pins["torch"] == "2.13.0" and pins["tensorflow-cpu"] == pins["tensorflow"] == "2.21.0"
    assert pins["keras"] == "3.15.1"
    # The versions docs/parity.md and docs/metrics.md name beside their figures.
    assert "torch 2.13.0" in (ROOT / "docs" / "parity.md").read_text()
    assert "numpy 2.4.6" in (ROOT / "docs" / "metrics.md").read_text() and pins["numpy"] == "2.4.6"


def test_makefile_installs_with_the_lock_file():
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile and "constraints.txt" in makefile.split("$(VENV)/.installed:")[1].splitlines()[0]


def test_unknown_platform_or_extra_is_one_line():
    with pytest.raises(UserError, match="unknown platform 'plan9'"):
        install.requirements_for("plan9", ("all",))
    with pytest.raises(UserError, match="unknown extra"):
        install.requirements_for("macos-arm64", ("everything",))


# --- torch: which build -----------------------------------------------------------------------------------

def test_torch_plan_uses_the_cpu_index_on_linux_only_when_it_answers():
    up, down = (lambda url: True), (lambda url: False)
    for machine in ("x86_64", "aarch64"):   # PyPI's torch 2.13.0 is a CUDA build on both
        assert install.torch_plan("torch==2.13.0", "auto", False, "Linux", machine, up).extra_index == install.CPU_INDEX
        fallback = install.torch_plan("torch==2.13.0", "auto", False, "Linux", machine, down)
        assert fallback.extra_index is None and "unreachable" in fallback.why
    mac = install.torch_plan("torch==2.13.0", "auto", False, "Darwin", "arm64", up)
    assert mac.extra_index is None and "CPU build" in mac.why
    assert install.torch_plan("torch==2.13.0", "auto", True, "Linux", "x86_64", up).extra_index is None   # GPU=1
    assert install.torch_plan("torch==2.13.0", "pypi", False, "Linux", "x86_64", up).extra_index is None
    with pytest.raises(UserError, match="TORCH_INDEX='cpu' is neither"):
        install.torch_plan("torch==2.13.0", "cpu", False, "Linux", "x86_64", up)


def test_bad_torch_index_from_make_is_one_line_and_exit_2():
    out = subprocess.run([sys.executable, "-m", "shared.suite.install", "torch"], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "TORCH_INDEX": "somewhere"}, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "TORCH_INDEX='somewhere'" in out.stderr


# --- resolving for other platforms (PyPI metadata, nothing installed) --------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("target", install.CI_PLATFORMS)
def test_dependency_set_resolves_for(target):
    res = install.resolve(target, install.requirements_for(target, ("all", "test")))
    assert res.ok, f"{target}: {res.error}"
    tensorflow = "tensorflow-cpu" if target == "linux-x86_64" else "tensorflow"
    # pip's report spells names as the wheel does (tensorflow_cpu); the lock file's versions hold everywhere.
    found = {name.replace("_", "-"): version for name, version in res.installs.items()}
    assert found[tensorflow] == "2.21.0" and found["keras"] == "3.15.1" and found["torch"].startswith("2.13.0")
    assert found["numpy"] == "2.4.6" and "jax" in found


@pytest.mark.slow
def test_resolver_fails_where_a_requirement_has_no_wheel():
    """The check above cannot pass silently: tensorflow-cpu has no macOS arm64 wheel, and must fail there."""
    res = install.resolve("macos-arm64", ["tensorflow-cpu==2.21.0"])
    assert not res.ok and "tensorflow-cpu" in res.error


@pytest.mark.slow
def test_resolver_uses_the_target_platforms_markers_for_dependencies():
    """torch's metadata asks for CUDA wheels under `platform_system == "Linux"`: evaluated for the machine
    running pip (Linux here), macOS would fail for want of cuda-bindings wheels. With the target's markers,
    macOS gets no CUDA package and Linux aarch64 does."""
    mac = install.resolve("macos-arm64", ["torch==2.13.0"])
    assert mac.ok, mac.error
    assert not any(n.startswith(("nvidia", "cuda")) for n in mac.installs)
