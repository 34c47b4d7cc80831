"""examples/torch_wgan.py with one planted porting bug: clipping only the critic's weights, not its biases.

A classic slip when porting `for p in critic.parameters(): p.clamp_(-c, c)` to a framework whose layers
name their variables: the biases drift past c. `wgan-suite parity --framework examples.torch_wgan_buggy`
fails, and names the check that caught it (the float64 lockstep's parameters and losses).
"""

from examples import torch_wgan


class WGAN(torch_wgan.WGAN):
    framework = "examples.torch_wgan_buggy"
    clip_biases = False  # the bug


def build_wgan(spec, params=None, device="cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)


set_threads = torch_wgan.set_threads
