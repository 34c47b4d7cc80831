"""Porting bug: only the critic's weight matrices are clipped; its biases drift past c."""

from examples import torch_wgan
from examples.porting_bugs import set_threads  # noqa: F401


class WGAN(torch_wgan.WGAN):
    framework = __name__
    clip_biases = False  # the bug


def build_wgan(spec, params=None, device="cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)
