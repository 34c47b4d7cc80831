"""Installing the project where learners are: which torch build, which TensorFlow package, and whether the
dependency set resolves for other platforms. Standard library only (plus `packaging`, which pip itself
vendors), so `make setup` can run it with the new venv's Python before anything else is installed.

    python -m shared.suite.install torch     install the torch build the Makefile asks for; one line says which
    python -m shared.suite.install summary   one line: the installed framework versions and torch's build
    python -m shared.suite.install resolve [PLATFORM ...] [--extras all,test]
                                       resolve pyproject's dependencies (with constraints.txt) for each
                                       platform without installing anything; exit 1 if one does not resolve

Why torch needs care: PyPI's torch for Linux (x86-64 and aarch64) is a CUDA build (several GB of nvidia-* wheels);
the CPU build lives on PyTorch's own index. macOS and Linux aarch64 wheels on PyPI are CPU builds already.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from shared.core.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_TIMEOUT_S = 4           # the CPU index answers in well under a second where it is reachable
RESOLVE_TIMEOUT_S = 600       # metadata for ~70 packages per platform; measured 20-60 s with PyPI reachable
PYTHON_VERSION = "3.11"       # the version the lock file was measured with


# --- torch: which build ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TorchPlan:
    spec: str                  # e.g. "torch==2.13.0"
    extra_index: str | None    # an extra index to offer pip (the CPU index), or None
    why: str                   # one phrase for the setup log


def _reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def torch_plan(spec: str, index: str, gpu: bool, system: str | None = None, machine: str | None = None,
               reachable=_reachable) -> TorchPlan:
    """What to install for torch. index: "auto" (the CPU index where PyPI's default is a CUDA build and the
    CPU index answers), "pypi" (whatever the configured index gives), or an index URL to add."""
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    if gpu:
        return TorchPlan(spec, None, "GPU=1: the configured index's build (CUDA on Linux x86-64)")
    if index == "pypi":
        return TorchPlan(spec, None, "TORCH_INDEX=pypi: the configured index's build")
    if index != "auto":
        if not re.match(r"^(https?|file)://", index):
            raise UserError(f"TORCH_INDEX={index!r} is neither auto, pypi nor an index URL; "
                            f"fix: e.g. TORCH_INDEX={CPU_INDEX}")
        return TorchPlan(spec, index, f"TORCH_INDEX: from {index}")
    if system != "Linux":
        # macOS (arm64) and Windows: PyPI's wheels hold no CUDA libraries.
        return TorchPlan(spec, None, f"{system} {machine}: PyPI's wheel is the CPU build")
    # Linux, x86-64 AND aarch64: PyPI's torch 2.13.0 is a CUDA build on both (resolved here: aarch64 pulls
    # 19 nvidia-*/cuda-* wheels too). The CPU builds are on PyTorch's own index.
    if reachable(f"{CPU_INDEX}/torch/"):
        # An EXTRA index: pip still sees PyPI, and 2.13.0+cpu sorts above 2.13.0 (a local version label).
        return TorchPlan(spec, CPU_INDEX, f"Linux {machine}: the CPU build from PyTorch's CPU index")
    return TorchPlan(spec, None, f"Linux {machine}, PyTorch's CPU index unreachable: the configured index's "
                                 "wheel (a CPU build only where one is found first, as on the project's machines)")


def _installed(name: str) -> str | None:
    import importlib.metadata
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def torch_build() -> str:
    """'2.13.0+cpu (CPU build)', '2.13.0 (CUDA build, 19 nvidia-*/cuda-* packages)' or '2.13.0 (CPU build)'."""
    import importlib.metadata
    version = _installed("torch")
    if version is None:
        return "not installed"
    nvidia = sorted({d.metadata["Name"] for d in importlib.metadata.distributions()
                     if (d.metadata["Name"] or "").lower().startswith(("nvidia-", "cuda-"))})
    if nvidia or "+cu" in version:
        return f"{version} (CUDA build, {len(nvidia)} nvidia-*/cuda-* packages)"
    return f"{version} (CPU build)"


def install_torch(spec: str, index: str, gpu: bool, constraints: Path = CONSTRAINTS) -> None:
    plan = torch_plan(spec, index, gpu)
    print(f"setup: {plan.spec} — {plan.why}", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "-qq", plan.spec]
    if constraints.exists():
        cmd += ["-c", str(constraints)]
    if plan.extra_index:
        cmd += ["--extra-index-url", plan.extra_index]
    _pip(cmd)
    build = torch_build()   # the summary line after the full install names it; here only a surprise is said
    if "CUDA" in build and not gpu:
        print(f"setup: that is a CUDA build (several GB) though GPU is not set; for the CPU one: "
              f"make clean-venv && make setup TORCH_INDEX={CPU_INDEX}", flush=True)


def _pip(cmd: list[str]) -> None:
    """Run pip; its errors (already on stderr) become one exit status here, not a traceback."""
    if subprocess.run(cmd).returncode != 0:
        raise UserError(f"pip failed: {' '.join(cmd[1:])}")


def summary() -> str:
    parts = [f"torch {torch_build()}" if _installed("torch") else None]
    for name in ("tensorflow-cpu", "tensorflow", "keras", "jax", "tensorboard", "numpy"):
        if _installed(name):
            parts.append(f"{name} {_installed(name)}")
    return "setup: installed " + ", ".join(p for p in parts if p)


# --- resolving for other platforms ------------------------------------------------------------------------

@dataclass(frozen=True)
class Platform:
    name: str
    markers: dict[str, str]    # PEP 508 marker environment of that platform (Python 3.11)
    pip_platforms: tuple[str, ...]   # pip --platform tags (pip expands macOS versions itself, not manylinux)


def _marker_env(system: str, sys_platform: str, machine: str, os_name: str = "posix") -> dict[str, str]:
    return {"implementation_name": "cpython", "implementation_version": f"{PYTHON_VERSION}.7", "os_name": os_name,
            "platform_machine": machine, "platform_python_implementation": "CPython", "platform_release": "",
            "platform_system": system, "platform_version": "", "python_full_version": f"{PYTHON_VERSION}.7",
            "python_version": PYTHON_VERSION, "sys_platform": sys_platform}


def _manylinux(arch: str) -> tuple[str, ...]:
    # glibc 2.17 (manylinux2014) .. 2.35 (Ubuntu 22.04): wheels tagged for any of these run there.
    return tuple(f"manylinux_2_{minor}_{arch}" for minor in range(35, 16, -1)) + (f"manylinux2014_{arch}",)


PLATFORMS = {
    "linux-x86_64": Platform("linux-x86_64", _marker_env("Linux", "linux", "x86_64"), _manylinux("x86_64")),
    "linux-aarch64": Platform("linux-aarch64", _marker_env("Linux", "linux", "aarch64"), _manylinux("aarch64")),
    "macos-arm64": Platform("macos-arm64", _marker_env("Darwin", "darwin", "arm64"), ("macosx_14_0_arm64",)),
    "windows-amd64": Platform("windows-amd64", _marker_env("Windows", "win32", "AMD64", "nt"), ("win_amd64",)),
}
CI_PLATFORMS = ("linux-x86_64", "linux-aarch64", "macos-arm64")   # what tests/test_platforms.py proves


def _packaging():
    try:
        from packaging.markers import Marker  # noqa: F401
        from packaging.requirements import Requirement
        return Requirement
    except ImportError:   # pip vendors it: present wherever pip is
        from pip._vendor.packaging.requirements import Requirement
        return Requirement


def requirements_for(target: str, extras: tuple[str, ...], pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """pyproject's dependencies plus `extras`, markers evaluated for `target` (not for this machine: pip
    would evaluate them for the platform it runs on), as marker-free requirement strings."""
    import tomllib
    if target not in PLATFORMS:
        raise UserError(f"unknown platform {target!r}; choose from {', '.join(PLATFORMS)}")
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise UserError(f"unknown extra(s) {', '.join(unknown)}; pyproject.toml has {', '.join(optional)}")
    Requirement = _packaging()
    out: list[str] = []
    for line in list(project.get("dependencies", [])) + [r for e in extras for r in optional[e]]:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({**PLATFORMS[target].markers, "extra": ""}):
            continue
        req.marker = None
        if str(req) not in out:
            out.append(str(req))
    return out


@dataclass(frozen=True)
class Resolution:
    platform: str
    ok: bool
    installs: dict[str, str]   # name -> version pip would install (ok only)
    error: str                 # pip's first ERROR line (not ok only)
    seconds: float


# pip evaluates the environment markers of DEPENDENCIES (torch's `cuda-bindings; platform_system == "Linux"`)
# for the machine it runs on, whatever --platform says: resolving for macOS on Linux would ask for CUDA wheels
# for macOS and fail. So pip runs with its marker environment replaced by the target's. That is pip's
# vendored packaging.markers.default_environment, which Marker.evaluate reads at call time; pip's internals
# are not a public API, and a pip that stops honouring this patch makes the wrong-platform test below fail.
_PIP_AS_TARGET = """
import json, sys
import pip._vendor.packaging.markers as markers
target = json.loads(sys.argv[1])
markers.default_environment = lambda: dict(target)
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def resolve(target: str, requirements: list[str], constraints: Path | None = CONSTRAINTS) -> Resolution:
    """Ask pip which wheels it would install for `target` (binary wheels only, Python 3.11), installing
    nothing: `pip install --dry-run --only-binary=:all: --platform ...`. Fails where a requirement has no
    wheel for that platform."""
    plat = PLATFORMS[target]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wgan-resolve-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-c", _PIP_AS_TARGET, json.dumps(plat.markers), "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
               "--python-version", PYTHON_VERSION, "--implementation", "cp", "--target", str(Path(tmp) / "target"),
               "--report", str(report), "--quiet", "--disable-pip-version-check", "--no-input"]
        for tag in plat.pip_platforms:
            cmd += ["--platform", tag]
        if constraints is not None:
            cmd += ["-c", str(constraints)]
        try:
            out = subprocess.run(cmd + requirements, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return Resolution(target, False, {}, f"pip did not finish in {RESOLVE_TIMEOUT_S} s",
                              time.perf_counter() - start)
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            # pip also prints "ERROR: Ignored the following versions ..." (Requires-Python notes): not the cause.
            errors = [line for line in out.stderr.splitlines()
                      if line.startswith("ERROR") and not line.startswith("ERROR: Ignored the following")]
            return Resolution(target, False, {}, (errors or [out.stderr.strip()[-300:] or "pip failed"])[0], seconds)
        installs = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                    for item in json.loads(report.read_text())["install"]}
        return Resolution(target, True, installs, "", seconds)


