"""Saving a network as one zip, and loading it without executing anything from the file.

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
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from seqdata.errors import SeqDataError
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.errors import ModelFileError, SeqNetError

if TYPE_CHECKING:
    from seqnet.network import MultiLayerNetwork

FORMAT = "seqnet-multilayer"
VERSION = 1


def save_network(net: MultiLayerNetwork, path: str | os.PathLike, save_updater: bool = True,
                 save_rnn_state: bool = False) -> None:
    """Write ``net`` to the zip at ``path`` (see the module docstring for the entries)."""
    meta = {"format": FORMAT, "version": VERSION, "iteration_count": net.iteration_count,
            "epoch_count": net.epoch_count}
    params = io.BytesIO()
    np.savez(params, **net.param_table())
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
            zf.writestr("configuration.json", net.conf.to_json())
            zf.writestr("meta.json", json.dumps(meta, indent=1))
            zf.writestr("parameters.npz", params.getvalue())
            if save_updater and net._optimizers is not None:
                zf.writestr("updater.pt", _torch_bytes([o.state_dict() for o in net._optimizers]))
            if net.normalizer is not None:
                zf.writestr("normalizer.json", json.dumps(net.normalizer.to_dict()))
            if save_rnn_state and net._rnn_state:
                state = {str(i): {"prevAct": h.cpu(), "prevMem": c.cpu()}
                         for i, (h, c) in net._rnn_state.items()}
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


def load_network(path: str | os.PathLike, load_updater: bool = True) -> MultiLayerNetwork:
    """Read a network written by :func:`save_network`."""
    from seqnet.network import MultiLayerNetwork

    entries = _read_entries(path)
    for required in ("configuration.json", "parameters.npz"):
        if required not in entries:
            raise ModelFileError(f"{path}: expected a {required} entry, found "
                                 f"{sorted(entries) or 'no entries'}")
    try:
        conf = MultiLayerConfiguration.from_json(entries["configuration.json"].decode("utf-8"))
    except (SeqNetError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: configuration.json: {e}") from None
    net = MultiLayerNetwork(conf)
    net.init()
    try:
        with np.load(io.BytesIO(entries["parameters.npz"]), allow_pickle=False) as npz:
            table = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: parameters.npz: expected plain numeric arrays ({e})") \
            from None
    try:
        net.set_param_table(table)
    except SeqNetError as e:
        raise ModelFileError(f"{path}: parameters.npz does not fit the configuration: {e}") \
            from None
    meta = _json(entries, "meta.json", path) if "meta.json" in entries else {}
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: meta.json: expected a JSON object, found "
                             f"{type(meta).__name__}")
    for key in ("iteration_count", "epoch_count"):
        value = meta.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ModelFileError(f"{path}: meta.json: expected {key} to be an integer >= 0, "
                                 f"found {value!r}")
        setattr(net, key, value)
    if load_updater and "updater.pt" in entries:
        from seqnet.training import optimizers

        states = _torch_load(entries["updater.pt"], "updater.pt", path)
        opts = optimizers(net)
        if not isinstance(states, list) or len(states) != len(opts):
            raise ModelFileError(f"{path}: updater.pt: expected {len(opts)} optimiser states, "
                                 f"found {len(states) if isinstance(states, list) else states!r}")
        try:
            for opt, state in zip(opts, states):
                opt.load_state_dict(state)
        except (ValueError, KeyError, TypeError) as e:
            raise ModelFileError(f"{path}: updater.pt does not fit the network: {e}") from None
    if "normalizer.json" in entries:
        from seqdata.normalizers import normalizer_from_dict

        try:
            net.normalizer = normalizer_from_dict(_json(entries, "normalizer.json", path),
                                                  source=f"{path}:normalizer.json")
        except SeqDataError as e:
            raise ModelFileError(f"{path}: normalizer.json: {e}") from None
    if "rnn_state.pt" in entries:
        state = _torch_load(entries["rnn_state.pt"], "rnn_state.pt", path)
        if not isinstance(state, dict):
            raise ModelFileError(f"{path}: rnn_state.pt: expected a mapping, found "
                                 f"{type(state).__name__}")
        for key, layer_state in state.items():
            try:
                net.rnn_set_previous_state(int(key), layer_state)
            except (SeqNetError, ValueError, TypeError) as e:
                raise ModelFileError(f"{path}: rnn_state.pt, layer {key}: {e}") from None
    return net


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
