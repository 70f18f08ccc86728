"""The network configuration of a run, from its ``[network]`` table.

Every value of the table is checked once, by the configuration classes themselves
(:meth:`MultiLayerConfiguration.check_settings`, each layer's and updater's own checks), when
the run file is read; the sizes the data fixes are filled in and checked when the
configuration is built.

The TOML table is translated into the JSON form that
:meth:`~seqnet.conf.multilayer.MultiLayerConfiguration.from_json` reads (``type`` becomes
``"@class"``), so every layer option, enum name and type is checked by the configuration
classes themselves, and an error names the TOML key (``network.layers[0].n_ot``).

Sizes that the data determines may be left out: without ``input_type`` the network receives
``InputType.recurrent(<feature columns>)``, which fills the first layer's ``n_in``; an output
layer without ``n_out`` gets the number of label columns.

>>> net = NetworkConfig(seed=1, updater={"type": "adam", "learning_rate": 0.01},
...                     layers=[{"type": "GravesLSTM", "n_out": 4},
...                             {"type": "RnnOutputLayer"}])
>>> conf = build_configuration(net, n_in=12, n_out=9)
>>> conf.layers[0].n_in, conf.layers[1].n_out, type(conf.updater).__name__
(12, 9, 'Adam')
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from seqnet.conf.input_type import InputType
from seqnet.conf.layers import Layer
from seqnet.conf.multilayer import SETTINGS, MultiLayerConfiguration
from seqnet.conf.preprocessors import InputPreProcessor
from seqnet.conf.schema import from_dict
from seqnet.conf.updaters import Updater
from seqnet.errors import ConfigurationError
from seqnet.workflow.table_checks import REQUIRED, take, typed

T = TypeVar("T")
#: ``network.seed`` when a run file gives none (it also carves ``data.validation_fraction``).
DEFAULT_SEED = 123


@dataclass(frozen=True)
class NetworkConfig:
    """The ``[network]`` table, kept as plain values until ``build`` maps it to seqnet."""

    seed: int
    updater: dict[str, Any]
    layers: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)


# Only the table's shape is checked here; every value is checked by the configuration classes.
_NETWORK = {
    "seed": (int, DEFAULT_SEED),
    "updater": ((str, dict), "adam"),
    "layers": (list, REQUIRED),
    "input_type": (dict, None),
    "input_preprocessors": (dict, None),
    **{key: (object, None) for key in SETTINGS if key != "seed"},
}

_UPDATERS = {name.lower(): name for name in
             ("Sgd", "Adam", "Nadam", "RmsProp", "Nesterovs", "AdaGrad")}


def _with_class(table: dict[str, Any], where: str) -> dict[str, Any]:
    """``type`` becomes ``"@class"``, in nested tables too (a layer's own ``updater``, the
    layer that ``LastTimeStep`` wraps)."""
    if "type" not in table:
        raise ConfigurationError(f"{where}.type: required key is missing")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key == "updater" and isinstance(value, dict):
            out[key] = _updater(value, f"{where}.updater")
        elif isinstance(value, dict) and "type" in value:
            out[key] = _with_class(value, f"{where}.{key}")
        elif key != "type":
            out[key] = value
    out["@class"] = table["type"]
    return out


def _updater(table: dict[str, Any], where: str) -> dict[str, Any]:
    if "type" not in table:
        raise ConfigurationError(f"{where}.type: required key is missing")
    name = _UPDATERS.get(str(table["type"]).lower())
    if name is None:
        raise ConfigurationError(f"{where}.type: expected one of "
                                 f"{', '.join(sorted(_UPDATERS))}, found {table['type']!r}")
    return _with_class({**table, "type": name}, where)


def network_json(network: NetworkConfig, n_in: int | None = None,
                 n_out: int | None = None) -> dict[str, Any]:
    """The JSON form of the configuration (before the configuration classes check it)."""
    layers = [_with_class(layer, f"network.layers[{i}]")
              for i, layer in enumerate(network.layers)]
    if n_out is not None and layers and layers[-1].get("n_out") is None:
        layers[-1]["n_out"] = n_out
    options = dict(network.options)
    if "input_type" in options:
        options["input_type"] = dict(options["input_type"])
    elif n_in is not None:
        options["input_type"] = {"kind": "rnn", "size": n_in}
    if "input_preprocessors" in options:
        options["input_preprocessors"] = {
            str(k): _with_class(v, f"network.input_preprocessors.{k}")
            for k, v in options["input_preprocessors"].items()}
    return {"layers": layers, "seed": network.seed,
            "updater": _updater(network.updater, "network.updater"), **options}


def parse_network(table: Any) -> NetworkConfig:
    """Read and check a run file's ``[network]`` table (see the module docstring)."""
    n = take(table, _NETWORK, "network")
    layers = n.pop("layers")
    if not layers:
        raise ConfigurationError("network.layers: expected at least one [[network.layers]] table")
    checked = []
    for i, layer in enumerate(layers):
        where = f"network.layers[{i}]"
        if not isinstance(layer, dict):
            raise ConfigurationError(f"{where}: expected a table, found {layer!r}")
        if not isinstance(layer.get("type"), str):
            raise ConfigurationError(f"{where}.type: required key is missing "
                                     "(a layer class name such as \"GravesLSTM\")")
        checked.append(dict(layer))
    seed = n.pop("seed")
    updater = _updater_table(n.pop("updater"), "network.updater")
    options = {k: v for k, v in n.items() if v is not None}
    if options.get("backprop_type") == "TRUNCATED_BPTT":
        for key in ("tbptt_forward_length", "tbptt_backward_length"):
            if key not in options:
                raise ConfigurationError(
                    f"network.{key}: required with backprop_type = 'TRUNCATED_BPTT'")
    network = NetworkConfig(seed=seed, updater=updater, layers=checked, options=options)
    _check_values(network)
    return network


