"""seqnet.param_shapes equals the shapes of the built modules, for every layer type."""

from __future__ import annotations

import torch

from seqnet.conf.layers import (
    LSTM,
    BaseLSTM,
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
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.nn.build import build_module
from seqnet.param_shapes import layer_param_shapes, param_shapes, parameter_count

EXAMPLES = [GravesLSTM(n_in=3, n_out=5), LSTM(n_in=3, n_out=5),
            GravesBidirectionalLSTM(n_in=3, n_out=5), DenseLayer(n_in=3, n_out=5),
            OutputLayer(n_in=3, n_out=5), RnnOutputLayer(n_in=4, n_out=2),
            LastTimeStep(LSTM(n_in=3, n_out=5)), LastTimeStep(GravesLSTM(n_in=2, n_out=3)),
            ConvolutionLayer(n_in=2, n_out=4, kernel_size=(3, 2)), SubsamplingLayer(),
            GlobalPoolingLayer(n_in=3), Bidirectional(LSTM(n_in=3, n_out=5)),
            Bidirectional(GravesLSTM(n_in=2, n_out=3), mode="ADD")]


def test_every_layer_type_of_the_module_table_has_a_rule_that_matches_its_module():
    covered = {type(layer) for layer in EXAMPLES}
    pending, every = [Layer], set()
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub.__module__.startswith("seqnet."):    # not classes tests define
                every.add(sub)
            pending.append(sub)
    for conf_type in every - {BaseLSTM}:
        assert conf_type in covered, f"{conf_type.__name__}: add it to seqnet.param_shapes"
    for layer in EXAMPLES:
        module = build_module(layer, torch.float32, torch.Generator())
        built = {k: tuple(v.shape) for k, v in module.param_table().items()}
        assert layer_param_shapes(layer) == built, type(layer).__name__


def test_a_network_counts_as_the_built_one():
    from seqnet.network import MultiLayerNetwork

    conf = MultiLayerConfiguration(layers=[GravesLSTM(n_in=3, n_out=7), DenseLayer(n_out=4),
                                           RnnOutputLayer(n_out=2)])
    net = MultiLayerNetwork(conf)
    net.init()
    assert param_shapes(conf) == {k: v.shape for k, v in net.param_table().items()}
    assert parameter_count(conf) == net.num_params()
