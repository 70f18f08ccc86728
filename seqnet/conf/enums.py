"""DL4J's configuration enums, as string-valued Python enums.

>>> LossFunction("MCXENT") is LossFunction.MCXENT
True
>>> BackpropType.TRUNCATED_BPTT.value
'TRUNCATED_BPTT'

DL4J's Java spellings are aliases of the same members (``GradientNormalization.
ClipElementWiseAbsoluteValue``, ``BackpropType.TruncatedBPTT``), and configuration values
written as DL4J writes them (``"TanH"``, ``"LReLU"``, ``"NegativeLogLikelihood"``,
``"RenormalizeL2PerLayer"``, ``"ActivationTanH"``) are accepted wherever an enum is read
(:func:`lookup`; Python, JSON and TOML alike); the JSON form stays the canonical value.

>>> GradientNormalization.ClipElementWiseAbsoluteValue.name
'CLIP_ELEMENT_WISE_ABSOLUTE_VALUE'
>>> lookup(Activation, "LReLU").name, lookup(LossFunction, "NegativeLogLikelihood").name
('LEAKYRELU', 'NEGATIVELOGLIKELIHOOD')
"""

from __future__ import annotations

import enum
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)


class _Named(str, enum.Enum):
    """A string enum whose JSON form is its name (``"MCXENT"``)."""

    def __str__(self) -> str:
        return self.value


class BackpropType(_Named):
    """Full backpropagation through time, or truncated BPTT (``tbptt_*_length``)."""

    STANDARD = "STANDARD"
    TRUNCATED_BPTT = "TRUNCATED_BPTT"
    # DL4J's Java names
    Standard = "STANDARD"
    TruncatedBPTT = "TRUNCATED_BPTT"


class UpdateRule(_Named):
    """How a minibatch's gradient becomes a parameter update (a setting of
    :class:`~seqnet.conf.multilayer.MultiLayerConfiguration`, saved with the model).

    - ``STANDARD``: the SPEC's rule. score = masked loss sum / N + L1 + L2; the updater (torch's
      formulas) steps on the gradient of that score, regularisation after gradient
      normalisation.
    - ``DL4J_LEGACY``: DL4J up to 1.0.0-beta3, which imported models of those versions use so
      that training continues with DL4J's numbers. score = (loss sum + L1 + L2) / N; the
      updater (ND4J's formulas, :mod:`seqnet.optim`) steps on the gradient of the loss *sum*;
      then ``l2 w + l1 sign(w)`` is added to the update and the update is divided by N.
    """

    STANDARD = "STANDARD"
    DL4J_LEGACY = "DL4J_LEGACY"


class LossFunction(_Named):
    """Per-step losses of the output layers (DL4J's ``LossFunctions.LossFunction``)."""

    MCXENT = "MCXENT"
    NEGATIVELOGLIKELIHOOD = "NEGATIVELOGLIKELIHOOD"
    MSE = "MSE"
    L2 = "L2"
    L1 = "L1"
    XENT = "XENT"


class GradientNormalization(_Named):
    """DL4J's gradient normalisation / clipping modes, applied per layer before the update."""

    NONE = "NONE"
    RENORMALIZE_L2_PER_LAYER = "RENORMALIZE_L2_PER_LAYER"
    RENORMALIZE_L2_PER_PARAM_TYPE = "RENORMALIZE_L2_PER_PARAM_TYPE"
    CLIP_ELEMENT_WISE_ABSOLUTE_VALUE = "CLIP_ELEMENT_WISE_ABSOLUTE_VALUE"
    CLIP_L2_PER_LAYER = "CLIP_L2_PER_LAYER"
    CLIP_L2_PER_PARAM_TYPE = "CLIP_L2_PER_PARAM_TYPE"
    # DL4J's Java names
    RenormalizeL2PerLayer = "RENORMALIZE_L2_PER_LAYER"
    RenormalizeL2PerParamType = "RENORMALIZE_L2_PER_PARAM_TYPE"
    ClipElementWiseAbsoluteValue = "CLIP_ELEMENT_WISE_ABSOLUTE_VALUE"
    ClipL2PerLayer = "CLIP_L2_PER_LAYER"
    ClipL2PerParamType = "CLIP_L2_PER_PARAM_TYPE"


class WeightInit(_Named):
    """Weight initialisation schemes (DL4J names; fan-in/fan-out as DL4J computes them)."""

    XAVIER = "XAVIER"
    XAVIER_UNIFORM = "XAVIER_UNIFORM"
    RELU = "RELU"
    RELU_UNIFORM = "RELU_UNIFORM"
    LECUN_NORMAL = "LECUN_NORMAL"
    UNIFORM = "UNIFORM"
    NORMAL = "NORMAL"
    ZERO = "ZERO"


class PoolingType(_Named):
    """Pooling of :class:`~seqnet.conf.layers.SubsamplingLayer` (MAX, AVG) and
    :class:`~seqnet.conf.layers.GlobalPoolingLayer` (all four)."""

    MAX = "MAX"
    AVG = "AVG"
    SUM = "SUM"
    PNORM = "PNORM"


class BidirectionalMode(_Named):
    """How :class:`~seqnet.conf.layers.Bidirectional` combines its two directions (DL4J's
    ``Bidirectional.Mode``): concatenated along channels, added, multiplied or averaged."""

    CONCAT = "CONCAT"
    ADD = "ADD"
    MUL = "MUL"
    AVERAGE = "AVERAGE"


class Activation(_Named):
    """Activation names accepted wherever a layer takes ``activation=`` (lower-case strings too)."""

    TANH = "tanh"
    SIGMOID = "sigmoid"
    HARDSIGMOID = "hardsigmoid"
    HARDTANH = "hardtanh"
    RELU = "relu"
    LEAKYRELU = "leakyrelu"
    ELU = "elu"
    SOFTSIGN = "softsign"
    SOFTPLUS = "softplus"
    IDENTITY = "identity"
    SOFTMAX = "softmax"


# DL4J spellings that are not the canonical name with its underscores and case changed
# (``ActivationLReLU`` is DL4J's class for LEAKYRELU, ``LossBinaryXENT`` for XENT).
_ALIASES: dict[type[enum.Enum], dict[str, str]] = {
    Activation: {"lrelu": "LEAKYRELU", "linear": "IDENTITY"},
    LossFunction: {"binaryxent": "XENT", "squaredloss": "MSE"},
}
_PREFIXES = {Activation: "activation", LossFunction: "loss"}


def _folded(text: str) -> str:
    return text.replace("_", "").replace("-", "").lower()


def lookup(kind: type[E], value: str) -> E | None:
    """The member of ``kind`` that ``value`` names, in any of its spellings (value, name, a
    DL4J alias, any case, with or without underscores), or ``None``."""
    folded = _folded(value)
    prefix = _PREFIXES.get(kind)
    if prefix and folded.startswith(prefix) and folded != prefix:
        folded = folded[len(prefix):]
    for name, member in kind.__members__.items():
        if folded in (_folded(name.rstrip("_")), _folded(str(member.value))):
            return member
    alias = _ALIASES.get(kind, {}).get(folded)
    return kind.__members__[alias] if alias else None
