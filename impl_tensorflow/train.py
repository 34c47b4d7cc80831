"""Training loop for TensorFlow: a Python loop feeding one compiled (tf.function) generator iteration.

`for i in iterations`: n_critic critic steps, then one generator step, traced together into one graph
(wgan.py's WGAN.train_iteration: the same critic_step and generator_step the contract compiles one by
one, ~40% faster on one CPU thread than n_critic + 1 graph calls). The batches and noise come from
shared/streams.py instead of a tf.data pipeline, so every framework sees the same bytes;
impl_keras/train.py shows the Keras way (`model.fit`).
"""

from __future__ import annotations

from shared.loop import OnIteration, run_iterations
from shared.streams import Streams


def fit(wgan, streams: Streams, iterations: range, on_iteration: OnIteration | None = None,
        progress: str = "epoch") -> list[dict]:
    """Train over generator iterations `iterations` (progress: 'epoch', 'run' or 'none'); one log per iteration."""

    def one_iteration(i: int) -> tuple[list[dict], dict]:
        # n_critic critic steps on the harness's batches, then one generator step (global schedule), one graph
        return wgan.train_iteration(streams.iteration_inputs(i))

    return run_iterations(wgan.framework, streams, iterations, one_iteration, on_iteration, progress)
