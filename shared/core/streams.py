"""The harness owns every random draw and the training schedule, so every framework sees byte-identical
inputs in the same order.

Each draw comes from its own NumPy PCG64 generator keyed by (seed, purpose, index), so the batch of
critic step t does not depend on how many draws came before it — a run resumed at step t, or a framework
that skips a draw, still sees the same numbers.

The schedule (`Schedule`) says after which critic steps a generator step runs, from three spec fields:
generator_step_at ('first': after i % n_critic == 0, the tutorial; 'last': after i % n_critic ==
n_critic - 1, Algorithm 1), counter_restarts_each_epoch (i is the batch index within the epoch, or the
critic step since the start) and drop_last_batch (whether the epoch's last, partial batch is trained on).
A generator iteration (G-it) is one generator step and the critic steps since the previous one: always
n_critic of them in Algorithm 1; in the tutorial 1 in the very first G-it and, where an epoch ends in the
middle of a group, the leftover steps of that epoch plus the first of the next (938 batches = 187 * 5 + 3).
"""

from __future__ import annotations

import numpy as np

from shared.core.errors import UserError
from shared.core.spec import WGANSpec

# Purposes are hashed into the seed so streams never overlap.
_PURPOSES = {"init": 1, "shuffle": 2, "critic_z": 3, "generator_z": 4, "fixed_z": 5, "misc": 6, "mix": 7}


def rng(seed: int, purpose: str, *index: int) -> np.random.Generator:
    """A fresh generator for one (seed, purpose, index...) key."""
    return np.random.Generator(np.random.PCG64([seed, _PURPOSES[purpose], *index]))


