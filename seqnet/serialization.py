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

# NOTE [ Why a hostile model file costs bounded memory ]
# Loading reads only the entries named above (other entries are never decompressed), and
# each under a cap on its uncompressed size (seqnet.archive.BoundedZip: the declared size is
# checked, and the read stops past the cap since the declaration can lie). A name that
# appears twice refuses the file. configuration.json is read first (at most MAX_TEXT_BYTES,
# JSON nested at most seqnet.archive.MAX_JSON_DEPTH deep); the parameter shapes it implies
# (seqnet.param_shapes) must total at most MAX_PARAMETERS, and they set the caps of the
# binary entries: parameters.npz at the parameters' bytes in the configured data_type (P)
# plus 4 KiB an array and 1 MiB, updater.pt at twice that (Adam's two moments), and
# rnn_state.pt at P + MAX_RNN_STATE_BYTES. Every npy header of parameters.npz must give
# exactly the configured shape and data_type before its array is read, and a non-finite
# parameter refuses the file naming its key. The network is built only after all of this,
# so a file costs at most about what an honest file of its configuration costs.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqdata.errors import SeqDataError
from seqdata.normalizers import normalizer_from_dict
from seqnet.archive import ArchiveError, BoundedZip, loads_json, read_npz, write_zip
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.errors import ModelFileError, SeqNetError
from seqnet.nn.build import build_module
from seqnet.param_shapes import param_shapes

FORMAT = "seqnet-multilayer"
VERSION = 1
#: The most parameters a model file may declare (1 GiB of float32, 2 GiB of float64).
MAX_PARAMETERS = 2**28
#: Caps on the uncompressed size of the JSON entries.
MAX_TEXT_BYTES = 16 * 2**20
MAX_META_BYTES = 2**16
#: What ``rnn_state.pt`` may hold beyond the size of the parameters.
MAX_RNN_STATE_BYTES = 4 * 2**20


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
    entries = {"configuration.json": parts.conf.to_json().encode("utf-8"),
               "meta.json": json.dumps(meta, indent=1).encode("utf-8"),
               "parameters.npz": params.getvalue()}
    if parts.updater_state is not None:
        entries["updater.pt"] = _torch_bytes(parts.updater_state)
    if parts.normalizer is not None:
        entries["normalizer.json"] = json.dumps(parts.normalizer.to_dict()).encode("utf-8")
    if parts.rnn_state:
        entries["rnn_state.pt"] = _torch_bytes({str(i): {k: v.cpu() for k, v in layer.items()}
                                                for i, layer in parts.rnn_state.items()})
    # Written beside the target and renamed: an interrupted save leaves the old file intact.
    try:
        write_zip(path, entries)
    except ArchiveError as e:
        raise ModelFileError(str(e).replace(": cannot write:", ": cannot write the model:", 1)) \
            from None


def read_model(path: str | os.PathLike, load_updater: bool = True) -> ModelParts:
    """Read the parts of a zip written by :func:`write_model` (the updater state only when
    ``load_updater``), within the limits of the module docstring."""
    with BoundedZip(path, path, "model file") as archive:
        entries = set(archive.names)
        for required in ("configuration.json", "parameters.npz"):
            if required not in entries:
                raise ModelFileError(f"{path}: expected a {required} entry, found "
                                     f"{sorted(entries) or 'no entries'}")
        text = archive.read("configuration.json", MAX_TEXT_BYTES)
        loads_json(text, f"{path}: configuration.json")   # refuses deep nesting unparsed
        try:
            conf = MultiLayerConfiguration.from_json(text.decode("utf-8"))
        except (SeqNetError, UnicodeDecodeError) as e:
            raise ModelFileError(f"{path}: configuration.json: {e}") from None
        shapes = expected_param_shapes(conf, f"{path}: configuration.json")
        dtype = np.dtype(conf.data_type)
        param_bytes = dtype.itemsize * sum(math.prod(s) for s in shapes.values())
        overhead = 4096 * len(shapes) + 2**20
        parts = ModelParts(conf=conf, params=read_npz(
            archive.read("parameters.npz", param_bytes + overhead), f"{path}: parameters.npz",
            shapes, dtype))
        for key, array in parts.params.items():
            if not np.isfinite(array).all():
                raise ModelFileError(f"{path}: parameters.npz: {key}: expected finite values, "
                                     f"found {_first_non_finite(array)}")
        meta = (loads_json(archive.read("meta.json", MAX_META_BYTES), f"{path}: meta.json")
                if "meta.json" in entries else {})
        if not isinstance(meta, dict):
            raise ModelFileError(f"{path}: meta.json: expected a JSON object, found "
                                 f"{type(meta).__name__}")
        for key in ("iteration_count", "epoch_count"):
            value = meta.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ModelFileError(f"{path}: meta.json: expected {key} to be an integer >= 0, "
                                     f"found {value!r}")
            setattr(parts, key, value)
        # Optimiser state holds at most two tensors per parameter (Adam's moments).
        if load_updater and "updater.pt" in entries:
            parts.updater_state = _torch_load(
                archive.read("updater.pt", 2 * param_bytes + 3 * overhead), "updater.pt", path)
        if "normalizer.json" in entries:
            table = loads_json(archive.read("normalizer.json", MAX_TEXT_BYTES),
                               f"{path}: normalizer.json")
            try:
                parts.normalizer = normalizer_from_dict(table, source=f"{path}:normalizer.json")
            except (SeqDataError, ValueError, TypeError, KeyError) as e:
                raise ModelFileError(f"{path}: normalizer.json: {e}") from None
        if "rnn_state.pt" in entries:
            data = archive.read("rnn_state.pt", param_bytes + MAX_RNN_STATE_BYTES)
            parts.rnn_state = _rnn_state(_torch_load(data, "rnn_state.pt", path), path)
    return parts


def expected_param_shapes(conf: MultiLayerConfiguration,
                          where: str) -> dict[str, tuple[int, ...]]:
    """The ``param_table`` shapes ``conf`` implies, refused above :data:`MAX_PARAMETERS`
    before anything is allocated."""
    shapes = param_shapes(conf)
    if shapes is None:
        # A layer type without a rule in seqnet.param_shapes: build the layers to ask them.
        generator = torch.Generator()
        shapes = {}
        for i, layer in enumerate(conf.layers):
            module = build_module(layer, torch.float32, generator, conf.weight_init)
            shapes.update({f"{i}_{k}": v.shape for k, v in module.param_table().items()})
    count = sum(math.prod(s) for s in shapes.values())
    if count > MAX_PARAMETERS:
        raise ModelFileError(f"{where}: expected at most {MAX_PARAMETERS} parameters, found a "
                             f"configuration with {count}")
    return shapes


def _first_non_finite(array: np.ndarray) -> str:
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    return f"{array[index]} at index {list(index)}"


def _rnn_state(state: Any, path: str | os.PathLike) -> dict[int, dict[str, torch.Tensor]]:
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: rnn_state.pt: expected a mapping, found "
                             f"{type(state).__name__}")
    out = {}
    for key, layer_state in state.items():
        try:
            out[int(key)] = layer_state
        except (ValueError, TypeError):
            raise ModelFileError(f"{path}: rnn_state.pt, layer {key}: expected a layer "
                                 f"index") from None
    return out


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
