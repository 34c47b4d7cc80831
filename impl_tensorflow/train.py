"""Training loop for TensorFlow: the tutorial's loop, fed by the harness instead of a tf.data pipeline.

The tutorial's script (PyTorch-GAN's implementations/wgan/wgan.py):

    for epoch in range(opt.n_epochs):
        for i, (imgs, _) in enumerate(dataloader):
            ... one critic step on imgs with a fresh z ...
            if i % opt.n_critic == 0:
                ... one generator step ...

Here the same loop runs over generator iterations: for each, the critic steps the spec's schedule puts
before its generator step (shared/core/streams.py's Schedule), then the generator step — traced together into
one graph (contract.py's WGAN.train_iteration: the same critic_step and generator_step the contract compiles
one by one, ~40% faster on one CPU thread than one graph call per step). The batches and noise come from
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
            if streams.is_uniform(i):
                # the critic steps before generator step i, then the generator step: one graph call, which
                # returns what the log keeps of the critic steps as a one-element block (the last one's record,
                # with the largest max |w| of them all)
                block, generator = wgan.train_iteration(streams.iteration_inputs(i))
            else:
                # an epoch's last, smaller batch cannot be stacked with full ones: the same steps one by one
                block = [wgan.critic_step(*streams.critic_inputs(t)) for t in schedule.critic_steps(i)]
                generator = wgan.generator_step(streams.generator_z(schedule.generator_after(i)))
            log.add(i, block, generator)
    return log.logs
