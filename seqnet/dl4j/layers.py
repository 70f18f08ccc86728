"""One importer per DL4J layer class, dispatched through a registry keyed by class name.

Adding a layer is one registered function: it receives the layer's JSON fields and returns
the seqnet layer configuration (every setting explicit; the network-wide defaults are worked
out afterwards).

>>> from seqnet.dl4j.fields import Notes
>>> layer = import_layer({"@class": "org.deeplearning4j.nn.conf.layers.DenseLayer",
...     "nin": 3, "nout": 4, "activationFn": {"@class":
...     "org.nd4j.linalg.activations.impl.ActivationReLU"},
...     "iupdater": {"@class": "org.nd4j.linalg.learning.config.Sgd", "learningRate": 0.1}},
...     LayerContext("confs[0].layer", Notes()))
>>> type(layer).__name__, layer.n_out, layer.activation.value
('DenseLayer', 4, 'relu')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqnet.conf.enums import Activation, BidirectionalMode, PoolingType
from seqnet.conf.layers import (
    LSTM,
    Bidirectional,
    ConvolutionLayer,
    DenseLayer,
    GlobalPoolingLayer,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    Layer,
    OutputLayer,
    RnnOutputLayer,
    SubsamplingLayer,
)
from seqnet.dl4j import fields as F
from seqnet.dl4j.names import LAYER_PACKAGE
from seqnet.errors import ConfigurationError


@dataclass
class LayerContext:
    """Where a layer sits (for messages), the notes collected, and whether l1/l2 apply
    (``useRegularization`` of families A and B)."""

    where: str
    notes: F.Notes
    use_regularization: bool = True


Importer = Callable[[dict[str, Any], LayerContext], Layer]

LAYER_IMPORTERS: dict[str, Importer] = {}

# Families A-C name a layer by a wrapper key (LegacyJsonFormat.LayerMixin); D by class name.
LEGACY_LAYER_NAMES: dict[str, str] = {
    "dense": "DenseLayer", "output": "OutputLayer", "rnnoutput": "RnnOutputLayer",
    "gravesLSTM": "GravesLSTM", "LSTM": "LSTM", "gravesBidirectionalLSTM":
    "GravesBidirectionalLSTM", "convolution": "ConvolutionLayer", "subsampling":
    "SubsamplingLayer", "GlobalPooling": "GlobalPoolingLayer", "Bidirectional":
    "recurrent.Bidirectional", "LastTimeStep": "recurrent.LastTimeStep", "loss": "LossLayer",
    "RnnLossLayer": "RnnLossLayer", "embedding": "EmbeddingLayer", "activation":
    "ActivationLayer", "dropout": "DropoutLayer", "batchNormalization": "BatchNormalization",
    "FrozenLayer": "misc.FrozenLayer", "SimpleRnn": "recurrent.SimpleRnn", "MaskZeroLayer":
    "util.MaskZeroLayer", "VariationalAutoencoder": "variational.VariationalAutoencoder",
    "autoEncoder": "AutoEncoder", "RBM": "RBM", "localResponseNormalization":
    "LocalResponseNormalization", "zeroPadding": "ZeroPaddingLayer", "convolution1d":
    "Convolution1DLayer", "subsampling1d": "Subsampling1DLayer", "CenterLossOutputLayer":
    "CenterLossOutputLayer", "Upsampling2D": "Upsampling2D", "Cropping2D":
    "convolutional.Cropping2D", "EmbeddingSequenceLayer": "EmbeddingSequenceLayer",
}

# DL4J layers seqnet does not have yet: refused as unsupported, not as unknown.
KNOWN_UNSUPPORTED = frozenset(LAYER_PACKAGE + name for name in (
    "LossLayer", "RnnLossLayer",
    "EmbeddingLayer", "ActivationLayer", "DropoutLayer", "BatchNormalization",
    "misc.FrozenLayer", "recurrent.SimpleRnn", "util.MaskZeroLayer",
    "variational.VariationalAutoencoder", "AutoEncoder", "RBM", "LocalResponseNormalization",
    "ZeroPaddingLayer", "Convolution1DLayer", "Subsampling1DLayer", "CenterLossOutputLayer",
    "Upsampling2D", "convolutional.Cropping2D", "EmbeddingSequenceLayer",
    "objdetect.Yolo2OutputLayer", "Convolution3D", "Subsampling3DLayer", "Deconvolution2D",
    "SeparableConvolution2D", "DepthwiseConvolution2D", "SpaceToDepthLayer",
    "SpaceToBatchLayer", "Upsampling1D", "ZeroPadding1DLayer", "PReLULayer",
))


def register_layer_importer(class_name: str) -> Callable[[Importer], Importer]:
    """Register the importer of DL4J layer ``class_name`` (fully qualified); refuses a
    second importer for the same class."""
    def wrap(fn: Importer) -> Importer:
        if class_name in LAYER_IMPORTERS:
            raise ValueError(f"an importer for {class_name} is already registered")
        LAYER_IMPORTERS[class_name] = fn
        return fn
    return wrap


def layer_class(value: Any, where: str) -> tuple[str, dict[str, Any]]:
    """The fully qualified DL4J class name of a layer value, and its fields."""
    name, fields = F.typed(value, "", where)
    if "@class" not in value:
        name = LAYER_PACKAGE + LEGACY_LAYER_NAMES[name] if name in LEGACY_LAYER_NAMES else name
    return name, fields


def import_layer(value: Any, ctx: LayerContext) -> Layer:
    """The seqnet layer for one DL4J layer JSON value (any family)."""
    name, fields = layer_class(value, ctx.where)
    importer = LAYER_IMPORTERS.get(name)
    if importer is None:
        short = name.rsplit(".", 1)[-1]
        if name in KNOWN_UNSUPPORTED:
            raise F.unsupported(ctx.where, f"layer {short} ({name}) is not available in "
                                           f"seqnet yet")
        raise F.unsupported(ctx.where, f"unknown layer class {short!r} ({name}): not a DL4J "
                                       f"layer seqnet knows; a user-defined layer cannot be "
                                       f"loaded (nothing in a model file is run as code)")
    try:
        return importer(fields, ctx)
    except ConfigurationError as e:
        raise F.unsupported(ctx.where, f"seqnet cannot build this layer: {e}") from None


def new(factory: Any, *args: Any, **kwargs: Any) -> Any:
    """Build or ``dataclasses.replace`` a configuration object (the ``@config`` dataclasses
    are opaque to mypy)."""
    return factory(*args, **kwargs)


def _common(fields: dict[str, Any], ctx: LayerContext) -> dict[str, Any]:
    """Settings every parameterised layer has, as seqnet keyword arguments."""
    where, notes = ctx.where, ctx.notes
    l1, l2 = F.regularization(fields, ctx.use_regularization, where)
    normalization, threshold = F.gradient_normalization(fields, where)
    for key, none in (("dropOut", 0.0), ("idropout", None), ("weightNoise", None),
                      ("constraints", None)):
        if fields.get(key, none) not in (none, [], 1.0):
            notes.drop(where, f"{key} {fields[key]!r:.80} (training only; seqnet has none)")
    name = fields.get("layerName")
    return dict(
        n_in=F.integer(fields, "nin", where), n_out=F.integer(fields, "nout", where),
        activation=F.activation(_activation_value(fields, where), f"{where}.activation"),
        weight_init=F.weight_init(fields, where, notes),
        bias_init=F.number(fields, "biasInit", where, default=0.0),
        updater=F.updater(fields, where), l1=l1, l2=l2,
        gradient_normalization=normalization, gradient_normalization_threshold=threshold,
        name=name if isinstance(name, str) else None)


def _activation_value(fields: dict[str, Any], where: str) -> Any:
    for key in ("activationFn", "activationFunction", "activation"):
        if fields.get(key) is not None:
            return fields[key]
    raise F.invalid(where, "expected an activation (activationFn / activationFunction)")


def _has_bias(fields: dict[str, Any], where: str) -> None:
    if fields.get("hasBias", True) is not True:
        raise F.unsupported(f"{where}.hasBias", "a layer without bias")


@register_layer_importer(LAYER_PACKAGE + "DenseLayer")
def _dense(fields: dict[str, Any], ctx: LayerContext) -> Layer:
    _has_bias(fields, ctx.where)
    return new(DenseLayer, **_common(fields, ctx))


def _output(cls: type[OutputLayer]) -> Importer:
    def importer(fields: dict[str, Any], ctx: LayerContext) -> Layer:
        _has_bias(fields, ctx.where)
        return new(cls, **_common(fields, ctx), loss=F.loss(fields, ctx.where))
    return importer


register_layer_importer(LAYER_PACKAGE + "OutputLayer")(_output(OutputLayer))
register_layer_importer(LAYER_PACKAGE + "RnnOutputLayer")(_output(RnnOutputLayer))


def _lstm(cls: type[GravesLSTM | LSTM | GravesBidirectionalLSTM]) -> Importer:
    def importer(fields: dict[str, Any], ctx: LayerContext) -> Layer:
        gate = fields.get("gateActivationFn")
        return new(cls, **_common(fields, ctx),
                   gate_activation=(Activation.SIGMOID if gate is None else
                                    F.activation(gate, f"{ctx.where}.gateActivationFn")),
                   forget_gate_bias_init=F.number(fields, "forgetGateBiasInit", ctx.where,
                                                  default=1.0))
    return importer


register_layer_importer(LAYER_PACKAGE + "GravesLSTM")(_lstm(GravesLSTM))
register_layer_importer(LAYER_PACKAGE + "LSTM")(_lstm(LSTM))
register_layer_importer(LAYER_PACKAGE + "GravesBidirectionalLSTM")(
    _lstm(GravesBidirectionalLSTM))


def _window(fields: dict[str, Any], where: str) -> dict[str, Any]:
    # "convolutionType" is 0.5's name of the mode (VALID = Truncate).
    mode = fields.get("convolutionMode", fields.get("convolutionType", "Truncate"))
    if mode not in ("Truncate", "Strict", "VALID", None):
        raise F.unsupported(f"{where}.convolutionMode", f"{mode!r} (seqnet pads only by "
                                                        f"'padding', DL4J's Truncate mode)")
    if F.pair(fields, "dilation", where, (1, 1)) != (1, 1):
        raise F.unsupported(f"{where}.dilation", f"{fields['dilation']}")
    return dict(kernel_size=F.pair(fields, "kernelSize", where, (5, 5)),
                stride=F.pair(fields, "stride", where, (1, 1)),
                padding=F.pair(fields, "padding", where, (0, 0)))


@register_layer_importer(LAYER_PACKAGE + "ConvolutionLayer")
def _convolution(fields: dict[str, Any], ctx: LayerContext) -> Layer:
    _has_bias(fields, ctx.where)
    return new(ConvolutionLayer, **_common(fields, ctx), **_window(fields, ctx.where))


@register_layer_importer(LAYER_PACKAGE + "SubsamplingLayer")
def _subsampling(fields: dict[str, Any], ctx: LayerContext) -> Layer:
    pooling = fields.get("poolingType", "MAX")
    if pooling not in ("MAX", "AVG"):
        raise F.unsupported(f"{ctx.where}.poolingType", f"{pooling!r} (seqnet has MAX, AVG)")
    name = fields.get("layerName")
    return new(SubsamplingLayer, pooling_type=PoolingType(pooling), **_window(fields, ctx.where),
                            name=name if isinstance(name, str) else None)


@register_layer_importer(LAYER_PACKAGE + "recurrent.LastTimeStep")
def _last_time_step(fields: dict[str, Any], ctx: LayerContext) -> Layer:
    inner = import_layer(fields.get("underlying"), LayerContext(
        f"{ctx.where}.underlying", ctx.notes, ctx.use_regularization))
    name = fields.get("layerName")
    return new(LastTimeStep, layer=inner, name=name if isinstance(name, str) else None)


@register_layer_importer(LAYER_PACKAGE + "GlobalPoolingLayer")
def _global_pooling(fields: dict[str, Any], ctx: LayerContext) -> Layer:
    where = ctx.where
    pooling = fields.get("poolingType", "MAX")
    if pooling not in ("MAX", "AVG", "SUM", "PNORM"):
        raise F.invalid(f"{where}.poolingType", f"expected MAX, AVG, SUM or PNORM, found "
                                                f"{pooling!r:.40}")
    if fields.get("poolingDimensions") not in (None, [2]):
        raise F.unsupported(f"{where}.poolingDimensions", f"{fields['poolingDimensions']!r:.40}"
                                                          f" (seqnet pools over time, [2])")
    if fields.get("collapseDimensions", True) is not True:
        raise F.unsupported(f"{where}.collapseDimensions", "false ([N, C, 1] output)")
    pnorm = fields.get("pnorm", 2)
    if isinstance(pnorm, bool) or not isinstance(pnorm, int):
        raise F.invalid(f"{where}.pnorm", f"expected an integer, found {pnorm!r:.40}")
    name = fields.get("layerName")
    return new(GlobalPoolingLayer, pooling_type=PoolingType(pooling), pnorm=pnorm,
               name=name if isinstance(name, str) else None)


@register_layer_importer(LAYER_PACKAGE + "recurrent.Bidirectional")
def _bidirectional(fields: dict[str, Any], ctx: LayerContext) -> Layer:
    where = ctx.where
    forward = import_layer(fields.get("fwd"), LayerContext(f"{where}.fwd", ctx.notes,
                                                           ctx.use_regularization))
    backward = import_layer(fields.get("bwd"), LayerContext(f"{where}.bwd", F.Notes(),
                                                            ctx.use_regularization))
    if backward != forward:
        raise F.unsupported(f"{where}.bwd", "a backward layer configured differently from "
                                            "the forward one")
    mode = fields.get("mode", "CONCAT")
    if mode not in BidirectionalMode.__members__:
        raise F.invalid(f"{where}.mode", f"expected CONCAT, ADD, MUL or AVERAGE, found "
                                         f"{mode!r:.40}")
    name = fields.get("layerName")
    return new(Bidirectional, layer=forward, mode=BidirectionalMode(mode),
               name=name if isinstance(name, str) else None)
