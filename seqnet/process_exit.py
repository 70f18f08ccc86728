"""Ending a seqnet process with its exit code and without the C++ teardown.

# NOTE [ Leaving a process with os._exit ]
# A normal interpreter exit ends daemon threads (seqdata's prefetcher, reader pools) from
# inside whatever C++ frame they are in, and runs C++ static destructors while one of
# torch's background threads may still be joinable: either can end in "terminate called
# without an active exception", SIGABRT, exit code 134 instead of the 0 or 1 the command
# meant (about one run in twelve on a loaded machine). So the Python-level exit handlers
# run (they release multiprocessing semaphores, flush logging), the standard streams are
# flushed, and the process then leaves with os._exit, as multiprocessing's own children do.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

__all__ = ["leave_process"]


def leave_process(code: int) -> NoReturn:
    """Run the exit handlers, flush stdout and stderr, and end the process with ``code``."""
    try:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):     # a closed pipe must not change the code
                pass
    finally:
        os._exit(code)
