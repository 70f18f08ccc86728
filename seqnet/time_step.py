"""The native ``rnn_time_step`` of the common stack, without the general forward's per-call
work: GravesLSTM layers and an RnnOutputLayer, one step, no mask.

The general path (``MultiLayerNetwork._forward``) checks the input, looks up preprocessors,
reshapes between layouts and calls each module on ``[N, C, 1]``: at batch 1 that costs
more than the arithmetic. A :class:`StepPlan` is made once per layer stack that has nothing
for that work to do, and calls each layer's one-step method directly, so a step costs about
what the same step written by hand does. Its numbers are the general path's: the same
methods on the same tensors (``tests/seqnet/test_time_step.py``).

>>> import torch
>>> from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
>>> from seqnet.conf.multilayer import MultiLayerConfiguration
>>> from seqnet.network import MultiLayerNetwork
>>> net = MultiLayerNetwork(MultiLayerConfiguration(
...     layers=[GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], seed=1))
>>> net.init()
>>> plan = StepPlan.for_network(net)
>>> y, state = plan(torch.ones(5, 3), {})
>>> tuple(y.shape), tuple(state[0][0].shape)
((5, 2), (5, 4))
"""

from __future__ import annotations

from typing import Any

import torch

from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
from seqnet.nn.base import State
from seqnet.nn.dense import DenseModule
from seqnet.nn.graves import GravesLSTMModule

__all__ = ["StepPlan"]


class StepPlan:
    """One time step through GravesLSTM modules and a final RnnOutputLayer module."""

    def __init__(self, recurrent: list[GravesLSTMModule], output: DenseModule) -> None:
        self.recurrent = recurrent
        self.output = output

    @staticmethod
    def for_network(net: Any) -> StepPlan | None:
        """The plan for ``net``'s layers, or ``None`` where the general path must run
        (other layers, preprocessors, activations other than tanh / sigmoid)."""
        layers, modules = net.conf.layers, list(net.layers)
        if len(layers) < 2 or any(net.conf.preprocessor(i) is not None
                                  for i in range(len(layers))):
            return None
        *recurrent, output = modules
        if not (all(type(layer) is GravesLSTM for layer in layers[:-1])
                and type(layers[-1]) is RnnOutputLayer and isinstance(output, DenseModule)
                and all(isinstance(m, GravesLSTMModule) and m.uses_fused_kernel()
                        for m in recurrent)):
            return None
        return StepPlan(recurrent, output)

    def __call__(self, x: torch.Tensor, state: dict[int, State]
                 ) -> tuple[torch.Tensor, dict[int, State]] | None:
        """``x [N, nIn]`` from ``state`` (layer index -> (h, c)): the output ``[N, nOut]``
        and the new state; ``None`` where a stored state has another minibatch size."""
        n = x.shape[0]
        new_state: dict[int, State] = {}
        with torch.no_grad():
            for i, module in enumerate(self.recurrent):
                layer_state = state.get(i)
                if layer_state is None:
                    zeros = x.new_zeros(n, module.hidden)
                    layer_state = (zeros, zeros)
                elif layer_state[0].shape[0] != n:
                    return None
                x, c = new_state[i] = module.time_step(x, layer_state)
            return self.output(x), new_state
