"""Porting bug: the initial weights it is given are ignored; it draws Glorot-uniform weights and zero biases
(Keras' Dense default) instead."""

import torch
from torch import nn

from examples import torch_wgan
from examples.porting_bugs import set_threads  # noqa: F401


class WGAN(torch_wgan.WGAN):
    framework = __name__

    def __init__(self, spec, params=None, device="cpu") -> None:
        super().__init__(spec, params=None, device=device)  # the bug: params dropped
        with torch.no_grad():
            for net in (self.generator, self.critic):
                for layer in net:
                    if isinstance(layer, nn.Linear):
                        nn.init.xavier_uniform_(layer.weight)
                        nn.init.zeros_(layer.bias)


def build_wgan(spec, params=None, device="cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)
