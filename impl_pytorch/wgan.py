"""WGAN with weight clipping in PyTorch: nn.Module models, torch.optim, clamp_.

The same file also runs the two variants the tutorial is measured against (spec.variant): WGAN-GP
(gradient penalty instead of clipping, Adam) and the original GAN (sigmoid cross-entropy, Adam).
Read this file top to bottom: the algorithm only. impl_tensorflow/wgan.py and impl_keras/wgan.py have
the same sections with the same names, so a diff between two of them shows only framework lines.
The four WGAN changes from the original GAN are marked `WGAN change 1..4`. The training loop is in
train.py; threads, devices and the harness's NumPy contract are in contract.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from shared.core.params import bn_layers, layer_sizes
from shared.core.spec import WGANSpec

if TYPE_CHECKING:  # the object the steps update: its generator, critic and their optimizers
    from impl_pytorch.contract import WGAN


# ==================================================================================================
# Models
# ==================================================================================================
class Generator(nn.Module):
    """z [B, latent] -> x [B, data_dim]: Linear/LeakyReLU blocks, BatchNorm on all but the first, Tanh out
    (the tutorial; spec.generator_batch_norm and spec.generator_output turn them off for the 2-D toys)."""

    def __init__(self, spec: WGANSpec) -> None:
        super().__init__()
        sizes, _ = layer_sizes(spec)  # [100, 128, 256, 512, 1024, 784]
        layers: list[nn.Module] = []
        for k, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1])):
            layers.append(nn.Linear(n_in, n_out))
            if k in bn_layers(spec):
                # Keywords, never position: the tutorial's BatchNorm1d(out, 0.8) silently set eps = 0.8.
                layers.append(nn.BatchNorm1d(n_out, eps=spec.bn_eps, momentum=spec.bn_momentum))
            layers.append(nn.LeakyReLU(negative_slope=spec.leaky_slope))
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        if spec.generator_output == "tanh":
            layers.append(nn.Tanh())  # samples in [-1, 1], the range the data is scaled to
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


class Critic(nn.Module):
    """x [B, data_dim] -> score [B, 1]. WGAN change 1: no sigmoid — the output is an unbounded score."""

    def __init__(self, spec: WGANSpec) -> None:
        super().__init__()
        sizes = layer_sizes(spec)[1]  # [784, 512, 256, 1]
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
            layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(negative_slope=spec.leaky_slope)]
        layers.append(nn.Linear(sizes[-2], sizes[-1]))  # WGAN change 1: no nn.Sigmoid() here
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# ==================================================================================================
# Losses
# ==================================================================================================
def critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor, variant: str = "wgan") -> torch.Tensor:
    """-E[D(real)] + E[D(fake)]. WGAN change 2: no log — raw scores, not log-probabilities.

    variant 'gan': the original GAN's -E[log sigmoid(D(real))] - E[log(1 - sigmoid(D(fake)))], halved as
    the tutorial's gan.py does; d_real, d_fake [B, 1] are logits.
    """
    if variant == "gan":
        return (torch.mean(softplus(-d_real)) + torch.mean(softplus(d_fake))) / 2
    return -torch.mean(d_real) + torch.mean(d_fake)


def generator_loss(d_fake: torch.Tensor, variant: str = "wgan") -> torch.Tensor:
    """-E[D(G(z))]. WGAN change 2: no log. Variant 'gan': the non-saturating -E[log sigmoid(D(G(z)))]."""
    if variant == "gan":
        return torch.mean(softplus(-d_fake))
    return -torch.mean(d_fake)


def softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + e^x) = -log sigmoid(-x), never overflowing."""
    # Parity: F.softplus switches to x above a threshold of 20; this formula is the same in every framework.
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, mix: torch.Tensor,
                     weight: float) -> torch.Tensor:
    """WGAN-GP: weight * E[(||grad_x D(x)|| - 1)^2] at x = mix * real + (1 - mix) * fake, mix [B, 1]."""
    x = (mix * real + (1 - mix) * fake).requires_grad_(True)
    # D's outputs depend on their own rows only, so the gradient of the sum is every row's gradient [B, data_dim].
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)  # create_graph: the loss needs d/dw
    norm = torch.sqrt(torch.sum(grad * grad, dim=1))
    return weight * torch.mean((norm - 1) ** 2)


# ==================================================================================================
# Weight clipping
# ==================================================================================================
@torch.no_grad()
def clip_critic_weights(critic: Critic, clip_value: float) -> None:
    """WGAN change 3: clamp every critic weight and bias into [-c, c] (the critic has no BatchNorm)."""
    for p in critic.parameters():
        p.clamp_(-clip_value, clip_value)


@torch.no_grad()
def clip_stats(critic: Critic, clip_value: float) -> tuple[float, float]:
    """(max |w|, share of weights at +-c) over all critic parameters, after clipping."""
    # Weight by weight, then combined: no concatenated copy (XLA parallelised TensorFlow's concatenation so
    # badly on two threads that a G-it took 0.4 s).
    magnitudes = [w.abs() for w in critic.parameters()]   # |w|, once per weight tensor
    max_abs = max(float(m.amax()) for m in magnitudes)
    # m.ge_(c): |w| >= c as 1.0/0.0 in place, summed row by row (whole numbers below 2^24: exact in float32), then
    # in float64. On the CPU 3-4x faster than a bool mask (m >= c) and count_nonzero: a G-it 5% faster, one thread.
    at_bound = sum(int(m.ge_(clip_value).sum(-1).sum(dtype=torch.float64)) for m in magnitudes)
    return max_abs, at_bound / sum(m.numel() for m in magnitudes)


