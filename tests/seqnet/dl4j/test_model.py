"""Restoring DL4J model zips and writing them: every fixture, DL4J's own outputs and bytes."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pytest

from seqdata.dataset import DataSet
from seqdata.normalizers import NormalizerStandardize
from seqnet.conf.enums import GradientNormalization, UpdateRule
from seqnet.conf.layers import (
    LSTM,
    Bidirectional,
    DenseLayer,
    GlobalPoolingLayer,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    OutputLayer,
    RnnOutputLayer,
)
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.updaters import AdaGrad, Adam, Nesterovs, RmsProp, Sgd
from seqnet.dl4j import (
    DL4JImportWarning,
    configuration_to_dict,
    encode_nd4j_array,
    read_nd4j_array,
    read_updater_state,
    restore_multi_layer_network,
    write_multi_layer_network,
)
from seqnet.errors import ModelFileError, SeqNetError
from seqnet.network import MultiLayerNetwork
from tests.seqnet.dl4j._files import (
    CHAR_100A,
    CHAR_BETA,
    CHAR_INPUT_100A,
    CHAR_OUTPUT_100A,
    CSV1_BETA,
    CSV2_BETA,
    CUSTOM_100A,
    DL4J,
    LINSPACE,
    LSTM_071,
)

BETA_ZIP = CHAR_BETA / "Model_RANDOM_INIT_UNTRAINED.zip"
# Every model file among the fixtures, and why the ones that do not load are refused.
REFUSED = {
    CUSTOM_100A: "unknown layer class 'CustomLayer'",
    DL4J / "071" / "071_ModelSerializer_Regression_CNN_1.zip": "convolutionMode: 'Same'",
}
LOADS = sorted(LINSPACE) + [CHAR_100A, BETA_ZIP] + [
    folder / "Model_RANDOM_INIT_UNTRAINED.zip" for folder in (CSV1_BETA, CSV2_BETA)]


def _restore(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DL4JImportWarning)
        return restore_multi_layer_network(path, **kwargs)


def _entries(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_every_fixture_model_loads_or_is_refused_for_its_documented_reason():
    models = {p for p in DL4J.rglob("*") if p.suffix in (".zip", ".bin")
              and p.read_bytes()[:2] == b"PK"}
    assert models == set(LOADS) | set(REFUSED)
    for path in LOADS:
        assert _restore(path).num_params() > 0
    for path, reason in REFUSED.items():
        with pytest.raises(ModelFileError, match=reason):
            _restore(path)


def test_the_100a_char_model_reproduces_dl4js_output():
    net = _restore(CHAR_100A)
    x = read_nd4j_array(CHAR_INPUT_100A)
    expected = read_nd4j_array(CHAR_OUTPUT_100A)
    out = net.output(x)
    assert out.shape == expected.shape == (3, 77, 10)
    # float32 throughout; the difference is summation order (measured 7.5e-9, ~8 ulp of 0.013).
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-8)


def test_the_beta_char_model_and_its_gradient_file():
    net = _restore(BETA_ZIP)
    assert net.num_params() == 558677
    table = net.param_table()
    assert table["0_W"].shape == (77, 800) and table["0_RW"].shape == (200, 800)
    gradient = read_nd4j_array(CHAR_BETA / "gradients" / "2_b.bin")
    assert gradient.dtype == np.float32 and gradient.shape == table["2_b"].shape == (1, 77)


def test_dropped_training_settings_warn_once():
    with pytest.warns(DL4JImportWarning, match="dropOut 0.6") as record:
        restore_multi_layer_network(LSTM_071)
    assert len(record) == 1


@pytest.mark.parametrize("path", [LSTM_071,
                                  DL4J / "080" / "080_ModelSerializer_Regression_MLP_1.zip"],
                         ids=lambda p: p.name)
def test_the_updater_state_loads_into_the_legacy_updaters_and_writes_back_exactly(path, tmp_path):
    net = _restore(path, load_updater=True)
    assert net.conf.update_rule == UpdateRule.DL4J_LEGACY
    original = read_updater_state(path)
    assert net.solver.parameter_states()             # the state arrived, per parameter
    write_multi_layer_network(net, tmp_path / "m.zip")
    written = read_updater_state(tmp_path / "m.zip")
    assert written.keys() == original.keys()
    for key, arrays in original.items():
        for name, array in arrays.items():
            np.testing.assert_array_equal(written[key][name], array, err_msg=f"{key}.{name}")


def test_a_standard_rule_network_refuses_dl4j_updater_state(tmp_path):
    net = _restore(LSTM_071)
    net.conf.update_rule = UpdateRule.STANDARD
    net.iteration_count = 1
    with pytest.raises(SeqNetError, match="save_updater=False"):
        write_multi_layer_network(net, tmp_path / "n.zip")


@pytest.mark.parametrize("path", LOADS, ids=lambda p: p.name)
def test_write_then_restore_is_exact(path, tmp_path):
    net = _restore(path)
    write_multi_layer_network(net, tmp_path / "m.zip")
    back = restore_multi_layer_network(tmp_path / "m.zip")
    assert back.conf == net.conf
    a, b = net.param_table(), back.param_table()
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a[key], b[key])


def _compare(mine, theirs, where="") -> list[str]:
    """Every field of ``theirs`` (what DL4J reads) with a different value in ``mine``."""
    if isinstance(theirs, dict):
        if not isinstance(mine, dict):
            return [f"{where}: {mine!r} vs {theirs!r}"]
        out = [f"{where}.{k}: missing" for k in theirs if k not in mine]
        out += [f"{where}.{k}: extra" for k in mine if k not in theirs]
        for k in theirs:
            if k in mine:
                out += _compare(mine[k], theirs[k], f"{where}.{k}")
        return out
    if isinstance(theirs, list) and isinstance(mine, list) and len(mine) == len(theirs):
        return [d for i, (m, t) in enumerate(zip(mine, theirs))
                for d in _compare(m, t, f"{where}[{i}]")]
    same = mine == theirs and type(mine) is type(theirs)
    return [] if same else [f"{where}: {mine!r} vs {theirs!r}"]


def test_the_json_seqnet_writes_is_dl4js_field_by_field():
    net = _restore(BETA_ZIP)
    mine = configuration_to_dict(net.conf, net.iteration_count, net.epoch_count)
    # The configuration.json DL4J wrote after init(): every field, every value.
    assert _compare(mine, json.loads(_entries(BETA_ZIP)["configuration.json"])) == []
    # config.mlc.json was written before init(): only the per-parameter maps are still empty.
    pre_init = json.loads((CHAR_BETA / "config.mlc.json").read_text())
    for conf in mine["confs"]:
        conf.update(l1ByParam={}, l2ByParam={}, variables=[])
    assert _compare(mine, pre_init) == []


def test_written_arrays_are_dl4js_bytes(tmp_path):
    net = _restore(BETA_ZIP)
    write_multi_layer_network(net, tmp_path / "m.zip")
    mine, theirs = _entries(tmp_path / "m.zip"), _entries(BETA_ZIP)
    assert sorted(mine) == sorted(theirs)
    # Parameters and the untrained RmsProp state (epsilon everywhere), byte for byte.
    assert mine["coefficients.bin"] == theirs["coefficients.bin"]
    assert mine["updaterState.bin"] == theirs["updaterState.bin"]


def _nets() -> list[MultiLayerConfiguration]:
    return [
        MultiLayerConfiguration(
            layers=[GravesLSTM(n_in=3, n_out=4), LSTM(n_out=5, l2=0.01),
                    GravesBidirectionalLSTM(n_out=3, activation="softsign"),
                    RnnOutputLayer(n_out=2, loss="MSE", activation="identity",
                                   updater=Sgd(0.5))],
            updater=Adam(1e-3), seed=7, l1=0.001, gradient_normalization=(
                GradientNormalization.CLIP_L2_PER_LAYER), gradient_normalization_threshold=2.0),
        MultiLayerConfiguration(
            layers=[LastTimeStep(GravesLSTM(n_in=2, n_out=3, forget_gate_bias_init=2.0)),
                    DenseLayer(n_out=4, activation="relu"), OutputLayer(n_out=3)],
            updater=Nesterovs(0.2, momentum=0.8), backprop_type="STANDARD"),
        MultiLayerConfiguration(
            layers=[GravesLSTM(n_in=2, n_out=3), RnnOutputLayer(n_out=2, loss="XENT",
                                                                activation="sigmoid")],
            updater=AdaGrad(0.05), backprop_type="TRUNCATED_BPTT", tbptt_forward_length=7,
            tbptt_backward_length=5, data_type="float64", seed=3),
        MultiLayerConfiguration(
            layers=[Bidirectional(GravesLSTM(n_in=2, n_out=3), mode="MUL"),
                    GlobalPoolingLayer(pooling_type="PNORM", pnorm=3), OutputLayer(n_out=2)],
            updater=RmsProp(0.01), l2=0.01, update_rule="DL4J_LEGACY", seed=5),
    ]


@pytest.mark.parametrize("index", range(4))
def test_seqnet_networks_round_trip_exactly(index, tmp_path):
    net = MultiLayerNetwork(_nets()[index])
    net.init()
    write_multi_layer_network(net, tmp_path / "m.zip")
    back = restore_multi_layer_network(tmp_path / "m.zip")
    assert back.conf == net.conf          # the update rule included
    for key, value in net.param_table().items():
        np.testing.assert_array_equal(back.param_table()[key], value)
    x = np.random.default_rng(0).normal(size=(2, net.conf.layers[0].underlying().n_in, 6))
    np.testing.assert_array_equal(back.output(x.astype(np.float32)),
                                  net.output(x.astype(np.float32)))


def test_per_layer_settings_survive_as_dl4j_resolves_them(tmp_path):
    conf = MultiLayerConfiguration(
        layers=[DenseLayer(n_in=2, n_out=3, updater=Sgd(0.1), l2=0.5), DenseLayer(n_out=3),
                OutputLayer(n_out=2)], updater=RmsProp(0.01), l2=0.1)
    net = MultiLayerNetwork(conf)
    net.init()
    write_multi_layer_network(net, tmp_path / "m.zip")
    back = restore_multi_layer_network(tmp_path / "m.zip").conf
    for i in range(3):
        for key in ("updater", "l1", "l2", "weight_init", "gradient_normalization"):
            assert back.layer_setting(i, key) == conf.layer_setting(i, key)


def test_double_parameters_give_a_float64_network(tmp_path):
    entries = _entries(LSTM_071)
    flat = read_nd4j_array(entries["coefficients.bin"]).astype(np.float64) + 0.1
    entries["coefficients.bin"] = encode_nd4j_array(flat, mode="JAVACPP")
    net = _restore(_zip(entries))
    assert net.conf.data_type == "float64"
    assert net.param_table()["0_W"].dtype == np.float64
    assert net.param_table()["2_b"][0, 4] == 477.1


def test_counters_and_the_normaliser_travel(tmp_path):
    net = _restore(LSTM_071)
    net.iteration_count, net.epoch_count = 12, 3
    norm = NormalizerStandardize()
    norm.fit(DataSet(np.random.default_rng(1).normal(size=(4, 3, 5)).astype(np.float32)))
    net.normalizer = norm
    write_multi_layer_network(net, tmp_path / "m.zip", save_updater=False)
    assert "updaterState.bin" not in _entries(tmp_path / "m.zip")
    back = restore_multi_layer_network(tmp_path / "m.zip")
    assert (back.iteration_count, back.epoch_count) == (12, 3)
    np.testing.assert_allclose(back.normalizer.mean, norm.mean, rtol=1e-6)


def test_java_serialised_entries_are_refused_by_name():
    entries = _entries(LSTM_071)
    for name in ("updater.bin", "preprocessor.bin"):
        with pytest.raises(ModelFileError, match=name):
            _restore(_zip({**entries, name: b"\xac\xed\x00\x05"}))
    with pytest.raises(ModelFileError, match="Java-serialised normaliser"):
        _restore(_zip({**entries, "normalizer.bin": b"\xac\xed\x00\x05"}))


def test_parameter_arrays_are_checked_against_the_configuration_before_reading():
    entries = _entries(LSTM_071)
    wrong = encode_nd4j_array(np.zeros((1, 476), np.float32), mode="JAVACPP")
    with pytest.raises(ModelFileError, match="expected an array of 477 values"):
        _restore(_zip({**entries, "coefficients.bin": wrong}))
    with pytest.raises(ModelFileError, match="expected a coefficients.bin"):
        _restore(_zip({k: v for k, v in entries.items() if k != "coefficients.bin"}))
    with pytest.raises(ModelFileError, match="expected a configuration.json"):
        _restore(_zip({k: v for k, v in entries.items() if k != "configuration.json"}))
    ints = encode_nd4j_array(np.zeros((1, 477), np.int32), mode="JAVACPP")
    with pytest.raises(ModelFileError, match="floating-point"):
        _restore(_zip({**entries, "coefficients.bin": ints}))
    # A coefficients entry larger than 477 values can be is refused from its declared size.
    with pytest.raises(ModelFileError, match="declares 100000 bytes"):
        _restore(_zip({**entries, "coefficients.bin": b"\0" * 100_000}))
    truncated = entries["coefficients.bin"][:-3]
    with pytest.raises(ModelFileError, match="at byte"):
        _restore(_zip({**entries, "coefficients.bin": truncated}))


def test_an_imported_lstm_computes_what_a_graves_lstm_without_peepholes_does():
    # DL4J's LSTM and GravesLSTM share the [a | f | o | g] gate layout; GravesLSTM's last three
    # RW columns are the peepholes. With them zero, the 1.0.0-alpha output check above (for
    # GravesLSTM) carries over to the beta model's LSTM layers.
    lstm_net = _restore(BETA_ZIP)
    conf = lstm_net.conf
    graves = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=77, n_out=200), GravesLSTM(n_out=200),
                RnnOutputLayer(n_out=77)], updater=conf.updater, seed=1)
    graves_net = MultiLayerNetwork(graves)
    graves_net.init()
    table = lstm_net.param_table()
    table = {k: (np.concatenate([v, np.zeros((200, 3), v.dtype)], axis=1) if "RW" in k else v)
             for k, v in table.items()}
    graves_net.set_param_table(table)
    x = read_nd4j_array(CHAR_INPUT_100A)
    np.testing.assert_allclose(lstm_net.output(x), graves_net.output(x), rtol=0, atol=1e-6)


def test_legacy_two_state_updater_layouts_are_refused_not_guessed():
    entries = _entries(LSTM_071)
    data = json.loads(entries["configuration.json"])
    for conf in data["confs"]:
        next(iter(conf["layer"].values())).update(updater="ADAM")
    state = encode_nd4j_array(np.zeros((1, 954), np.float32), mode="JAVACPP")
    hostile = _zip({**entries, "configuration.json": json.dumps(data).encode(),
                    "updaterState.bin": state})
    with pytest.raises(ModelFileError, match="Adam state layout of DL4J < 0.9"):
        read_updater_state(hostile)


@pytest.mark.parametrize("updater", [Adam(0.01), RmsProp(0.01), Nesterovs(0.05, momentum=0.9),
                                     AdaGrad(0.05)], ids=lambda u: type(u).__name__)
def test_legacy_training_continues_identically_after_a_dl4j_round_trip(updater, tmp_path):
    rng = np.random.default_rng(8)
    conf = MultiLayerConfiguration(
        layers=[Bidirectional(LSTM(n_in=2, n_out=3)), GlobalPoolingLayer(pooling_type="AVG"),
                OutputLayer(n_out=2)], updater=updater, l1=1e-3, l2=1e-3, seed=2,
        update_rule="DL4J_LEGACY")
    batches = [DataSet(rng.normal(size=(4, 2, 5)).astype(np.float32),
                       np.eye(2, dtype=np.float32)[rng.integers(0, 2, size=4)])
               for _ in range(4)]
    net = MultiLayerNetwork(conf)
    net.init()
    for ds in batches[:2]:
        net.fit(ds)
    write_multi_layer_network(net, tmp_path / "m.zip")
    back = restore_multi_layer_network(tmp_path / "m.zip", load_updater=True)
    assert back.iteration_count == 2
    for ds in batches[2:]:
        net.fit(ds)
        back.fit(ds)
        assert back.score() == net.score()
    for key, value in net.param_table().items():
        np.testing.assert_array_equal(back.param_table()[key], value, err_msg=key)
