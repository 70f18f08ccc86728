"""A run folder's ``state.json`` (what ``--resume`` continues from) and safe writes into it.

:func:`read_state` checks every field before training uses any of it: a damaged or edited
state is a :class:`~seqnet.errors.StateError` naming the file and the key, never a raw
``TypeError`` or a run that silently trains the wrong epochs or another model. The resume
checkpoint is stored relative to the run folder and must lie inside it, so a moved run
folder resumes and a state cannot point training at a file elsewhere.

>>> state = {"version": 1, "epoch": 1, "checkpoint": "checkpoints/epoch_0001.zip",
...          "best_epoch": 1, "best_value": 0.5, "bad_epochs": 0, "stopped_early": "no",
...          "rng": rng_state(), "history": [{"epoch": 1}]}
>>> check_state(state, "run/state.json")
Traceback (most recent call last):
...
seqnet.errors.StateError: run/state.json: stopped_early: expected true or false, found 'no'
"""

from __future__ import annotations

import base64
import math
import os
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from seqnet.archive import loads_json
from seqnet.errors import ModelFileError, StateError

__all__ = ["MAX_STATE_BYTES", "STATE_VERSION", "RunFolderError", "atomic_copy",
           "atomic_write_text", "check_state", "read_state", "remove_temp_files", "rng_state",
           "set_rng_state", "writing_into"]

STATE_VERSION = 1
#: state.json holds the history of every epoch; far more than any run needs.
MAX_STATE_BYTES = 256 * 2**20
TEMP_SUFFIX = ".tmp"


class RunFolderError(StateError):
    """Writing into the run folder failed (disk full, no permission): names the path."""


# --------------------------------------------------------------------------- RNG states

