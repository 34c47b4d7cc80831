"""The two variants the tutorial is measured against — WGAN-GP and the original GAN — in all three
frameworks: golden values, what each variant does and does not do (clipping), float64 lockstep with
PyTorch, Adam's state through a checkpoint across frameworks, and Keras fit() == the contract's steps."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import lockstep_with_pytorch, max_diff  # noqa: E402
from shared.core.errors import UserError  # noqa: E402
from shared.core.params import init_optimizer_state, init_params, optimizer_state_shapes  # noqa: E402
from shared.suite.parity import golden_task, golden_values  # noqa: E402
from shared.core.protocol import build  # noqa: E402
from shared.core.spec import CORRECTED, PRESETS, WGANSpec, get_preset  # noqa: E402
from shared.core.streams import Streams  # noqa: E402
from shared.suite.worker import task_golden  # noqa: E402

FRAMEWORKS = ["pytorch", "tensorflow", "keras"]
VARIANTS = ["wgan-gp", "gan"]


def test_variant_presets_change_only_what_defines_the_variant():
    gp, gan = get_preset("wgan-gp"), get_preset("gan")
    assert (gp.variant, gp.optimizer, gp.lr, gp.adam_beta1, gp.adam_beta2, gp.gp_weight, gp.n_critic) == \
        ("wgan-gp", "adam", 1e-4, 0.0, 0.9, 10.0, 5)
    assert (gan.variant, gan.optimizer, gan.lr, gan.adam_beta1, gan.adam_beta2, gan.n_critic) == \
        ("gan", "adam", 2e-4, 0.5, 0.999, 1)
    same = {"generator_hidden", "critic_hidden", "leaky_slope", "bn_eps", "batch_size", "init", "generator_reuses_z"}
    for preset in (gp, gan):
        assert all(getattr(preset, f) == getattr(CORRECTED, f) for f in same)


@pytest.mark.parametrize("bad, message", [(dict(variant="wgan-lp"), "variant"), (dict(adam_beta1=1.0), "adam_beta1"),
                                          (dict(gp_weight=0.0), "gp_weight"), (dict(optimizer="sgd"), "optimizer")])
def test_impossible_variant_settings_are_one_line_errors(bad, message):
    with pytest.raises(UserError, match=message):
        WGANSpec(**bad)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_golden_losses_and_penalty(framework):
    """GAN cross-entropy on fixed scores; the penalty of linear critics x @ w + b is 10 * (||w|| - 1)^2."""
    got, want = task_golden(framework, golden_task()), golden_values()
    assert set(want) <= set(got)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert want["penalty/norm 2"] == pytest.approx(10.0) and want["penalty/norm 0.5"] == pytest.approx(2.5)


def test_gan_loss_is_pytorchs_binary_cross_entropy():
    """An independent formula: BCE-with-logits, targets 1 for real and 0 for fake (halved), 1 for G's fakes."""
    torch = pytest.importorskip("torch")
    import impl_pytorch.wgan as pt
    gen = np.random.default_rng(0)
    d_real, d_fake = (torch.tensor(gen.normal(0, 30, (64, 1))) for _ in range(2))  # far into both tails
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    want = (bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))) / 2
    assert float(pt.critic_loss(d_real, d_fake, "gan")) == pytest.approx(float(want), rel=1e-12)
    assert float(pt.generator_loss(d_fake, "gan")) == pytest.approx(float(bce(d_fake, torch.ones_like(d_fake))), rel=1e-12)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_only_wgan_clips_and_only_wgan_gp_has_a_penalty(framework, variant, random_images):
    spec = get_preset(variant)
    wgan = build(framework, spec, init_params(spec), threads=1)
    streams = Streams(random_images, spec)
    records = [wgan.critic_step(*streams.critic_inputs(t)) for t in range(3)]
    # Initial weights reach 1/sqrt(784) = 0.036 > c: nothing pulls them back into [-c, c].
    assert all(r["max_abs_weight"] > spec.clip_value for r in records)
    penalties = [r["gradient_penalty"] for r in records]
    assert all(p > 0 for p in penalties) if variant == "wgan-gp" else all(p == 0 for p in penalties)
    for r in records:  # the estimate is the mean score gap, whatever the loss
        assert r["wasserstein"] == pytest.approx(r["d_real_mean"] - r["d_fake_mean"], rel=1e-5, abs=1e-7)


