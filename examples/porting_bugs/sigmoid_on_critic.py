"""Porting bug: the discriminator's sigmoid left on the critic (WGAN change 1 missed)."""

from torch import nn

from examples import torch_wgan
from examples.porting_bugs import set_threads  # noqa: F401


class WGAN(torch_wgan.WGAN):
    framework = __name__

    def __init__(self, spec, params=None, device="cpu") -> None:
        super().__init__(spec, params=params, device=device)
        self.critic.append(nn.Sigmoid().to(self.dtype))  # the bug (no parameters: the contract does not notice)


def build_wgan(spec, params=None, device="cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)
