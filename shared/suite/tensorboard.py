"""Optional TensorBoard event files (`--tensorboard`), written by the harness from the per-iteration log.

The harness writes them, not the frameworks, so every framework's run has the same tags with the same
meaning (step = generator iterations done), and `tensorboard --logdir runs/compare` lines them up:

    loss/*, clipping/*, critic/d_*    every iteration: shared.core.loop.LOG_KEYS (tag = group/metric)
    samples/fixed_z                   at every snapshot: the sample grid from the fixed z (as samples/*.png)
    weights/critic                    at every snapshot: histogram of all critic weights and biases
    weights/critic.NAME               ... and of each critic tensor (canonical names, shared.core.params)
    quality/*                         at every snapshot when quality is scored (fd, class_kl, w1, ...)
    HPARAMS tab                       framework, preset, dataset and every spec field, once per run

Needs the `tensorboard` package only (no TensorFlow, no torch): pip install -e '.[tensorboard]'.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from shared.core.errors import UserError

GROUPS = {"critic_loss": "loss", "wasserstein": "loss", "generator_loss": "loss",
          "max_abs_weight": "clipping", "clipped_share": "clipping"}  # the rest: critic/d_*
SAMPLES_TAG = "samples/fixed_z"
HISTOGRAM_BINS = 40


def tag(name: str) -> str:
    return f"{GROUPS.get(name, 'critic')}/{name}"


def check_available() -> None:
    """UserError (with the fix) when the tensorboard package is missing; call before writing anything."""
    import importlib.util
    if importlib.util.find_spec("tensorboard") is None:
        raise UserError("--tensorboard needs the tensorboard package; install it with: pip install -e '.[tensorboard]'")


def hparam_value(value) -> str | float | bool:
    """A spec field as an hparam: TensorBoard takes str, number or bool; lists (layer widths) become '512x256'."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return str(value)


class TensorBoardWriter:
    """Event files in RUN_DIR/tensorboard/events.out.tfevents.*; `tensorboard --logdir runs/` shows them."""

    def __init__(self, logdir: Path) -> None:
        check_available()
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.compat.proto.summary_pb2 import HistogramProto
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        self._event, self._summary, self._histo = event_pb2.Event, summary_pb2.Summary, HistogramProto
        self._writer = EventFileWriter(str(logdir))

    def _add(self, step: int, values: list) -> None:
        self._writer.add_event(self._event(wall_time=time.time(), step=step, summary=self._summary(value=values)))

    def scalars(self, step: int, values: dict[str, float], group: str | None = None) -> None:
        """group None: the training log's tags (tag()); else group/name, e.g. quality/fd."""
        self._add(step, [self._summary.Value(tag=f"{group}/{k}" if group else tag(k), simple_value=float(v))
                         for k, v in values.items()])

    def image(self, step: int, name: str, png: bytes, height: int, width: int, channels: int = 1) -> None:
        img = self._summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=png)
        self._add(step, [self._summary.Value(tag=name, image=img)])

    def histograms(self, step: int, tensors: dict[str, np.ndarray], bins: int = HISTOGRAM_BINS) -> None:
        """One histogram per name over that array's own range (TensorBoard re-bins for display)."""
        values = []
        for name, array in tensors.items():
            x = np.asarray(array, np.float64).ravel()
            if x.size == 0:
                continue
            lo, hi = float(x.min()), float(x.max())
            counts, edges = np.histogram(x, bins=bins, range=(lo, hi) if hi > lo else (lo - 0.5, hi + 0.5))
            histo = self._histo(min=lo, max=hi, num=float(x.size), sum=float(x.sum()), sum_squares=float(x @ x),
                                bucket_limit=edges[1:].tolist(), bucket=counts.astype(float).tolist())
            values.append(self._summary.Value(tag=name, histo=histo))
        self._add(step, values)

    def hparams(self, values: dict[str, object]) -> None:
        """The run's hyperparameters for the HPARAMS tab: one row per run, every framework in one table."""
        from tensorboard.plugins.hparams import summary_v2
        summary = summary_v2.hparams_pb({k: hparam_value(v) for k, v in values.items()})
        self._writer.add_event(self._event(wall_time=time.time(), step=0, summary=summary))

    def close(self) -> None:
        self._writer.close()