def _updater_table(value: str | dict, where: str) -> dict[str, Any]:
    """A run file's updater: a name, or a table with ``type`` and numbers."""
    if isinstance(value, str):
        return {"type": value}
    if "type" not in value or not isinstance(value["type"], str):
        raise ConfigurationError(f"{where}.type: required key is missing (e.g. type = \"adam\")")
    for key, v in value.items():
        if key != "type":
            typed(v, (float, bool), f"{where}.{key}")
    return dict(value)


def _check_values(network: NetworkConfig) -> None:
    """Every value of ``network`` through the configuration classes' own checks."""
    document = network_json(network)
    _named(MultiLayerConfiguration.check_settings,
           {k: v for k, v in document.items() if k in SETTINGS}, "network")
    _named(from_dict, document["updater"], Updater, "network.updater")
    for i, layer in enumerate(document["layers"]):
        _named(from_dict, layer, Layer, f"network.layers[{i}]")
    if "input_type" in document:
        _named(from_dict, document["input_type"], InputType, "network.input_type")
    for key, pre in document.get("input_preprocessors", {}).items():
        _named(from_dict, pre, InputPreProcessor, f"network.input_preprocessors.{key}")


def _named(check: Callable[..., T], *args: Any) -> T:
    """``check(*args)``; an error names the run file's key (``type``, not ``@class``)."""
    try:
        return check(*args)
    except ConfigurationError as e:
        # The configuration classes name paths from "configuration"; the user wrote [network].
        message = re.sub(r"^configuration\b", "network", str(e))
        raise ConfigurationError(message.replace(".@class", ".type")) from None


def build_configuration(network: NetworkConfig, n_in: int | None = None,
                        n_out: int | None = None) -> MultiLayerConfiguration:
    """Build and check the ``MultiLayerConfiguration`` of ``network``.

    ``n_in`` (feature columns) and ``n_out`` (label columns) fill what the table leaves out.
    """
    text = json.dumps(network_json(network, n_in, n_out))
    return _named(MultiLayerConfiguration.from_json, text)