def test_wgan_gp_needs_the_harness_mixing_weights(random_images):
    spec = get_preset("wgan-gp")
    wgan = build("pytorch", spec, init_params(spec))
    with pytest.raises(UserError, match="mixing weights"):
        wgan.critic_step(random_images[:64], np.zeros((64, 100), np.float32))


@pytest.mark.parametrize("framework", ["tensorflow", "keras"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_float64_lockstep_with_pytorch(framework, variant, random_images):
    """20 critic steps (and their generator steps) in float64: every loss, parameter and Adam slot."""
    spec = get_preset(variant).replace(dtype="float64")
    ref, ours = lockstep_with_pytorch(framework, spec, random_images, critic_steps=20)
    state_ref, state_ours = ref.get_optimizer_state(), ours.get_optimizer_state()
    assert set(state_ours) == set(optimizer_state_shapes(spec)) == set(state_ref)
    diff, name = max_diff(state_ours, state_ref)
    assert diff < 1e-10, name


@pytest.mark.parametrize("framework", ["tensorflow", "keras"])
def test_adam_state_carries_a_run_across_frameworks(framework, random_images):
    """PyTorch trains 7 critic steps of WGAN-GP; its params and Adam state (m, v, step) continue in
    another framework exactly as PyTorch itself continues (float64)."""
    spec = get_preset("wgan-gp").replace(dtype="float64")
    streams = Streams(random_images.astype(np.float64), spec)
    ref = build("pytorch", spec, init_params(spec))
    for t in range(7):
        ref.critic_step(*streams.critic_inputs(t))
        if (t + 1) % spec.n_critic == 0:
            ref.generator_step(streams.generator_z(t))
    ours = build(framework, spec, ref.get_params(), threads=1)
    ours.set_optimizer_state(ref.get_optimizer_state())
    assert ours.get_optimizer_state()["step/critic"] == 7 and ours.get_optimizer_state()["step/generator"] == 1
    assert max_diff(ours.get_params(), ref.get_params())[0] == 0.0  # handed over exactly
    for t in range(7, 10):
        a, b = ref.critic_step(*streams.critic_inputs(t)), ours.critic_step(*streams.critic_inputs(t))
        parts = {k: (a[k], b[k]) for k in ("d_real_mean", "d_fake_mean", "gradient_penalty")}
        assert b["critic_loss"] == pytest.approx(a["critic_loss"], rel=1e-10), f"step {t}: {parts}"
    diff, name = max_diff(ours.get_params(), ref.get_params())
    assert diff < 1e-10, name


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fresh_adam_state_is_zero_and_rejects_rmsprop_state(framework):
    spec = get_preset("gan")
    wgan = build(framework, spec, init_params(spec), threads=1)
    state = wgan.get_optimizer_state()
    assert set(state) == set(init_optimizer_state(spec))
    assert all(not np.any(v) for v in state.values())
    with pytest.raises(UserError, match="optimizer state"):
        wgan.set_optimizer_state(init_optimizer_state(PRESETS["corrected"]))


def test_keras_fit_runs_the_same_steps_as_the_contract(random_images):
    """fit() over the harness's items (real, z, mix, z_gen) == critic_step/generator_step one at a time."""
    from impl_keras.train import fit
    spec = get_preset("wgan-gp")
    streams = Streams(random_images, spec)
    by_fit, by_hand = (build("keras", spec, init_params(spec), threads=1) for _ in range(2))
    fit(by_fit, streams, range(0, 2), progress="none")
    for t in range(2 * spec.n_critic):
        by_hand.critic_step(*streams.critic_inputs(t))
        if (t + 1) % spec.n_critic == 0:
            by_hand.generator_step(streams.generator_z(t))
    assert max_diff(by_fit.get_params(), by_hand.get_params())[0] == 0.0
    assert max_diff(by_fit.get_optimizer_state(), by_hand.get_optimizer_state())[0] == 0.0
