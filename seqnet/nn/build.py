"""From a layer configuration to its torch module.

>>> import torch
>>> from seqnet.conf.layers import DenseLayer
>>> type(build_module(DenseLayer(n_in=2, n_out=3), torch.float32, torch.Generator())).__name__
'DenseModule'
"""

from __future__ import annotations

import torch
from torch import nn

from seqnet.conf.enums import WeightInit
from seqnet.conf.layers import (
    LSTM,
    ConvolutionLayer,
    DenseLayer,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    Layer,
    OutputLayer,
    SubsamplingLayer,
)
from seqnet.nn.bidirectional import BidirectionalModule
from seqnet.nn.conv import ConvolutionModule, SubsamplingModule
from seqnet.nn.dense import DenseModule
from seqnet.nn.graves_lstm import GravesLSTMModule
from seqnet.nn.last_time_step import LastTimeStepModule
from seqnet.nn.lstm import LSTMModule

_MODULES: list[tuple[type[Layer], type[nn.Module]]] = [
    (GravesBidirectionalLSTM, BidirectionalModule),
    (GravesLSTM, GravesLSTMModule),
    (LSTM, LSTMModule),
    (OutputLayer, DenseModule),          # RnnOutputLayer too (a subclass)
    (DenseLayer, DenseModule),
    (ConvolutionLayer, ConvolutionModule),
    (SubsamplingLayer, SubsamplingModule),
]


def build_module(conf: Layer, dtype: torch.dtype, generator: torch.Generator,
                 weight_init: WeightInit = WeightInit.XAVIER) -> nn.Module:
    """A freshly initialised module for ``conf``; ``weight_init`` is the network default."""
    if isinstance(conf, LastTimeStep):
        assert conf.layer is not None
        return LastTimeStepModule(build_module(conf.layer, dtype, generator, weight_init))
    for conf_type, module_type in _MODULES:
        if isinstance(conf, conf_type):
            return module_type(conf, dtype, generator, weight_init)  # type: ignore[call-arg]
    raise TypeError(f"no module for layer configuration {type(conf).__name__}")