def _main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("torch", "summary", "resolve"):
        raise UserError("usage: python -m shared.suite.install torch | summary | resolve [PLATFORM ...] [--extras E,F]")
    if argv[0] == "torch":
        install_torch(os.environ.get("TORCH_SPEC", "torch==2.13.0"), os.environ.get("TORCH_INDEX", "auto"),
                      os.environ.get("GPU", "") not in ("", "0"))
        return 0
    if argv[0] == "summary":
        print(summary())
        return 0
    args, extras = argv[1:], ("all", "test")
    if "--extras" in args:
        i = args.index("--extras")
        if i + 1 >= len(args):
            raise UserError("--extras needs a value, e.g. --extras all,test")
        extras = tuple(e for e in args[i + 1].split(",") if e)
        args = args[:i] + args[i + 2:]
    failed = 0
    for target in args or CI_PLATFORMS:
        res = resolve(target, requirements_for(target, extras))
        if res.ok:
            tf = next((f"{n} {v}" for n, v in res.installs.items() if n.startswith("tensorflow")), "no tensorflow")
            print(f"{target}: resolves, {len(res.installs)} wheels ({tf}, torch {res.installs.get('torch', '-')}) "
                  f"in {res.seconds:.0f} s")
        else:
            failed += 1
            print(f"{target}: DOES NOT RESOLVE ({res.error}) in {res.seconds:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(_main(sys.argv[1:]))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
