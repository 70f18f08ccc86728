"""DL4J's spellings and constructor shapes: enum values, positional arguments, real signatures."""

from __future__ import annotations

import inspect

import pytest

from seqnet import (
    AdaGrad,
    Adam,
    BackpropType,
    GradientNormalization,
    GravesLSTM,
    LossFunction,
    MultiLayerConfiguration,
    Nadam,
    Nesterovs,
    OutputLayer,
    RmsProp,
    RnnOutputLayer,
    Sgd,
)
from seqnet.errors import ConfigurationError
from seqnet.workflow.build import build_configuration
from seqnet.workflow.run_config import parse_run_config


def test_java_enum_names_are_the_same_members():
    assert GradientNormalization.ClipElementWiseAbsoluteValue is \
        GradientNormalization.CLIP_ELEMENT_WISE_ABSOLUTE_VALUE
    assert GradientNormalization.RenormalizeL2PerLayer is \
        GradientNormalization.RENORMALIZE_L2_PER_LAYER
    assert BackpropType.TruncatedBPTT is BackpropType.TRUNCATED_BPTT
    assert len(list(GradientNormalization)) == 6       # aliases are not extra members


@pytest.mark.parametrize("activation, loss, normalization", [
    ("TanH", "NegativeLogLikelihood", "ClipElementWiseAbsoluteValue"),
    ("ActivationTanH", "LossNegativeLogLikelihood", "RenormalizeL2PerLayer"),
    ("tanh", "NEGATIVELOGLIKELIHOOD", "CLIP_ELEMENT_WISE_ABSOLUTE_VALUE"),
])
def test_dl4j_value_spellings_in_python_and_json(activation, loss, normalization):
    conf = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=2, n_out=3, activation=activation),
                RnnOutputLayer(n_out=2, loss=loss, activation="Softmax")],
        gradient_normalization=normalization, gradient_normalization_threshold=1.0,
        backprop_type="TruncatedBPTT", tbptt_forward_length=5, tbptt_backward_length=5)
    assert conf.layers[0].activation.value == "tanh"
    assert conf.layers[1].loss is LossFunction.NEGATIVELOGLIKELIHOOD
    assert "CLIP" in conf.to_json() or "RENORMALIZE" in conf.to_json()
    assert MultiLayerConfiguration.from_json(conf.to_json()) == conf
    text = conf.to_json().replace('"tanh"', f'"{activation}"')
    assert MultiLayerConfiguration.from_json(text) == conf


def test_lrelu_and_unknown_names():
    assert GravesLSTM(n_in=1, n_out=1, activation="LReLU").activation.name == "LEAKYRELU"
    with pytest.raises(ConfigurationError, match="expected one of"):
        GravesLSTM(n_in=1, n_out=1, activation="TanHH")


def test_dl4j_spellings_in_a_toml_run_file():
    config = parse_run_config({
        "data": {"task": "classification", "num_classes": 2,
                 "train": {"features": "f/%d.csv", "labels": "l/%d.csv", "range": [0, 1]}},
        "network": {"gradient_normalization": "ClipElementWiseAbsoluteValue",
                    "gradient_normalization_threshold": 1.0,
                    "layers": [{"type": "GravesLSTM", "n_out": 4, "activation": "TanH"},
                               {"type": "RnnOutputLayer", "loss": "NegativeLogLikelihood"}]},
        "run": {"epochs": 1}})
    conf = build_configuration(config.network, n_in=3, n_out=2)
    assert conf.gradient_normalization is GradientNormalization.CLIP_ELEMENT_WISE_ABSOLUTE_VALUE
    assert conf.layers[1].loss is LossFunction.NEGATIVELOGLIKELIHOOD


def test_positional_arguments_as_dl4j_constructors_take_them():
    assert Nesterovs(0.005, 0.9) == Nesterovs(learning_rate=0.005, momentum=0.9)
    assert Adam(1e-3, 0.8, 0.99, 1e-7).beta2 == 0.99
    assert RmsProp(0.01, 0.9).rms_decay == 0.9 and AdaGrad(0.2, 1e-5).epsilon == 1e-5
    assert Nadam(0.01).learning_rate == 0.01 and Sgd(0.5).learning_rate == 0.5
    assert RnnOutputLayer(LossFunction.MCXENT, n_out=3).loss is LossFunction.MCXENT
    assert OutputLayer(LossFunction.MSE).loss is LossFunction.MSE
    with pytest.raises(ConfigurationError, match="given twice"):
        Nesterovs(0.1, learning_rate=0.2)
    with pytest.raises(ConfigurationError, match="at most 2 positional"):
        Nesterovs(0.1, 0.9, 3)


@pytest.mark.parametrize("cls", [Sgd, Adam, Nadam, RmsProp, Nesterovs, AdaGrad, OutputLayer,
                                 RnnOutputLayer])
def test_signatures_show_the_real_parameters(cls):
    params = inspect.signature(cls).parameters
    assert "args" not in params and "kwargs" not in params
    first = next(iter(params.values()))
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert first.name in ("learning_rate", "loss")
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values()
               if p.name not in ("learning_rate", "momentum", "beta1", "beta2", "epsilon",
                                 "rms_decay", "loss"))
    assert first.name in (cls.__init__.__doc__ or "") + str(inspect.signature(cls))
