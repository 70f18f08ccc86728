"""ONNX export: ONNX Runtime's output equals ``net.output`` / ``rnn_time_step``, and the graph
has the structure the contract names (one LSTM node, declared shapes, opset)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from click.testing import CliRunner  # noqa: E402

from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator  # noqa: E402
from seqdata.normalizers import NormalizerStandardize  # noqa: E402
from seqdata.readers.csv import CSVSequenceRecordReader  # noqa: E402
from seqdata.splits import NumberedFileInputSplit  # noqa: E402
from seqnet.cli import main  # noqa: E402
from seqnet.conf.enums import Activation, BidirectionalMode, PoolingType  # noqa: E402
from seqnet.conf.input_type import InputType  # noqa: E402
from seqnet.conf.layers import (  # noqa: E402
    LSTM,
    Bidirectional,
    ConvolutionLayer,
    DenseLayer,
    GlobalPoolingLayer,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    OutputLayer,
    RnnOutputLayer,
    SubsamplingLayer,
)
from seqnet.conf.preprocessors import RnnToCnnPreProcessor  # noqa: E402
from seqnet.conf.updaters import Adam  # noqa: E402
from seqnet.errors import SeqNetError, StateError  # noqa: E402
from seqnet.network import MultiLayerNetwork  # noqa: E402
from seqnet.onnx import OPSET, UnsupportedError, export_onnx, register, to_onnx  # noqa: E402
from seqnet.onnx.activations import apply_activation  # noqa: E402
from seqnet.onnx.graph import GraphBuilder  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402
from tests.seqnet._nets import make_net  # noqa: E402

ATOL = 2e-5
SIZES = [(1, 1), (4, 7), (5, 40)]
LENGTHS = [12, 7, 3, 1]
GATES = [Activation.SIGMOID, Activation.HARDSIGMOID]


def session(model: Any) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def features(rng: np.random.Generator, n: int, c: int, t: int) -> np.ndarray:
    return (rng.normal(size=(n, c, t)) * 1.5).astype(np.float32)


def padded_mask(lengths: list[int], steps: int, align_end: bool) -> np.ndarray:
    mask = np.zeros((len(lengths), steps), np.float32)
    for n, length in enumerate(lengths):
        if align_end:
            mask[n, steps - length:] = 1.0
        else:
            mask[n, :length] = 1.0
    return mask


def op_types(model: Any) -> list[str]:
    return [node.op_type for node in model.graph.node]


def declared(value_info: Any) -> list[Any]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


# ------------------------------------------------------------------ networks per layer type

C_IN = 4


def _nets() -> dict[str, Any]:
    """Builders of small networks, one per layer type (and a stacked one)."""
    return {
        "graves": lambda: [GravesLSTM(n_in=C_IN, n_out=6), RnnOutputLayer(n_out=3)],
        "lstm": lambda: [LSTM(n_in=C_IN, n_out=6), RnnOutputLayer(n_out=3)],
        "bidirectional": lambda: [GravesBidirectionalLSTM(n_in=C_IN, n_out=5),
                                  RnnOutputLayer(n_out=3, activation="identity")],
        "last_time_step": lambda: [LastTimeStep(GravesLSTM(n_in=C_IN, n_out=6)),
                                   OutputLayer(n_out=3)],
        "last_time_step_lstm": lambda: [LastTimeStep(LSTM(n_in=C_IN, n_out=6)),
                                        DenseLayer(n_out=5, activation="relu"),
                                        OutputLayer(n_out=3)],
        "dense_between": lambda: [GravesLSTM(n_in=C_IN, n_out=6),
                                  DenseLayer(n_out=5, activation="elu"),
                                  RnnOutputLayer(n_out=3)],
        "dense_first": lambda: [DenseLayer(n_in=C_IN, n_out=5, activation="tanh"),
                                GravesLSTM(n_out=6), RnnOutputLayer(n_out=3)],
        "rows_output": lambda: [GravesLSTM(n_in=C_IN, n_out=6), OutputLayer(n_out=3)],
        "stacked": lambda: [GravesLSTM(n_in=C_IN, n_out=7), LSTM(n_out=5),
                            GravesLSTM(n_out=6, activation="softsign",
                                       gate_activation="hardsigmoid"),
                            GravesBidirectionalLSTM(n_out=4),
                            RnnOutputLayer(n_out=3, activation="sigmoid", loss="XENT")],
        **{f"pool_{kind.value.lower()}": (
            lambda kind=kind: [LSTM(n_in=C_IN, n_out=6),
                               GlobalPoolingLayer(pooling_type=kind, pnorm=3),
                               OutputLayer(n_out=3)]) for kind in PoolingType},
        **{f"wrapper_{mode.value.lower()}": (
            lambda mode=mode: [Bidirectional(GravesLSTM(n_in=C_IN, n_out=5), mode=mode),
                               RnnOutputLayer(n_out=3)]) for mode in BidirectionalMode},
        "wrapper_lstm_pooled": lambda: [Bidirectional(LSTM(n_in=C_IN, n_out=4)),
                                        GlobalPoolingLayer(pooling_type=PoolingType.AVG),
                                        DenseLayer(n_out=5, activation="relu"),
                                        OutputLayer(n_out=3)],
        "stacked_uni": lambda: [GravesLSTM(n_in=C_IN, n_out=7), LSTM(n_out=5),
                                GravesLSTM(n_out=6, activation="hardtanh"),
                                RnnOutputLayer(n_out=3)],
    }


def _conv_net(pooling: PoolingType, padding: tuple[int, int]) -> dict[str, Any]:
    """Image sequences [N, 1*6*5, T] -> conv -> pooling -> (CNN->RNN) -> GravesLSTM."""
    return dict(layers=[ConvolutionLayer(n_in=1, n_out=3, kernel_size=(3, 2), stride=(1, 1),
                                         padding=padding, activation="relu"),
                        SubsamplingLayer(pooling_type=pooling, kernel_size=(2, 2),
                                         stride=(2, 1), padding=padding),
                        GravesLSTM(n_out=5), RnnOutputLayer(n_out=3)],
                input_preprocessors={0: RnnToCnnPreProcessor(input_height=6, input_width=5,
                                                             num_channels=1)})


NETS = {**{name: dict(layers=build()) for name, build in _nets().items()},
        "conv_max": _conv_net(PoolingType.MAX, (0, 0)),
        "conv_avg_padded": _conv_net(PoolingType.AVG, (1, 1)),
        # examples/video_frames.py: frames -> conv -> pool -> (CNN->FF) dense -> (FF->RNN) LSTM
        "video": dict(layers=[ConvolutionLayer(n_in=1, n_out=3, kernel_size=(3, 3),
                                               padding=(1, 1), activation="relu"),
                              SubsamplingLayer(kernel_size=(2, 2), stride=(2, 2)),
                              DenseLayer(n_out=6, activation="relu"),
                              GravesLSTM(n_out=5), RnnOutputLayer(n_out=3)],
                      input_preprocessors={0: RnnToCnnPreProcessor(input_height=6, input_width=6,
                                                                   num_channels=1)})}


def _net(name: str, **extra: Any) -> MultiLayerNetwork:
    """A fresh network of ``NETS[name]`` (the configuration copies the layers it is given)."""
    return make_net(**NETS[name], **extra)


def _channels(net: MultiLayerNetwork) -> int:
    pre = net.conf.preprocessor(0)
    first = net.conf.layers[0].underlying().n_in
    return (pre.input_channels() if pre is not None else None) or first


@pytest.mark.parametrize("name", sorted(NETS))
def test_output_equals_net_output_for_every_size_from_one_file(name):
    net = _net(name)
    run = session(to_onnx(net))
    rng = np.random.default_rng(1)
    for n, t in SIZES:
        x = features(rng, n, _channels(net), t)
        (y,) = run.run(["output"], {"features": x})
        expected = net.output(x)
        assert y.shape == expected.shape
        np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", sorted(set(NETS) - {"dense_first", "rows_output"}))
@pytest.mark.parametrize("align_end", [False, True], ids=["ALIGN_START", "ALIGN_END"])
def test_masked_batches_equal_net_output_at_every_step(name, align_end):
    net = _net(name)
    run = session(to_onnx(net, with_mask=True))
    rng = np.random.default_rng(2)
    steps = max(LENGTHS)
    x = features(rng, len(LENGTHS), _channels(net), steps)
    mask = padded_mask(LENGTHS, steps, align_end)
    x *= mask[:, None, :]
    (y,) = run.run(["output"], {"features": x, "features_mask": mask})
    expected = net.output(x, mask)
    # Every step, real or not: seqnet's padded steps are reproduced too.
    np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)
    if expected.ndim == 3:   # and each real step equals the sequence run on its own
        for n in range(len(LENGTHS)):
            real = mask[n] > 0
            alone = net.output(x[n:n + 1, :, real])
            np.testing.assert_allclose(y[n:n + 1, :, real], alone, rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", ["graves", "lstm", "bidirectional", "last_time_step",
                                  "pool_max", "pool_avg", "wrapper_concat"])
def test_a_mask_with_holes_and_padding_on_both_sides_is_exact_too(name):
    net = _net(name)
    rng = np.random.default_rng(3)
    x = features(rng, 4, C_IN, 9)
    mask = np.array([[0, 0, 1, 1, 1, 0, 0, 0, 0],      # ALIGN_END one-to-many: both sides
                     [1, 1, 0, 1, 1, 0, 1, 1, 1],      # holes
                     [0, 0, 0, 0, 0, 0, 0, 0, 0],      # nothing real
                     [1, 1, 1, 1, 1, 1, 1, 1, 1]], np.float32)
    (y,) = session(to_onnx(net, with_mask=True)).run(["output"],
                                                     {"features": x, "features_mask": mask})
    np.testing.assert_allclose(y, net.output(x, mask), rtol=0, atol=ATOL)


# ----------------------------------------------------------------------------- activations

@pytest.mark.parametrize("gate", GATES, ids=lambda a: a.value)
@pytest.mark.parametrize("activation", list(Activation), ids=lambda a: a.value)
def test_every_lstm_activation_pair_matches_with_and_without_mask(activation, gate):
    net = make_net([GravesLSTM(n_in=3, n_out=5, activation=activation, gate_activation=gate),
                    RnnOutputLayer(n_out=2, activation="identity", loss="MSE")])
    rng = np.random.default_rng(4)
    x = features(rng, 4, 3, 7) * 2
    mask = padded_mask([7, 5, 2, 1], 7, align_end=True)
    (y,) = session(to_onnx(net)).run(["output"], {"features": x})
    np.testing.assert_allclose(y, net.output(x), rtol=0, atol=ATOL)
    (ym,) = session(to_onnx(net, with_mask=True)).run(["output"],
                                                      {"features": x, "features_mask": mask})
    np.testing.assert_allclose(ym, net.output(x, mask), rtol=0, atol=ATOL)


@pytest.mark.parametrize("activation", list(Activation), ids=lambda a: a.value)
def test_every_dense_and_conv_activation_matches(activation):
    rng = np.random.default_rng(5)
    x = features(rng, 3, 6, 4) * 3
    net = make_net([DenseLayer(n_in=6, n_out=5, activation=activation),
                    RnnOutputLayer(n_out=4, activation=activation, loss="MSE")])
    (y,) = session(to_onnx(net)).run(["output"], {"features": x})
    np.testing.assert_allclose(y, net.output(x), rtol=0, atol=ATOL)
    conv = make_net([ConvolutionLayer(n_in=2, n_out=3, kernel_size=(2, 2), activation=activation),
                     OutputLayer(n_out=2, activation="identity", loss="MSE")],
                    input_type=InputType.convolutional(4, 3, 2))
    images = (rng.normal(size=(3, 2, 4, 3)) * 3).astype(np.float32)
    model = to_onnx(conv)
    assert declared(model.graph.input[0]) == ["N", 2, 4, 3]
    (y,) = session(model).run(["output"], {"features": images})
    np.testing.assert_allclose(y, conv.output(images), rtol=0, atol=ATOL)


def test_an_unknown_activation_is_named():
    with pytest.raises(UnsupportedError, match="swish"):
        apply_activation(GraphBuilder(), "x", "swish", axis=-1)


# ------------------------------------------------------------------------------- structure

def test_graves_lstm_is_one_lstm_node_with_peepholes_in_onnx_order():
    net = _net("graves")
    model = to_onnx(net)
    assert op_types(model).count("LSTM") == 1
    assert not {"Scan", "Loop"} & set(op_types(model))
    assert model.opset_import[0].version == OPSET == 17
    (node,) = [n for n in model.graph.node if n.op_type == "LSTM"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["hidden_size"] == 6 and attrs["direction"] == b"forward"
    assert attrs["activations"] == [b"Sigmoid", b"Tanh", b"Tanh"]
    init = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    rw = net.param_table()["0_RW"]
    hid = 6
    # P = [input, output, forget]; DL4J's RW columns 4H..4H+2 are (forget, output, input).
    p = init[node.input[7]]
    np.testing.assert_array_equal(p, np.concatenate([rw[:, 4 * hid + 2], rw[:, 4 * hid + 1],
                                                     rw[:, 4 * hid]])[None].astype(np.float32))
    assert init[node.input[1]].shape == (1, 4 * hid, C_IN)       # W [D, 4H, nIn]
    assert init[node.input[3]].shape == (1, 8 * hid)            # B = [Wb, Rb]
    assert [i.name for i in model.graph.input] == ["features"]
    assert declared(model.graph.input[0]) == ["N", C_IN, "T"]
    assert [o.name for o in model.graph.output] == ["output"]
    assert declared(model.graph.output[0]) == ["N", 3, "T"]


def test_lstm_has_no_peepholes_and_bidirectional_is_one_node():
    lstm = to_onnx(_net("lstm"))
    (node,) = [n for n in lstm.graph.node if n.op_type == "LSTM"]
    assert len(node.input) == 4                                    # X, W, R, B; no P
    bi = to_onnx(_net("bidirectional"))
    (node,) = [n for n in bi.graph.node if n.op_type == "LSTM"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["direction"] == b"bidirectional"
    assert op_types(bi).count("LSTM") == 1


def test_masked_export_runs_one_scan_per_direction_and_declares_the_mask():
    model = to_onnx(_net("bidirectional"), with_mask=True)
    assert op_types(model).count("Scan") == 2 and "LSTM" not in op_types(model)
    assert [i.name for i in model.graph.input] == ["features", "features_mask"]
    assert declared(model.graph.input[1]) == ["N", "T"]


def test_an_activation_onnx_lstm_lacks_runs_as_a_scan():
    model = to_onnx(make_net([GravesLSTM(n_in=2, n_out=3, activation="hardtanh"),
                              RnnOutputLayer(n_out=2)]))
    assert "LSTM" not in op_types(model) and op_types(model).count("Scan") == 1


def test_a_float64_network_exports_as_float32():
    net = _net("graves", data_type="float64")
    model = to_onnx(net)
    assert {i.data_type for i in model.graph.initializer} <= {onnx.TensorProto.FLOAT,
                                                              onnx.TensorProto.INT64}
    x = features(np.random.default_rng(9), 3, C_IN, 11)
    (y,) = session(model).run(["output"], {"features": x})
    np.testing.assert_allclose(y, net.output(x.astype(np.float64)), rtol=0, atol=ATOL)


def test_declared_shapes_for_vector_and_row_outputs():
    assert declared(to_onnx(_net("last_time_step")).graph.output[0]) == ["N", 3]
    assert declared(to_onnx(_net("rows_output")).graph.output[0]) == ["N*T", 3]


def test_the_written_file_passes_the_full_check(tmp_path):
    path = tmp_path / "model.onnx"
    export_onnx(_net("stacked_uni"), path, with_mask=True, stateful=True)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "seqdl"
    props = {p.key: p.value for p in model.metadata_props}
    assert "GravesLSTM" in props["seqnet.configuration"]
    assert [o.name for o in model.graph.output] == [
        "output", "state_0_prevAct_out", "state_0_prevMem_out", "state_1_prevAct_out",
        "state_1_prevMem_out", "state_2_prevAct_out", "state_2_prevMem_out"]


# -------------------------------------------------------------------------------- streaming

def _stateful_feed(net: MultiLayerNetwork, n: int) -> dict[str, np.ndarray]:
    feed = {}
    for i, layer in enumerate(net.conf.layers):
        if layer.recurrent:
            hid = layer.underlying().n_out
            for key in ("prevAct", "prevMem"):
                feed[f"state_{i}_{key}"] = np.zeros((n, hid), np.float32)
    return feed


def _run_stateful(run: Any, x: np.ndarray, feed: dict[str, np.ndarray],
                  mask: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    names = [o.name for o in run.get_outputs()]
    inputs = {"features": x, **feed}
    if mask is not None:
        inputs["features_mask"] = mask
    values = dict(zip(names, run.run(names, inputs)))
    return values["output"], {k[:-len("_out")]: v for k, v in values.items() if k != "output"}


@pytest.mark.parametrize("name", ["graves", "lstm", "dense_between", "conv_max", "stacked_uni"])
def test_chunks_through_the_stateful_export_equal_output_over_the_whole_sequence(name):
    net = _net(name)
    model = to_onnx(net, stateful=True)
    run = session(model)
    rng = np.random.default_rng(6)
    x = features(rng, 3, _channels(net), 40)
    feed = _stateful_feed(net, 3)
    pieces = []
    for lo, hi in [(0, 1), (1, 8), (8, 20), (20, 40)]:
        y, feed = _run_stateful(run, x[:, :, lo:hi], feed)
        pieces.append(y)
    np.testing.assert_allclose(np.concatenate(pieces, axis=2), net.output(x), rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", ["graves", "lstm", "last_time_step", "stacked_uni"])
def test_one_step_from_a_state_set_by_rnn_time_step_equals_the_next_rnn_time_step(name):
    net = _net(name)
    run = session(to_onnx(net, stateful=True))
    rng = np.random.default_rng(7)
    history, step = features(rng, 4, C_IN, 9), features(rng, 4, C_IN, 1)
    net.rnn_clear_previous_state()
    net.rnn_time_step(history)
    feed = {}
    for i, layer in enumerate(net.conf.layers):
        if layer.recurrent:
            for key, value in net.rnn_get_previous_state(i).items():
                feed[f"state_{i}_{key}"] = value.numpy()
    y, states = _run_stateful(run, step, feed)
    expected = net.rnn_time_step(step)
    np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)
    for i, layer in enumerate(net.conf.layers):
        if layer.recurrent:
            for key, value in net.rnn_get_previous_state(i).items():
                np.testing.assert_allclose(states[f"state_{i}_{key}"], value.numpy(), rtol=0,
                                           atol=ATOL)
    # Setting the state by hand (rnn_set_previous_state) gives the same step.
    net.rnn_clear_previous_state()
    for i, layer in enumerate(net.conf.layers):
        if layer.recurrent:
            net.rnn_set_previous_state(i, {k.split("_")[-1]: v for k, v in feed.items()
                                           if k.startswith(f"state_{i}_")})
    np.testing.assert_allclose(net.rnn_time_step(step), y, rtol=0, atol=ATOL)


def test_stateful_with_mask_carries_state_as_rnn_time_step_does():
    net = _net("graves")
    run = session(to_onnx(net, with_mask=True, stateful=True))
    rng = np.random.default_rng(8)
    x = features(rng, 4, C_IN, 12)
    mask = padded_mask(LENGTHS, 12, align_end=True)
    feed = _stateful_feed(net, 4)
    net.rnn_clear_previous_state()
    for lo, hi in [(0, 5), (5, 12)]:
        y, feed = _run_stateful(run, x[:, :, lo:hi], feed, mask[:, lo:hi])
        expected = net.rnn_time_step(x[:, :, lo:hi], mask[:, lo:hi])
        np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)
        state = net.rnn_get_previous_state(0)
        np.testing.assert_allclose(feed["state_0_prevMem"], state["prevMem"].numpy(), rtol=0,
                                   atol=ATOL)


def test_stateful_export_refuses_a_bidirectional_layer():
    with pytest.raises(StateError, match="layer 0 is a GravesBidirectionalLSTM"):
        to_onnx(_net("bidirectional"), stateful=True)
    with pytest.raises(StateError, match="layer 0 is a Bidirectional"):
        to_onnx(_net("wrapper_add"), stateful=True)
    with pytest.raises(StateError, match="layer 1 is a GlobalPoolingLayer"):
        to_onnx(_net("pool_sum"), stateful=True)


def test_the_bidirectional_wrapper_is_one_lstm_node_without_a_mask():
    for mode in ("concat", "add", "mul", "average"):
        ops = op_types(to_onnx(_net(f"wrapper_{mode}")))
        assert ops.count("LSTM") == 1 and "Scan" not in ops


# ---------------------------------------------------------------------- registry and errors

def test_a_layer_class_without_converter_is_named():
    class PeepholeVariant(GravesLSTM):
        """A subclass may compute something else: it never inherits a converter."""

    net = make_net([PeepholeVariant(n_in=2, n_out=3), RnnOutputLayer(n_out=2)])
    with pytest.raises(UnsupportedError, match="PeepholeVariant") as info:
        to_onnx(net)
    assert isinstance(info.value, SeqNetError)


def test_the_registry_refuses_a_second_converter_for_a_class():
    with pytest.raises(ValueError, match="GravesLSTM"):
        register(GravesLSTM)(lambda ctx, index, layer, x: x)


# ------------------------------------------------------------------- random stacks (rule)

def _random_net(rng: np.random.Generator) -> MultiLayerNetwork:
    activations = list(Activation)
    layers: list[Any] = []
    n_in = int(rng.integers(1, 6))
    for k in range(int(rng.integers(1, 4))):
        kind = rng.choice(["graves", "lstm", "bidirectional", "dense"])
        size = int(rng.integers(1, 9))
        act = activations[int(rng.integers(len(activations)))]
        gate = GATES[int(rng.integers(2))]
        first = {"n_in": n_in} if k == 0 else {}
        if kind == "graves":
            layers.append(GravesLSTM(n_out=size, activation=act, gate_activation=gate, **first))
        elif kind == "lstm":
            layers.append(LSTM(n_out=size, **first))
        elif kind == "bidirectional":
            layers.append(GravesBidirectionalLSTM(n_out=size, activation=act,
                                                  gate_activation=gate, **first))
        else:
            layers.append(DenseLayer(n_out=size, activation=act, **first))
    if rng.random() < 0.4 and not isinstance(layers[-1], DenseLayer):
        layers[-1] = LastTimeStep(layers[-1])
        layers.append(OutputLayer(n_out=int(rng.integers(1, 5))))
    else:
        layers.append(RnnOutputLayer(n_out=int(rng.integers(1, 5)),
                                     activation=activations[int(rng.integers(len(activations)))],
                                     loss="MSE"))
    return make_net(layers, seed=int(rng.integers(1000)))


@pytest.mark.parametrize("seed", range(12))
def test_random_stacks_random_padding(seed):
    rng = np.random.default_rng(100 + seed)
    net = _random_net(rng)
    n, steps = int(rng.integers(1, 6)), int(rng.integers(1, 15))
    x = features(rng, n, _channels(net), steps)
    lengths = [int(v) for v in rng.integers(1, steps + 1, size=n)]
    mask = padded_mask(lengths, steps, align_end=bool(rng.integers(2)))
    (y,) = session(to_onnx(net)).run(["output"], {"features": x})
    np.testing.assert_allclose(y, net.output(x), rtol=0, atol=ATOL)
    (ym,) = session(to_onnx(net, with_mask=True)).run(["output"],
                                                      {"features": x, "features_mask": mask})
    np.testing.assert_allclose(ym, net.output(x, mask), rtol=0, atol=ATOL)
    if any(isinstance(layer.underlying(), GravesBidirectionalLSTM) for layer in net.conf.layers):
        return
    # Streaming in two chunks from zero state equals rnn_time_step on the same chunks.
    run = session(to_onnx(net, stateful=True))
    feed = _stateful_feed(net, n)
    net.rnn_clear_previous_state()
    cut = int(rng.integers(0, steps + 1))
    for chunk in (x[:, :, :cut], x[:, :, cut:]):
        if chunk.shape[2]:
            y, feed = _run_stateful(run, chunk, feed)
            np.testing.assert_allclose(y, net.rnn_time_step(chunk), rtol=0, atol=ATOL)


# ------------------------------------------------------------- real data: Japanese Vowels

def jv_iterator(part: str, count: int, batch: int,
                shuffle: bool = False) -> SequenceRecordReaderDataSetIterator:
    readers = []
    for side in ("features", "labels"):
        reader = CSVSequenceRecordReader()
        reader.initialize(NumberedFileInputSplit(
            str(FIXTURES / "japanese_vowels" / part / side / "%d.csv"), 0, count - 1))
        readers.append(reader)
    return SequenceRecordReaderDataSetIterator(readers[0], readers[1], batch, 9,
                                               alignment_mode=AlignmentMode.ALIGN_END,
                                               shuffle=shuffle, seed=1)


def test_japanese_vowels_model_predicts_every_test_utterance_the_same(tmp_path):
    train, test = jv_iterator("train", 270, 32, shuffle=True), jv_iterator("test", 370, 64)
    norm = NormalizerStandardize()
    norm.fit(train)
    train.set_pre_processor(norm)
    test.set_pre_processor(norm)
    net = make_net([GravesLSTM(n_in=12, n_out=24), RnnOutputLayer(n_out=9)], seed=123,
                   updater=Adam(0.01))
    net.fit(train, epochs=3, progress=False)
    net.normalizer = norm
    model_zip, onnx_path = tmp_path / "jv.zip", tmp_path / "jv.onnx"
    net.save(model_zip)
    result = CliRunner().invoke(main, ["export", str(model_zip), "--onnx", str(onnx_path),
                                       "--with-mask"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "normalise the features" in result.output
    direct = session(to_onnx(net, with_mask=True))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    from_cli = ort.InferenceSession(str(onnx_path), options,
                                    providers=["CPUExecutionProvider"])
    total = correct = 0
    for ds in test:
        feed = {"features": ds.features, "features_mask": ds.features_mask}
        expected = net.output(ds.features, ds.features_mask)
        (y,) = direct.run(["output"], feed)
        (y_cli,) = from_cli.run(["output"], feed)
        np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)
        np.testing.assert_array_equal(y_cli, y)
        at_label = ds.labels_mask[:, None, :]
        predicted = (y * at_label).sum(axis=2).argmax(axis=1)
        assert (predicted == (expected * at_label).sum(axis=2).argmax(axis=1)).all()
        correct += int((predicted == ds.labels.sum(axis=2).argmax(axis=1)).sum())
        total += len(predicted)
    assert total == 370
    assert correct / total > 0.8        # a model that learned, not a constant one


def test_cli_export_needs_a_format_and_reports_errors(tmp_path):
    net = _net("bidirectional")
    model_zip = tmp_path / "bi.zip"
    net.save(model_zip)
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(model_zip)])
    assert result.exit_code == 2 and "--onnx" in result.output
    result = runner.invoke(main, ["export", str(model_zip), "--onnx",
                                  str(tmp_path / "bi.onnx"), "--stateful"])
    assert result.exit_code == 1 and "GravesBidirectionalLSTM" in result.output
    result = runner.invoke(main, ["export", str(model_zip), "--onnx", str(tmp_path / "bi.onnx")])
    assert result.exit_code == 0 and (tmp_path / "bi.onnx").exists()
