"""From a ``MultiLayerNetwork`` to an ONNX model: inputs, the layer walk, outputs, checks.

The walk mirrors the network's own forward pass: before layer i its preprocessor (explicit
or automatic), then the reshape seqnet makes for an input of another rank, then the layer's
converter; the features mask reaches every recurrent layer and ends at ``LastTimeStep``.
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any

import onnx
from onnx import helper

from seqnet.conf.multilayer import needs_whole_sequences
from seqnet.errors import SeqNetError, StateError
from seqnet.onnx.graph import ExportContext, GraphBuilder, Value, tensor_info
from seqnet.onnx.preprocessors import adapt
from seqnet.onnx.registry import converter_for

OPSET = 17
"""The ONNX opset of every exported model (ONNX Runtime 1.13 and later run it)."""
IR_VERSION = 8
"""The IR version that goes with :data:`OPSET`, so older runtimes open the file too."""


def to_onnx(net: Any, *, with_mask: bool = False, stateful: bool = False) -> onnx.ModelProto:
    """``net`` as a checked ``onnx.ModelProto``; :func:`~seqnet.onnx.export_onnx` writes it."""
    conf = net.conf
    params = net.param_table()
    layers = conf.layers
    recurrent = [i for i, layer in enumerate(layers) if layer.recurrent]
    if stateful:
        whole = [(i, name) for i, layer in enumerate(layers)
                 if (name := needs_whole_sequences(layer))]
        if whole:
            raise StateError(f"export_onnx(stateful=True): layer {whole[0][0]} is a "
                             f"{whole[0][1]}, which needs the whole sequence")
    g = GraphBuilder()
    inputs = []
    features_shape, x = _features(g, net)
    inputs.append(tensor_info("features", features_shape))
    ctx = ExportContext(graph=g, params=params,
                        batch=g.op("Shape", ["features"], start=0, end=1, hint="batch"))
    if with_mask:
        inputs.append(tensor_info("features_mask", ["N", "T"]))
        ctx.mask_rows = "features_mask"
        ctx.mask = g.op("Unsqueeze", [g.op("Transpose", ["features_mask"], perm=[1, 0]),
                                      g.int64s([2], "axes")], hint="mask")
    if stateful:
        for i in recurrent:
            hidden = layers[i].underlying().n_out
            names = (f"state_{i}_prevAct", f"state_{i}_prevMem")
            inputs += [tensor_info(name, ["N", hidden]) for name in names]
            ctx.states[i] = names
    for i, layer in enumerate(layers):
        pre = conf.preprocessor(i)
        if pre is not None:
            x = converter_for(pre)(ctx, i, pre, x)
        x = adapt(ctx, x, layer.input_kind, i, type(layer).__name__)
        x = converter_for(layer)(ctx, i, layer, x)
    if x.kind == "rnn":
        g.op("Transpose", [x.name], outputs=["output"], perm=[1, 2, 0])
    else:
        g.op("Identity", [x.name], outputs=["output"])
    outputs = [tensor_info("output", x.seqnet_shape())]
    for i in recurrent if stateful else []:
        hidden = layers[i].underlying().n_out
        for key, value in zip(("prevAct", "prevMem"), ctx.final_states[i]):
            name = f"state_{i}_{key}_out"
            g.op("Identity", [value], outputs=[name])
            outputs.append(tensor_info(name, ["N", hidden]))
    graph = helper.make_graph(g.nodes, "seqnet", inputs, outputs, g.initializers,
                              doc_string=_doc(with_mask, stateful))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="seqdl", producer_version=_version(),
                              ir_version=IR_VERSION)
    helper.set_model_props(model, {"seqnet.configuration": conf.to_json()})
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise SeqNetError(f"export_onnx: the exported graph does not check ({e})") from None
    return model


def export_onnx(net: Any, path: str | os.PathLike[str], *, with_mask: bool = False,
                stateful: bool = False) -> None:
    """Write ``net`` to ``path`` as an ONNX model (opset 17) that computes ``net.output``.

    Inputs: ``"features"`` float32 ``[N, C, T]`` (N and T dynamic; a network that starts
    with a convolution and no preprocessor takes ``[N, C, H, W]``), with ``with_mask`` also
    ``"features_mask"`` ``[N, T]``. Output ``"output"``: ``[N, K, T]``, or ``[N, K]`` after
    ``LastTimeStep`` (``[N*T, K]`` rows where the network ends in feed-forward layers on a
    sequence, as ``net.output`` returns them).

    With ``stateful``, each recurrent layer i also takes ``"state_{i}_prevAct"`` and
    ``"state_{i}_prevMem"`` ``[N, H_i]`` (h and c, zeros to start) and returns
    ``"state_{i}_prevAct_out"`` and ``"state_{i}_prevMem_out"``: feeding them back chunk
    after chunk is ``rnn_time_step``.

    >>> import os, tempfile
    >>> import numpy as np, onnxruntime as ort
    >>> from seqnet import GravesLSTM, MultiLayerConfiguration, MultiLayerNetwork, RnnOutputLayer
    >>> net = MultiLayerNetwork(MultiLayerConfiguration(
    ...     layers=[GravesLSTM(n_in=3, n_out=8), RnnOutputLayer(n_out=2)], seed=1)); net.init()
    >>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> export_onnx(net, path)
    >>> x = np.random.default_rng(0).normal(size=(4, 3, 5)).astype(np.float32)
    >>> (y,) = ort.InferenceSession(path).run(["output"], {"features": x})
    >>> y.shape, bool(np.abs(y - net.output(x)).max() < 2e-5)
    ((4, 2, 5), True)

    Raises :class:`~seqnet.onnx.UnsupportedError` (a ``SeqNetError``) naming a layer,
    preprocessor or activation that has no ONNX form, and ``StateError`` for ``stateful``
    with a bidirectional layer.
    """
    model = to_onnx(net, with_mask=with_mask, stateful=stateful)
    try:
        onnx.save(model, os.fspath(path))
    except OSError as e:
        raise SeqNetError(f"export_onnx: cannot write {os.fspath(path)!r} ({e})") from None


def _features(g: GraphBuilder, net: Any) -> tuple[list[Any], Value]:
    """The declared shape of ``"features"`` and the value the first layer receives."""
    conf = net.conf
    first, pre = conf.layers[0], conf.preprocessor(0)
    inner = first.underlying()
    channels = (pre.input_channels() if pre is not None else None) or inner.n_in
    if pre is None and first.input_kind == "cnn":
        given = conf.input_type
        height = given.height if given is not None and given.height else "H"
        width = given.width if given is not None and given.width else "W"
        shape = ["N", channels, height, width]
        return shape, Value("features", "cnn", tuple(shape))
    sequence = g.op("Transpose", ["features"], perm=[2, 0, 1], hint="time_major")
    return ["N", channels, "T"], Value(sequence, "rnn", ("T", "N", channels))


def _doc(with_mask: bool, stateful: bool) -> str:
    parts = ["seqnet network. Input features float32 [N, C, T]"]
    if with_mask:
        parts.append("features_mask [N, T] (1 = real step)")
    if stateful:
        parts.append("state_{i}_prevAct/prevMem [N, H_i] per recurrent layer i, returned "
                     "as state_{i}_prevAct_out/prevMem_out")
    return "; ".join(parts) + ". Output: output."


def _version() -> str:
    try:
        return importlib.metadata.version("seqdl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"

