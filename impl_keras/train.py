"""Training loop for Keras: `model.fit()` over a PyDataset of generator iterations, with callbacks.

One batch of fit() is one generator iteration (G-it): the n_critic real batches and noise batches of
critic steps t = i*n_critic .. i*n_critic + n_critic - 1 and the generator's z, all drawn by the
harness (shared/streams.py), so every framework sees the same bytes. WGANModel.train_step (wgan.py)
runs the critic and generator steps through the same compiled functions the harness's contract calls
one step at a time. impl_pytorch/train.py shows the plain-loop way.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import keras
import numpy as np

from shared.loop import OnIteration
from shared.protocol import CRITIC_RECORD, GENERATOR_RECORD
from shared.streams import Streams


class GeneratorIterations(keras.utils.PyDataset):
    """Item j: the inputs of generator iteration i = iterations[j] as a dict (Keras takes tuples of at most
    three): real [n_critic, B, data_dim], z [n_critic, B, latent], mix [n_critic, B, 1], z_gen [B, latent]."""

    def __init__(self, streams: Streams, iterations: range) -> None:
        super().__init__()  # one worker, no multiprocessing: each item is a few cheap NumPy draws
        self.streams, self.iterations = streams, iterations

    def __len__(self) -> int:
        return len(self.iterations)

    def __getitem__(self, j: int):
        return self.streams.iteration_inputs(self.iterations[j])


class IterationCallback(keras.callbacks.Callback):
    """Knows which global generator iteration each fit() batch is (batch indices restart every epoch)."""

    def __init__(self, first_iteration: int = 0) -> None:
        super().__init__()
        self.iteration = first_iteration - 1

    def on_train_batch_begin(self, batch, logs=None) -> None:
        self.iteration += 1


class IterationLogs(IterationCallback):
    """train_step's last_* logs -> the harness's per-iteration log (shared/loop.py), kept in `self.logs`."""

    def __init__(self, streams: Streams, first_iteration: int = 0, on_iteration: OnIteration | None = None) -> None:
        super().__init__(first_iteration)
        self.streams, self.on_iteration = streams, on_iteration
        self.logs: list[dict] = []
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None) -> None:
        i, n_critic = self.iteration, self.streams.spec.n_critic
        log = {"iteration": i, "step": (i + 1) * n_critic, "epoch": self.streams.epoch_of(i * n_critic)}
        log.update({k: float(logs[f"last_{k}"]) for k in (*CRITIC_RECORD, *GENERATOR_RECORD)})
        log["seconds"] = time.perf_counter() - self.start
        self.logs.append(log)
        if self.on_iteration is not None:
            self.on_iteration(i, log)


class SampleGrid(IterationCallback):
    """Every `every` generator iterations: samples G(z) (eval mode) and hands them to `save(iteration, x)`,
    iteration = generator iterations done, x [N, data_dim] (the harness writes a PNG grid)."""

    def __init__(self, save: Callable[[int, np.ndarray], None], z: np.ndarray, every: int = 100,
                 first_iteration: int = 0) -> None:
        super().__init__(first_iteration)
        self.save, self.z, self.every = save, z, every

    def on_train_batch_end(self, batch, logs=None) -> None:
        done = self.iteration + 1
        if done % self.every == 0:
            samples = self.model.generator(keras.ops.convert_to_tensor(self.z), training=False)
            self.save(done, keras.ops.convert_to_numpy(samples))


class TqdmProgress(keras.callbacks.Callback):
    """mode='epoch': the tutorial's feel, one tqdm bar per Keras epoch with the latest losses in the
    postfix; 'run': one bar over `total` generator iterations, for all fit() calls (close() ends it)."""

    def __init__(self, label: str = "keras", mode: str = "epoch", total: int | None = None) -> None:
        super().__init__()
        self.label, self.mode, self.total = label, mode, total
        self.bar = None

    def _open(self, total, desc: str) -> None:
        from tqdm.auto import tqdm
        self.close()
        self.bar = tqdm(total=total, desc=desc, unit="G-it", leave=True, dynamic_ncols=True)

    def on_epoch_begin(self, epoch, logs=None) -> None:
        if self.mode == "epoch":
            self._open(self.params.get("steps"), f"{self.label} epoch {epoch}")

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.bar is None:
            self._open(self.total, self.label)
        self.bar.update(1)
        self.bar.set_postfix(D=f"{logs['last_critic_loss']:+.4f}", G=f"{logs['last_generator_loss']:+.4f}",
                             W=f"{logs['last_wasserstein']:+.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.mode == "epoch":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def fit(wgan, streams: Streams, iterations: range | int, on_iteration: OnIteration | None = None,
        progress: str | bool = "epoch", callbacks: Iterable[keras.callbacks.Callback] = (),
        steps_per_epoch: int | None = None) -> list[dict]:
    """Train `wgan` (impl_keras.wgan.WGAN) over generator iterations `iterations` with model.fit();
    returns one log dict per iteration (shared/loop.py's schema). progress: 'epoch', 'run' or 'none'.

    A Keras epoch is `steps_per_epoch` generator iterations (default: one pass over the training data);
    a last, shorter epoch takes the remainder.
    """
    iterations = range(iterations) if isinstance(iterations, int) else iterations
    progress = {True: "epoch", False: "none"}.get(progress, progress)
    if steps_per_epoch is None:
        steps_per_epoch = max(1, streams.steps_per_epoch // streams.spec.n_critic)
    logs = IterationLogs(streams, iterations.start, on_iteration)
    bars = TqdmProgress(wgan.framework, progress, total=len(iterations))
    keras_callbacks = [logs, *([bars] if progress != "none" else []), *callbacks]
    full, rest = divmod(len(iterations), steps_per_epoch)
    # (first iteration, epochs, G-its per epoch) of each fit() call: full epochs, then the remainder.
    calls = [(0, full, steps_per_epoch), (full * steps_per_epoch, 1, rest)]
    try:
        with keras.device(wgan.device):
            for offset, epochs, steps in calls:
                if epochs and steps:
                    data = GeneratorIterations(streams, iterations[offset:offset + epochs * steps])
                    initial = (iterations.start + offset) // steps_per_epoch
                    # shuffle=False: Keras would otherwise shuffle a PyDataset's items, i.e. our schedule.
                    wgan.model.fit(data, epochs=initial + epochs, initial_epoch=initial, steps_per_epoch=steps,
                                   shuffle=False, callbacks=keras_callbacks, verbose=0)
    finally:
        bars.close()
    return logs.logs
