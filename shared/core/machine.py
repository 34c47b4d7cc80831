"""What kind of CPU a figure was measured on: speeds and even float32 rounding differ between the project's
machine kinds (AVX-512 Zen 5, AVX2-only EPYC), so every committed figure names it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# Widest vector ISA first: the first one the CPU has is the one its fp32 / bf16 kernels can use.
ISAS = [("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2")]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo), empty where they cannot be read."""
    try:
        return set(next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                        if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        return set()


def cpu_isa() -> str:
    flags = cpu_flags()
    return next((name for flag, name in ISAS if flag in flags), platform.machine())


def cpu_kind() -> str:
    """e.g. 'AMD EPYC, AVX2, 2 cores'."""
    return f"{cpu_model()}, {cpu_isa()}, {os.cpu_count()} cores"
