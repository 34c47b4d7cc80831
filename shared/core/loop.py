"""The bookkeeping every framework's training loop shares: one log line per generator iteration, the
progress bars, and the caller's per-iteration hook. The loops themselves are in impl_*/train.py.

One generator iteration (G-it) = the critic steps since the previous generator step, then one generator
step (shared/core/streams.py's Schedule says which). Its log holds the last critic step's record, the largest
|w| over all its critic steps (so "clipping held at every step" is checkable from the log), the generator
loss, and where the run is (iteration, critic steps done, epoch).
"""

from __future__ import annotations

import time
from typing import Callable

from shared.core.protocol import CRITIC_RECORD, GENERATOR_RECORD
from shared.core.streams import Streams

OnIteration = Callable[[int, dict], None]
LOG_KEYS = ("iteration", "step", "epoch", *CRITIC_RECORD, *GENERATOR_RECORD, "seconds")


def iteration_log(iteration: int, streams: Streams, critic_records: list[dict], generator_record: dict,
                  seconds: float) -> dict:
    """One line of metrics.jsonl for generator iteration `iteration` (0-based). Of the critic records it reads
    the last one and every one's max_abs_weight; the graph loops (impl_tensorflow/contract.py's
    _generator_iteration, impl_keras/wgan.py's train_step) hand it just that, so reading more here means
    returning more there."""
    after = streams.schedule.generator_after(iteration)  # the critic step the generator step followed
    last = critic_records[-1]
    log = {"iteration": iteration, "step": after + 1, "epoch": streams.epoch_of(after)}
    log.update({k: float(last[k]) for k in CRITIC_RECORD})
    log["max_abs_weight"] = max(float(r["max_abs_weight"]) for r in critic_records)
    log.update({k: float(generator_record[k]) for k in GENERATOR_RECORD})
    log["seconds"] = seconds
    return log


class TrainingLog:
    """Collects the per-iteration logs of one fit() call over generator iterations `iterations`.

    `add(i, critic_records, generator_record)` after every generator step: logs it, moves the progress
    bar, calls on_iteration(i, log). Use as a context manager so the bars close on errors too.
    progress='epoch': the tutorial's feel, one tqdm bar per epoch ("Epoch   1/3") counting batches, with the
    losses; 'run': one bar over the run's G-its (what `compare` shows per framework); 'none': silent.
    """

    def __init__(self, label: str, streams: Streams, iterations: range, on_iteration: OnIteration | None = None,
                 progress: str = "epoch") -> None:
        self.label, self.streams, self.iterations = label, streams, iterations
        self.on_iteration, self.mode = on_iteration, progress
        self.logs: list[dict] = []
        self.bar, self.epoch, self.step = None, -1, None
        self.start = time.perf_counter()

    def __enter__(self) -> "TrainingLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, iteration: int, critic_records: list[dict], generator_record: dict) -> dict:
        log = iteration_log(iteration, self.streams, critic_records, generator_record, time.perf_counter() - self.start)
        self.logs.append(log)
        try:
            self._progress(log)
        except BrokenPipeError:
            # The reader of our stderr is gone (a grid or compare killed outright): train on without a bar, so
            # the SIGTERM that follows (executors.py) still stops this run at a checkpoint, status 'interrupted'.
            self.mode, self.bar = "none", None
        if self.on_iteration is not None:
            self.on_iteration(iteration, log)
        return log

    def _progress(self, log: dict) -> None:
        if self.mode == "none":
            return
        from tqdm.auto import tqdm
        schedule = self.streams.schedule
        if self.mode == "run":
            if self.bar is None:
                self.bar = tqdm(total=len(self.iterations), desc=self.label, unit="G-it", leave=True, dynamic_ncols=True)
            self.bar.update(1)
        else:  # one bar per epoch, counting batches (critic steps), as the tutorial's loop over its DataLoader
            if self.step is None:
                self.step = schedule.critic_steps(self.iterations.start).start
            last_epoch = schedule.epoch_of(schedule.generator_after(self.iterations.stop - 1))
            while self.step < log["step"]:
                epoch = schedule.epoch_of(self.step)
                if epoch != self.epoch:
                    self.close()
                    self.epoch = epoch
                    self.bar = tqdm(total=schedule.steps_per_epoch, desc=f"{self.label} Epoch {epoch + 1:>3}/{last_epoch + 1}",
                                    unit="batch", leave=True, dynamic_ncols=True,
                                    initial=self.step - epoch * schedule.steps_per_epoch)
                advance = min(log["step"], (epoch + 1) * schedule.steps_per_epoch) - self.step
                self.bar.update(advance)
                self.step += advance
        self.bar.set_postfix(D=f"{log['critic_loss']:+.4f}", G=f"{log['generator_loss']:+.4f}",
                             W=f"{log['wasserstein']:+.4f}", refresh=False)

    def close(self) -> None:
        bar, self.bar = self.bar, None
        if bar is not None:
            try:
                bar.close()   # its last refresh: a write to stderr
            except BrokenPipeError:
                # The reader is gone (as in add). Closing runs on the way out of a `with` too, where raising
                # would replace the exception leaving it: a SIGTERM's StopRequested, whose handler checkpoints.
                pass


def fit_by_steps(wgan, streams: Streams, iterations: range, on_iteration: OnIteration | None = None,
                 progress: str = "epoch") -> list[dict]:
    """The training loop through the contract alone (shared/core/protocol.py): for an implementation without a
    train.py of its own, and Keras' 'steps' mode. impl_pytorch/train.py is the same loop, in plain sight."""
    schedule = streams.schedule
    with TrainingLog(wgan.framework, streams, iterations, on_iteration, progress) as log:
        for i in iterations:
            block = [wgan.critic_step(*streams.critic_inputs(t)) for t in schedule.critic_steps(i)]
            generator = wgan.generator_step(streams.generator_z(schedule.generator_after(i)))
            log.add(i, block, generator)
    return log.logs
