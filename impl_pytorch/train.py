"""Training loop for PyTorch: the tutorial's loop over batches, fed by the harness instead of a DataLoader.

`for i in iterations`: n_critic critic steps, then one generator step (wgan.py's critic_step and
generator_step). The batches and noise come from shared/streams.py so every framework sees the same
bytes; impl_keras/train.py shows the Keras way (`model.fit`).
"""

from __future__ import annotations

import time

from shared.loop import OnIteration, ProgressBars, iteration_log
from shared.streams import Streams


def fit(wgan, streams: Streams, iterations: range, on_iteration: OnIteration | None = None,
        progress: str = "epoch") -> list[dict]:
    """Train over generator iterations `iterations` (progress: 'epoch', 'run' or 'none'); one log per iteration."""
    n_critic = wgan.spec.n_critic
    bars = ProgressBars(streams, wgan.framework, progress, total=len(iterations))
    logs, start = [], time.perf_counter()
    try:
        for i in iterations:
            # n_critic critic steps on the harness's batches, then one generator step (global schedule)
            block = [wgan.critic_step(*streams.critic_inputs(t))
                     for t in range(i * n_critic, (i + 1) * n_critic)]
            g = wgan.generator_step(streams.generator_z((i + 1) * n_critic - 1))
            log = iteration_log(i, streams, block, g, time.perf_counter() - start)
            logs.append(log)
            bars.update(log)
            if on_iteration is not None:
                on_iteration(i, log)
    finally:
        bars.close()
    return logs
