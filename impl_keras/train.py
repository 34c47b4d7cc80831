"""Training loop for Keras: `model.fit()` over a PyDataset of the epoch's batches, with callbacks.

The tutorial's script (PyTorch-GAN's implementations/wgan/wgan.py):

    for epoch in range(opt.n_epochs):
        for i, (imgs, _) in enumerate(dataloader):
            ... one critic step on imgs with a fresh z ...
            if i % opt.n_critic == 0:
                ... one generator step ...

In Keras the two loops are fit()'s: a Keras epoch is a pass over the training data and one batch of
fit() is one generator iteration of the tutorial's loop — WGANModel.train_step (wgan.py) runs its critic
steps, then the generator step (shared/core/streams.py's Schedule says which steps those are). An
iteration that spans an epoch's end, or the epoch's short last batch, is split over two or three fit()
batches, the last of which runs the generator step. The batches and noise are drawn by the harness
(shared/core/streams.py), so every framework sees the same bytes; callbacks turn fit()'s batches into the
harness's per-iteration logs. impl_pytorch/train.py shows the plain loop.
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterable

import keras
import numpy as np

from impl_keras.backend import fit_input
from impl_keras.wgan import LAST_RECORD
from shared.core.loop import OnIteration, TrainingLog
from shared.core.protocol import CRITIC_RECORD, GENERATOR_RECORD
from shared.core.streams import Schedule, Streams


def epoch_blocks(schedule: Schedule, iterations: range) -> list[list[range]]:
    """The critic steps of generator iterations `iterations`, one range per fit() batch, epoch by epoch (a
    batch belongs to the epoch of its first step): each iteration's steps, cut where an epoch ends or the
    batch size changes (an epoch's kept short last batch). An epoch a few batches short of the longest (187.6
    iterations per epoch make 188 or 189 batches) is then cut further, one step off the front of a block at a
    time, to the longest's count: Keras runs epochs of equal length in one fit() call, and each fit() call
    costs a tf.data pipeline built and torn down (up to seconds when its autotuning thread is busy). A run
    that starts or stops mid-epoch keeps that epoch short: it gets a fit() call of its own."""
    blocks = []
    for i in iterations:
        steps = schedule.critic_steps(i)
        start = steps.start
        for t in steps[1:]:
            if schedule.epoch_of(t) != schedule.epoch_of(t - 1) or schedule.batch_rows(t) != schedule.batch_rows(t - 1):
                blocks.append(range(start, t))
                start = t
        blocks.append(range(start, steps.stop))
    epochs = [list(group) for _, group in itertools.groupby(blocks, key=lambda b: schedule.epoch_of(b[0]))]
    longest = max(map(len, epochs), default=0)
    for epoch in epochs:
        if longest - len(epoch) > longest // 50:
            continue
        k = 0
        while len(epoch) < longest and k < len(epoch):
            if len(epoch[k]) > 1:  # iteration i's steps a..b as [a] and a+1..b: the same steps, one more batch
                epoch[k:k + 1] = [epoch[k][:1], epoch[k][1:]]
            k += 1
    return epochs


class CriticBlocks(keras.utils.PyDataset):
    """Item j: the inputs of the critic steps blocks[j] as a dict (Keras takes tuples of at most three),
    side by side in S = spec.n_critic slots, the unused ones zero: real [B, S, data_dim], z [B, S, latent],
    mix [B, S, 1], critic_steps [1] (how many slots are used), z_gen [B, latent] (the generator's z, used
    only when generator_step [1] is True). B is batch_size, or fewer for an epoch's kept last batch: Keras
    leaves axis 0 of every input open."""

    def __init__(self, streams: Streams, blocks: list[range]) -> None:
        super().__init__()  # one worker, no multiprocessing: each item is a few cheap NumPy draws
        self.streams, self.blocks = streams, blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, j: int):
        steps, streams = self.blocks[j], self.streams
        spec, rows = streams.spec, streams.schedule.batch_rows(steps[0])
        if len(steps) > spec.n_critic:
            raise ValueError(f"critic steps {steps.start}..{steps.stop - 1} do not fit {spec.n_critic} slots")
        item = {"real": np.zeros((rows, spec.n_critic, spec.data_dim), spec.dtype),
                "z": np.zeros((rows, spec.n_critic, spec.latent_dim), spec.dtype),
                "mix": np.zeros((rows, spec.n_critic, 1), spec.dtype)}
        for slot, t in enumerate(steps):
            for key, x in zip(("real", "z", "mix"), streams.critic_inputs(t)):
                item[key][:, slot] = x
        return {**item, "critic_steps": np.array([len(steps)], np.int32), "z_gen": streams.generator_z(steps[-1]),
                "generator_step": np.array([streams.schedule.generator_follows(steps[-1])])}


class IterationLogs(keras.callbacks.Callback):
    """fit()'s batches -> the harness's per-iteration logs: keeps each batch's critic record and, after a
    batch that ended with a generator step, hands the iteration to shared.core.loop.TrainingLog (which logs it,
    moves the progress bar and calls the run's on_iteration)."""

    def __init__(self, log: TrainingLog, first_iteration: int) -> None:
        super().__init__()
        self.log, self.iteration, self.block = log, first_iteration, []

    def on_train_batch_end(self, batch, logs=None) -> None:
        last = dict(zip(LAST_RECORD, np.asarray(logs["last_record"], dtype=np.float64).tolist()))
        self.block.append({k: last[k] for k in CRITIC_RECORD})
        if last["generator_stepped"]:
            if self.log.on_iteration is not None:
                # The run's on_iteration may read the model (a snapshot samples G(z), a checkpoint saves the
                # weights). On JAX fit() keeps the state outside the variables mid-epoch, and reading
                # Callback.model writes it back (elsewhere the property just returns the model).
                _ = self.model
            self.log.add(self.iteration, self.block, {k: last[k] for k in GENERATOR_RECORD})
            self.iteration, self.block = self.iteration + 1, []


class SampleGrid(keras.callbacks.Callback):
    """The tutorial's `if batches_done % opt.sample_interval == 0: save_image(...)`: for every `every`-th
    critic batch (counting from batch 0 of the run), samples G(z) in eval mode and hands them to
    `save(batches_done, x)`, x [N, data_dim] — after the fit() batch that held it, as the harness's
    images/B.png (`wgan-suite train --images-every`): after that batch's generator iteration."""

    def __init__(self, save: Callable[[int, np.ndarray], None], z: np.ndarray, every: int = 400,
                 first_batch: int = 0) -> None:
        super().__init__()
        self.save, self.z, self.every, self.batches_done = save, z, every, first_batch

    def on_train_batch_end(self, batch, logs=None) -> None:
        steps = int(np.asarray(logs["last_record"])[LAST_RECORD.index("critic_steps")])
        for done in range(self.batches_done, self.batches_done + steps):
            if done % self.every == 0:
                samples = self.model.generator(keras.ops.convert_to_tensor(self.z), training=False)
                self.save(done, keras.ops.convert_to_numpy(samples))
        self.batches_done += steps


def fit(wgan, streams: Streams, iterations: range | int, on_iteration: OnIteration | None = None,
        progress: str | bool = "epoch", callbacks: Iterable[keras.callbacks.Callback] = ()) -> list[dict]:
    """Train `wgan` (impl_keras.wgan.WGAN) over generator iterations `iterations` with model.fit();
    returns one log dict per iteration (shared/core/loop.py's schema). progress: 'epoch', 'run' or 'none'.

    fit() runs the critic steps of those iterations (their batches: epoch_blocks), one fit() call for each
    stretch of epochs with as many batches (the whole epochs of a run; a part of an epoch at either end on its own).
    """
    iterations = range(iterations) if isinstance(iterations, int) else iterations
    progress = {True: "epoch", False: "none"}.get(progress, progress)
    epochs = epoch_blocks(streams.schedule, iterations)
    first_epoch = streams.schedule.epoch_of(epochs[0][0][0]) if epochs else 0
    stretches = itertools.groupby(enumerate(epochs, first_epoch), key=lambda epoch: len(epoch[1]))
    with TrainingLog(wgan.framework, streams, iterations, on_iteration, progress) as log:
        keras_callbacks = [IterationLogs(log, iterations.start), *callbacks]
        with keras.device(wgan.device):
            for batches, stretch in stretches:
                stretch = list(stretch)
                data = CriticBlocks(streams, [block for _, blocks in stretch for block in blocks])
                # fit_input: on TensorFlow, tf.data without autotuning (backend.py says why). shuffle=False:
                # Keras would otherwise shuffle a PyDataset's items, i.e. the harness's order.
                wgan.model.fit(fit_input(data), epochs=stretch[-1][0] + 1, initial_epoch=stretch[0][0],
                               steps_per_epoch=batches, shuffle=False, callbacks=keras_callbacks, verbose=0)
    return log.logs
