"""configuration.json families A-D -> seqnet configurations, and what is refused."""

from __future__ import annotations

import copy
import json
import zipfile

import pytest

from seqnet.conf.enums import (
    Activation,
    BackpropType,
    GradientNormalization,
    LossFunction,
    PoolingType,
    WeightInit,
)
from seqnet.conf.layers import (
    LSTM,
    Bidirectional,
    DenseLayer,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    OutputLayer,
    RnnOutputLayer,
)
from seqnet.conf.updaters import Adam, Nesterovs, RmsProp
from seqnet.dl4j import LAYER_IMPORTERS, read_configuration, register_layer_importer
from seqnet.dl4j.configuration import MAX_JSON_DEPTH
from seqnet.dl4j.layers import new
from seqnet.errors import ModelFileError
from tests.seqnet.dl4j._files import CHAR_100A, CHAR_BETA, CSV1_BETA, CSV2_BETA, DL4J, LSTM_071

LAYERS = "org.deeplearning4j.nn.conf.layers."


def _json(path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read("configuration.json").decode("utf-8")


def _read(path):
    return read_configuration(_json(path))


def _beta() -> dict:
    return json.loads((CHAR_BETA / "config.mlc.json").read_text(encoding="utf-8"))


def _refused(data, match: str) -> None:
    with pytest.raises(ModelFileError, match=match):
        read_configuration(json.dumps(data) if not isinstance(data, str) else data)


def test_family_a_071_lstm_as_regression_test_071_asserts():
    imported = _read(LSTM_071)
    conf = imported.conf
    l0, l1, l2 = conf.layers
    assert isinstance(l0, GravesLSTM) and (l0.n_in, l0.n_out) == (3, 4)
    assert l0.activation == Activation.TANH and l0.gate_activation == Activation.SIGMOID
    assert isinstance(l1, GravesBidirectionalLSTM) and l1.activation == Activation.SOFTSIGN
    assert isinstance(l2, RnnOutputLayer) and l2.loss == LossFunction.MCXENT
    assert (l2.n_in, l2.n_out, l2.activation) == (4, 5, Activation.SOFTMAX)
    for i in range(3):
        assert conf.layer_setting(i, "updater") == RmsProp(0.15, rms_decay=0.96, epsilon=1e-8)
        assert (conf.layer_setting(i, "l1"), conf.layer_setting(i, "l2")) == (0.1, 0.2)
        assert conf.layer_setting(i, "gradient_normalization") == \
            GradientNormalization.CLIP_ELEMENT_WISE_ABSOLUTE_VALUE
        assert conf.layer_setting(i, "gradient_normalization_threshold") == 1.5
    assert conf.seed == 12345 and conf.backprop_type == BackpropType.STANDARD
    assert (conf.tbptt_forward_length, conf.tbptt_backward_length) == (20, 20)
    # Training-only settings seqnet lacks are reported, not silently lost.
    assert any("dropOut 0.6" in d for d in imported.dropped)
    assert any("DISTRIBUTION" in d for d in imported.dropped)


def test_family_b_080_mlp_as_regression_test_080_asserts():
    conf = _read(DL4J / "080" / "080_ModelSerializer_Regression_MLP_1.zip").conf
    dense, out = conf.layers
    assert isinstance(dense, DenseLayer) and (dense.n_in, dense.n_out) == (3, 4)
    assert dense.activation == Activation.RELU
    assert isinstance(out, OutputLayer) and out.activation == Activation.SOFTMAX
    assert conf.updater == Nesterovs(0.15, momentum=0.9)
    assert conf.weight_init == WeightInit.XAVIER and conf.l1 == conf.l2 == 0.0


@pytest.mark.parametrize("version", ["050", "060", "071", "080"])
def test_mlp_2_in_every_version(version):
    imported = _read(DL4J / version / f"{version}_ModelSerializer_Regression_MLP_2.zip")
    conf = imported.conf
    dense, out = conf.layers
    assert dense.activation == Activation.LEAKYRELU
    assert out.activation == Activation.IDENTITY and out.loss == LossFunction.MSE
    assert conf.updater == RmsProp(0.15, rms_decay=0.96)
    assert (conf.l1, conf.l2) == (0.1, 0.2)
    # RegressionTest050's MLP_2 has no gradient clipping; the later ones clip at 1.5.
    clipped = version != "050"
    assert conf.gradient_normalization_threshold == (1.5 if clipped else 1.0)
    assert any("CONJUGATE_GRADIENT" in d for d in imported.dropped)


def test_family_c_100a_char_model():
    conf = _read(CHAR_100A).conf
    assert [type(layer) for layer in conf.layers] == [GravesLSTM, GravesLSTM, RnnOutputLayer]
    assert [layer.n_out for layer in conf.layers] == [200, 200, 77]
    assert conf.updater == RmsProp(0.1, rms_decay=0.95, epsilon=1e-8)
    assert (conf.l1, conf.l2) == (0.0, 0.001)
    assert conf.backprop_type == BackpropType.TRUNCATED_BPTT
    assert (conf.tbptt_forward_length, conf.tbptt_backward_length) == (50, 50)


def test_family_d_beta_char_model_and_its_pre_init_config_agree():
    from_zip = _read(CHAR_BETA / "Model_RANDOM_INIT_UNTRAINED.zip").conf
    from_json = read_configuration((CHAR_BETA / "config.mlc.json").read_text()).conf
    assert from_zip == from_json
    assert [type(layer) for layer in from_zip.layers] == [LSTM, LSTM, RnnOutputLayer]
    assert from_zip.backprop_type == BackpropType.TRUNCATED_BPTT


@pytest.mark.parametrize("version", ["060", "071", "080"])
def test_a_chain_graph_loads_as_the_equivalent_multilayer_configuration(version):
    graph = _read(DL4J / version / f"{version}_ModelSerializer_Regression_CG_LSTM_1.zip")
    chain = _read(DL4J / version / f"{version}_ModelSerializer_Regression_LSTM_1.zip")
    assert graph.conf == chain.conf


def test_the_custom_layer_is_refused_by_name():
    with pytest.raises(ModelFileError, match="unknown layer class 'CustomLayer'"):
        _read(DL4J / "100a" / "CustomLayerExample_100a.bin")


def test_the_integration_nets_load_with_pooling_and_the_bidirectional_wrapper():
    one = read_configuration((CSV1_BETA / "config.mlc.json").read_text()).conf
    two = read_configuration((CSV2_BETA / "config.mlc.json").read_text()).conf
    assert [type(layer).__name__ for layer in one.layers] == ["LSTM", "GlobalPoolingLayer",
                                                             "OutputLayer"]
    assert one.layers[1].pooling_type == PoolingType.AVG and one.update_rule.value == \
        "DL4J_LEGACY"
    wrapper = two.layers[0]
    assert isinstance(wrapper, Bidirectional) and wrapper.mode.value == "CONCAT"
    assert isinstance(wrapper.layer, LSTM) and wrapper.layer.n_out == 10
    assert two.layers[2].n_in == 20


def test_layers_seqnet_lacks_are_refused_by_name():
    data = json.loads((CSV1_BETA / "config.mlc.json").read_text())
    data["confs"][1]["layer"]["@class"] = LAYERS + "EmbeddingLayer"
    _refused(json.dumps(data), f"EmbeddingLayer \\({LAYERS}EmbeddingLayer\\) is not available")


def test_convolution_same_mode_is_refused():
    with pytest.raises(ModelFileError, match="convolutionMode: 'Same'"):
        _read(DL4J / "071" / "071_ModelSerializer_Regression_CNN_1.zip")


def _mutated(edit) -> dict:
    data = _beta()
    edit(data, data["confs"][0]["layer"])
    return data


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d, l0: l0.update({"@class": "com.example.MyLayer"}), "unknown layer class 'MyLayer'"),
    (lambda d, l0: l0.update(l1Bias=0.5), "l1Bias: 0.5: seqnet cannot regularise biases"),
    (lambda d, l0: l0.update(l2Bias=0.1), "l2Bias"),
    (lambda d, l0: l0.update(activationFn={
        "@class": "org.nd4j.linalg.activations.impl.ActivationCube"}), "activation 'Cube'"),
    (lambda d, l0: l0.update(activationFn={
        "@class": "org.nd4j.linalg.activations.impl.ActivationLReLU", "alpha": 0.3}),
     "LReLU with alpha=0.3"),
    (lambda d, l0: l0["iupdater"].update({"@class": "org.nd4j.linalg.learning.config.AdaMax"}),
     "updater 'AdaMax'"),
    (lambda d, l0: l0["iupdater"].update(learningRateSchedule={"@class": "x"}),
     "learningRateSchedule"),
    (lambda d, l0: l0.update(biasUpdater={"@class": "org.nd4j.linalg.learning.config.Sgd",
                                          "learningRate": 0.1}), "bias updater"),
    (lambda d, l0: l0.update(gradientNormalization="Bogus"), "gradientNormalization"),
    (lambda d, l0: l0.update(nin="77"), "nin: expected an integer"),
    (lambda d, l0: d["confs"][2]["layer"].update(lossFn={
        "@class": "org.nd4j.linalg.lossfunctions.impl.LossMAE"}), "loss 'LossMAE'|loss 'MAE'"),
    (lambda d, l0: d["confs"][2]["layer"]["lossFn"].update(softmaxClipEps=1e-5),
     "softmaxClipEps"),
    (lambda d, l0: d["confs"][2].update(variables=["W", "bias"]), "variables"),
    (lambda d, l0: d.update(backpropType="Sideways"), "backpropType"),
    (lambda d, l0: d.update(inputPreProcessors={"1": {
        "@class": "org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor",
        "inputHeight": 1, "inputWidth": 1, "numChannels": 1}}), "FeedForwardToCnnPreProcessor"),
    (lambda d, l0: d["confs"].__setitem__(1, {"layer": 3}), "expected an object"),
    (lambda d, l0: d["confs"][1]["layer"].update(nin=5), "n_in: expected 200"),
])
def test_what_seqnet_cannot_represent_is_refused_with_one_clear_error(edit, match):
    _refused(_mutated(edit), match)


