"""The Graves (peephole) LSTM: the layer module, its fused kernel and the reference loop.

``module`` (GravesLSTMModule) runs ``kernel`` (fused forward and backward, tanh / sigmoid) or
``reference`` (the SPEC equations step by step, any activations); ``cpu`` holds the kernel's
CPU primitives and ``padding`` finds the padded steps the kernel skips.
"""

from seqnet.nn.graves.module import GravesLSTMModule

__all__ = ["GravesLSTMModule"]
