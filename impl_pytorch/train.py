"""Training loop for PyTorch: the tutorial's loop, fed by the harness instead of a DataLoader.

The tutorial's script (PyTorch-GAN's implementations/wgan/wgan.py):

    for epoch in range(opt.n_epochs):
        for i, (imgs, _) in enumerate(dataloader):
            ... one critic step on imgs with a fresh z ...
            if i % opt.n_critic == 0:
                ... one generator step ...

Here the same loop runs over generator iterations: for each, the critic steps the spec's schedule puts
before its generator step (shared/core/streams.py's Schedule: the tutorial's `i % n_critic == 0` per epoch, or
Algorithm 1's n_critic steps then one), then the generator step. The batches and noise come from
shared/core/streams.py so every framework sees the same bytes; impl_keras/train.py shows the Keras way.
"""

from __future__ import annotations

from shared.core.loop import OnIteration, TrainingLog
from shared.core.streams import Streams


def fit(wgan, streams: Streams, iterations: range, on_iteration: OnIteration | None = None,
        progress: str = "epoch") -> list[dict]:
    """Train over generator iterations `iterations` (progress: 'epoch', 'run' or 'none'); one log per iteration."""
    schedule = streams.schedule
    with TrainingLog(wgan.framework, streams, iterations, on_iteration, progress) as log:
        for i in iterations:
            # the critic steps before generator step i (wgan.critic_step: update, then clip), ...
            block = [wgan.critic_step(*streams.critic_inputs(t)) for t in schedule.critic_steps(i)]
            # ... then the generator step, on the z of the critic step it follows (or a fresh one, per spec)
            generator = wgan.generator_step(streams.generator_z(schedule.generator_after(i)))
            log.add(i, block, generator)
    return log.logs
