"""``MultiLayerConfiguration``: the layers plus network-wide defaults, checked when built.

>>> from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
>>> conf = MultiLayerConfiguration(layers=[GravesLSTM(n_in=3, n_out=8), RnnOutputLayer(n_out=2)])
>>> conf.layers[1].n_in                      # inferred from the layer before
8
>>> MultiLayerConfiguration.from_json(conf.to_json()) == conf
True
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from seqnet.conf.enums import BackpropType, GradientNormalization, UpdateRule, WeightInit
from seqnet.conf.input_type import InputType
from seqnet.conf.layers import (
    Bidirectional,
    GlobalPoolingLayer,
    GravesBidirectionalLSTM,
    Layer,
    SubsamplingLayer,
)
from seqnet.conf.preprocessors import (
    CnnToFeedForwardPreProcessor,
    CnnToRnnPreProcessor,
    FeedForwardToRnnPreProcessor,
    InputPreProcessor,
    RnnToFeedForwardPreProcessor,
)
from seqnet.conf.schema import coerce, config, field_hints, from_dict, to_dict
from seqnet.conf.updaters import Sgd, Updater
from seqnet.errors import ConfigurationError

_DATA_TYPES = ("float32", "float64")
#: The network-wide settings besides layers, updater, preprocessors and input type.
SETTINGS = ("seed", "weight_init", "l1", "l2", "gradient_normalization",
            "gradient_normalization_threshold", "backprop_type", "tbptt_forward_length",
            "tbptt_backward_length", "data_type", "update_rule")


@config
class MultiLayerConfiguration:
    """A stack of layers and the defaults they inherit (DL4J's ``MultiLayerConfiguration``).

    Construction infers missing ``n_in`` values, inserts DL4J's automatic preprocessors
    between layers of different kinds (explicit ``input_preprocessors`` win), and checks that
    every layer's ``n_in`` matches what feeds it and that ``tbptt_backward_length`` does not
    exceed ``tbptt_forward_length``.
    """

    layers: list[Layer]
    seed: int | None = None
    updater: Updater = dataclasses.field(default_factory=Sgd)
    weight_init: WeightInit = WeightInit.XAVIER
    l1: float = 0.0
    l2: float = 0.0
    gradient_normalization: GradientNormalization = GradientNormalization.NONE
    gradient_normalization_threshold: float = 1.0
    backprop_type: BackpropType = BackpropType.STANDARD
    tbptt_forward_length: int = 20
    tbptt_backward_length: int = 20
    input_preprocessors: dict[int, InputPreProcessor] = dataclasses.field(default_factory=dict)
    input_type: InputType | None = None
    data_type: str = "float32"
    update_rule: UpdateRule = UpdateRule.STANDARD

    def _validate(self) -> None:
        if not self.layers:
            raise ConfigurationError("MultiLayerConfiguration.layers: expected at least one layer")
        self.check_settings({key: getattr(self, key) for key in SETTINGS})
        if self.backprop_type == BackpropType.TRUNCATED_BPTT:
            whole = [(i, name) for i, layer in enumerate(self.layers)
                     if (name := needs_whole_sequences(layer))]
            if whole:
                raise ConfigurationError(
                    f"layers[{whole[0][0]}]: {whole[0][1]} needs the whole sequence, so it "
                    f"cannot be trained with TRUNCATED_BPTT")
        bad = [i for i in self.input_preprocessors if not 0 <= i < len(self.layers)]
        if bad:
            raise ConfigurationError(f"input_preprocessors: expected layer indices in "
                                     f"[0, {len(self.layers)}), found {bad[0]}")
        # Copies: filling in n_in must not change the layer objects the caller holds.
        self.layers = [copy.deepcopy(layer) for layer in self.layers]
        self._preprocessors = _resolve(self.layers, self.input_preprocessors, self.input_type)

    @staticmethod
    def check_settings(values: Mapping[str, Any],
                       where: str = "MultiLayerConfiguration") -> dict[str, Any]:
        """Check network-wide settings (any of :data:`SETTINGS`) by type and range, the one
        place those rules live; returns them in canonical form. Errors name ``where.key``.

        >>> MultiLayerConfiguration.check_settings({"l2": 1, "data_type": "float64"})
        {'l2': 1.0, 'data_type': 'float64'}
        >>> MultiLayerConfiguration.check_settings({"l1": -1.0}, where="network")
        Traceback (most recent call last):
        ...
        seqnet.errors.ConfigurationError: network.l1: expected >= 0, found -1.0
        """
        unknown = sorted(set(values) - set(SETTINGS))
        if unknown:
            raise ConfigurationError(f"{where}.{unknown[0]}: unknown key; expected one of: "
                                     f"{', '.join(SETTINGS)}")
        hints = field_hints(MultiLayerConfiguration)
        out = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
        if out.get("data_type", "float32") not in _DATA_TYPES:
            raise ConfigurationError(f"{where}.data_type: expected one of "
                                     f"{', '.join(_DATA_TYPES)}, found {out['data_type']!r}")
        for key in ("l1", "l2"):
            if out.get(key, 0.0) < 0:
                raise ConfigurationError(f"{where}.{key}: expected >= 0, found {out[key]}")
        threshold = out.get("gradient_normalization_threshold", 1.0)
        if not threshold > 0:
            raise ConfigurationError(f"{where}.gradient_normalization_threshold: expected > 0, "
                                     f"found {threshold}")
        for key in ("tbptt_forward_length", "tbptt_backward_length"):
            if not 1 <= out.get(key, 1) <= 2**31 - 1:
                raise ConfigurationError(f"{where}.{key}: expected in [1, {2**31 - 1}], found "
                                         f"{out[key]}")
        seed = out.get("seed")
        if seed is not None and not 0 <= seed < 2**63:   # torch's manual_seed range
            raise ConfigurationError(f"{where}.seed: expected in [0, 2**63), found {seed}")
        k1, k2 = out.get("tbptt_forward_length"), out.get("tbptt_backward_length")
        if (out.get("backprop_type") == BackpropType.TRUNCATED_BPTT and k1 is not None
                and k2 is not None and k2 > k1):
            raise ConfigurationError(f"{where}.tbptt_backward_length: expected <= "
                                     f"tbptt_forward_length ({k1}), found {k2}")
        return out

    def layer_setting(self, index: int, key: str) -> Any:
        """Setting ``key`` of layer ``index`` as DL4J resolves it: the layer's own value (a
        wrapped layer's before its wrapper's), else this configuration's default.

        >>> from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
        >>> conf = MultiLayerConfiguration(layers=[GravesLSTM(n_in=2, n_out=3, l2=0.5),
        ...                                        RnnOutputLayer(n_out=2)], l2=0.1)
        >>> conf.layer_setting(0, "l2"), conf.layer_setting(1, "l2")
        (0.5, 0.1)
        """
        layer = self.layers[index]
        for candidate in (layer.underlying(), layer):
            value = getattr(candidate, key)
            if value is not None:
                return value
        return getattr(self, key)

    def preprocessor(self, index: int) -> InputPreProcessor | None:
        """The preprocessor applied before layer ``index`` (explicit or automatic), if any."""
        return self._preprocessors.get(index)

    def to_json(self) -> str:
        """This configuration as JSON text (the form stored in saved models)."""
        return json.dumps(to_dict(self), indent=2)

    @staticmethod
    def from_json(text: str) -> MultiLayerConfiguration:
        """Read a configuration written by :meth:`to_json`; unknown keys are errors."""
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigurationError(f"configuration JSON: expected valid JSON, found an error "
                                     f"at line {e.lineno}, column {e.colno}: {e.msg}") from None
        return from_dict(data, MultiLayerConfiguration)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MultiLayerConfiguration):
            return NotImplemented
        return to_dict(self) == to_dict(other)


def needs_whole_sequences(layer: Layer) -> str | None:
    """The name of what makes ``layer`` look at a whole sequence at once (backward in time,
    or pooled over it), so that it cannot be time-stepped or trained in TBPTT segments;
    ``None`` for a layer that runs step by step."""
    if isinstance(layer, (Bidirectional, GlobalPoolingLayer)):
        return type(layer).__name__
    if isinstance(layer.underlying(), GravesBidirectionalLSTM):
        return "GravesBidirectionalLSTM"
    return None


def _resolve(layers: list[Layer], explicit: dict[int, InputPreProcessor],
             input_type: InputType | None) -> dict[int, InputPreProcessor]:
    """Fill in ``n_in`` and return the preprocessor before each layer (DL4J's rules)."""
    current = input_type
    effective: dict[int, InputPreProcessor] = {}
    for i, layer in enumerate(layers):
        inner = layer.underlying()
        pre = explicit.get(i)
        if pre is None and current is not None:
            pre = _automatic(current, layer, i)
        if pre is not None:
            effective[i] = pre
            current = pre.output_type(current)
        if current is not None and current.kind != layer.input_kind:
            raise ConfigurationError(
                f"layers[{i}] ({type(layer).__name__}): expected a {layer.input_kind} input, "
                f"found {current.kind}; add an input preprocessor for layer {i}")
        expected = None
        if current is not None:
            expected = current.channels if layer.input_kind == "cnn" else current.size
        if inner.n_in is None:
            if expected is None:
                raise ConfigurationError(
                    f"layers[{i}].n_in: cannot be inferred; give n_in or input_type")
            inner.n_in = expected
        elif expected is not None and inner.n_in != expected:
            raise ConfigurationError(
                f"layers[{i}].n_in: expected {expected} (what layer {i - 1} and its "
                f"preprocessor produce), found {inner.n_in}")
        if isinstance(inner, (SubsamplingLayer, GlobalPoolingLayer)):
            inner.n_out = inner.n_in
        if inner.n_out is None:
            raise ConfigurationError(f"layers[{i}].n_out: required, found None")
        current = _output_type(layer, inner, current)
    return effective


def _automatic(current: InputType, layer: Layer, index: int) -> InputPreProcessor | None:
    wanted = layer.input_kind
    if current.kind == wanted:
        return None
    if current.kind == "rnn" and wanted == "ff":
        return RnnToFeedForwardPreProcessor()
    if current.kind == "ff" and wanted == "rnn":
        return FeedForwardToRnnPreProcessor()
    height, width, channels = current.height, current.width, current.channels
    if current.kind == "cnn" and (height is None or width is None or channels is None):
        raise ConfigurationError(
            f"layers[{index}]: the conv activation size is unknown, so no preprocessor can be "
            f"added automatically; give input_type=InputType.convolutional(h, w, c) or an "
            f"explicit input preprocessor for layer {index}")
    if current.kind == "cnn" and height is not None and width is not None and \
            channels is not None:
        if wanted == "rnn":
            return CnnToRnnPreProcessor(input_height=height, input_width=width,
                                        num_channels=channels)
        if wanted == "ff":
            return CnnToFeedForwardPreProcessor(input_height=height, input_width=width,
                                                num_channels=channels)
    raise ConfigurationError(
        f"layers[{index}] ({type(layer).__name__}): expected a {wanted} input, found "
        f"{current.kind}; give an explicit input preprocessor for layer {index}")


def _output_type(layer: Layer, inner: Layer, current: InputType | None) -> InputType:
    if layer.output_kind != "cnn":
        return InputType(kind=layer.output_kind, size=layer.output_size())
    height = width = None
    if current is not None and current.height is not None and current.width is not None:
        k, s, p = layer.kernel_size, layer.stride, layer.padding  # type: ignore[attr-defined]
        height = (current.height + 2 * p[0] - k[0]) // s[0] + 1
        width = (current.width + 2 * p[1] - k[1]) // s[1] + 1
        if height < 1 or width < 1:
            raise ConfigurationError(
                f"{type(layer).__name__}: a {current.height}x{current.width} input is smaller "
                f"than the kernel {k}")
    return InputType(kind="cnn", height=height, width=width, channels=inner.n_out)
