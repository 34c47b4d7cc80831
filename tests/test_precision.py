"""Every execution mode that claims fp32 computes in fp32 on the CPU this runs on.

`wgan-suite bench` compares modes by speed, and a mode that quietly rounds its matmuls to bf16 would
win unfairly (oneDNN does where `fp32_precision = "bf16"` meets bf16 hardware). So each mode trains one
G-it from fixed weights and inputs, and its scores are compared with a float64 run of the same G-it
(PyTorch eager, which agrees with the others to 1e-12 in float64). The bf16 mode is the control: it must
fail the same bound, so the check can tell the two apart on this machine.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.core.protocol import installed_frameworks
from shared.suite.bench import BF16_MODES, FP32_RELATIVE_ERROR_BOUND, precision_error
from shared.suite.parity import run_worker

FRAMEWORKS = ("pytorch", "tensorflow", "keras", "keras:torch", "keras:jax")


def probe(framework: str, dtype: str = "float32") -> dict:
    """{mode: probe} for every mode the framework declares, in one fresh process."""
    got = run_worker(framework, {"p": {"task": "bench", "precision": True, "dtype": dtype}})
    assert "error" not in got["p"], got["p"]
    return got["p"]


@pytest.fixture(scope="module")
def probes() -> dict:
    frameworks = installed_frameworks(FRAMEWORKS)
    if "pytorch" not in frameworks:
        pytest.skip("the float64 reference and the bf16 control are PyTorch's: install the torch extra")
    with ThreadPoolExecutor(2) as pool:  # one process per framework, two at a time
        reference = pool.submit(run_worker, "pytorch", {"r": {"task": "bench", "precision": True, "modes": ["eager"],
                                                                "dtype": "float64"}})
        found = dict(zip(frameworks, pool.map(probe, frameworks)))
    return {"reference": reference.result()["r"]["eager"], "modes": found}


def test_fp32_modes_compute_in_fp32_and_the_bf16_control_does_not(probes):
    reference, errors, refused = probes["reference"], {}, {}
    for framework, modes in probes["modes"].items():
        for mode, got in modes.items():
            if "error" in got:  # a mode may refuse this machine, with the error it measured
                refused[framework, mode] = got["error"]
                continue
            errors[framework, mode] = precision_error(got, reference)
    assert ("pytorch", "eager") in errors
    for (framework, mode), reason in refused.items():
        assert (framework, mode) == ("pytorch", "onednn") and "computes fp32 matmuls in bf16" in reason, reason
    fp32 = {key: e for key, e in errors.items() if key not in BF16_MODES}
    too_far = {f"{fw} {mode}": f"{e:.1e}" for (fw, mode), e in fp32.items() if e > FP32_RELATIVE_ERROR_BOUND}
    assert not too_far, f"modes that claim fp32 but are bf16-sized off float64 (bound {FP32_RELATIVE_ERROR_BOUND}): {too_far}"
    assert all(errors[key] > 10 * FP32_RELATIVE_ERROR_BOUND for key in BF16_MODES), errors  # the control
