"""Export trained seqnet networks to ONNX (needs the ``onnx`` extra: ``pip install
'seqdl[onnx]'``).

>>> from seqnet import GravesLSTM, MultiLayerConfiguration, MultiLayerNetwork, RnnOutputLayer
>>> net = MultiLayerNetwork(MultiLayerConfiguration(
...     layers=[GravesLSTM(n_in=3, n_out=8), RnnOutputLayer(n_out=2)], seed=1)); net.init()
>>> model = to_onnx(net)
>>> [node.op_type for node in model.graph.node if node.op_type == "LSTM"]
['LSTM']

Every layer family has its converter module (:mod:`~seqnet.onnx.recurrent`,
:mod:`~seqnet.onnx.dense`, :mod:`~seqnet.onnx.convolution`,
:mod:`~seqnet.onnx.preprocessors`), which registers its converters by configuration class
with :func:`~seqnet.onnx.registry.register`; a new layer needs one such module imported here.
"""

from seqnet.onnx import (  # noqa: F401  (each module registers its converters)
    convolution,
    dense,
    pooling,
    preprocessors,
    recurrent,
)
from seqnet.onnx.export import OPSET, export_onnx, to_onnx
from seqnet.onnx.registry import UnsupportedError, register

__all__ = ["OPSET", "UnsupportedError", "export_onnx", "register", "to_onnx"]
