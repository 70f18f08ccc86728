"""Progress of a long loop: a tqdm bar on a terminal, plain log lines anywhere else.

# NOTE [ Why no progress bar in a log file ]
# A bar redraws itself with carriage returns; written to a file (``2> log``, a batch
# scheduler, CI) it becomes one enormous line of frames. So the bar is drawn only when stderr
# is a terminal (or a notebook draws widgets); otherwise a loop reports one short line every
# ``LINE_INTERVAL_S`` seconds through the ``seqnet.progress`` logger, and the caller's own
# per-epoch line says the rest.

>>> bar = progress(total=3, desc="epoch 1", enabled=True, stream=None)
>>> type(bar).__name__
'LineProgress'
>>> for _ in range(3): bar.update(1, score=0.5)
>>> bar.close()
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

logger = logging.getLogger("seqnet.progress")

#: Seconds between two progress lines when stderr is not a terminal.
LINE_INTERVAL_S = 30.0


def is_interactive(stream: TextIO | None) -> bool:
    """Whether ``stream`` can show a redrawn bar: a terminal, or a notebook's stderr."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """tqdm's ``update`` / ``close`` as one log line every ``interval`` seconds."""

    def __init__(self, total: int | None, desc: str, interval: float | None = None) -> None:
        self.total, self.desc = total, desc
        self.interval = LINE_INTERVAL_S if interval is None else interval
        self.count = 0
        self._last = time.monotonic()

    def update(self, n: int = 1, **postfix: Any) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        of = f"/{self.total}" if self.total is not None else ""
        extra = "".join(f", {k} {v:.5g}" if isinstance(v, float) else f", {k} {v}"
                        for k, v in postfix.items())
        logger.info("%s: %d%s minibatches%s", self.desc, self.count, of, extra)

    def close(self) -> None:
        """Nothing to tidy: lines are complete when written."""

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Bar:
    """A tqdm bar with :class:`LineProgress`'s ``update(n, **postfix)``."""

    def __init__(self, total: int | None, desc: str) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=desc, leave=False, unit="batch")

    def update(self, n: int = 1, **postfix: Any) -> None:
        self._bar.update(n)
        if postfix:
            self._bar.set_postfix({k: f"{v:.5g}" if isinstance(v, float) else v
                                   for k, v in postfix.items()}, refresh=False)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Silent:
    def update(self, n: int = 1, **postfix: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress(total: int | None, desc: str, enabled: bool = True,
             stream: TextIO | None = None) -> Any:
    """A progress reporter for ``total`` steps: a bar when ``stream`` (default stderr) is
    interactive, else :class:`LineProgress`; nothing at all when not ``enabled``."""
    if not enabled:
        return _Silent()
    if is_interactive(sys.stderr if stream is None else stream):
        return _Bar(total, desc)
    return LineProgress(total, desc)
