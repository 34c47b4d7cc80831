"""The WGAN-GP paper's 2-D toy presets (toy-wgan, toy-wgan-gp, toy-gan): what the spec says they are, that
every framework builds those networks (no BatchNorm, ReLU, an unbounded linear output), and float64 lockstep
with PyTorch on 8gaussians, loss by loss and parameter by parameter."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import lockstep_with_pytorch  # noqa: E402
from shared.core.data import toy_dataset  # noqa: E402
from shared.core.params import init_params, param_shapes  # noqa: E402
from shared.core.protocol import build  # noqa: E402
from shared.core.spec import CORRECTED, get_preset  # noqa: E402

TOYS = ["toy-wgan", "toy-wgan-gp", "toy-gan"]


def test_toy_presets_are_the_papers_setup():
    wgan, gp, gan = (get_preset(name) for name in TOYS)
    for spec in (wgan, gp, gan):
        assert (spec.latent_dim, spec.generator_hidden, spec.critic_hidden, spec.leaky_slope, spec.batch_size) == \
            (2, (512, 512, 512), (512, 512, 512), 0.0, 256)
        assert not spec.generator_batch_norm and spec.generator_output == "linear"
        # the corrected schedule: n_critic critic steps on fresh batches, then one generator step on fresh z
        assert (spec.generator_step_at, spec.counter_restarts_each_epoch, spec.generator_reuses_z) == ("last", False, False)
    assert (wgan.variant, wgan.lr, wgan.clip_value, wgan.rms_decay, wgan.rms_eps, wgan.rms_eps_placement,
            wgan.rms_initial_mean_square) == ("wgan", 5e-5, 0.01, 0.9, 1e-10, "inside", 1.0)   # TF1's RMSProp
    assert (gp.variant, gp.optimizer, gp.lr, gp.adam_beta1, gp.adam_beta2, gp.gp_weight, gp.n_critic) == \
        ("wgan-gp", "adam", 1e-4, 0.5, 0.9, 0.1, 5)
    assert (gan.variant, gan.n_critic) == ("gan", 1)
    assert not any(".bn" in name for name in param_shapes(gp))           # no BatchNorm parameters at all
    assert CORRECTED.generator_batch_norm and CORRECTED.generator_output == "tanh"   # MNIST presets unchanged


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow", "keras"])
def test_every_framework_builds_an_unbounded_relu_generator(framework):
    spec = get_preset("toy-wgan-gp")
    params = init_params(spec)
    # scale the output layer up: a tanh (or a BatchNorm) would keep |x| <= 1 or standardise it
    params["generator.dense3.kernel"] = params["generator.dense3.kernel"] * 50
    wgan = build(framework, spec, params, threads=1)
    z = np.random.default_rng(0).standard_normal((256, 2)).astype(np.float32)
    x = wgan.generate(z)
    assert x.shape == (256, 2) and np.abs(x).max() > 1.5
    h = np.maximum(z @ params["generator.dense0.kernel"] + params["generator.dense0.bias"], 0)   # ReLU, slope 0
    for k in (1, 2):
        h = np.maximum(h @ params[f"generator.dense{k}.kernel"] + params[f"generator.dense{k}.bias"], 0)
    expected = h @ params["generator.dense3.kernel"] + params["generator.dense3.bias"]
    assert np.abs(x - expected).max() < 1e-4 * np.abs(expected).max()


@pytest.mark.parametrize("framework", ["tensorflow", "keras"])
@pytest.mark.parametrize("preset", TOYS)
def test_toy_float64_lockstep_with_pytorch(framework, preset):
    """10 critic steps (and their generator steps) on 8gaussians in float64: every loss and parameter."""
    lockstep_with_pytorch(framework, get_preset(preset).replace(dtype="float64"), toy_dataset("8gaussians", n=2048)[0],
                          critic_steps=10)
