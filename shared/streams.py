"""The harness owns every random draw, so every framework sees byte-identical inputs.

Each draw comes from its own NumPy PCG64 generator keyed by (seed, purpose, index), so the batch of
step t does not depend on how many draws came before it — a run resumed at step t, or a framework
that skips a draw, still sees the same numbers. The schedule is global: a critic step at every step
t = 0, 1, 2, ..., a generator step after every n_critic-th critic step (t % n_critic == n_critic - 1),
never reset at epoch ends.
"""

from __future__ import annotations

import numpy as np

from shared.spec import WGANSpec

# Purposes are hashed into the seed so streams never overlap.
_PURPOSES = {"init": 1, "shuffle": 2, "critic_z": 3, "generator_z": 4, "fixed_z": 5, "misc": 6, "mix": 7}


def rng(seed: int, purpose: str, *index: int) -> np.random.Generator:
    """A fresh generator for one (seed, purpose, index...) key."""
    return np.random.Generator(np.random.PCG64([seed, _PURPOSES[purpose], *index]))


def is_generator_step(step: int, n_critic: int) -> bool:
    """True when critic step `step` (0-based) closes a block of n_critic and a generator step follows."""
    return step % n_critic == n_critic - 1


class Streams:
    """Real batches and noise for every step of a run, as arrays in the spec's dtype.

    real batch of step t: [batch, data_dim], rows of epoch e = t // steps_per_epoch from a fresh
    permutation of the training set keyed by (seed, e); the last partial batch of an epoch is dropped.
    """

    def __init__(self, train_x: np.ndarray, spec: WGANSpec) -> None:
        if len(train_x) < spec.batch_size:
            from shared.errors import UserError
            raise UserError(f"the training set has {len(train_x)} samples, fewer than one batch "
                            f"({spec.batch_size}); use a smaller --set batch_size or more data")
        self.train_x = train_x
        self.spec = spec
        self.steps_per_epoch = len(train_x) // spec.batch_size
        # (epoch, its permutation), replaced as one object: Keras' fit() draws items on a tf.data thread, and
        # two attributes could pair one epoch with another epoch's permutation between two threads' reads.
        self._epoch_perm: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def real_batch(self, step: int) -> np.ndarray:
        epoch, k = divmod(step, self.steps_per_epoch)
        cached_epoch, perm = self._epoch_perm
        if epoch != cached_epoch:
            perm = rng(self.spec.seed, "shuffle", epoch).permutation(len(self.train_x))
            self._epoch_perm = (epoch, perm)
        b = self.spec.batch_size
        return self.train_x[perm[k * b:(k + 1) * b]].astype(self.spec.dtype, copy=False)

    def critic_z(self, step: int) -> np.ndarray:
        """z for critic step `step`: [batch, latent_dim] standard normal."""
        return self._normal("critic_z", step, self.spec.batch_size)

    def mix(self, step: int) -> np.ndarray:
        """Gradient-penalty mixing weights for critic step `step`: [batch, 1] uniform in [0, 1).

        x_mix = mix * real + (1 - mix) * fake (WGAN-GP). Drawn for every variant, so every critic step
        has the same three inputs; 'wgan' and 'gan' ignore them.
        """
        return rng(self.spec.seed, "mix", step).random((self.spec.batch_size, 1)).astype(self.spec.dtype)

    def critic_inputs(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(real [B, data_dim], z [B, latent], mix [B, 1]): everything critic step `step` consumes."""
        return self.real_batch(step), self.critic_z(step), self.mix(step)

    def iteration_inputs(self, iteration: int) -> dict[str, np.ndarray]:
        """Everything generator iteration `iteration` consumes, stacked for a training loop that runs a
        whole iteration at once: real [n_critic, B, data_dim], z [n_critic, B, latent], mix [n_critic, B, 1],
        z_gen [B, latent]."""
        n = self.spec.n_critic
        steps = range(iteration * n, (iteration + 1) * n)
        return {"real": np.stack([self.real_batch(t) for t in steps]), "z": np.stack([self.critic_z(t) for t in steps]),
                "mix": np.stack([self.mix(t) for t in steps]), "z_gen": self.generator_z(steps[-1])}

    def generator_z(self, step: int) -> np.ndarray:
        """z for the generator step after critic step `step` (reused or fresh, per spec)."""
        if self.spec.generator_reuses_z:
            return self.critic_z(step)
        return self._normal("generator_z", step, self.spec.batch_size)

    def fixed_z(self, n: int = 64) -> np.ndarray:
        """One fixed noise batch for sample grids, the same in every framework and every run of a seed."""
        return self._normal("fixed_z", 0, n)

    def _normal(self, purpose: str, step: int, n: int) -> np.ndarray:
        return rng(self.spec.seed, purpose, step).standard_normal((n, self.spec.latent_dim)).astype(self.spec.dtype)
