"""Porting bug: the critic loss adds E[D(real)] instead of subtracting it (one term's sign flipped)."""

from examples import torch_wgan
from examples.porting_bugs import set_threads  # noqa: F401


class WGAN(torch_wgan.WGAN):
    framework = __name__

    def critic_loss(self, d_real, d_fake):
        if self.spec.variant == "gan":
            return super().critic_loss(d_real, d_fake)
        return d_fake.mean() + d_real.mean()  # the bug: should be d_fake.mean() - d_real.mean()


def build_wgan(spec, params=None, device="cpu") -> WGAN:
    return WGAN(spec, params=params, device=device)
