import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed: pip install -e '.[pytorch]'")

import impl_pytorch  # noqa: E402
from impl_pytorch import wgan as pt  # noqa: E402
from shared.core.params import init_params  # noqa: E402
from shared.core.spec import CORRECTED, TUTORIAL  # noqa: E402
from shared.core.streams import Streams  # noqa: E402

torch.set_num_threads(1)


def test_golden_losses_in_tf_gan_convention():
    d_real = torch.tensor([-5.0, 1.4, 12.5, 2.7], dtype=torch.float64)
    d_fake = torch.tensor([10.0, 4.4, -5.5, 3.6], dtype=torch.float64)
    assert float(pt.critic_loss(d_real, d_fake)) == pytest.approx(0.225, abs=1e-12)
    assert float(pt.generator_loss(d_fake)) == pytest.approx(-3.125, abs=1e-12)


def test_critic_has_no_sigmoid():
    critic = pt.Critic(TUTORIAL)
    assert isinstance(critic.model[-1], torch.nn.Linear)
    assert not any(isinstance(m, (torch.nn.Sigmoid,)) for m in critic.modules())
    with torch.no_grad():
        for p in critic.parameters():
            p.fill_(0.05)
    scores = critic(torch.ones(2, 784)).detach()
    assert float(scores.min()) > 1.0  # unbounded score, not a probability


def test_batchnorm_and_leaky_relu_follow_the_spec():
    g = pt.Generator(TUTORIAL)
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 3 and all(m.eps == 0.8 and m.momentum == 0.1 for m in norms)
    assert all(m.negative_slope == 0.2 for m in g.modules() if isinstance(m, torch.nn.LeakyReLU))
    assert all(m.eps == 1e-5 for m in pt.Generator(CORRECTED).modules() if isinstance(m, torch.nn.BatchNorm1d))


def test_optimizer_is_rmsprop_with_the_spec_values():
    w = impl_pytorch.build_wgan(TUTORIAL)
    for opt in (w.critic_optimizer, w.generator_optimizer):
        assert type(opt) is pt.SpecRMSprop and opt.param_groups[0]["lr"] == 5e-5 and opt.spec == TUTORIAL


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-13), ("float32", 1e-5)])
def test_fused_spec_rmsprop_is_torch_rmsprop(dtype, rtol):
    """The tutorial's torch.optim.RMSprop(lr, alpha=0.99, eps=1e-8) and SpecRMSprop (one fused pass) take the
    same 200 steps to rounding: a critic-sized weight, gradients from 1e-6 to 1 (the eps matters at the small end)."""
    spec = TUTORIAL.replace(dtype=dtype)
    torch_dtype = getattr(torch, dtype)
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(512, 784, generator=generator, dtype=torch_dtype) * 0.01
    ours, theirs = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    ours_opt = pt.SpecRMSprop([ours], spec)
    theirs_opt = torch.optim.RMSprop([theirs], lr=spec.lr, alpha=spec.rms_decay, eps=spec.rms_eps, foreach=False)
    for step in range(200):
        g = torch.randn(512, 784, generator=generator, dtype=torch_dtype) * 10.0 ** -(step % 7)
        ours.grad, theirs.grad = g.clone(), g.clone()
        ours_opt.step()
        theirs_opt.step()
    ours, theirs = ours.detach(), theirs.detach()
    moved = float((theirs - start).abs().max())
    assert moved > 20 * spec.lr  # the steps did move the weight (each moves it by about lr)
    assert float((ours - theirs).abs().max()) <= rtol * moved
    torch.testing.assert_close(ours_opt.state[ours_opt.param_groups[0]["params"][0]]["square_avg"], theirs_opt.state[theirs_opt.param_groups[0]["params"][0]]["square_avg"], rtol=rtol, atol=0)