def test_malformed_json_is_refused():
    _refused("{", "expected valid JSON")
    _refused("[1, 2]", "expected an object")
    _refused({"confs": []}, "expected 'confs'")
    _refused("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nested at most")
    _refused(b"\xff\xfe".decode("latin-1"), "JSON")


def test_deep_nesting_inside_a_string_is_not_counted():
    data = _beta()
    data["confs"][0]["layer"]["layerName"] = "[" * 1000
    assert read_configuration(json.dumps(data)).conf.layers[0].name == "[" * 1000


def test_graphs_other_than_a_chain_are_refused():
    graph = json.loads(_json(DL4J / "080" / "080_ModelSerializer_Regression_CG_LSTM_1.zip"))
    merged = copy.deepcopy(graph)
    merged["vertexInputs"]["2"] = ["0", "1"]
    _refused(merged, "a vertex with inputs")
    vertex = copy.deepcopy(graph)
    vertex["vertices"]["1"] = {"@class": "org.deeplearning4j.nn.conf.graph.MergeVertex"}
    _refused(vertex, "graph vertex 'MergeVertex'")
    two = copy.deepcopy(graph)
    two["networkInputs"] = ["in", "in2"]
    _refused(two, "2 inputs")


def test_use_regularization_false_ignores_l1_and_l2():
    data = json.loads(_json(DL4J / "071" / "071_ModelSerializer_Regression_LSTM_1.zip"))
    for conf in data["confs"]:
        conf["useRegularization"] = False
    conf = read_configuration(json.dumps(data)).conf
    assert (conf.l1, conf.l2) == (0.0, 0.0)


