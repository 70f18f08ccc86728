"""Saving and loading a workflow model: the network zip plus what the commands need with it.

The network zip (:meth:`MultiLayerNetwork.save`) carries the configuration, parameters,
updater state and the attached normaliser. A character model also needs its vocabulary; the
zip has no place for free-form metadata, so it is written beside the model as
``<model>.vocabulary.json`` and read back from there.

Writes are atomic: the zip (and sidecar) are written to temporary names and renamed.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from seqnet.errors import ModelFileError
from seqnet.text import CharacterVocabulary

VOCABULARY_SUFFIX = ".vocabulary.json"


def vocabulary_path(model: str | os.PathLike) -> Path:
    """Where the vocabulary of the model at ``model`` lives: ``x.zip`` -> ``x.vocabulary.json``."""
    model = Path(model)
    return model.with_name(model.stem + VOCABULARY_SUFFIX)


def save_model(net: Any, path: str | os.PathLike, normalizer: Any = None,
               vocabulary: CharacterVocabulary | None = None, save_updater: bool = True) -> None:
    """Save ``net`` with ``normalizer`` attached (and ``vocabulary`` beside it) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if normalizer is not None:
        net.normalizer = normalizer
    if vocabulary is not None:
        side = vocabulary_path(path)
        tmp_side = side.with_name(side.name + ".tmp")
        tmp_side.write_text(json.dumps(vocabulary.to_dict()), encoding="utf-8")
        os.replace(tmp_side, side)
    tmp = path.with_name(path.name + ".tmp")
    net.save(tmp, save_updater=save_updater)
    os.replace(tmp, path)


def is_dl4j_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a DL4J ``ModelSerializer`` zip (parameters in ``coefficients.bin``)
    rather than a seqnet one (``parameters.npz``); only the zip's directory is read."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return "parameters.npz" not in names and bool(
        names & {"coefficients.bin", "noParams.marker"})


def load_network(path: str | os.PathLike, load_updater: bool = True) -> Any:
    """A network from a seqnet zip or, recognised by its entries, a DL4J zip
    (:func:`seqnet.dl4j.restore_multi_layer_network`, trained on by DL4J's legacy rule)."""
    from seqnet.dl4j import restore_multi_layer_network
    from seqnet.network import MultiLayerNetwork

    if is_dl4j_model(path):
        return restore_multi_layer_network(path, load_updater=load_updater)
    return MultiLayerNetwork.load(path, load_updater=load_updater)


def load_model(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """The network (a seqnet or a DL4J zip) and its extras: ``{"normalizer": ...,
    "vocabulary": ...}`` (``None`` when the model has none)."""
    net = load_network(path)
    vocabulary = None
    side = vocabulary_path(path)
    if side.exists():
        try:
            vocabulary = CharacterVocabulary.from_dict(
                json.loads(side.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise ModelFileError(f"{side}: cannot read the model's vocabulary ({e})") from None
    return net, {"normalizer": getattr(net, "normalizer", None), "vocabulary": vocabulary}
