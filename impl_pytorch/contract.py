"""The harness's contract for impl_pytorch/wgan.py: threads, dtype, device, NumPy in and out, canonical
parameters (shared/core/protocol.py says what every implementation provides). Nothing of the algorithm is
here: WGAN below only converts arrays and calls wgan.py's critic_step and generator_step.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from impl_pytorch.wgan import Critic, Generator, clip_stats, critic_step, generator_step, make_optimizer
from shared.core.errors import UserError
from shared.core.machine import mkl_avx512_on_amd
from shared.core.params import bn_layers, check_params, trainable_names
from shared.core.protocol import mixing_weights
from shared.core.spec import WGANSpec

FRAMEWORK = "pytorch"


# ==================================================================================================
# Setup: threads, dtype, device
# ==================================================================================================
def set_threads(n: int, mode: str | None = None) -> None:
    """Pin intra-op threads (two framework processes asking for all cores on a 2-core box crawl); the same
    for every mode (eager PyTorch runs one op at a time)."""
    torch.set_num_threads(n)


def torch_dtype(spec: WGANSpec) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[spec.dtype]


def resolve_device(device: str) -> torch.device:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: PyTorch sees no CUDA GPU here; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise UserError(f"unknown device {device!r}; use cpu or cuda")
    if device == "cpu":
        mkl_avx512_on_amd()   # MKL's AVX-512 kernels on AMD CPUs too, not its AVX2 ones (shared/core/machine.py)
    return torch.device(device)


# ==================================================================================================
# Contract: NumPy in, NumPy out, canonical parameters (see shared/core/protocol.py)
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
            else:
                slot.update(exp_avg_sq=tensor(name), exp_avg=tensor(f"momentum/{name}"),
                            step=torch.tensor(float(state[f"step/{network}"]), dtype=torch.float32))


def build_wgan(spec: WGANSpec, params: dict[str, np.ndarray] | None = None, device: str = "cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)


# ==================================================================================================
# Execution modes: how train.py's loop can run (`wgan-suite bench` asks for them by name)
# ==================================================================================================
EXECUTION_MODES = {
    "eager": "nn.Module + autograd, RMSprop (eps outside) in one fused pass (wgan.py), fp32 matmuls through MKL (its AVX-512 kernels on AMD too: shared/core/machine.py)",
    "onednn": "the same, fp32 matmuls routed to oneDNN (refused where oneDNN would compute them in bf16)",
    "bf16": "torch.autocast(bfloat16) around the loop: matmuls in bf16, weights and updates in fp32",
    "compiled": "generator and critic through torch.compile (inductor)",
}
"""name -> what runs; the first is the default, what `train` and `compare` use."""


def execution_modes() -> dict[str, str]:
    return dict(EXECUTION_MODES)


@contextlib.contextmanager
def execution_mode(wgan: WGAN, mode: str) -> Iterator[Callable]:
    """Set `wgan` up for `mode` and yield the fit function (train.py's) that trains it that way."""
    from impl_pytorch.train import fit
    if mode not in EXECUTION_MODES:
        raise UserError(f"unknown mode {mode!r} for {FRAMEWORK}; choose one of {', '.join(EXECUTION_MODES)}")
    around: contextlib.AbstractContextManager = contextlib.nullcontext()
    if mode == "onednn":
        # "bf16 allowed" is the only switch that sends fp32 Linear/addmm to oneDNN. Whether oneDNN then really
        # rounds to bf16 depends on the CPU (AMX, maybe AVX-512 BF16), so measure it here, not guess from flags.
        around = _matmul_precision("bf16")
        with _matmul_precision("bf16"):
            error = fp32_matmul_error(wgan.device)
        if error > FP32_MATMUL_ERROR_BOUND:
            raise UserError(f"mode onednn: oneDNN computes fp32 matmuls in bf16 on this CPU (relative error "
                            f"{error:.0e} against float64); use eager, or bf16 to train in bf16 on purpose")
    if mode == "bf16":
        around = torch.autocast(device_type=wgan.device.type, dtype=torch.bfloat16)
    if mode == "compiled":
        wgan.generator.compile()
        wgan.critic.compile()
    with around:
        yield fit


# One [64, 784] x [784, 512] matmul against float64: ~1e-7 relative in fp32, ~3e-3 with bf16 inputs.
FP32_MATMUL_ERROR_BOUND = 1e-4


def fp32_matmul_error(device: torch.device) -> float:
    """max |fp32 linear - float64| / max |float64| for a batch-64 layer of the critic, as this process computes it."""
    generator = torch.Generator().manual_seed(0)
    x, w = torch.randn(64, 784, generator=generator), torch.randn(512, 784, generator=generator)
    exact = x.double() @ w.double().T
    got = torch.nn.functional.linear(x.to(device), w.to(device)).double().cpu()
    return float((got - exact).abs().max() / exact.abs().max())


@contextlib.contextmanager
def _matmul_precision(precision: str) -> Iterator[None]:
    before = torch.backends.mkldnn.matmul.fp32_precision
    torch.backends.mkldnn.matmul.fp32_precision = precision
    try:
        yield
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = before