def test_the_registry_is_keyed_by_class_name_and_refuses_duplicates():
    assert {LAYERS + n for n in ("GravesLSTM", "LSTM", "GravesBidirectionalLSTM", "DenseLayer",
                                 "OutputLayer", "RnnOutputLayer", "ConvolutionLayer",
                                 "SubsamplingLayer", "recurrent.LastTimeStep",
                                 "GlobalPoolingLayer", "recurrent.Bidirectional")} \
        == set(LAYER_IMPORTERS)
    with pytest.raises(ValueError, match="already registered"):
        register_layer_importer(LAYERS + "LSTM")(lambda fields, ctx: None)


def test_adding_a_layer_is_one_registry_entry():
    data = _mutated(lambda d, l0: l0.update({"@class": "com.example.Wrapped"}))
    register_layer_importer("com.example.Wrapped")(
        lambda fields, ctx: new(GravesLSTM, n_in=fields["nin"], n_out=fields["nout"]))
    try:
        conf = read_configuration(json.dumps(data)).conf
    finally:
        del LAYER_IMPORTERS["com.example.Wrapped"]
    assert isinstance(conf.layers[0], GravesLSTM)


def test_last_time_step_wrapper():
    data = _beta()
    inner = data["confs"][1]["layer"]
    data["confs"][1]["layer"] = {"@class": LAYERS + "recurrent.LastTimeStep",
                                 "underlying": inner, "layerName": "layer1"}
    out = data["confs"][2]["layer"]
    out["@class"] = LAYERS + "OutputLayer"
    data["backpropType"] = "Standard"
    conf = read_configuration(json.dumps(data)).conf
    assert isinstance(conf.layers[1], LastTimeStep) and isinstance(conf.layers[1].layer, LSTM)
    assert isinstance(conf.layers[2], OutputLayer)
    assert conf.updater == RmsProp(0.1)


def test_family_a_activation_names_and_adam_defaults():
    data = json.loads(_json(DL4J / "071" / "071_ModelSerializer_Regression_LSTM_1.zip"))
    for conf in data["confs"]:
        layer = next(iter(conf["layer"].values()))
        layer.update(updater="ADAM", adamMeanDecay="NaN", adamVarDecay=0.99)
    conf = read_configuration(json.dumps(data)).conf
    assert conf.updater == Adam(0.15, beta1=0.9, beta2=0.99, epsilon=1e-8)


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    if path:
        yield path


@pytest.mark.parametrize("path", [LSTM_071, CHAR_BETA / "Model_RANDOM_INIT_UNTRAINED.zip"],
                         ids=["family A", "family D"])
def test_any_one_value_replaced_gives_a_configuration_or_a_model_file_error(path):
    base = json.loads(_json(path))
    for where in _leaves(base):
        for value in (None, "x", [], {}, -1, True):
            data = copy.deepcopy(base)
            target = data
            for key in where[:-1]:
                target = target[key]
            target[where[-1]] = value
            try:
                read_configuration(json.dumps(data))
            except ModelFileError:
                pass
