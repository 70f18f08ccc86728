"""Progress of seqdata's long loops: a bar on a terminal, plain log lines elsewhere.

A progress bar redraws itself with ``\\r``; in a log file or a CI job those frames pile up
into one unreadable line. So a bar (tqdm) is drawn only when stderr is a terminal; otherwise
each step (a chunk of files) is one ``INFO`` line of the ``seqdata.progress`` logger, which
the ``seqdata`` command prints to stderr.

>>> with Progress(3, "convert", "file", enabled=False) as p:
...     p.update(3)
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Any

__all__ = ["Progress", "logger"]

logger = logging.getLogger("seqdata.progress")


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class Progress:
    """Counts ``total`` items of ``unit`` under ``desc``; :meth:`update` after each step."""

    def __init__(self, total: int, desc: str, unit: str, enabled: bool = True) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self._bar: Any = None
        self._log = False
        if enabled and _stderr_is_terminal():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit)
        elif enabled:
            self._log = True

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._log:
            logger.info("%s: %d/%d %ss", self.desc, self.done, self.total, self.unit)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.close()
