"""Training loop for Keras: `model.fit()` over a PyDataset of the epoch's batches, with callbacks.

The tutorial's script (PyTorch-GAN's implementations/wgan/wgan.py):

    for epoch in range(opt.n_epochs):
        for i, (imgs, _) in enumerate(dataloader):
            ... one critic step on imgs with a fresh z ...
            if i % opt.n_critic == 0:
                ... one generator step ...

In Keras the two loops are fit()'s: a Keras epoch is a pass over the training data and one batch of
fit() is one batch of the tutorial's loop — WGANModel.train_step (wgan.py) runs its critic step and,
where the spec's schedule puts one (shared/core/streams.py's Schedule), the generator step. The batches and
noise are drawn by the harness (shared/core/streams.py), so every framework sees the same bytes; callbacks
turn fit()'s batches into the harness's per-iteration logs. impl_pytorch/train.py shows the plain loop.
"""

from __future__ import annotations

from typing import Callable, Iterable

import keras
import numpy as np

from impl_keras.wgan import LAST_RECORD
from shared.core.loop import OnIteration, TrainingLog
from shared.core.protocol import CRITIC_RECORD, GENERATOR_RECORD
from shared.core.streams import Streams


class CriticSteps(keras.utils.PyDataset):
    """Item j: the inputs of critic step t = steps[j] as a dict (Keras takes tuples of at most three):
    real [B, data_dim], z [B, latent], mix [B, 1], z_gen [B, latent] (the generator's z, used only when
    generator_step [1] is True). B is batch_size, or fewer for an epoch's kept last batch: Keras leaves the
    batch dimension of every input open."""

    def __init__(self, streams: Streams, steps: range) -> None:
        super().__init__()  # one worker, no multiprocessing: each item is a few cheap NumPy draws
        self.streams, self.steps = streams, steps

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, j: int):
        t, streams = self.steps[j], self.streams
        real, z, mix = streams.critic_inputs(t)
        return {"real": real, "z": z, "mix": mix, "z_gen": streams.generator_z(t),
                "generator_step": np.array([streams.schedule.generator_follows(t)])}


class IterationLogs(keras.callbacks.Callback):
    """fit()'s batches -> the harness's per-iteration logs: keeps each critic step's record and, after a
    batch that ended with a generator step, hands the iteration to shared.core.loop.TrainingLog (which logs it,
    moves the progress bar and calls the run's on_iteration)."""

    def __init__(self, log: TrainingLog, first_iteration: int) -> None:
        super().__init__()
        self.log, self.iteration, self.block = log, first_iteration, []

    def on_train_batch_end(self, batch, logs=None) -> None:
        last = dict(zip(LAST_RECORD, np.asarray(logs["last_record"], dtype=np.float64).tolist()))
        self.block.append({k: last[k] for k in CRITIC_RECORD})
        if last["generator_stepped"]:
            self.log.add(self.iteration, self.block, {k: last[k] for k in GENERATOR_RECORD})
            self.iteration, self.block = self.iteration + 1, []


class SampleGrid(keras.callbacks.Callback):
    """The tutorial's `if batches_done % opt.sample_interval == 0: save_image(...)`: after every `every`-th
    batch (counting from batch 0 of the run), samples G(z) in eval mode and hands them to
    `save(batches_done, x)`, x [N, data_dim]."""

    def __init__(self, save: Callable[[int, np.ndarray], None], z: np.ndarray, every: int = 400,
                 first_batch: int = 0) -> None:
        super().__init__()
        self.save, self.z, self.every, self.batches_done = save, z, every, first_batch

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.batches_done % self.every == 0:
            samples = self.model.generator(keras.ops.convert_to_tensor(self.z), training=False)
            self.save(self.batches_done, keras.ops.convert_to_numpy(samples))
        self.batches_done += 1


def fit(wgan, streams: Streams, iterations: range | int, on_iteration: OnIteration | None = None,
        progress: str | bool = "epoch", callbacks: Iterable[keras.callbacks.Callback] = ()) -> list[dict]:
    """Train `wgan` (impl_keras.wgan.WGAN) over generator iterations `iterations` with model.fit();
    returns one log dict per iteration (shared/core/loop.py's schema). progress: 'epoch', 'run' or 'none'.

    fit() runs the critic steps of those iterations, epoch by epoch: one fit() call for the whole epochs
    and one for each partial epoch at either end (a run that starts or stops mid-epoch).
    """
    iterations = range(iterations) if isinstance(iterations, int) else iterations
    progress = {True: "epoch", False: "none"}.get(progress, progress)
    schedule = streams.schedule
    per_epoch = schedule.steps_per_epoch
    first = schedule.critic_steps(iterations.start).start
    stop = schedule.generator_after(iterations.stop - 1) + 1
    # (first critic step, Keras epoch, epochs, batches per epoch) of each fit() call
    calls, t = [], first
    while t < stop:
        epoch, k = divmod(t, per_epoch)
        if k == 0 and t + per_epoch <= stop:  # whole epochs, as many as fit
            epochs = (stop - t) // per_epoch
            calls.append((t, epoch, epochs, per_epoch))
            t += epochs * per_epoch
        else:  # the run starts or stops inside this epoch
            steps = min(stop, (epoch + 1) * per_epoch) - t
            calls.append((t, epoch, 1, steps))
            t += steps
    with TrainingLog(wgan.framework, streams, iterations, on_iteration, progress) as log:
        keras_callbacks = [IterationLogs(log, iterations.start), *callbacks]
        with keras.device(wgan.device):
            for start, epoch, epochs, steps in calls:
                data = CriticSteps(streams, range(start, start + epochs * steps))
                # shuffle=False: Keras would otherwise shuffle a PyDataset's items, i.e. the harness's order.
                wgan.model.fit(data, epochs=epoch + epochs, initial_epoch=epoch, steps_per_epoch=steps,
                               shuffle=False, callbacks=keras_callbacks, verbose=0)
    return log.logs
