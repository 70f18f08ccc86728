"""Layer configurations (DL4J names; hyper-parameters only, no tensors).

>>> lstm = GravesLSTM(n_in=12, n_out=32)
>>> lstm.activation.value, lstm.forget_gate_bias_init
('tanh', 1.0)
>>> RnnOutputLayer(n_out=9).loss
<LossFunction.MCXENT: 'MCXENT'>

A field left as ``None`` (``weight_init``, ``updater``, ``l1``, ``l2``, gradient
normalisation) takes the network configuration's value, as in DL4J's builders.
"""

from __future__ import annotations

from typing import ClassVar

from seqnet.conf.enums import (
    Activation,
    BidirectionalMode,
    GradientNormalization,
    LossFunction,
    PoolingType,
    WeightInit,
)
from seqnet.conf.schema import config, positional
from seqnet.conf.updaters import Updater
from seqnet.errors import ConfigurationError

#: The largest layer size (DL4J's sizes are Java ints); memory is checked separately.
MAX_SIZE = 2**31 - 1

@config
class Layer:
    """Fields every layer has. ``n_in`` may be omitted where the previous layer fixes it."""

    # NOTE [ Layer kinds ]
    # input_kind / output_kind are "rnn" ([N, C, T]), "ff" ([N, C]) or "cnn" ([N, C, H, W]);
    # the network configuration inserts DL4J's preprocessors where consecutive kinds differ.
    input_kind: ClassVar[str] = "ff"
    output_kind: ClassVar[str] = "ff"
    recurrent: ClassVar[bool] = False

    n_in: int | None = None
    n_out: int | None = None
    activation: Activation = Activation.SIGMOID
    weight_init: WeightInit | None = None
    bias_init: float = 0.0
    updater: Updater | None = None
    l1: float | None = None
    l2: float | None = None
    gradient_normalization: GradientNormalization | None = None
    gradient_normalization_threshold: float | None = None
    name: str | None = None

    def output_size(self) -> int | None:
        """The number of channels this layer produces (``n_out``; twice the wrapped layer's
        for a concatenating :class:`Bidirectional`)."""
        return self.underlying().n_out

    def underlying(self) -> Layer:
        """The layer that does the work: the wrapped layer for a wrapper (DL4J's
        ``getUnderlying``), the layer itself otherwise.

        >>> LastTimeStep(GravesLSTM(n_in=2, n_out=3)).underlying().n_out
        3
        """
        return self

    def _validate(self) -> None:
        for key in ("n_in", "n_out"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigurationError(
                    f"{type(self).__name__}.{key}: expected >= 1, found {value}")
            if value is not None and value > MAX_SIZE:
                raise ConfigurationError(
                    f"{type(self).__name__}.{key}: expected <= {MAX_SIZE}, found {value}")
        for key in ("l1", "l2"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ConfigurationError(
                    f"{type(self).__name__}.{key}: expected >= 0, found {value}")
        threshold = self.gradient_normalization_threshold
        if threshold is not None and not threshold > 0:
            raise ConfigurationError(f"{type(self).__name__}.gradient_normalization_threshold: "
                                     f"expected > 0, found {threshold}")


@config
class BaseLSTM(Layer):
    """What every LSTM variant shares: activations and the forget-gate bias."""

    input_kind: ClassVar[str] = "rnn"
    output_kind: ClassVar[str] = "rnn"
    recurrent: ClassVar[bool] = True

    activation: Activation = Activation.TANH
    gate_activation: Activation = Activation.SIGMOID
    forget_gate_bias_init: float = 1.0

    def _validate(self) -> None:
        super()._validate()
        if self.gate_activation not in (Activation.SIGMOID, Activation.HARDSIGMOID):
            raise ConfigurationError(
                f"{type(self).__name__}.gate_activation: expected sigmoid or hardsigmoid, "
                f"found {self.gate_activation.value}")


@config
class GravesLSTM(BaseLSTM):
    """LSTM with peephole connections (Graves 2013), DL4J's ``GravesLSTM``."""


@config
class LSTM(BaseLSTM):
    """LSTM without peepholes, run on ``torch.nn.LSTM`` (cuDNN on a GPU).

    ``torch.nn.LSTM`` fixes tanh and sigmoid, so those are the only activations accepted.
    """

    def _validate(self) -> None:
        super()._validate()
        if self.activation != Activation.TANH or self.gate_activation != Activation.SIGMOID:
            raise ConfigurationError(
                "LSTM: expected activation tanh and gate_activation sigmoid (torch.nn.LSTM), "
                f"found {self.activation.value} and {self.gate_activation.value}; "
                "use GravesLSTM for other activations")


@config
class GravesBidirectionalLSTM(BaseLSTM):
    """Two GravesLSTMs, one over reversed time; the output is their sum (no time-stepping)."""


@config
class DenseLayer(Layer):
    """Fully connected layer ``act(x W + b)``."""


@positional("loss")
@config
class OutputLayer(Layer):
    """Dense layer with a loss, for ``[N, C]`` inputs (labels ``[N, nOut]``)."""

    activation: Activation = Activation.SOFTMAX
    loss: LossFunction = LossFunction.MCXENT


@positional("loss")
@config
class RnnOutputLayer(OutputLayer):
    """Output layer applied at every time step of ``[N, C, T]``; the loss honours masks."""

    input_kind: ClassVar[str] = "rnn"
    output_kind: ClassVar[str] = "rnn"


@config
class ConvolutionLayer(Layer):
    """2-D convolution; ``n_in`` / ``n_out`` are channels (DL4J's truncate mode: no padding
    beyond ``padding``, output size ``(in + 2 p - k) // s + 1``)."""

    input_kind: ClassVar[str] = "cnn"
    output_kind: ClassVar[str] = "cnn"

    activation: Activation = Activation.IDENTITY
    kernel_size: tuple[int, int] = (5, 5)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    def _validate(self) -> None:
        super()._validate()
        _check_window(self)


@config
class SubsamplingLayer(Layer):
    """Max or average pooling over ``kernel_size`` windows; no parameters."""

    input_kind: ClassVar[str] = "cnn"
    output_kind: ClassVar[str] = "cnn"

    pooling_type: PoolingType = PoolingType.MAX
    kernel_size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)

    def _validate(self) -> None:
        super()._validate()
        _check_window(self)
        if self.pooling_type not in (PoolingType.MAX, PoolingType.AVG):
            raise ConfigurationError(f"SubsamplingLayer.pooling_type: expected MAX or AVG, "
                                     f"found {self.pooling_type.value}")


@positional("layer")
@config
class LastTimeStep(Layer):
    """Wraps a recurrent layer and returns its activation at each example's last real step.

    With a features mask the last real step is the last step whose mask is 1 (so a
    right-padded sequence gives its true last step); without one it is step ``T - 1``.
    """

    input_kind: ClassVar[str] = "rnn"
    output_kind: ClassVar[str] = "ff"
    recurrent: ClassVar[bool] = True

    layer: Layer | None = None

    def underlying(self) -> Layer:
        return self.layer if self.layer is not None else self

    def _validate(self) -> None:
        if self.layer is None or not isinstance(self.layer, BaseLSTM):
            raise ConfigurationError(
                f"LastTimeStep.layer: expected a recurrent layer, found {self.layer!r}")


@config
class GlobalPoolingLayer(Layer):
    """Pools ``[N, C, T]`` over time into ``[N, C]``, honouring the features mask (DL4J's
    ``GlobalPoolingLayer`` with ``MaskedReductionUtil``); no parameters, ``n_out = n_in``.

    With a mask: SUM is ``sum_t x m``, AVG ``sum_t x m / sum_t m``, MAX the maximum over real
    steps, PNORM ``(sum_t |x m|^p)^(1/p)``; without one the same over every step. What
    follows it sees one vector per sequence, so no mask reaches later layers.
    """

    input_kind: ClassVar[str] = "rnn"
    output_kind: ClassVar[str] = "ff"

    pooling_type: PoolingType = PoolingType.MAX
    pnorm: int = 2

    def _validate(self) -> None:
        super()._validate()
        if self.pnorm < 1:
            raise ConfigurationError(f"GlobalPoolingLayer.pnorm: expected >= 1, found "
                                     f"{self.pnorm}")


@positional("layer")
@config
class Bidirectional(Layer):
    """Runs ``layer`` (an LSTM or GravesLSTM) forwards and a second copy over reversed time,
    and combines the two by ``mode`` (DL4J's ``Bidirectional`` wrapper). Parameter keys are the
    wrapped layer's with ``f`` and ``b`` prefixes (``0_fW ... 0_bb``); ``CONCAT`` gives
    ``2 n_out`` channels. Needs whole sequences: no ``rnn_time_step``, no TBPTT.
    """

    input_kind: ClassVar[str] = "rnn"
    output_kind: ClassVar[str] = "rnn"
    recurrent: ClassVar[bool] = True

    layer: Layer | None = None
    mode: BidirectionalMode = BidirectionalMode.CONCAT

    def underlying(self) -> Layer:
        return self.layer if self.layer is not None else self

    def output_size(self) -> int | None:
        inner = self.underlying().n_out
        if inner is None:
            return None
        return 2 * inner if self.mode == BidirectionalMode.CONCAT else inner

    def _validate(self) -> None:
        if not isinstance(self.layer, (GravesLSTM, LSTM)):
            raise ConfigurationError(
                f"Bidirectional.layer: expected an LSTM or GravesLSTM, found {self.layer!r}")


def _check_window(layer: ConvolutionLayer | SubsamplingLayer) -> None:
    for key in ("kernel_size", "stride"):
        if min(getattr(layer, key)) < 1:
            raise ConfigurationError(
                f"{type(layer).__name__}.{key}: expected values >= 1, found {getattr(layer, key)}")
    if min(layer.padding) < 0:
        raise ConfigurationError(
            f"{type(layer).__name__}.padding: expected values >= 0, found {layer.padding}")
