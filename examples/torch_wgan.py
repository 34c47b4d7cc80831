"""A WGAN written outside this project, checked by it: the worked example of docs/own-implementation.md.

This is what a user brings: their own PyTorch WGAN (here in one file, in a style of its own: one class,
plain nn.Sequential stacks, a hand-written RMSprop), plus the small adapter the harness needs — the
contract of shared/core/protocol.py: `build_wgan(spec, params=None, device="cpu")` returning an object with
critic_step, generator_step, critic_scores, generate, get/set_params, get/set_optimizer_state, all on
NumPy arrays, parameters under the canonical names of shared/core/params.py. Then:

    wgan-suite parity  --framework examples.torch_wgan
    wgan-suite compare --frameworks pytorch examples.torch_wgan

examples/torch_wgan_buggy.py is this file with one planted porting bug; parity names the check that
catches it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shared.core.params import check_params

FRAMEWORK = "examples.torch_wgan"


def _generator(spec) -> nn.Sequential:
    sizes = [spec.latent_dim, *spec.generator_hidden]
    layers: list[nn.Module] = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if k > 0 and spec.generator_batch_norm:  # BatchNorm on every hidden block but the first
            layers.append(nn.BatchNorm1d(n_out, eps=spec.bn_eps, momentum=spec.bn_momentum))
        layers.append(nn.LeakyReLU(spec.leaky_slope))
    layers.append(nn.Linear(sizes[-1], spec.data_dim))
    return nn.Sequential(*layers, *([nn.Tanh()] if spec.generator_output == "tanh" else []))


def _critic(spec) -> nn.Sequential:
    sizes = [spec.data_dim, *spec.critic_hidden]
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(spec.leaky_slope)]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], 1))  # no sigmoid: a score


def _softplus(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))  # log(1 + e^x), never overflowing


class RMSprop:
    """v <- decay v + (1 - decay) g^2;  w <- w - lr g / (sqrt(v) + eps)  (or / sqrt(v + eps): 'inside')."""

    def __init__(self, params, spec) -> None:
        self.params, self.spec = list(params), spec
        self.square = [torch.full_like(p, spec.rms_initial_mean_square) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        s = self.spec
        for p, v in zip(self.params, self.square):
            v.mul_(s.rms_decay).addcmul_(p.grad, p.grad, value=1 - s.rms_decay)
            denom = v.sqrt().add_(s.rms_eps) if s.rms_eps_placement == "outside" else v.add(s.rms_eps).sqrt_()
            p.addcdiv_(p.grad, denom, value=-s.lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class WGAN:
    """Generator, critic, their optimizers; every method of the contract takes and returns NumPy."""

    framework = FRAMEWORK
    clip_biases = True  # examples/torch_wgan_buggy.py sets this to False

    def __init__(self, spec, params=None, device="cpu") -> None:
        if device != "cpu":
            from shared.core.errors import UserError
            known = device.startswith(("cuda", "gpu"))
            raise UserError(f"--device {device}: examples.torch_wgan has no GPU support; use --device cpu" if known
                            else f"unknown device {device!r}; use cpu")
        self.spec, self.dtype = spec, getattr(torch, spec.dtype)
        self.generator = _generator(spec).to(self.dtype).train()
        self.critic = _critic(spec).to(self.dtype).train()
        if params is not None:
            self.set_params(params)
        self.optimizers = {name: self._optimizer(net) for name, net in
                           (("generator", self.generator), ("critic", self.critic))}

    def _optimizer(self, net: nn.Module):
        s = self.spec
        if s.optimizer == "adam":
            return torch.optim.Adam(net.parameters(), lr=s.lr, betas=(s.adam_beta1, s.adam_beta2), eps=s.adam_eps)
        return RMSprop(net.parameters(), s)

    def _t(self, x) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=self.spec.dtype))

    # --- training ----------------------------------------------------------------------------------
    def critic_step(self, real, z, mix=None) -> dict[str, float]:
        s, opt = self.spec, self.optimizers["critic"]
        real, z = self._t(real), self._t(z)
        opt.zero_grad()
        fake = self.generator(z).detach()
        d_real, d_fake = self.critic(real), self.critic(fake)
        loss = self.critic_loss(d_real, d_fake)
        penalty = torch.zeros_like(loss)
        if s.variant == "wgan-gp":
            if mix is None:
                from shared.core.errors import UserError
                raise UserError("wgan-gp needs the penalty's mixing weights: pass mix to critic_step")
            m = self._t(mix)
            x = (m * real + (1 - m) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.critic(x).sum(), x, create_graph=True)
            penalty = s.gp_weight * ((grad.pow(2).sum(1).sqrt() - 1) ** 2).mean()
        (loss + penalty).backward()
        opt.step()
        if s.variant == "wgan":
            self.clip_critic()
        flat = torch.cat([p.detach().reshape(-1) for p in self.critic.parameters()]).abs()
        d_real, d_fake = d_real.detach(), d_fake.detach()
        return {"critic_loss": float((loss + penalty).detach()), "wasserstein": float(d_real.mean() - d_fake.mean()),
                "gradient_penalty": float(penalty.detach()),
                "d_real_min": float(d_real.min()), "d_real_max": float(d_real.max()), "d_real_mean": float(d_real.mean()),
                "d_fake_min": float(d_fake.min()), "d_fake_max": float(d_fake.max()), "d_fake_mean": float(d_fake.mean()),
                "max_abs_weight": float(flat.max()), "clipped_share": int(torch.count_nonzero(flat >= s.clip_value)) / flat.numel()}

    def critic_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        if self.spec.variant == "gan":
            return (_softplus(-d_real).mean() + _softplus(d_fake).mean()) / 2
        return d_fake.mean() - d_real.mean()

    @torch.no_grad()
    def clip_critic(self) -> None:
        for name, p in self.critic.named_parameters():
            if self.clip_biases or name.endswith("weight"):
                p.clamp_(-self.spec.clip_value, self.spec.clip_value)

    def generator_step(self, z) -> dict[str, float]:
        opt = self.optimizers["generator"]
        opt.zero_grad()
        d_fake = self.critic(self.generator(self._t(z)))
        loss = _softplus(-d_fake).mean() if self.spec.variant == "gan" else -d_fake.mean()
        loss.backward()
        opt.step()
        return {"generator_loss": float(loss.detach())}

    @torch.no_grad()
    def critic_scores(self, x) -> np.ndarray:
        return self.critic(self._t(x)).reshape(-1).numpy()

    @torch.no_grad()
    def generate(self, z, training=False) -> np.ndarray:
        self.generator.train(training)
        try:
            return self.generator(self._t(z)).numpy()
        finally:
            self.generator.train(True)

    # --- the harness's canonical names: dense{k}.kernel is [in, out], torch's weight its transpose -----
    def _named(self) -> dict[str, torch.Tensor]:
        out = {}
        for net_name, net in (("generator", self.generator), ("critic", self.critic)):
            linears = [m for m in net if isinstance(m, nn.Linear)]
            norms = [m for m in net if isinstance(m, nn.BatchNorm1d)]
            for k, lin in enumerate(linears):
                out[f"{net_name}.dense{k}.kernel"], out[f"{net_name}.dense{k}.bias"] = lin.weight, lin.bias
                if net_name == "generator" and 0 < k <= len(norms):
                    bn = norms[k - 1]
                    out.update({f"generator.bn{k}.gamma": bn.weight, f"generator.bn{k}.beta": bn.bias,
                                f"generator.bn{k}.moving_mean": bn.running_mean,
                                f"generator.bn{k}.moving_var": bn.running_var})
        return out

    def get_params(self) -> dict[str, np.ndarray]:
        return {k: (t.detach().T if k.endswith("kernel") else t.detach()).numpy().copy() for k, t in self._named().items()}

    @torch.no_grad()
    def set_params(self, params) -> None:
        check_params(self.spec, params)  # the harness's helper: a missing or misshapen array is a one-line error
        for k, t in self._named().items():
            value = self._t(params[k])
            t.copy_(value.T if k.endswith("kernel") else value)

    def _slots(self):
        """(canonical state name, network, parameter) for every trainable parameter."""
        for k, t in self._named().items():
            if "moving" not in k:
                yield k, k.split(".")[0], t

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        def canonical(k, t):
            return (t.T if k.endswith("kernel") else t).detach().numpy().copy()

        state = {}
        for k, net, p in self._slots():
            opt = self.optimizers[net]
            if isinstance(opt, RMSprop):
                state[k] = canonical(k, opt.square[_index(opt.params, p)])
                continue
            slot = opt.state.get(p, {})
            zeros = torch.zeros_like(p)
            state[k] = canonical(k, slot.get("exp_avg_sq", zeros))
            state[f"momentum/{k}"] = canonical(k, slot.get("exp_avg", zeros))
            state[f"step/{net}"] = np.array(float(slot.get("step", 0.0)), dtype=self.spec.dtype)
        return state

    @torch.no_grad()
    def set_optimizer_state(self, state) -> None:
        check_params(self.spec, state, what="optimizer state")

        def tensor(k, key):
            v = self._t(state[key])
            return (v.T if k.endswith("kernel") else v).contiguous().clone()

        for k, net, p in self._slots():
            opt = self.optimizers[net]
            if isinstance(opt, RMSprop):
                opt.square[_index(opt.params, p)] = tensor(k, k)
            else:
                opt.state[p] = {"exp_avg_sq": tensor(k, k), "exp_avg": tensor(k, f"momentum/{k}"),
                                "step": torch.tensor(float(state[f"step/{net}"]), dtype=torch.float32)}


def _index(params: list, p) -> int:
    return next(i for i, q in enumerate(params) if q is p)  # identity: == on tensors compares elements


def build_wgan(spec, params=None, device="cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)


def set_threads(n: int) -> None:
    torch.set_num_threads(n)
