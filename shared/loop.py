"""The per-iteration log every framework writes, and the progress bars every training loop shows.

One generator iteration (G-it) = n_critic critic steps + one generator step. Its log holds the last
critic step's record, the largest |w| over the whole block (so "clipping held at every step" is
checkable from the log), the generator loss, and where the run is (iteration, critic steps, epoch).
"""

from __future__ import annotations

import time
from typing import Callable

from shared.protocol import CRITIC_RECORD, GENERATOR_RECORD
from shared.streams import Streams

OnIteration = Callable[[int, dict], None]
LOG_KEYS = ("iteration", "step", "epoch", *CRITIC_RECORD, *GENERATOR_RECORD, "seconds")


def iteration_log(iteration: int, streams: Streams, critic_records: list[dict], generator_record: dict,
                  seconds: float) -> dict:
    """One line of metrics.jsonl for generator iteration `iteration` (0-based)."""
    n_critic = streams.spec.n_critic
    last = critic_records[-1]
    log = {"iteration": iteration, "step": (iteration + 1) * n_critic,
           "epoch": streams.epoch_of(iteration * n_critic)}
    log.update({k: float(last[k]) for k in CRITIC_RECORD})
    log["max_abs_weight"] = max(float(r["max_abs_weight"]) for r in critic_records)
    log.update({k: float(generator_record[k]) for k in GENERATOR_RECORD})
    log["seconds"] = seconds
    return log


def run_iterations(label: str, streams: Streams, iterations: range,
                   one_iteration: Callable[[int], tuple[list[dict], dict]], on_iteration: OnIteration | None = None,
                   progress: str = "epoch") -> list[dict]:
    """The plain training loop's bookkeeping: for each generator iteration i, one_iteration(i) trains it and
    returns (critic records, generator record); this logs it, moves the progress bars, calls on_iteration."""
    bars = ProgressBars(streams, label, progress, total=len(iterations))
    logs, start = [], time.perf_counter()
    try:
        for i in iterations:
            block, g = one_iteration(i)
            log = iteration_log(i, streams, block, g, time.perf_counter() - start)
            logs.append(log)
            bars.update(log)
            if on_iteration is not None:
                on_iteration(i, log)
    finally:
        bars.close()
    return logs


class ProgressBars:
    """progress='epoch': the tutorial's feel, one tqdm bar per epoch with the losses in the postfix;
    'run': one bar for the whole run (what `compare` shows per framework); 'none': silent."""

    def __init__(self, streams: Streams, label: str, progress: str = "epoch", total: int | None = None) -> None:
        self.streams, self.label, self.mode, self.total = streams, label, progress, total
        self.bar = None
        self.epoch = -1

    def update(self, log: dict) -> None:
        if self.mode == "none":
            return
        from tqdm.auto import tqdm
        if self.bar is None or (self.mode == "epoch" and log["epoch"] != self.epoch):
            self.close()
            self.epoch = log["epoch"]
            if self.mode == "epoch":
                total, desc = self.streams.steps_per_epoch / self.streams.spec.n_critic, f"{self.label} epoch {self.epoch}"
            else:
                total, desc = self.total, self.label
            self.bar = tqdm(total=total, desc=desc, unit="G-it", leave=True, dynamic_ncols=True)
        self.bar.update(1)
        self.bar.set_postfix(D=f"{log['critic_loss']:+.4f}", G=f"{log['generator_loss']:+.4f}",
                             W=f"{log['wasserstein']:+.4f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