# ==================================================================================================
# Optimizer
# ==================================================================================================
class SpecRMSprop(torch.optim.Optimizer):
    """RMSprop as the spec defines it: torch.optim.RMSprop has no switch for eps or the starting mean square.

    v <- decay * v + (1 - decay) * g^2;  w <- w - lr * g / (sqrt(v) + eps)   [eps 'outside', as torch]
                                         w <- w - lr * g / sqrt(v + eps)     [eps 'inside', as Keras]
    v starts at spec.rms_initial_mean_square (torch: 0, Keras: 0, tf.compat.v1: 1).
    """

    def __init__(self, params, spec: WGANSpec) -> None:
        super().__init__(params, dict(lr=spec.lr))
        self.spec = spec

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - the formula is in the class docstring
        spec = self.spec
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if "square_avg" not in self.state[p]:
                    self.state[p]["square_avg"] = torch.full_like(p, spec.rms_initial_mean_square)
            grads, square_avgs = [p.grad for p in params], [self.state[p]["square_avg"] for p in params]
            if spec.rms_eps_placement == "inside":  # written out, one pass per operation
                for p, g, v in zip(params, grads, square_avgs):
                    v.mul_(spec.rms_decay).addcmul_(g, g, value=1 - spec.rms_decay)
                    p.addcdiv_(g, v.add(spec.rms_eps).sqrt_(), value=-group["lr"])
                continue
            # Eps outside: the same update in one pass over memory per tensor. torch has no fused RMSprop, but its
            # fused Adam with beta1 = 0 and a step count at which the bias corrections are 1 is exactly this
            # formula: its momentum m <- m + (g - m) * 1 is this step's g, so g itself serves as m (the kernel
            # reads each element before it writes it; p.grad is not read again). Five passes (as above) cost ~10% of
            # a G-it on the CPU; torch.optim.RMSprop agrees to rounding (tests/test_pytorch_impl.py).
            for p in params:
                if "fused_step" not in self.state[p]:  # at step 2^60, 1 - beta^t == 1 in float32 and float64
                    self.state[p]["fused_step"] = torch.tensor(2.0 ** 60, dtype=torch.float32, device=p.device)
            if params:
                torch._fused_adam_(params, grads, grads, square_avgs,
                                   [], [self.state[p]["fused_step"] for p in params], lr=group["lr"], beta1=0.0,
                                   beta2=spec.rms_decay, weight_decay=0.0, eps=spec.rms_eps, amsgrad=False,
                                   maximize=False)


def make_optimizer(module: nn.Module, spec: WGANSpec) -> torch.optim.Optimizer:
    """WGAN change 4: RMSprop (no momentum), SpecRMSprop above.

    spec.optimizer 'adam' (WGAN-GP, GAN): torch.optim.Adam, whose update is the spec's definition:
    w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    """
    if spec.optimizer == "adam":
        return torch.optim.Adam(module.parameters(), lr=spec.lr, betas=(spec.adam_beta1, spec.adam_beta2),
                                eps=spec.adam_eps)
    # The tutorial's torch.optim.RMSprop(params, lr=5e-5) is SpecRMSprop with eps outside and v starting at 0.
    return SpecRMSprop(module.parameters(), spec)


# ==================================================================================================
# Critic step
# ==================================================================================================
def critic_step(wgan: "WGAN", real: torch.Tensor, z: torch.Tensor, mix: torch.Tensor) -> dict[str, torch.Tensor]:
    """One critic update: real [B, data_dim], z [B, latent], mix [B, 1] (WGAN-GP). Tensors for the record."""
    spec = wgan.spec
    wgan.critic_optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():  # the tutorial's generator(z).detach(), without building a graph it then drops
        fake = wgan.generator(z)  # generator in train mode: BatchNorm uses and updates batch stats
    d_real, d_fake = wgan.critic(real), wgan.critic(fake)
    loss = critic_loss(d_real, d_fake, spec.variant)
    penalty = torch.zeros_like(loss)
    if spec.variant == "wgan-gp":
        penalty = gradient_penalty(wgan.critic, real, fake, mix, spec.gp_weight)
    (loss + penalty).backward()
    wgan.critic_optimizer.step()
    if spec.variant == "wgan":
        clip_critic_weights(wgan.critic, spec.clip_value)  # WGAN change 3: after every critic update
    return dict(critic_loss=(loss + penalty).detach(), gradient_penalty=penalty.detach(),
                d_real=d_real.detach(), d_fake=d_fake.detach())


# ==================================================================================================
# Generator step
# ==================================================================================================
def generator_step(wgan: "WGAN", z: torch.Tensor) -> dict[str, torch.Tensor]:
    """One generator update on z [B, latent] (the critic's weights are not updated)."""
    wgan.generator_optimizer.zero_grad(set_to_none=True)
    wgan.critic.requires_grad_(False)  # gradients flow through D to G, but D's own are not needed here
    try:
        loss = generator_loss(wgan.critic(wgan.generator(z)), wgan.spec.variant)
    finally:
        wgan.critic.requires_grad_(True)  # the graph is recorded without D's weights; D trains in its own step
    loss.backward()
    wgan.generator_optimizer.step()
    return dict(generator_loss=loss.detach())
