"""From a layer configuration to its torch module.

>>> import torch
>>> from seqnet.conf.layers import DenseLayer
>>> type(build_module(DenseLayer(n_in=2, n_out=3), torch.float32, torch.Generator())).__name__
'DenseModule'
"""

from __future__ import annotations

import torch

from seqnet.conf.enums import WeightInit
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
    SubsamplingLayer,
)
from seqnet.nn.base import LayerModule, RecurrentModule
from seqnet.nn.bidirectional import BidirectionalModule
from seqnet.nn.conv import ConvolutionModule, SubsamplingModule
from seqnet.nn.dense import DenseModule
from seqnet.nn.graves import GravesLSTMModule
from seqnet.nn.graves_bidirectional import GravesBidirectionalModule
from seqnet.nn.last_time_step import LastTimeStepModule
from seqnet.nn.lstm import LSTMModule
from seqnet.nn.pooling import GlobalPoolingModule

_MODULES: list[tuple[type[Layer], type[LayerModule]]] = [
    (GravesBidirectionalLSTM, GravesBidirectionalModule),
    (Bidirectional, BidirectionalModule),
    (GlobalPoolingLayer, GlobalPoolingModule),
    (GravesLSTM, GravesLSTMModule),
    (LSTM, LSTMModule),
    (OutputLayer, DenseModule),          # RnnOutputLayer too (a subclass)
    (DenseLayer, DenseModule),
    (ConvolutionLayer, ConvolutionModule),
    (SubsamplingLayer, SubsamplingModule),
]


def build_module(conf: Layer, dtype: torch.dtype, generator: torch.Generator,
                 weight_init: WeightInit = WeightInit.XAVIER) -> LayerModule:
    """A freshly initialised module for ``conf``; ``weight_init`` is the network default."""
    if isinstance(conf, LastTimeStep):
        assert conf.layer is not None
        inner = build_module(conf.layer, dtype, generator, weight_init)
        assert isinstance(inner, RecurrentModule)      # LastTimeStep's conf checks the layer
        return LastTimeStepModule(inner)
    for conf_type, module_type in _MODULES:
        if isinstance(conf, conf_type):
            return module_type(conf, dtype, generator, weight_init)
    raise TypeError(f"no module for layer configuration {type(conf).__name__}")
