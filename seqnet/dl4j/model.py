"""Restoring DL4J ``ModelSerializer`` zips as seqnet networks, and writing them.

>>> import os, tempfile
>>> from seqnet.conf.layers import LSTM, RnnOutputLayer
>>> from seqnet.conf.multilayer import MultiLayerConfiguration
>>> net = MultiLayerNetwork(MultiLayerConfiguration(
...     layers=[LSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], seed=1))
>>> net.init()
>>> path = os.path.join(tempfile.mkdtemp(), "model.zip")
>>> write_multi_layer_network(net, path)          # what DL4J 1.0.0-beta's writeModel writes
>>> back = restore_multi_layer_network(path)
>>> back.conf == net.conf, sorted(back.param_table()) == sorted(net.param_table())
(True, True)
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

import numpy as np
import torch

from seqnet.archive import BoundedZip, write_zip
from seqnet.conf.enums import UpdateRule
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.dl4j.archive import open_model_zip
from seqnet.dl4j.configuration import (
    MAX_JSON_BYTES,
    ImportedConfiguration,
    read_configuration,
)
from seqnet.dl4j.export import configuration_to_json
from seqnet.dl4j.layers import new
from seqnet.dl4j.nd4j import encode_nd4j_array, read_nd4j_array
from seqnet.dl4j.normalizer import ENTRY as NORMALIZER_ENTRY
from seqnet.dl4j.normalizer import encode_normalizer, restore_normalizer
from seqnet.dl4j.params import (
    flatten,
    flatten_updater_state,
    num_params,
    state_names,
    unflatten,
    updater_blocks,
    updater_state_size,
    updater_state_table,
)
from seqnet.errors import ModelFileError, SeqNetError
from seqnet.network import MultiLayerNetwork
from seqnet.nn.params import table_of, values_of

CONFIGURATION = "configuration.json"
COEFFICIENTS = "coefficients.bin"
UPDATER_STATE = "updaterState.bin"
NO_PARAMS = "noParams.marker"
# NOTE [ Why nothing in the file can run code ]
# DL4J zips may hold Java-serialised objects (``updater.bin`` before 0.5.0,
# ``preprocessor.bin``, 0.7.2's ``normalizer.bin``) and JSON naming user classes. None of them
# is ever deserialised: a Java-serialised entry and an unknown class are refused by name; only
# JSON text and ND4J number arrays are read, with every size checked before it is allocated.
# Entries holding Java-serialised objects: refused, never read.
_JAVA_ENTRIES = {"updater.bin": "a Java-serialised Updater (DL4J < 0.5.0)",
                 "preprocessor.bin": "a Java-serialised DataSetPreProcessor"}


class DL4JImportWarning(UserWarning):
    """A DL4J setting that only affects training was dropped on import (see the message)."""


# An ND4J header is under 100 bytes; items are at most 8 bytes (DOUBLE, LONG).
_HEADER_BYTES = 256
_MAX_ITEM_BYTES = 8
_MAX_NORMALIZER_BYTES = 64 * 1024**2


def _array_limit(values: int) -> int:
    """The most bytes an ND4J array of ``values`` numbers can take (two headers + data)."""
    return _HEADER_BYTES + _MAX_ITEM_BYTES * values


def _open(path: str | os.PathLike[str] | bytes) -> BoundedZip:
    archive = open_model_zip(path)
    for name, what in _JAVA_ENTRIES.items():
        if name in archive:
            archive.close()
            raise ModelFileError(f"{name}: {what}; refusing it: Java serialisation can run "
                                 f"code and is never read")
    if CONFIGURATION not in archive:
        archive.close()
        raise ModelFileError(f"expected a {CONFIGURATION} entry in the DL4J model zip, found "
                             f"{archive.names}")
    return archive


def _read_array(archive: BoundedZip, name: str, values: int) -> np.ndarray:
    """Entry ``name`` as an array of exactly ``values`` numbers: the entry's declared size and
    then the array headers are checked before anything the size of the data is allocated."""
    return read_nd4j_array(archive.read(name, _array_limit(values)), expected_length=values)


def _coefficients(archive: BoundedZip, conf: MultiLayerConfiguration) -> np.ndarray:
    expected = num_params(conf)
    if COEFFICIENTS not in archive:
        if expected == 0:
            return np.zeros(0, np.float32)
        raise ModelFileError(f"expected a {COEFFICIENTS} entry with {expected} parameters, "
                             f"found entries {archive.names}")
    array = _read_array(archive, COEFFICIENTS, expected)
    if array.dtype.kind != "f":
        raise ModelFileError(f"{COEFFICIENTS}: expected floating-point parameters, found "
                             f"{array.dtype}")
    return array


def read_updater_state(path: str | os.PathLike[str] | bytes
                       ) -> dict[str, dict[str, np.ndarray]]:
    """The updater state of a DL4J model zip, per parameter: ``{"0_W": {"M": ..., "V": ...}}``.

    Keys are ``param_table``'s; each updater block's state arrays (Adam ``M``, ``V``;
    RmsProp ``G``; Nesterovs ``V``; AdaGrad ``grad``) are split per parameter and shaped like
    it. An empty table when the zip has no ``updaterState.bin`` (e.g. Sgd).
    """
    with _open(path) as archive:
        imported = read_configuration(archive.read(CONFIGURATION, MAX_JSON_BYTES))
        if UPDATER_STATE not in archive:
            return {}
        return _updater_state(archive, imported)


def _updater_state(archive: BoundedZip, imported: ImportedConfiguration
                   ) -> dict[str, dict[str, np.ndarray]]:
    # NOTE [ Updater state before DL4J 0.9 ]
    # Blocks of equal updaters sharing [M | V] are how DL4J >= 0.9 (BaseMultiLayerUpdater)
    # lays the state out. For one-state updaters (RmsProp, Nesterovs, AdaGrad: every
    # regression file) any per-parameter layout is the same; for Adam and Nadam in 0.5-0.8
    # files it is unverified, so those are refused rather than split on a guess.
    conf = imported.conf
    if imported.family in ("A", "B"):
        for updater, _ in updater_blocks(conf):
            if len(state_names(updater)) > 1:
                raise ModelFileError(
                    f"{UPDATER_STATE}: unsupported: the {type(updater).__name__} state layout "
                    f"of DL4J < 0.9 files (schema family {imported.family}) is not known "
                    f"exactly")
    state = _read_array(archive, UPDATER_STATE, updater_state_size(conf))
    return updater_state_table(conf, state)


def restore_multi_layer_network(path: str | os.PathLike[str] | bytes,
                                load_updater: bool = False) -> MultiLayerNetwork:
    """A seqnet network from a DL4J ``ModelSerializer`` zip (DL4J 0.5.0 to 1.0.0-beta).

    The configuration (families A-D, or a ComputationGraph that is a simple chain), the
    parameters (``coefficients.bin``; DOUBLE parameters give a float64 network), the
    iteration and epoch counts, and a NormalizerSerializer ``normalizer.bin`` (as
    ``net.normalizer``) are restored. Training-only settings seqnet lacks (dropout, a weight
    initialisation by distribution, ...) are dropped with one :class:`DL4JImportWarning`.

    Raises
    ------
    ModelFileError: the file is malformed, unsafe, or uses what seqnet cannot represent
        exactly (the message names the class, setting or entry).
    A DL4J-written file trains by ``UpdateRule.DL4J_LEGACY`` (DL4J <= 1.0.0-beta3's rule), and
    with ``load_updater=True`` its ``updaterState.bin`` becomes the updaters' state, so that
    ``fit`` continues exactly where DL4J stopped.
    """
    with _open(path) as archive:
        imported = read_configuration(archive.read(CONFIGURATION, MAX_JSON_BYTES))
        conf = imported.conf
        flat = _coefficients(archive, conf)
        state = None
        # A file seqnet wrote for a STANDARD-rule network holds only ND4J's initial state (the
        # writer refuses a trained one), which torch's optimisers start from anyway.
        if load_updater and UPDATER_STATE in archive and \
                conf.update_rule == UpdateRule.DL4J_LEGACY:
            state = _updater_state(archive, imported)
        normalizer = None
        if NORMALIZER_ENTRY in archive:
            normalizer = restore_normalizer(archive.read(NORMALIZER_ENTRY,
                                                         _MAX_NORMALIZER_BYTES))
    if flat.dtype == np.float64 and conf.data_type != "float64":
        conf = new(dataclasses.replace, conf, data_type="float64")
    net = MultiLayerNetwork(conf)
    net.init()
    net.set_param_table(unflatten(conf, flat))
    net.iteration_count = imported.iteration_count
    net.epoch_count = imported.epoch_count
    net.normalizer = normalizer
    if state is not None:
        _set_updater_state(net, state)
    if imported.dropped:
        warnings.warn("DL4J settings dropped on import (they only affect training):\n  "
                      + "\n  ".join(imported.dropped), DL4JImportWarning, stacklevel=2)
    return net


def _set_updater_state(net: MultiLayerNetwork, table: dict[str, dict[str, np.ndarray]]) -> None:
    """DL4J's per-parameter state arrays (``param_table`` layout) as the legacy optimisers'
    per-parameter state (the modules' own layout maps, NOTE in :mod:`seqnet.nn.params`)."""
    states: dict[Any, dict[str, torch.Tensor]] = {}
    for i, module in enumerate(net.layers):
        own = {key.split("_", 1)[1]: arrays for key, arrays in table.items()
               if key.split("_", 1)[0] == str(i)}
        names_ = {name for arrays in own.values() for name in arrays}
        for name in names_:
            values = values_of(module, {k: arrays[name] for k, arrays in own.items()}, f"{i}_")
            for param, value in values.items():
                states.setdefault(param, {})[name] = value
    net.solver.set_parameter_states(states)


def _updater_state_vector(net: MultiLayerNetwork, dtype: np.dtype) -> np.ndarray:
    """The network's updater state as DL4J's ``updaterState.bin`` vector (ND4J's initial
    values for parameters not updated yet)."""
    table: dict[str, dict[str, np.ndarray]] = {}
    if net.conf.update_rule == UpdateRule.DL4J_LEGACY:
        states = net.solver.parameter_states()
        for i, module in enumerate(net.layers):
            names_ = {name for p in module.parameters() for name in states.get(p, {})}
            for name in names_:
                values = {p: states[p][name] for p in module.parameters()
                          if name in states.get(p, {})}
                for key, array in table_of(module, values).items():
                    table.setdefault(f"{i}_{key}", {})[name] = array
    return flatten_updater_state(net.conf, table).astype(dtype)


def write_multi_layer_network(net: MultiLayerNetwork, path: str | os.PathLike[str],
                              save_updater: bool = True) -> None:
    """Write ``net`` as DL4J 1.0.0-beta's ``ModelSerializer.writeModel`` does.

    Entries: ``configuration.json`` (schema family D), ``coefficients.bin`` (int64
    ``LONG_SHAPE`` headers, FLOAT or DOUBLE as the network), with ``save_updater`` an
    ``updaterState.bin``, and ``normalizer.bin`` when ``net.normalizer`` is a seqdata
    normaliser.

    The updater state is the network's under ``UpdateRule.DL4J_LEGACY`` (DL4J's own
    formulas), ND4J's initial state for a network not trained yet (zeros; epsilon for RmsProp,
    1e-6 for AdaGrad). A network trained by ``UpdateRule.STANDARD`` has torch's optimiser
    state, which is not DL4J's, so ``save_updater=True`` is refused for it: pass False.
    """
    conf = net.conf
    dtype = np.dtype(np.float64 if conf.data_type == "float64" else np.float32)
    entries: dict[str, bytes] = {
        CONFIGURATION: configuration_to_json(conf, net.iteration_count,
                                             net.epoch_count).encode("utf-8")}
    flat = flatten(conf, net.param_table()).astype(dtype)
    if flat.size:
        entries[COEFFICIENTS] = encode_nd4j_array(flat)
    else:
        entries[NO_PARAMS] = b""
    if save_updater and updater_state_size(conf):
        if net.iteration_count and conf.update_rule != UpdateRule.DL4J_LEGACY:
            raise SeqNetError(
                "save_updater=True: this network was trained by UpdateRule.STANDARD, whose "
                "torch optimiser state is not DL4J's updater state; write it with "
                "save_updater=False")
        entries[UPDATER_STATE] = encode_nd4j_array(_updater_state_vector(net, dtype))
    if net.normalizer is not None:
        entries[NORMALIZER_ENTRY] = encode_normalizer(net.normalizer)
    write_zip(path, entries)

