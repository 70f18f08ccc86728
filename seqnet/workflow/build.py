"""The network configuration of a run, from its ``[network]`` table.

The TOML table is translated into the JSON form that
:meth:`~seqnet.conf.multilayer.MultiLayerConfiguration.from_json` reads (``type`` becomes
``"@class"``), so every layer option, enum name and type is checked by the configuration
classes themselves, and an error names the TOML key (``network.layers[0].n_ot``).

Sizes that the data determines may be left out: without ``input_type`` the network receives
``InputType.recurrent(<feature columns>)``, which fills the first layer's ``n_in``; an output
layer without ``n_out`` gets the number of label columns.

>>> from seqnet.workflow.run_config import NetworkConfig
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
from typing import Any

from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.errors import ConfigurationError
from seqnet.workflow.run_config import NetworkConfig

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


def build_configuration(network: NetworkConfig, n_in: int | None = None,
                        n_out: int | None = None) -> MultiLayerConfiguration:
    """Build and check the ``MultiLayerConfiguration`` of ``network``.

    ``n_in`` (feature columns) and ``n_out`` (label columns) fill what the table leaves out.
    """
    text = json.dumps(network_json(network, n_in, n_out))
    try:
        return MultiLayerConfiguration.from_json(text)
    except ConfigurationError as e:
        # The configuration classes name paths from "configuration"; the user wrote [network].
        message = re.sub(r"^configuration\b", "network", str(e))
        raise ConfigurationError(message.replace(".@class", ".type")) from None
