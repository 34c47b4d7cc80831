"""WGAN with weight clipping in PyTorch: nn.Module models, torch.optim, clamp_.

The same file also runs the two variants the tutorial is measured against (spec.variant): WGAN-GP
(gradient penalty instead of clipping, Adam) and the original GAN (sigmoid cross-entropy, Adam).
Read this file top to bottom; impl_tensorflow/wgan.py and impl_keras/wgan.py have the same sections
with the same names, so a diff between two of them shows only framework lines.
The four WGAN changes from the original GAN are marked `WGAN change 1..4`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shared.errors import UserError
from shared.params import bn_layers, check_params, layer_sizes, trainable_names
from shared.protocol import mixing_weights
from shared.spec import WGANSpec

FRAMEWORK = "pytorch"


# ==================================================================================================
# Setup: threads, dtype, device
# ==================================================================================================
def set_threads(n: int) -> None:
    """Pin intra-op threads (two framework processes asking for all cores on a 2-core box crawl)."""
    torch.set_num_threads(n)


def torch_dtype(spec: WGANSpec) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[spec.dtype]


def resolve_device(device: str) -> torch.device:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: PyTorch sees no CUDA GPU here; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise UserError(f"unknown device {device!r}; use cpu or cuda")
    return torch.device(device)


# ==================================================================================================
# Models
# ==================================================================================================
class Generator(nn.Module):
    """z [B, latent] -> x [B, data_dim] in [-1, 1]: Linear/LeakyReLU blocks, BatchNorm on all but the first."""

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
        layers += [nn.Linear(sizes[-2], sizes[-1]), nn.Tanh()]
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
    flat = torch.cat([p.reshape(-1) for p in critic.parameters()]).abs()
    return float(flat.max()), float((flat >= clip_value).double().mean())


# ==================================================================================================
# Optimizer
# ==================================================================================================
class SpecRMSprop(torch.optim.Optimizer):
    """RMSprop with the spec's eps placement and starting mean square (torch's own has neither switch).

    v <- decay * v + (1 - decay) * g^2;  w <- w - lr * g / (sqrt(v) + eps)   [eps 'outside', as torch]
                                         w <- w - lr * g / sqrt(v + eps)     [eps 'inside', as Keras]
    """

    def __init__(self, params, spec: WGANSpec) -> None:
        super().__init__(params, dict(lr=spec.lr))
        self.spec = spec

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - the formula is in the class docstring
        spec = self.spec
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "square_avg" not in state:
                    state["square_avg"] = torch.full_like(p, spec.rms_initial_mean_square)
                v = state["square_avg"]
                v.mul_(spec.rms_decay).addcmul_(p.grad, p.grad, value=1 - spec.rms_decay)
                if spec.rms_eps_placement == "outside":
                    denom = v.sqrt().add_(spec.rms_eps)
                else:
                    denom = v.add(spec.rms_eps).sqrt_()
                p.addcdiv_(p.grad, denom, value=-group["lr"])


def make_optimizer(module: nn.Module, spec: WGANSpec) -> torch.optim.Optimizer:
    """WGAN change 4: RMSprop (no momentum). torch.optim.RMSprop when it can express the spec.

    spec.optimizer 'adam' (WGAN-GP, GAN): torch.optim.Adam, whose update is the spec's definition:
    w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    """
    if spec.optimizer == "adam":
        return torch.optim.Adam(module.parameters(), lr=spec.lr, betas=(spec.adam_beta1, spec.adam_beta2),
                                eps=spec.adam_eps)
    if spec.rms_eps_placement == "outside" and spec.rms_initial_mean_square == 0.0:
        return torch.optim.RMSprop(module.parameters(), lr=spec.lr, alpha=spec.rms_decay, eps=spec.rms_eps)
    # Parity: torch.optim.RMSprop always adds eps outside the sqrt and starts its mean square at 0.
    return SpecRMSprop(module.parameters(), spec)


# ==================================================================================================
# Critic step
# ==================================================================================================
def critic_step(wgan: "WGAN", real: torch.Tensor, z: torch.Tensor, mix: torch.Tensor) -> dict[str, torch.Tensor]:
    """One critic update: real [B, data_dim], z [B, latent], mix [B, 1] (WGAN-GP). Tensors for the record."""
    spec = wgan.spec
    wgan.critic_optimizer.zero_grad(set_to_none=True)
    fake = wgan.generator(z).detach()  # generator in train mode: BatchNorm uses and updates batch stats
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
    loss = generator_loss(wgan.critic(wgan.generator(z)), wgan.spec.variant)
    loss.backward()
    wgan.generator_optimizer.step()
    return dict(generator_loss=loss.detach())


# ==================================================================================================
# Contract: NumPy in, NumPy out, canonical parameters (see shared/protocol.py)
# ==================================================================================================
class WGAN:
    """Generator, critic and their optimizers behind the harness's contract."""

    framework = FRAMEWORK

    def __init__(self, spec: WGANSpec, params: dict[str, np.ndarray] | None = None, device: str = "cpu") -> None:
        self.spec = spec
        self.device = resolve_device(device)
        self.dtype = torch_dtype(spec)
        self.generator = Generator(spec).to(self.device, self.dtype).train()
        self.critic = Critic(spec).to(self.device, self.dtype).train()
        if params is not None:
            self.set_params(params)
        self.generator_optimizer = make_optimizer(self.generator, spec)
        self.critic_optimizer = make_optimizer(self.critic, spec)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array, dtype=self.spec.dtype), device=self.device)

    def critic_step(self, real: np.ndarray, z: np.ndarray, mix: np.ndarray | None = None) -> dict[str, float]:
        out = critic_step(self, self._tensor(real), self._tensor(z), self._tensor(mixing_weights(self.spec, real, mix)))
        max_abs, share = clip_stats(self.critic, self.spec.clip_value)
        d_real, d_fake = out["d_real"], out["d_fake"]
        return dict(critic_loss=float(out["critic_loss"]), wasserstein=float(d_real.mean() - d_fake.mean()),
                    gradient_penalty=float(out["gradient_penalty"]),
                    d_real_min=float(d_real.min()), d_real_max=float(d_real.max()), d_real_mean=float(d_real.mean()),
                    d_fake_min=float(d_fake.min()), d_fake_max=float(d_fake.max()), d_fake_mean=float(d_fake.mean()),
                    max_abs_weight=max_abs, clipped_share=share)

    def generator_step(self, z: np.ndarray) -> dict[str, float]:
        return {k: float(v) for k, v in generator_step(self, self._tensor(z)).items()}

    @torch.no_grad()
    def critic_scores(self, x: np.ndarray) -> np.ndarray:
        return self.critic(self._tensor(x)).reshape(-1).cpu().numpy()

    @torch.no_grad()
    def generate(self, z: np.ndarray, training: bool = False) -> np.ndarray:
        self.generator.train(training)
        try:
            return self.generator(self._tensor(z)).cpu().numpy()
        finally:
            self.generator.train(True)

    # --- canonical parameters --------------------------------------------------------------------
    def _named_tensors(self) -> dict[str, torch.Tensor]:
        """Canonical name -> the torch tensor holding it (Linear.weight is [out, in]: transposed)."""
        out: dict[str, torch.Tensor] = {}
        for network, module in (("generator", self.generator), ("critic", self.critic)):
            linears = [m for m in module.model if isinstance(m, nn.Linear)]
            norms = iter(m for m in module.model if isinstance(m, nn.BatchNorm1d))
            for k, linear in enumerate(linears):
                out[f"{network}.dense{k}.kernel"] = linear.weight
                out[f"{network}.dense{k}.bias"] = linear.bias
                if network == "generator" and k in bn_layers(self.spec):
                    bn = next(norms)
                    out.update({f"generator.bn{k}.gamma": bn.weight, f"generator.bn{k}.beta": bn.bias,
                                f"generator.bn{k}.moving_mean": bn.running_mean,
                                f"generator.bn{k}.moving_var": bn.running_var})
        return out

    def get_params(self) -> dict[str, np.ndarray]:
        # Parity: torch stores Linear.weight as [out, in]; canonical kernels are [in, out].
        return {name: (t.detach().T if name.endswith(".kernel") else t.detach()).cpu().numpy().copy()
                for name, t in self._named_tensors().items()}

    @torch.no_grad()
    def set_params(self, params: dict[str, np.ndarray]) -> None:
        check_params(self.spec, params)
        for name, t in self._named_tensors().items():
            value = self._tensor(params[name])
            t.copy_(value.T if name.endswith(".kernel") else value)

    def _optimizer_slots(self):
        """(network, canonical name, optimizer, parameter tensor) for every trainable parameter."""
        named = self._named_tensors()
        for network, optimizer in (("generator", self.generator_optimizer), ("critic", self.critic_optimizer)):
            for name in trainable_names(self.spec, network):
                yield network, name, optimizer, named[name]

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        """Mean square per parameter; with Adam also momentum/<name> and step/<network> (optimizer_state_shapes)."""
        # Parity: torch keeps the slots of a [in, out] kernel as [out, in] too; canonical state is [in, out].
        def canonical(name: str, t: torch.Tensor | None, p: torch.Tensor) -> np.ndarray:
            t = torch.full_like(p, self.spec.rms_initial_mean_square if self.spec.optimizer == "rmsprop" else 0.0) \
                if t is None else t
            return (t.T if name.endswith(".kernel") else t).cpu().numpy().copy()

        state: dict[str, np.ndarray] = {}
        for network, name, optimizer, p in self._optimizer_slots():
            slot = optimizer.state[p]
            if self.spec.optimizer == "rmsprop":
                state[name] = canonical(name, slot.get("square_avg"), p)
                continue
            state[name] = canonical(name, slot.get("exp_avg_sq"), p)
            state[f"momentum/{name}"] = canonical(name, slot.get("exp_avg"), p)
            state[f"step/{network}"] = np.array(float(slot.get("step", 0.0)), dtype=self.spec.dtype)
        return state

    @torch.no_grad()
    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        check_params(self.spec, state, what="optimizer state")
        for network, name, optimizer, p in self._optimizer_slots():
            def tensor(key: str) -> torch.Tensor:
                v = self._tensor(state[key])
                return (v.T if name.endswith(".kernel") else v).contiguous().clone()

            slot = optimizer.state[p]
            if self.spec.optimizer == "rmsprop":
                slot["square_avg"] = tensor(name)
                slot.setdefault("step", torch.tensor(0.0, dtype=torch.float32))
            else:
                slot.update(exp_avg_sq=tensor(name), exp_avg=tensor(f"momentum/{name}"),
                            step=torch.tensor(float(state[f"step/{network}"]), dtype=torch.float32))


def build_wgan(spec: WGANSpec, params: dict[str, np.ndarray] | None = None, device: str = "cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)
