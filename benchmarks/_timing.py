"""Timing for the benchmarks: the best of several full runs, wall clock and process CPU.

>>> wall, cpu, result = best_time(lambda: sum(range(1000)), repeats=2)
>>> result, wall >= 0, cpu >= 0
(499500, True, True)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def best_time(function: Callable[[], T], repeats: int) -> tuple[float, float, T]:
    """Best wall-clock and best process CPU seconds over ``repeats`` runs, and the last result.

    The best, not the mean: on a shared machine the fastest run is the one least disturbed.
    """
    wall = cpu = float("inf")
    result = None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, result
