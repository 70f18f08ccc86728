"""DL4J's ``configuration.json`` (schema families A-D, and simple-chain ComputationGraphs)
as a seqnet :class:`~seqnet.conf.multilayer.MultiLayerConfiguration`.

>>> text = '''{"backpropType": "Standard", "tbpttFwdLength": 20, "tbpttBackLength": 20,
...   "inputPreProcessors": {}, "confs": [{"seed": 1, "variables": ["W", "b"],
...   "layer": {"@class": "org.deeplearning4j.nn.conf.layers.OutputLayer", "nin": 2, "nout": 3,
...     "activationFn": {"@class": "org.nd4j.linalg.activations.impl.ActivationSoftmax"},
...     "lossFn": {"@class": "org.nd4j.linalg.lossfunctions.impl.LossMCXENT"},
...     "iupdater": {"@class": "org.nd4j.linalg.learning.config.Adam", "learningRate": 0.01,
...                  "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}}}]}'''
>>> imported = read_configuration(text)
>>> imported.conf.updater, imported.conf.layers[0].n_in
(Adam(learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-08), 2)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from seqnet.archive import json_depth
from seqnet.conf.enums import BackpropType, UpdateRule
from seqnet.conf.layers import Layer
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.preprocessors import (
    CnnToFeedForwardPreProcessor,
    CnnToRnnPreProcessor,
    FeedForwardToRnnPreProcessor,
    InputPreProcessor,
    RnnToCnnPreProcessor,
    RnnToFeedForwardPreProcessor,
)
from seqnet.dl4j import fields as F
from seqnet.dl4j import names
from seqnet.dl4j.layers import LayerContext, import_layer, new
from seqnet.dl4j.params import layer_params, param_layout
from seqnet.errors import ConfigurationError, ModelFileError

MAX_JSON_DEPTH = 64
MAX_JSON_BYTES = 64 * 1024**2

# The settings seqnet keeps once per network and lets a layer override.
_HOISTED = ("updater", "l1", "l2", "weight_init", "gradient_normalization",
            "gradient_normalization_threshold")

PREPROCESSORS: dict[str, type[InputPreProcessor]] = {
    "cnnToFeedForward": CnnToFeedForwardPreProcessor,
    "CnnToFeedForwardPreProcessor": CnnToFeedForwardPreProcessor,
    "cnnToRnn": CnnToRnnPreProcessor, "CnnToRnnPreProcessor": CnnToRnnPreProcessor,
    "rnnToCnn": RnnToCnnPreProcessor, "RnnToCnnPreProcessor": RnnToCnnPreProcessor,
    "rnnToFeedForward": RnnToFeedForwardPreProcessor,
    "RnnToFeedForwardPreProcessor": RnnToFeedForwardPreProcessor,
    "feedForwardToRnn": FeedForwardToRnnPreProcessor,
    "FeedForwardToRnnPreProcessor": FeedForwardToRnnPreProcessor,
}


@dataclass
class ImportedConfiguration:
    """What a DL4J configuration says: the seqnet configuration, the training counters, and
    the training-only settings seqnet dropped (``dropped``, one line each)."""

    conf: MultiLayerConfiguration
    iteration_count: int = 0
    epoch_count: int = 0
    dropped: list[str] = field(default_factory=list)
    family: str = "D"


def schema_family(layer: Any) -> str:
    """FORMAT.md's schema family of a layer value: A (0.5-0.7), B (0.8), C (1.0.0-alpha),
    D (1.0.0-beta: ``@class``)."""
    if not isinstance(layer, dict) or "@class" in layer:
        return "D"
    fields = next(iter(layer.values()), None) if len(layer) == 1 else None
    if not isinstance(fields, dict):
        return "D"
    if "iupdater" in fields:
        return "C"
    return "B" if "activationFn" in fields else "A"


def parse_json(text: str | bytes, where: str = "configuration.json") -> Any:
    """JSON with its size and nesting depth bounded before parsing (no recursion bomb)."""
    if len(text) > MAX_JSON_BYTES:
        raise ModelFileError(f"{where}: expected at most {MAX_JSON_BYTES} bytes of JSON, "
                             f"found {len(text)}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ModelFileError(f"{where}: expected UTF-8 JSON, found invalid bytes at "
                                 f"offset {e.start}") from None
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(f"{where}: expected JSON nested at most {MAX_JSON_DEPTH} levels "
                             f"deep, found {depth}")
    try:
        return json.loads(text)
    except ValueError as e:
        raise ModelFileError(f"{where}: expected valid JSON, found {e}") from None


def read_configuration(text: str | bytes) -> ImportedConfiguration:
    """Read a MultiLayerConfiguration (families A-D) or a chain-shaped ComputationGraph."""
    data = parse_json(text)
    if not isinstance(data, dict):
        raise F.invalid("configuration.json", f"expected an object, found "
                                              f"{type(data).__name__}")
    if "vertices" in data:
        vertex_names, confs, preprocessors = _graph_chain(data)
        wheres = [f"vertices[{name}].layerConf" for name in vertex_names]
    elif isinstance(data.get("confs"), list) and data["confs"]:
        confs, preprocessors = data["confs"], _preprocessors(data.get("inputPreProcessors"))
        vertex_names = [f"layer{i}" for i in range(len(confs))]
        wheres = [f"confs[{i}]" for i in range(len(confs))]
    else:
        raise F.invalid("configuration.json", "expected 'confs' (a MultiLayerNetwork) or "
                                              "'vertices' (a ComputationGraph)")
    notes = F.Notes()
    layers = []
    for i, conf in enumerate(confs):
        where = wheres[i]
        if not isinstance(conf, dict) or "layer" not in conf:
            raise F.invalid(where, "expected a NeuralNetConfiguration with a 'layer'")
        _conf_level(conf, where, notes)
        use = conf.get("useRegularization", True) is not False
        layer = import_layer(conf["layer"], LayerContext(f"{where}.layer", notes, use))
        # DL4J names an unnamed layer "layer<i>" (a graph's: its vertex name); seqnet: None.
        if layer.name == vertex_names[i]:
            layer = new(dataclasses.replace, layer, name=None)
        inner = layer.underlying()
        if inner is not layer and inner.name == vertex_names[i]:
            layer = new(dataclasses.replace, layer,
                        layer=new(dataclasses.replace, inner, name=None))
        layers.append(layer)
    seed = confs[0].get("seed")
    backprop_type = data.get("backpropType", "Standard")
    backprop = names.BACKPROP_TYPES.get(backprop_type) if isinstance(backprop_type, str) else None
    if backprop is None:
        raise F.invalid("backpropType", f"expected Standard or TruncatedBPTT, found "
                                        f"{data.get('backpropType')!r:.40}")
    rule = data.get(names.UPDATE_RULE_KEY, UpdateRule.DL4J_LEGACY.value)
    if rule not in UpdateRule.__members__:
        raise F.invalid(names.UPDATE_RULE_KEY, f"expected one of "
                                               f"{', '.join(UpdateRule.__members__)}, found "
                                               f"{rule!r:.40}")
    settings = dict(
        update_rule=UpdateRule(rule),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        backprop_type=BackpropType(backprop),
        tbptt_forward_length=_count(data, "tbpttFwdLength", 20),
        tbptt_backward_length=_count(data, "tbpttBackLength", 20))
    if data.get("backprop", True) is False or data.get("pretrain") is True:
        notes.drop("configuration", "backprop=false / pretrain=true (layer-wise pretraining)")
    built = build_configuration(layers, preprocessors, settings)
    _check_variables(built, confs)
    return ImportedConfiguration(built, _count(data, "iterationCount", 0),
                                 _count(data, "epochCount", 0), notes.dropped,
                                 schema_family(confs[0]["layer"]))


def _count(data: dict[str, Any], key: str, default: int) -> int:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise F.invalid(key, f"expected a non-negative integer, found {value!r:.40}")
    return value


def _conf_level(conf: dict[str, Any], where: str, notes: F.Notes) -> None:
    """The per-layer NeuralNetConfiguration settings seqnet has no place for."""
    if conf.get("learningRatePolicy", "None") not in ("None", None):
        raise F.unsupported(f"{where}.learningRatePolicy",
                            f"{conf['learningRatePolicy']!r} (a schedule)")
    for key, default in (("optimizationAlgo", "STOCHASTIC_GRADIENT_DESCENT"),
                         ("miniBatch", True), ("minimize", True), ("numIterations", 1),
                         ("useDropConnect", False), ("stepFunction", None)):
        if conf.get(key, default) != default:
            notes.drop(where, f"{key} {conf[key]!r:.60} (training only)")


def _preprocessors(value: Any) -> dict[int, InputPreProcessor]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise F.invalid("inputPreProcessors", f"expected an object, found {value!r:.60}")
    out = {}
    for key, pre in value.items():
        where = f"inputPreProcessors[{key}]"
        try:
            index = int(key)
        except ValueError:
            raise F.invalid(where, "expected a layer index as key") from None
        out[index] = preprocessor(pre, where)
    return out


def preprocessor(value: Any, where: str) -> InputPreProcessor:
    """One DL4J input preprocessor (legacy wrapper or @class form)."""
    name, params = F.typed(value, names.PREPROCESSOR_PACKAGE, where)
    cls = PREPROCESSORS.get(name)
    if cls is None:
        raise F.unsupported(where, f"input preprocessor {name.rsplit('.', 1)[-1]!r}")
    kwargs: dict[str, Any] = {}
    if cls in (CnnToFeedForwardPreProcessor, CnnToRnnPreProcessor, RnnToCnnPreProcessor):
        kwargs = {key: F.integer(params, dl4j, where) for key, dl4j in (
            ("input_height", "inputHeight"), ("input_width", "inputWidth"),
            ("num_channels", "numChannels"))}
    for key, given in params.items():
        if key not in ("inputHeight", "inputWidth", "numChannels") and given not in (
                None, "NCW", "NCHW"):
            raise F.unsupported(f"{where}.{key}", f"{given!r:.40}")
    try:
        return cls(**kwargs)
    except ConfigurationError as e:
        raise F.invalid(where, str(e)) from None


def _graph_chain(data: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]],
                                                  dict[int, InputPreProcessor]]:
    """The vertex names and layer configurations of a ComputationGraph that is a simple chain
    ``input -> v1 -> ... -> output``, in order; anything else is refused."""
    vertices, inputs = data.get("vertices"), data.get("vertexInputs")
    starts, ends = data.get("networkInputs"), data.get("networkOutputs")
    if not (isinstance(vertices, dict) and isinstance(inputs, dict)
            and isinstance(starts, list) and isinstance(ends, list)):
        raise F.invalid("configuration.json", "expected a ComputationGraph with vertices, "
                                               "vertexInputs, networkInputs, networkOutputs")
    if not all(isinstance(n, str) for n in starts + ends):
        raise F.invalid("networkInputs", "expected vertex names")
    if len(starts) != 1 or len(ends) != 1:
        raise F.unsupported("configuration.json", f"a graph with {len(starts)} inputs and "
                                                  f"{len(ends)} outputs (only a chain loads)")
    following: dict[str, str] = {}
    for name, sources in inputs.items():
        if not isinstance(sources, list) or len(sources) != 1 or not isinstance(sources[0], str):
            raise F.unsupported(f"vertexInputs[{name}]", f"a vertex with inputs {sources!r:.60} "
                                                         f"(only a chain loads)")
        if sources[0] in following:
            raise F.unsupported(f"vertexInputs[{name}]", f"vertex {sources[0]!r} feeds "
                                                         f"several vertices")
        following[sources[0]] = name
    order: list[str] = []
    current = starts[0]
    while current in following and len(order) <= len(vertices):
        current = following[current]
        order.append(current)
    if not order or order[-1] != ends[0] or len(order) != len(vertices):
        raise F.unsupported("configuration.json", "a graph that is not one chain from its "
                                                  "input to its output")
    confs, preprocessors = [], {}
    for i, name in enumerate(order):
        where = f"vertices[{name}]"
        kind, fields = F.typed(vertices[name], "org.deeplearning4j.nn.conf.graph.", where)
        if kind != "LayerVertex":
            raise F.unsupported(where, f"graph vertex {kind.rsplit('.', 1)[-1]!r} (only "
                                       f"LayerVertex chains load)")
        if not isinstance(fields.get("layerConf"), dict):
            raise F.invalid(where, "expected a LayerVertex with a 'layerConf'")
        confs.append(fields["layerConf"])
        if fields.get("preProcessor") is not None:
            preprocessors[i] = preprocessor(fields["preProcessor"], f"{where}.preProcessor")
    return order, confs, preprocessors


def build_configuration(layers: list[Layer], preprocessors: dict[int, InputPreProcessor],
                        settings: dict[str, Any]) -> MultiLayerConfiguration:
    """A configuration whose layers carry only what differs from the network defaults, and
    whose explicit preprocessors are only those seqnet would not insert by itself."""
    defaults: dict[str, Any] = {}
    owners = [layer.underlying() for layer in layers if layer_params(layer)]
    for key in _HOISTED:
        first = next((getattr(inner, key) for inner in owners
                      if getattr(inner, key) is not None), None)
        if first is not None:
            defaults[key] = first
    slim = [_without(layer, defaults) for layer in layers]
    try:
        conf = new(MultiLayerConfiguration, layers=slim, input_preprocessors=preprocessors,
                   **settings, **defaults)
    except ConfigurationError as e:
        raise ModelFileError(f"unsupported DL4J configuration: {e}") from None
    if preprocessors:
        try:
            automatic = new(MultiLayerConfiguration, layers=slim, **settings, **defaults)
        except ConfigurationError:
            return conf
        if all(automatic.preprocessor(i) == conf.preprocessor(i) for i in range(len(slim))):
            return automatic
    return conf


def _without(layer: Layer, defaults: dict[str, Any]) -> Layer:
    inner = layer.underlying()
    cleared = {key: None for key in _HOISTED
               if key in defaults and getattr(inner, key) == defaults[key]}
    if not layer_params(layer):
        cleared = {key: None for key in _HOISTED if hasattr(inner, key)}
    if inner is layer:
        return new(dataclasses.replace, layer, **cleared)
    return new(dataclasses.replace, layer, layer=new(dataclasses.replace, inner, **cleared))


def _check_variables(conf: MultiLayerConfiguration, confs: list[dict[str, Any]]) -> None:
    by_layer: dict[int, list[str]] = {}
    for p in param_layout(conf):
        by_layer.setdefault(p.layer, []).append(p.key.split("_", 1)[1])
    for i, raw in enumerate(confs):
        variables = raw.get("variables")
        if not variables:
            continue
        if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
            raise F.invalid(f"confs[{i}].variables", f"expected parameter names, found "
                                                     f"{variables!r:.60}")
        expected = by_layer.get(i, [])
        found = [v.split("_", 1)[1] if "_" in v else v for v in variables]
        # A set: DL4J lists a convolution's W before b but flattens b first.
        if sorted(found) != sorted(expected):
            raise F.invalid(f"confs[{i}].variables", f"expected parameters {expected} for "
                                                     f"this layer, found {variables}")
