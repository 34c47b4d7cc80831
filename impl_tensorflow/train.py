"""Training loop for TensorFlow: the contract's steps in a plain Python loop (shared/loop.py).

TensorFlow needs nothing beyond `critic_step` / `generator_step` (wgan.py), which are tf.functions:
the Python loop only feeds them the harness's batches (instead of a tf.data pipeline), so every
framework sees the same bytes. impl_keras/train.py shows the Keras way (`model.fit`).
"""

from __future__ import annotations

from shared.loop import OnIteration, fit_steps
from shared.streams import Streams


def fit(wgan, streams: Streams, iterations: range, on_iteration: OnIteration | None = None,
        progress: str = "epoch") -> list[dict]:
    """Train over generator iterations `iterations` (progress: 'epoch', 'run' or 'none'); one log per iteration."""
    return fit_steps(wgan, streams, iterations, on_iteration=on_iteration, progress=progress)
