"""Optional TensorBoard event files (`--tensorboard`), written by the harness from the per-iteration log.

The harness writes them, not the frameworks, so every framework's run has the same tags with the same
meaning (tag = group/metric from shared.loop.LOG_KEYS; step = generator iterations done). Needs the
`tensorboard` package only (no TensorFlow): pip install -e '.[tensorboard]'.
"""

from __future__ import annotations

import time
from pathlib import Path

from shared.errors import UserError

GROUPS = {"critic_loss": "loss", "wasserstein": "loss", "generator_loss": "loss",
          "max_abs_weight": "clipping", "clipped_share": "clipping"}  # the rest: critic/d_*


def tag(name: str) -> str:
    return f"{GROUPS.get(name, 'critic')}/{name}"


def check_available() -> None:
    """UserError (with the fix) when the tensorboard package is missing; call before writing anything."""
    import importlib.util
    if importlib.util.find_spec("tensorboard") is None:
        raise UserError("--tensorboard needs the tensorboard package; install it with: pip install -e '.[tensorboard]'")


class TensorBoardWriter:
    """Scalars into RUN_DIR/tensorboard/events.out.tfevents.*; `tensorboard --logdir runs/` shows them."""

    def __init__(self, logdir: Path) -> None:
        check_available()
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        self._writer = EventFileWriter(str(logdir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        summary = self._summary(value=[self._summary.Value(tag=tag(k), simple_value=float(v)) for k, v in values.items()])
        self._writer.add_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def close(self) -> None:
        self._writer.close()
