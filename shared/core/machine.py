"""What kind of CPU a figure was measured on: speeds and even float32 rounding differ between the project's
machine kinds (AVX-512 Zen 5, AVX2-only EPYC), so every committed figure names it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# Widest vector ISA first: the first one the CPU has is the one its fp32 / bf16 kernels can use.
ISAS = [("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2")]


def _cpuinfo(field: str) -> str:
    """The first value of `field` in /proc/cpuinfo ('' where it cannot be read: not Linux, no such field)."""
    try:
        return next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith(field)).split(":", 1)[1].strip()
    except (OSError, StopIteration, IndexError):
        return ""


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo), empty where they cannot be read."""
    return set(_cpuinfo("flags").split())


def cpu_isa() -> str:
    flags = cpu_flags()
    return next((name for flag, name in ISAS if flag in flags), platform.machine())


def cpu_kind() -> str:
    """e.g. 'AMD EPYC, AVX2, 2 cores'."""
    return f"{cpu_model()}, {cpu_isa()}, {os.cpu_count()} cores"


# ---------------------------------------------------------------------------------------------------
# MKL on AMD CPUs with AVX-512
# ---------------------------------------------------------------------------------------------------
# PyTorch's CPU wheels link Intel's oneMKL for fp32/fp64 matrix multiplies. MKL picks its kernels by asking
# whether the CPU is an Intel one (mkl_serv_intel_cpu_true) and, on any other vendor, takes its AVX2 path, even
# on AMD Zen 4/5 which run AVX-512: measured on a Zen 5 (2026-12-01, one thread), a [64, 784] x [784, 512]
# sgemm ran at 98 GFLOP/s through MKL against 150 through TensorFlow's oneDNN, and at 249 through MKL with its
# vendor check answering yes. The kernels are the same fp32 code MKL runs on Intel's AVX-512 CPUs
# (tests/test_precision.py compares every fp32 mode with float64 on the CPU it runs on).
# MKL caches its choice at its first multiply, so this must run before the process's first torch matmul.
MKL_VENDOR_CHECK = "mkl_serv_intel_cpu_true"
KEEP_MKL_DISPATCH = "WGAN_SUITE_KEEP_MKL_DISPATCH"   # =1: leave MKL's choice alone (for comparisons)
_mkl_state: str | None = None


def mkl_avx512_on_amd() -> str:
    """On Linux x86-64 with an AMD CPU that has AVX-512, make torch's MKL take its AVX-512 kernels by patching
    its vendor check to answer 'Intel' (6 bytes: mov eax, 1; ret), in this process only. Returns what happened:
    'patched', 'not needed' (Intel, no AVX-512, not Linux x86-64, or torch without MKL), 'kept' (KEEP_MKL_DISPATCH
    set) or 'refused: WHY' (the code page could not be made writable: the process runs on MKL's AVX2 path)."""
    global _mkl_state
    if _mkl_state is not None:
        return _mkl_state
    _mkl_state = _patch_mkl_vendor_check()
    return _mkl_state


def _patch_mkl_vendor_check() -> str:
    import ctypes

    if os.environ.get(KEEP_MKL_DISPATCH) == "1":
        return "kept"
    if platform.system() != "Linux" or platform.machine() != "x86_64" or "avx512f" not in cpu_flags():
        return "not needed"
    if _cpuinfo("vendor_id") != "AuthenticAMD":
        return "not needed"
    import importlib.util
    torch = importlib.util.find_spec("torch")   # the caller has imported it; the harness itself never does
    if torch is None or torch.origin is None:
        return "not needed"
    library = Path(torch.origin).parent / "lib" / "libtorch_cpu.so"
    try:
        check = getattr(ctypes.CDLL(str(library)), MKL_VENDOR_CHECK)
    except (OSError, AttributeError):
        return "not needed"   # a torch build without MKL inside (e.g. OpenBLAS on aarch64 or conda's)
    address = ctypes.cast(check, ctypes.c_void_p).value
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = address & ~(os.sysconf("SC_PAGE_SIZE") - 1)
    read, write, execute = 1, 2, 4
    if libc.mprotect(page, 2 * os.sysconf("SC_PAGE_SIZE"), read | write | execute) != 0:
        return f"refused: {os.strerror(ctypes.get_errno())}"
    ctypes.memmove(address, b"\xb8\x01\x00\x00\x00\xc3", 6)   # mov eax, 1; ret
    libc.mprotect(page, 2 * os.sysconf("SC_PAGE_SIZE"), read | execute)
    return "patched"
