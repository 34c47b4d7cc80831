"""Porting bug: the generator step draws its own z (torch.randn) instead of using the z it is given."""

import torch

from examples import torch_wgan
from examples.porting_bugs import set_threads  # noqa: F401


class WGAN(torch_wgan.WGAN):
    framework = __name__

    def generator_step(self, z):
        return super().generator_step(torch.randn(self._t(z).shape, dtype=self.dtype).numpy())  # the bug


def build_wgan(spec, params=None, device="cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)
