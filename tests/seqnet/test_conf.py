"""Configuration: validation with clear messages, n_in inference, preprocessors, JSON."""

from __future__ import annotations

import json

import pytest

from seqnet.conf.enums import Activation, BackpropType, LossFunction, WeightInit
from seqnet.conf.input_type import InputType
from seqnet.conf.layers import (
    LSTM,
    ConvolutionLayer,
    DenseLayer,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    OutputLayer,
    RnnOutputLayer,
    SubsamplingLayer,
)
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.preprocessors import (
    CnnToFeedForwardPreProcessor,
    CnnToRnnPreProcessor,
    RnnToCnnPreProcessor,
)
from seqnet.conf.updaters import Adam, Nesterovs, RmsProp
from seqnet.errors import ConfigurationError


def _conf(**kw):
    kw.setdefault("layers", [GravesLSTM(n_in=3, n_out=8), DenseLayer(n_out=4),
                             RnnOutputLayer(n_out=2)])
    return MultiLayerConfiguration(**kw)


def test_json_round_trip_keeps_everything():
    conf = _conf(updater=RmsProp(0.01), l2=1e-4, seed=3, data_type="float64",
                 backprop_type=BackpropType.TRUNCATED_BPTT, tbptt_forward_length=10,
                 tbptt_backward_length=5,
                 layers=[LSTM(n_in=2, n_out=4, updater=Nesterovs(0.2), l1=0.1),
                         LastTimeStep(GravesLSTM(n_out=3)),
                         OutputLayer(n_out=2, loss="MSE", activation="identity")])
    again = MultiLayerConfiguration.from_json(conf.to_json())
    assert again == conf
    assert again.layers[0].updater == Nesterovs(0.2)
    assert again.layers[1].layer.n_in == 4
    assert again.layers[2].loss is LossFunction.MSE


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.update(bogus=1), "unknown key 'bogus'"),
    (lambda d: d["layers"][0].update(n_outt=3), r"layers\[0\]: unknown key 'n_outt'"),
    (lambda d: d["layers"][0].update(n_out="8"), r"layers\[0\]\.n_out: expected int, found str"),
    (lambda d: d.update(l2="big"), "l2: expected float"),
    (lambda d: d["layers"][1].update({"@class": "Nope"}), r"layers\[1\]\.@class.*'Nope'"),
    (lambda d: d["updater"].update(learning_rate=-1), "learning_rate: expected > 0"),
    (lambda d: d.update(backprop_type="SOMETIMES"), "STANDARD, TRUNCATED_BPTT"),
])
def test_from_json_names_the_bad_key(edit, message):
    data = json.loads(_conf().to_json())
    edit(data)
    with pytest.raises(ConfigurationError, match=message):
        MultiLayerConfiguration.from_json(json.dumps(data))


def test_invalid_json_text():
    with pytest.raises(ConfigurationError, match="line 1"):
        MultiLayerConfiguration.from_json("{nope")


def test_n_in_is_inferred_and_mismatches_are_errors():
    conf = _conf()
    assert [layer.n_in for layer in conf.layers] == [3, 8, 4]
    with pytest.raises(ConfigurationError, match=r"layers\[1\]\.n_in: expected 8.*found 5"):
        _conf(layers=[GravesLSTM(n_in=3, n_out=8), DenseLayer(n_in=5, n_out=4)])
    with pytest.raises(ConfigurationError, match=r"layers\[0\]\.n_in: cannot be inferred"):
        _conf(layers=[GravesLSTM(n_out=8)])
    assert _conf(layers=[GravesLSTM(n_out=8), RnnOutputLayer(n_out=2)],
                 input_type=InputType.recurrent(5)).layers[0].n_in == 5


def test_constructor_arguments_are_checked():
    with pytest.raises(ConfigurationError, match="GravesLSTM.n_out: expected int"):
        GravesLSTM(n_out=2.5)
    with pytest.raises(ConfigurationError, match="n_out: expected >= 1"):
        DenseLayer(n_out=0)
    with pytest.raises(ConfigurationError, match="activation: expected one of"):
        DenseLayer(n_out=2, activation="swishy")
    with pytest.raises(ConfigurationError, match="LSTM: expected activation tanh"):
        LSTM(n_out=2, activation="relu")
    with pytest.raises(ConfigurationError, match="data_type"):
        _conf(data_type="float16")
    with pytest.raises(ConfigurationError, match="GravesBidirectionalLSTM.*TRUNCATED_BPTT"):
        _conf(layers=[GravesBidirectionalLSTM(n_in=2, n_out=3), RnnOutputLayer(n_out=2)],
              backprop_type=BackpropType.TRUNCATED_BPTT)
    with pytest.raises(ConfigurationError, match="GravesBidirectionalLSTM.*TRUNCATED_BPTT"):
        _conf(layers=[LastTimeStep(GravesBidirectionalLSTM(n_in=2, n_out=3)),
                      OutputLayer(n_out=2)], backprop_type=BackpropType.TRUNCATED_BPTT)
    assert DenseLayer(n_out=2, activation="TANH").activation is Activation.TANH
    assert Adam(0.1).learning_rate == 0.1


@pytest.mark.parametrize("make, message", [
    (lambda: Adam(1e-3, beta1=1.5), r"Adam.beta1: expected in \[0, 1\), found 1.5"),
    (lambda: RmsProp(0.1, rms_decay=-1.0), r"RmsProp.rms_decay: expected in \[0, 1\)"),
    (lambda: Nesterovs(0.1, momentum=-1.0), "Nesterovs.momentum: expected >= 0"),
    (lambda: GravesLSTM(n_out=2, gradient_normalization_threshold=0.0),
     "GravesLSTM.gradient_normalization_threshold: expected > 0"),
    # A negative clipping threshold would clamp every gradient element to -threshold.
    (lambda: _conf(gradient_normalization_threshold=-1.0),
     "MultiLayerConfiguration.gradient_normalization_threshold: expected > 0, found -1.0"),
])
def test_hyper_parameters_out_of_range_are_refused_at_construction(make, message):
    with pytest.raises(ConfigurationError, match=message):
        make()
    assert _conf().weight_init is WeightInit.XAVIER


def test_conv_stack_gets_cnn_preprocessors_from_input_type():
    conf = _conf(input_type=InputType.convolutional(12, 12, 1),
                 layers=[ConvolutionLayer(n_out=4, kernel_size=(3, 3)),
                         SubsamplingLayer(kernel_size=(2, 2), stride=(2, 2)),
                         DenseLayer(n_out=8), OutputLayer(n_out=3)])
    pre = conf.preprocessor(2)
    assert isinstance(pre, CnnToFeedForwardPreProcessor)
    assert (pre.input_height, pre.input_width, pre.num_channels) == (5, 5, 4)
    assert conf.layers[2].n_in == 100


def test_video_style_stack_with_explicit_rnn_to_cnn():
    conf = _conf(layers=[ConvolutionLayer(n_in=3, n_out=2, kernel_size=(3, 3)),
                         GravesLSTM(n_out=5), RnnOutputLayer(n_out=2)],
                 input_preprocessors={0: RnnToCnnPreProcessor(input_height=6, input_width=6,
                                                             num_channels=3)})
    assert isinstance(conf.preprocessor(1), CnnToRnnPreProcessor)
    assert conf.layers[1].n_in == 2 * 4 * 4


def test_conv_without_known_size_needs_help():
    with pytest.raises(ConfigurationError, match="InputType.convolutional"):
        _conf(layers=[ConvolutionLayer(n_in=1, n_out=2), DenseLayer(n_out=3)])
