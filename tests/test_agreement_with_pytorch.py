"""TensorFlow and Keras-on-TensorFlow against PyTorch, in-process: forward outputs from transplanted
weights, and a float64 lockstep over 50 critic steps for both presets and both eps placements.
(`wgan-suite parity` runs the long versions, each framework in its own process.)"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("torch", reason="PyTorch is the reference: pip install -e '.[pytorch]'")
pytest.importorskip("tensorflow", reason="pip install -e '.[tensorflow]'")
pytest.importorskip("keras", reason="pip install -e '.[keras]'")

from helpers import max_diff, with_random_batchnorm  # noqa: E402
from shared.core.params import init_params  # noqa: E402
from shared.core.protocol import CRITIC_RECORD, GENERATOR_RECORD, build  # noqa: E402
from shared.core.spec import get_preset  # noqa: E402
from shared.core.streams import Streams, rng  # noqa: E402

FRAMEWORKS = ["tensorflow", "keras"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("preset", ["tutorial", "corrected"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_forward_agrees_with_pytorch(framework, preset, dtype):
    spec = get_preset(preset).replace(dtype=dtype)
    params = with_random_batchnorm(spec, init_params(spec))
    ours, ref = build(framework, spec, params, threads=1), build("pytorch", spec, params, threads=1)
    gen = rng(0, "misc", 4)
    z = gen.standard_normal((64, spec.latent_dim)).astype(dtype)
    x = gen.uniform(-1, 1, (64, spec.data_dim)).astype(dtype)

    def close(a, b, what):
        diff = float(np.max(np.abs(a - b)))
        limit = 1e-12 if dtype == "float64" else 1e-5 * float(np.max(np.abs(b)))
        assert diff <= limit, f"{what}: max diff {diff:.3g} (>= {limit:.3g})"

    close(ours.critic_scores(x), ref.critic_scores(x), "critic scores")
    before = ours.get_params()
    close(ours.generate(z), ref.generate(z), "eval-mode generator")
    assert max_diff(ours.get_params(), before)[0] == 0.0, "eval mode must not move the moving statistics"
    close(ours.generate(z, training=True), ref.generate(z, training=True), "train-mode generator")
    assert max_diff(ours.get_params(), before)[0] > 0, "train mode must update the moving statistics"
    ours_params, ref_params = ours.get_params(), ref.get_params()
    for name in ours_params:
        close(ours_params[name], ref_params[name], f"{name} after a train-mode forward")


@pytest.mark.parametrize("placement", ["outside", "inside"])
@pytest.mark.parametrize("preset", ["tutorial", "corrected"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_float64_lockstep_with_pytorch(framework, preset, placement, random_images):
    """10 generator iterations from the same start on the same inputs (480 samples: epochs of 7 full batches
    and one of 32, as MNIST's last, so the tutorial's schedule crosses epoch ends and trains on the partial batch)."""
    spec = get_preset(preset).replace(dtype="float64", rms_eps_placement=placement)
    params = init_params(spec)
    ours, ref = build(framework, spec, params, threads=1), build("pytorch", spec, params, threads=1)
    streams = Streams(random_images[:480], spec)
    for t in range(streams.schedule.generator_after(9) + 1):
        real, z = streams.real_batch(t), streams.critic_z(t)
        records = [(ours.critic_step(real, z), ref.critic_step(real, z), CRITIC_RECORD)]
        if streams.schedule.generator_follows(t):
            z = streams.generator_z(t)
            records.append((ours.generator_step(z), ref.generator_step(z), GENERATOR_RECORD))
        for got, want, keys in records:
            assert tuple(got) == keys
            for k in keys:
                assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-15), f"step {t} {k}: {got[k]} vs {want[k]}"
    diff, name = max_diff(ours.get_params(), ref.get_params())
    assert diff <= 1e-10, f"parameters: {name}: max diff {diff:.3g} (>= 1e-10)"
    diff, name = max_diff(ours.get_optimizer_state(), ref.get_optimizer_state())
    assert diff <= 1e-10, f"optimizer state: {name}: max diff {diff:.3g} (>= 1e-10)"
    assert max_diff(ours.get_params(), params)[0] > 1e-4, "training must have moved the parameters"
