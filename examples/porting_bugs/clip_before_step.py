"""Porting bug: the critic is clipped before the optimizer step, so every step leaves it outside [-c, c]."""

from examples import torch_wgan
from examples.porting_bugs import set_threads  # noqa: F401


class WGAN(torch_wgan.WGAN):
    framework = __name__

    def __init__(self, spec, params=None, device="cpu") -> None:
        super().__init__(spec, params=params, device=device)
        optimizer = self.optimizers["critic"]
        step = optimizer.step

        def clip_then_step():  # the bug: clip, then step
            super(WGAN, self).clip_critic()
            step()
        optimizer.step = clip_then_step

    def clip_critic(self) -> None:
        pass  # (moved before the step, above)


def build_wgan(spec, params=None, device="cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)