def rng_state() -> dict[str, Any]:
    """The global torch, numpy and Python RNG states as JSON-able values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    assert not isinstance(keys, str)   # the legacy form is a tuple
    version, internal, gauss = random.getstate()
    return {"torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii"),
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "python": [version, list(internal), gauss]}


def _decoded_rng(state: Any, where: str) -> tuple[torch.Tensor, tuple, tuple]:
    """The three states of :func:`rng_state`, checked by loading them into scratch
    generators (the global ones are untouched)."""
    try:
        raw = np.frombuffer(base64.b64decode(state["torch"], validate=True), dtype=np.uint8)
        torch_state = torch.from_numpy(raw.copy())
        torch.Generator().set_state(torch_state)
        kind, keys, pos, has_gauss, cached = state["numpy"]
        numpy_state = (kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
        np.random.RandomState().set_state(numpy_state)
        version, internal, gauss = state["python"]
        python_state = (version, tuple(internal), gauss)
        random.Random().setstate(python_state)
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise StateError(f"{where}: rng: expected the RNG states a run writes, found a damaged "
                         f"value ({type(e).__name__}: {str(e)[:120]})") from None
    return torch_state, numpy_state, python_state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch_state, numpy_state, python_state = _decoded_rng(state, "rng state")
    torch.set_rng_state(torch_state)
    np.random.set_state(numpy_state)
    random.setstate(python_state)


# --------------------------------------------------------------------------- state.json

def _int(state: dict[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = state[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise StateError(f"{where}: {key}: expected an integer in [{low}, {high}], found "
                         f"{value!r}")
    return value


def check_state(state: Any, where: str) -> dict[str, Any]:
    """``state`` (parsed ``state.json``) if every field is what a run writes."""
    if not isinstance(state, dict):
        raise StateError(f"{where}: expected a JSON object, found {type(state).__name__}")
    if state.get("version") != STATE_VERSION:
        raise StateError(f"{where}: version: expected {STATE_VERSION}, found "
                         f"{state.get('version')!r}")
    keys = ("epoch", "history", "best_epoch", "best_value", "bad_epochs", "stopped_early",
            "rng", "checkpoint")
    missing = [k for k in keys if k not in state]
    if missing:
        raise StateError(f"{where}: cannot resume: expected every key of a run state, found "
                         f"no {', '.join(missing)}")
    history = state["history"]
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise StateError(f"{where}: history: expected a list of per-epoch records, found "
                         f"{type(history).__name__}")
    epoch = _int(state, "epoch", where, 1, 10**9)
    if len(history) != epoch or any(h.get("epoch") != i + 1 for i, h in enumerate(history)):
        raise StateError(f"{where}: epoch: expected the number of history records "
                         f"({len(history)}, numbered from 1), found {epoch}")
    if state["best_epoch"] is not None:
        _int(state, "best_epoch", where, 1, epoch)
    best = state["best_value"]
    if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))
                             or not math.isfinite(best)):
        raise StateError(f"{where}: best_value: expected a finite number or null, found "
                         f"{best!r}")
    _int(state, "bad_epochs", where, 0, epoch)
    if not isinstance(state["stopped_early"], bool):
        raise StateError(f"{where}: stopped_early: expected true or false, found "
                         f"{state['stopped_early']!r}")
    _decoded_rng(state["rng"], where)
    checkpoint = state["checkpoint"]
    pure = PurePosixPath(checkpoint) if isinstance(checkpoint, str) else None
    if pure is None or pure.is_absolute() or ".." in pure.parts or not pure.parts \
            or "\\" in checkpoint or ":" in checkpoint:
        raise StateError(f"{where}: checkpoint: expected a path inside the run folder such as "
                         f"'checkpoints/epoch_0003.zip', found {checkpoint!r}")
    return state


def read_state(folder: Path) -> dict[str, Any]:
    """The checked ``state.json`` of the run in ``folder`` (its checkpoint must exist)."""
    path = folder / "state.json"
    try:
        size = path.stat().st_size
        if size > MAX_STATE_BYTES:
            raise StateError(f"{path}: expected at most {MAX_STATE_BYTES} bytes, found {size}")
        text = path.read_bytes()
    except OSError as e:
        raise StateError(f"{path}: cannot resume: unreadable file ({e.strerror})") from None
    try:
        state = loads_json(text, str(path))
    except ModelFileError as e:
        detail = str(e).removeprefix(f"{path}: ")
        raise StateError(f"{path}: cannot resume: expected the run's JSON state, found an "
                         f"unreadable file ({detail})") from None
    check_state(state, str(path))
    if not (folder / state["checkpoint"]).is_file():
        raise StateError(f"{path}: checkpoint: expected {folder / state['checkpoint']} to "
                         f"exist, found no such file")
    return state


# --------------------------------------------------------------------------- writes

@contextmanager
def writing_into(folder: Path) -> Iterator[None]:
    """An ``OSError`` inside (disk full, no permission) becomes a :class:`RunFolderError`
    naming the path, after the temporary files of the run folder are removed."""
    try:
        yield
    except OSError as e:
        remove_temp_files(folder)
        target = e.filename or folder
        raise RunFolderError(f"{target}: cannot write the run's output: "
                             f"{e.strerror or e}") from None
    except BaseException:
        remove_temp_files(folder)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``path`` through a temporary file beside it; a failure leaves no temporary."""
    tmp = path.with_name(path.name + TEMP_SUFFIX)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunFolderError(f"{path}: cannot write: {e.strerror or e}") from None


def atomic_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary file beside it."""
    tmp = target.with_name(target.name + TEMP_SUFFIX)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunFolderError(f"{target}: cannot write: {e.strerror or e}") from None


def remove_temp_files(folder: Path) -> list[Path]:
    """Remove what an interrupted write leaves in a run folder: ``NAME.tmp`` beside the
    outputs and the checkpoints, and ``.NAME.XXXX.tmp`` of the model writer."""
    removed = []
    for where in (folder, folder / "checkpoints"):
        if not where.is_dir():
            continue
        for pattern in (f"*.zip{TEMP_SUFFIX}", f"*.json{TEMP_SUFFIX}", f"*.toml{TEMP_SUFFIX}",
                        f"*.jsonl{TEMP_SUFFIX}", f"*.png{TEMP_SUFFIX}", f".*.zip.*{TEMP_SUFFIX}"):
            for tmp in where.glob(pattern):
                try:
                    tmp.unlink()
                    removed.append(tmp)
                except OSError:
                    pass
    return removed
