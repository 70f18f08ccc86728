"""DL4J's input preprocessors: reshapes between sequences, rows and images.

Rows of a sequence are example-major (row ``n * T + t``), as seqnet makes them; a
preprocessor given what it would pass through in seqnet passes it through here too.
"""

from __future__ import annotations

from seqnet.conf.preprocessors import (
    CnnToFeedForwardPreProcessor,
    CnnToRnnPreProcessor,
    FeedForwardToRnnPreProcessor,
    RnnToCnnPreProcessor,
    RnnToFeedForwardPreProcessor,
)
from seqnet.onnx.graph import Dim, ExportContext, Value
from seqnet.onnx.registry import UnsupportedError, register


def rnn_to_rows(ctx: ExportContext, x: Value) -> Value:
    """``[T, N, C]`` -> ``[N*T, C]`` (example-major rows)."""
    g = ctx.graph
    steps, n, c = x.shape
    batch_major = g.op("Transpose", [x.name], perm=[1, 0, 2])
    rows = g.op("Reshape", [batch_major, g.int64s([-1, _fixed(c)], "shape")], hint="rows")
    return Value(rows, "ff", (_product(n, steps), c))


def rows_to_rnn(ctx: ExportContext, x: Value) -> Value:
    """``[N*T, C]`` -> ``[T, N, C]`` for the minibatch's N."""
    g = ctx.graph
    rows, c = x.shape
    shape = g.op("Concat", [ctx.batch, g.int64s([-1, _fixed(c)], "shape")], axis=0)
    batch_major = g.op("Reshape", [x.name, shape])
    steps = "T" if rows == "N*T" else 1 if rows == "N" else None
    return Value(g.op("Transpose", [batch_major], perm=[1, 0, 2], hint="seq"), "rnn",
                 (steps, "N", c))


def adapt(ctx: ExportContext, x: Value, wanted: str, index: int, name: str) -> Value:
    """What seqnet does to a layer's input of another rank when no preprocessor did."""
    if x.kind == wanted:
        return x
    if wanted == "ff" and x.kind == "rnn":
        return rnn_to_rows(ctx, x)
    if wanted == "rnn" and x.kind == "ff":
        return rows_to_rnn(ctx, x)
    raise UnsupportedError(f"export_onnx: layer {index} ({name}) expects a {wanted} input, "
                           f"found {x.kind}; seqnet itself cannot run this network")


@register(RnnToFeedForwardPreProcessor)
def convert_rnn_to_ff(ctx: ExportContext, index: int, pre: object, x: Value) -> Value:
    return rnn_to_rows(ctx, x) if x.kind == "rnn" else x


@register(FeedForwardToRnnPreProcessor)
def convert_ff_to_rnn(ctx: ExportContext, index: int, pre: object, x: Value) -> Value:
    return rows_to_rnn(ctx, x) if x.kind == "ff" else x


@register(CnnToFeedForwardPreProcessor)
def convert_cnn_to_ff(ctx: ExportContext, index: int, pre: CnnToFeedForwardPreProcessor,
                      x: Value) -> Value:
    return _flatten(ctx, x, pre.num_channels * pre.input_height * pre.input_width)


@register(CnnToRnnPreProcessor)
def convert_cnn_to_rnn(ctx: ExportContext, index: int, pre: CnnToRnnPreProcessor,
                       x: Value) -> Value:
    return rows_to_rnn(ctx, _flatten(ctx, x, pre.num_channels * pre.input_height
                                     * pre.input_width))


@register(RnnToCnnPreProcessor)
def convert_rnn_to_cnn(ctx: ExportContext, index: int, pre: RnnToCnnPreProcessor,
                       x: Value) -> Value:
    rows = rnn_to_rows(ctx, x)
    g = ctx.graph
    image = [pre.num_channels, pre.input_height, pre.input_width]
    y = g.op("Reshape", [rows.name, g.int64s([-1, *image], "shape")], hint="images")
    return Value(y, "cnn", (rows.shape[0], *image))


def _flatten(ctx: ExportContext, x: Value, size: int) -> Value:
    """``[rows, C, H, W]`` -> ``[rows, C*H*W]`` (rows pass through)."""
    if x.kind != "cnn":
        return x
    g = ctx.graph
    return Value(g.op("Reshape", [x.name, g.int64s([0, -1], "shape")], hint="flat"), "ff",
                 (x.shape[0], size))


def _fixed(c: Dim) -> int:
    return c if isinstance(c, int) else -1


def _product(n: Dim, steps: Dim) -> Dim:
    if steps == 1:
        return n
    return "N*T" if (n, steps) == ("N", "T") else None
