"""The model zip: its parts written atomically, and read back without executing anything.

This module knows the file, not the network: :meth:`MultiLayerNetwork.save` hands it a
:class:`ModelParts` and :meth:`MultiLayerNetwork.load` builds the network from the one
:func:`read_model` returns.

Entries:

- ``configuration.json``: :meth:`MultiLayerConfiguration.to_json`.
- ``parameters.npz``: the DL4J-layout ``param_table`` (numpy, read with ``allow_pickle=False``).
- ``meta.json``: format version, ``iteration_count``, ``epoch_count``.
- ``updater.pt`` (optional): the torch optimisers' state dicts, read with ``weights_only``.
- ``normalizer.json`` (optional): the attached ``net.normalizer`` (seqdata's JSON form).
- ``rnn_state.pt`` (optional): the stored ``rnn_time_step`` state, read with ``weights_only``.

# NOTE [ Why nothing in the file can run code ]
# Arrays go through numpy's npz without pickle, tensors through torch.load(weights_only=True)
# which only rebuilds tensors and plain containers, text through json. Entries are read into
# memory, never extracted, and any name that is absolute or climbs out with ".." makes the
# whole file refused before anything is read.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from seqdata.errors import SeqDataError
from seqdata.normalizers import normalizer_from_dict
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.errors import ModelFileError, SeqNetError

FORMAT = "seqnet-multilayer"
VERSION = 1


@dataclass
class ModelParts:
    """Everything a model zip holds, as plain values.

    ``updater_state`` is the list of torch optimiser state dicts; ``rnn_state`` maps a layer
    index to ``{"prevAct": h, "prevMem": c}``; ``normalizer`` is a seqdata normaliser.
    """

    conf: MultiLayerConfiguration
    params: dict[str, np.ndarray]
    iteration_count: int = 0
    epoch_count: int = 0
    updater_state: list[dict[str, Any]] | None = None
    normalizer: Any = None
    rnn_state: dict[int, dict[str, torch.Tensor]] | None = None


def write_model(parts: ModelParts, path: str | os.PathLike) -> None:
    """Write ``parts`` to the zip at ``path`` (see the module docstring for the entries)."""
    meta = {"format": FORMAT, "version": VERSION, "iteration_count": parts.iteration_count,
            "epoch_count": parts.epoch_count}
    params = io.BytesIO()
    np.savez(params, **parts.params)  # type: ignore[arg-type]
    target = Path(path)
    # Written beside the target and renamed: an interrupted save leaves the old file intact.
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot write the model: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w",
                                                          compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("configuration.json", parts.conf.to_json())
            zf.writestr("meta.json", json.dumps(meta, indent=1))
            zf.writestr("parameters.npz", params.getvalue())
            if parts.updater_state is not None:
                zf.writestr("updater.pt", _torch_bytes(parts.updater_state))
            if parts.normalizer is not None:
                zf.writestr("normalizer.json", json.dumps(parts.normalizer.to_dict()))
            if parts.rnn_state:
                state = {str(i): {k: v.cpu() for k, v in layer.items()}
                         for i, layer in parts.rnn_state.items()}
                zf.writestr("rnn_state.pt", _torch_bytes(state))
        # mkstemp makes the file 0600; a saved model gets the permissions of any new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, target)
    except OSError as e:
        Path(tmp_name).unlink(missing_ok=True)
        raise ModelFileError(f"{path}: cannot write the model: {e.strerror}") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def read_model(path: str | os.PathLike, load_updater: bool = True) -> ModelParts:
    """Read the parts of a zip written by :func:`write_model` (the updater state only when
    ``load_updater``)."""
    entries = _read_entries(path)
    for required in ("configuration.json", "parameters.npz"):
        if required not in entries:
            raise ModelFileError(f"{path}: expected a {required} entry, found "
                                 f"{sorted(entries) or 'no entries'}")
    try:
        conf = MultiLayerConfiguration.from_json(entries["configuration.json"].decode("utf-8"))
    except (SeqNetError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: configuration.json: {e}") from None
    try:
        with np.load(io.BytesIO(entries["parameters.npz"]), allow_pickle=False) as npz:
            table = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: parameters.npz: expected plain numeric arrays ({e})") \
            from None
    parts = ModelParts(conf=conf, params=table)
    meta = _json(entries, "meta.json", path) if "meta.json" in entries else {}
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: meta.json: expected a JSON object, found "
                             f"{type(meta).__name__}")
    for key in ("iteration_count", "epoch_count"):
        value = meta.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ModelFileError(f"{path}: meta.json: expected {key} to be an integer >= 0, "
                                 f"found {value!r}")
        setattr(parts, key, value)
    if load_updater and "updater.pt" in entries:
        parts.updater_state = _torch_load(entries["updater.pt"], "updater.pt", path)
    if "normalizer.json" in entries:
        try:
            parts.normalizer = normalizer_from_dict(_json(entries, "normalizer.json", path),
                                                    source=f"{path}:normalizer.json")
        except SeqDataError as e:
            raise ModelFileError(f"{path}: normalizer.json: {e}") from None
    if "rnn_state.pt" in entries:
        state = _torch_load(entries["rnn_state.pt"], "rnn_state.pt", path)
        if not isinstance(state, dict):
            raise ModelFileError(f"{path}: rnn_state.pt: expected a mapping, found "
                                 f"{type(state).__name__}")
        parts.rnn_state = {}
        for key, layer_state in state.items():
            try:
                parts.rnn_state[int(key)] = layer_state
            except (ValueError, TypeError):
                raise ModelFileError(f"{path}: rnn_state.pt, layer {key}: expected a layer "
                                     f"index") from None
    return parts


def _torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _torch_load(data: bytes, entry: str, path: str | os.PathLike) -> Any:
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, zipfile.BadZipFile,
            AttributeError, TypeError) as e:
        raise ModelFileError(f"{path}: {entry}: refused, expected tensors and plain "
                             f"containers only ({type(e).__name__}: {str(e)[:200]})") from None


def _json(entries: dict[str, bytes], entry: str, path: str | os.PathLike) -> Any:
    try:
        return json.loads(entries[entry].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelFileError(f"{path}: {entry}: expected JSON ({e})") from None


def _read_entries(path: str | os.PathLike) -> dict[str, bytes]:
    """Every entry of the zip in memory, after refusing unsafe names."""
    try:
        with zipfile.ZipFile(Path(path)) as zf:
            names = zf.namelist()
            for name in names:
                pure = PurePosixPath(name.replace("\\", "/"))
                if pure.is_absolute() or ".." in pure.parts or ":" in name:
                    raise ModelFileError(f"{path}: refused, the entry {name!r} is an absolute "
                                         f"path or leaves the archive with '..'")
            return {name: zf.read(name) for name in names}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise ModelFileError(f"{path}: expected a seqnet model zip, found an unreadable "
                             f"file ({e})") from None
