"""TensorBoard event files of a run's per-epoch metrics (``[run] tensorboard = true``).

The writer is ``torch.utils.tensorboard.SummaryWriter``, which needs the ``tensorboard``
package: an optional dependency (``pip install 'seqdl[tensorboard]'``). metrics.jsonl is
written either way; the event files hold the same numbers, one scalar per key and epoch
(``train/score``, ``validation/accuracy``, ...), for ``tensorboard --logdir RUN/tensorboard``.
"""

from __future__ import annotations

import os
from typing import Any

from seqnet.errors import ConfigurationError

MISSING = ("run.tensorboard = true needs the tensorboard package, which is not installed; "
           "install the extra (pip install 'seqdl[tensorboard]') or set tensorboard = false")


class TensorBoardWriter:
    """Writes the records of metrics.jsonl as scalars, step = epoch."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer

    @classmethod
    def open(cls, log_dir: str | os.PathLike) -> TensorBoardWriter:
        """A writer into ``log_dir``; a :class:`ConfigurationError` naming the extra when the
        tensorboard package is missing."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigurationError(MISSING) from None
        return cls(SummaryWriter(log_dir=os.fspath(log_dir)))

    def write(self, record: dict[str, Any]) -> None:
        """One epoch's record (as in metrics.jsonl)."""
        step = int(record["epoch"])
        split = record.get("eval_split")
        for key, value in record.items():
            if key in ("epoch", "eval_split") or not isinstance(value, (int, float)) or \
                    isinstance(value, bool):
                continue
            if key == "train_score":
                tag = "train/score"
            elif key in ("seconds", "iterations"):
                tag = f"run/{key}"
            else:
                tag = f"{split}/{key}"
            self._writer.add_scalar(tag, float(value), step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
