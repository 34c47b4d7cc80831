"""Training loop for PyTorch: the tutorial's loop over batches, fed by the harness instead of a DataLoader.

`for i in iterations`: n_critic critic steps, then one generator step (wgan.py's critic_step and
generator_step). The batches and noise come from shared/streams.py so every framework sees the same
bytes; impl_keras/train.py shows the Keras way (`model.fit`).
"""

from __future__ import annotations

from shared.loop import OnIteration, run_iterations
from shared.streams import Streams


def fit(wgan, streams: Streams, iterations: range, on_iteration: OnIteration | None = None,
        progress: str = "epoch") -> list[dict]:
    """Train over generator iterations `iterations` (progress: 'epoch', 'run' or 'none'); one log per iteration."""
    n_critic = wgan.spec.n_critic

    def one_iteration(i: int) -> tuple[list[dict], dict]:
        # n_critic critic steps on the harness's batches, then one generator step (global schedule)
        block = [wgan.critic_step(*streams.critic_inputs(t)) for t in range(i * n_critic, (i + 1) * n_critic)]
        return block, wgan.generator_step(streams.generator_z((i + 1) * n_critic - 1))

    return run_iterations(wgan.framework, streams, iterations, one_iteration, on_iteration, progress)
