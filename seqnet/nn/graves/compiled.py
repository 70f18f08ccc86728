"""The compiled step loops of the Graves LSTM kernel (``csrc/graves_lstm.cpp``): built at first
use, cached, and skipped (with one log line) where they cannot be built.

The fused kernel (:mod:`seqnet.nn.graves.kernel`) spends most of a small step in the Python
interpreter dispatching a dozen tensor ops; the C++ file runs the same ATen calls in the same
order from a compiled loop, so the numbers are bit for bit those of the Python loop.

# NOTE [ Building the compiled loops at first use ]
# Installing seqdl compiles nothing (pip's build isolation would download a second torch
# to compile against). The first GravesLSTM forward on the CPU builds the C++ file with
# torch.utils.cpp_extension (ninja, from the `ninja` wheel seqdl depends on, and the
# system's C++ compiler): about 20-30 s, shown as a progress line on stderr. The library is
# cached under torch's extension folder (TORCH_EXTENSIONS_DIR, by default
# ~/.cache/torch_extensions), one build per Python and torch version, and rebuilt when the
# source changes. Without a compiler, or when the build fails, one warning says so and the
# pure-PyTorch loop runs: same numbers, slower. SEQNET_COMPILED=0 turns the compiled loops
# off. A build killed half way leaves a `lock` file in the build folder that makes every later
# build wait for ever: a lock older than STALE_LOCK_SECONDS is reported and the Python loop
# runs; delete the file to build again.

>>> import torch
>>> isinstance(enabled_for(torch.zeros(1)), bool)
True
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils import cpp_extension

__all__ = ["ENV", "build_directory", "enabled_for", "load", "ops", "status", "time_step_op"]

#: The environment variable that turns the compiled loops off when set to ``0``.
ENV = "SEQNET_COMPILED"
#: A lock file older than this (seconds) is taken to be left behind by a killed build.
STALE_LOCK_SECONDS = 600
_NAME = "seqnet_graves"
_SOURCE = Path(__file__).parent / "csrc" / "graves_lstm.cpp"

_log = logging.getLogger(__name__)
_state: dict[str, object] = {}      # "ok": bool once load() has decided, "reason": str
_lock = threading.Lock()


def enabled_for(t: torch.Tensor) -> bool:
    """Whether the loops on ``t`` (its device) run compiled: on the CPU, unless
    ``SEQNET_COMPILED=0``, once the library is built and loaded (which this may do)."""
    return (t.device.type == "cpu" and os.environ.get(ENV, "1") != "0" and load())


def ops() -> Any:
    """``torch.ops.seqnet_graves`` (``forward_steps``, ``backward_steps``, ``time_step``),
    loaded."""
    if not load():
        raise RuntimeError(f"the compiled GravesLSTM loops are not available: "
                           f"{_state.get('reason')}")
    return torch.ops.seqnet_graves


def time_step_op() -> Any:
    """``torch.ops.seqnet_graves.time_step.default``, looked up once (a time step calls it
    per layer, where the attribute lookups would cost more than the arithmetic)."""
    op = _state.get("time_step")
    if op is None:
        op = _state["time_step"] = ops().time_step.default
    return op


def status() -> str:
    """Which loop the fused kernel runs, in words (the benchmarks print it)."""
    if os.environ.get(ENV, "1") == "0":
        return f"pure-PyTorch loop ({ENV}=0)"
    if load():
        return f"compiled loop ({build_directory()})"
    return f"pure-PyTorch loop ({_state.get('reason', 'not built')})"


def build_directory() -> Path:
    """Where the library is built and cached: one folder per Python and torch version."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()
    version = f"py{sys.version_info.major}{sys.version_info.minor}_torch{torch.__version__}"
    return Path(root) / version / _NAME


def load() -> bool:
    """Build (at the first call in a process, when not cached) and load the library; whether
    ``torch.ops.seqnet_graves`` is there. Never raises: a failure is logged once."""
    ok = _state.get("ok")
    if ok is not None:
        return bool(ok)
    with _lock:
        if "ok" not in _state:
            _state["ok"] = _try_load()
        return bool(_state["ok"])


def _try_load() -> bool:
    folder = build_directory()
    lock = folder / "lock"
    if lock.exists() and time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
        return _fail(f"a build left the lock file {lock} behind (killed?); delete it to build "
                     f"again")
    _find_ninja()
    folder.mkdir(parents=True, exist_ok=True)
    library = folder / f"{_NAME}.so"
    cached = library.exists() and library.stat().st_mtime >= _SOURCE.stat().st_mtime
    start = time.perf_counter()
    done = threading.Event()
    if not cached:
        threading.Thread(target=_show_progress, args=(done,), daemon=True).start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpp_extension.load(
                name=_NAME, sources=[str(_SOURCE)], build_directory=str(folder),
                extra_cflags=["-O2"], is_python_module=False, verbose=False)
    except Exception as e:          # no compiler, no ninja, a failed build: the Python loop
        return _fail(_first_line(e))
    finally:
        done.set()
    if not cached:
        _log.info("seqnet: built the compiled GravesLSTM loops in %.0f s (cached in %s)",
                  time.perf_counter() - start, folder)
    return True


def _fail(reason: str) -> bool:
    _state["reason"] = reason
    _log.warning("seqnet: GravesLSTM runs its pure-PyTorch loop (same numbers, slower): the "
                 "compiled loops are not available: %s", reason)
    return False


def _find_ninja() -> None:
    """torch.utils.cpp_extension runs ``ninja`` from PATH: when it is not there, use the
    ``ninja`` wheel's binary (a venv's ``bin`` is on PATH only while the venv is active)."""
    if shutil.which("ninja") is not None:
        return
    try:
        import ninja
    except ImportError:
        return
    os.environ["PATH"] = os.pathsep.join((str(ninja.BIN_DIR), os.environ.get("PATH", "")))


def _show_progress(done: threading.Event) -> None:
    """One line on stderr, rewritten every second while the build runs."""
    start = time.perf_counter()
    interactive = sys.stderr.isatty()
    if not interactive:
        sys.stderr.write("seqnet: building the compiled GravesLSTM loops (once; about "
                         "30 s)...\n")
    while not done.wait(1.0):
        if interactive:
            sys.stderr.write(f"\rseqnet: building the compiled GravesLSTM loops (once; about "
                             f"30 s): {time.perf_counter() - start:3.0f} s")
            sys.stderr.flush()
    if interactive:
        sys.stderr.write("\n")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"