@pytest.mark.parametrize("placement", ["outside", "inside"])
def test_spec_rmsprop_matches_the_formula(placement):
    spec = TUTORIAL.replace(dtype="float64", rms_eps_placement=placement, rms_initial_mean_square=0.5, rms_eps=1e-3)
    p = torch.nn.Parameter(torch.tensor([0.3, -0.2, 0.0], dtype=torch.float64))
    opt = pt.SpecRMSprop([p], spec)
    g = np.array([0.5, -1e-4, 2.0])
    p.grad = torch.tensor(g)
    opt.step()
    v = 0.99 * 0.5 + 0.01 * g * g
    denom = np.sqrt(v) + 1e-3 if placement == "outside" else np.sqrt(v + 1e-3)
    np.testing.assert_allclose(p.detach().numpy(), np.array([0.3, -0.2, 0.0]) - 5e-5 * g / denom, rtol=0, atol=1e-15)


@pytest.mark.slow
def test_short_real_mnist_run_learns_a_positive_wasserstein_estimate(mnist):
    """200 generator iterations on real MNIST: the critic separates real from fake, samples stay in [-1, 1]."""
    from impl_pytorch.train import fit
    spec = TUTORIAL
    w = impl_pytorch.build_wgan(spec, init_params(spec))
    streams = Streams(mnist.train_x, spec)
    logs = fit(w, streams, range(200), progress="none")
    late = np.mean([log["wasserstein"] for log in logs[-20:]])
    assert late > 0.05, late
    assert all(log["max_abs_weight"] <= np.float32(0.01) for log in logs)
    samples = w.generate(streams.fixed_z(64))
    assert samples.min() >= -1 and samples.max() <= 1 and samples.std() > 0.1


MKL_PROBE = """
import hashlib, torch
from shared.core.machine import mkl_avx512_on_amd
from impl_pytorch.contract import build_wgan
from shared.core.spec import get_preset
torch.set_num_threads(1)
build_wgan(get_preset("corrected"))   # the device setup is where the patch happens, before any matmul
generator = torch.Generator().manual_seed(0)
x, w = torch.randn(64, 784, generator=generator), torch.randn(512, 784, generator=generator)
exact = x.double() @ w.double().T
got = x @ w.T
error = float((got.double() - exact).abs().max() / exact.abs().max())
print(error, hashlib.sha256(got.numpy().tobytes()).hexdigest(), mkl_avx512_on_amd())  # the state last: "not needed" has a space
"""


def test_mkl_takes_other_kernels_on_amd_avx512_cpus_and_stays_fp32():
    """On an AMD CPU with AVX-512, MKL (inside torch) answers its vendor check 'Intel' once the pytorch
    implementation sets up its device, and so runs other kernels than MKL's own choice (WGAN_SUITE_KEEP_MKL_DISPATCH=1):
    the same fp32 matmul comes out bitwise different, and still fp32-accurate against float64 (bf16 inputs would
    be ~3e-3 off). Elsewhere nothing is patched and the bits are the same. (The speed is bench's: on a Zen 5,
    98 -> 249 GFLOP/s for this matmul, docs/performance.md.)"""
    from shared.core.machine import cpu_flags
    vendor = next((line for line in open("/proc/cpuinfo") if line.startswith("vendor_id")), "") \
        if os.path.exists("/proc/cpuinfo") else ""
    amd_avx512 = sys.platform == "linux" and "AuthenticAMD" in vendor and "avx512f" in cpu_flags()
    seen = {}
    for keep in ("1", "0"):
        env = {**os.environ, "WGAN_SUITE_KEEP_MKL_DISPATCH": keep}
        proc = subprocess.run([sys.executable, "-c", MKL_PROBE], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        error, digest, state = proc.stdout.strip().split(" ", 2)
        assert float(error) < 1e-5, (state, error)
        seen[keep] = (state, digest)
    assert seen["1"][0] == "kept"
    assert seen["0"][0] == ("patched" if amd_avx512 else "not needed")
    assert (seen["0"][1] != seen["1"][1]) == amd_avx512