class Schedule:
    """Which critic steps t = 0, 1, 2, ... run before generator step j = 0, 1, 2, ..., and how big each
    batch is, for a training set of `n_train` samples. Pure arithmetic: no data, no randomness."""

    def __init__(self, spec: WGANSpec, n_train: int) -> None:
        b, n = spec.batch_size, spec.n_critic
        if n_train < b:
            raise UserError(f"the training set has {n_train} samples, fewer than one batch ({b}); use a "
                            "smaller --set batch_size or more data")
        self.spec, self.n_train = spec, n_train
        full, rest = divmod(n_train, b)
        self.keeps_partial = rest > 0 and not spec.drop_last_batch
        if self.keeps_partial and rest < 2:
            raise UserError(f"the last batch of every epoch would hold {rest} sample ({n_train} = {full} * {b} + "
                            f"{rest}) and BatchNorm needs at least 2; use --set drop_last_batch=true or another batch_size")
        self.steps_per_epoch = full + self.keeps_partial
        """Critic steps (batches) per pass over the training set."""
        self.offset = 0 if spec.generator_step_at == "first" else n - 1  # i % n_critic == offset -> generator step
        if spec.counter_restarts_each_epoch:
            # i restarts every epoch: the generator steps fall on the same batch indices in every epoch
            self.positions = range(self.offset, self.steps_per_epoch, n)
            if not self.positions:
                raise UserError(f"an epoch has {self.steps_per_epoch} batches, too few for a generator step after "
                                f"batch {self.offset + 1}; use more data, a smaller batch_size or n_critic")

    def generators_per_epoch(self) -> float:
        """Generator steps per pass over the data (187.6 for Algorithm 1's global count on MNIST: not whole)."""
        if self.spec.counter_restarts_each_epoch:
            return len(self.positions)
        return self.steps_per_epoch / self.spec.n_critic

    def generator_after(self, j: int) -> int:
        """The critic step t that generator step j follows (generator step j runs right after it)."""
        if self.spec.counter_restarts_each_epoch:
            epoch, k = divmod(j, len(self.positions))
            return epoch * self.steps_per_epoch + self.positions[k]
        return j * self.spec.n_critic + self.offset

    def generator_follows(self, step: int) -> bool:
        """True when a generator step runs right after critic step `step`."""
        if self.spec.counter_restarts_each_epoch:
            return step % self.steps_per_epoch in self.positions
        return step % self.spec.n_critic == self.offset

    def critic_steps(self, j: int) -> range:
        """The critic steps of generator iteration j: those after generator step j - 1, up to the one it follows."""
        return range(self.generator_after(j - 1) + 1 if j > 0 else 0, self.generator_after(j) + 1)

    def iterations_within(self, steps: int) -> int:
        """How many generator steps the first `steps` critic steps contain (a --steps budget in G-its)."""
        if steps <= 0:
            return 0
        if self.spec.counter_restarts_each_epoch:
            epochs, rest = divmod(steps, self.steps_per_epoch)
            return epochs * len(self.positions) + sum(p < rest for p in self.positions)
        return max(0, (steps - 1 - self.offset) // self.spec.n_critic + 1)

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def batch_rows(self, step: int) -> int:
        """Samples in the batch of critic step `step` (batch_size, or fewer for a kept partial batch)."""
        k = step % self.steps_per_epoch
        return min(self.spec.batch_size, self.n_train - k * self.spec.batch_size)


class Streams:
    """Real batches and noise for every critic step of a run, as arrays in the spec's dtype.

    real batch of step t: [rows, data_dim], rows = batch_size but for a kept partial last batch, from a
    fresh permutation of the training set keyed by (seed, epoch); the schedule is `self.schedule`.
    """

    def __init__(self, train_x: np.ndarray, spec: WGANSpec) -> None:
        self.schedule = Schedule(spec, len(train_x))
        self.train_x = train_x
        self.spec = spec
        self.steps_per_epoch = self.schedule.steps_per_epoch
        # (epoch, its permutation), replaced as one object: Keras' fit() draws items on a tf.data thread, and
        # two attributes could pair one epoch with another epoch's permutation between two threads' reads.
        self._epoch_perm: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))
        # (step, its z) of the last critic step a generator step follows: that step reuses its z (the tutorial),
        # which the loop has just drawn; keeping it spares a sixth draw per G-it (~0.1 ms, 8% of the drawing).
        # One object, as above.
        self._last_critic_z: tuple[int, np.ndarray] = (-1, np.empty(0))

    def epoch_of(self, step: int) -> int:
        return self.schedule.epoch_of(step)

    def real_batch(self, step: int) -> np.ndarray:
        return self.train_x[self._rows(step)].astype(self.spec.dtype, copy=False)

    def _rows(self, step: int) -> np.ndarray:
        """The training-set rows of critic step `step`'s real batch."""
        epoch, k = divmod(step, self.steps_per_epoch)
        cached_epoch, perm = self._epoch_perm
        if epoch != cached_epoch:
            perm = rng(self.spec.seed, "shuffle", epoch).permutation(len(self.train_x))
            self._epoch_perm = (epoch, perm)
        b = self.spec.batch_size
        return perm[k * b:(k + 1) * b]

    def critic_z(self, step: int) -> np.ndarray:
        """z for critic step `step`: [rows, latent_dim] standard normal, one row per real sample (the
        tutorial draws `imgs.shape[0]` rows)."""
        z = self._normal("critic_z", step, self.schedule.batch_rows(step))
        if self.spec.generator_reuses_z and self.schedule.generator_follows(step):
            self._last_critic_z = (step, z.copy())   # kept apart from what the caller gets (and may write to)
        return z

    def mix(self, step: int) -> np.ndarray:
        """Gradient-penalty mixing weights for critic step `step`: [rows, 1] uniform in [0, 1).

        x_mix = mix * real + (1 - mix) * fake (WGAN-GP). Drawn for every variant, so every critic step
        has the same three inputs; 'wgan' and 'gan' ignore them.
        """
        return rng(self.spec.seed, "mix", step).random((self.schedule.batch_rows(step), 1)).astype(self.spec.dtype)

    def critic_inputs(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(real [B, data_dim], z [B, latent], mix [B, 1]): everything critic step `step` consumes."""
        return self.real_batch(step), self.critic_z(step), self.mix(step)

    def iteration_inputs(self, iteration: int) -> dict[str, np.ndarray]:
        """Everything generator iteration `iteration` consumes, stacked for a training loop that runs a
        whole iteration at once: real [k, B, data_dim], z [k, B, latent], mix [k, B, 1], z_gen [B, latent],
        k = its number of critic steps. Only for iterations whose batches all have B rows
        (`is_uniform`): a kept partial batch cannot be stacked with full ones."""
        steps = self.schedule.critic_steps(iteration)
        # the real batches in one gather, straight into [k, B, data_dim]: gathering them one by one and stacking
        # copied a megabyte more per G-it (the same rows either way)
        rows = np.concatenate([self._rows(t) for t in steps])
        real = self.train_x[rows].astype(self.spec.dtype, copy=False).reshape(len(steps), -1, self.train_x.shape[1])
        return {"real": real, "z": np.stack([self.critic_z(t) for t in steps]),
                "mix": np.stack([self.mix(t) for t in steps]), "z_gen": self.generator_z(steps[-1])}

    def is_uniform(self, iteration: int) -> bool:
        """True when every critic step of generator iteration `iteration` has a full batch."""
        steps = self.schedule.critic_steps(iteration)
        return all(self.schedule.batch_rows(t) == self.spec.batch_size for t in steps)

    def generator_z(self, step: int) -> np.ndarray:
        """z for the generator step right after critic step `step`: that step's z (tutorial) or a fresh
        draw with as many rows, per spec.generator_reuses_z."""
        if self.spec.generator_reuses_z:
            last_step, z = self._last_critic_z
            return z.copy() if last_step == step else self.critic_z(step)
        return self._normal("generator_z", step, self.schedule.batch_rows(step))

    def fixed_z(self, n: int = 64) -> np.ndarray:
        """One fixed noise batch for sample grids, the same in every framework and every run of a seed."""
        return self._normal("fixed_z", 0, n)

    def _normal(self, purpose: str, step: int, n: int) -> np.ndarray:
        return rng(self.spec.seed, purpose, step).standard_normal((n, self.spec.latent_dim)).astype(self.spec.dtype)
