"""Background minibatch assembly: who drives the work, apart from what the work is.

>>> p = Prefetcher(lambda i: i * 10, [1, 2, 3], depth=2)
>>> [p.get() for _ in range(3)]
[10, 20, 30]
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any


class Prefetcher:
    """A thread calling ``assemble(item)`` for each item of ``plan`` into a queue of ``depth``.

    A bound method is held weakly, so an abandoned iterator is collected and the thread told
    to stop. An exception is queued in place of the result and re-raised by :meth:`get` in
    the consumer; the thread stops after it.
    """

    def __init__(self, assemble: Callable[[Any], Any], plan: Sequence[Any], depth: int) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        ref = (weakref.WeakMethod(assemble) if hasattr(assemble, "__self__")
               else (lambda: assemble))
        self._thread = threading.Thread(target=self._run, args=(ref, list(plan)),
                                        name="seqdata-prefetch", daemon=True)
        self._thread.start()

    def _run(self, ref: Callable[[], Callable[[Any], Any] | None], plan: list[Any]) -> None:
        for item in plan:
            assemble = ref()
            if assemble is None or self._stop.is_set():
                return
            try:
                result: tuple[Any, BaseException | None] = (assemble(item), None)
            except BaseException as e:  # handed to the consumer, which re-raises it
                result = (None, e)
            del assemble
            while not self._stop.is_set():
                try:
                    self._queue.put(result, timeout=0.05)
                    break
                except queue.Full:
                    continue
            if result[1] is not None:
                return

    def get(self) -> Any:
        value, error = self._queue.get()
        if error is not None:
            raise error
        return value

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            while self._thread.is_alive():
                try:
                    self._queue.get(timeout=0.05)
                except queue.Empty:
                    pass
