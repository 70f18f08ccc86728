"""Dense, output and RNN output layers: ``act(x W + b)`` with DL4J's ``W [nIn, nOut]``.

>>> import torch
>>> from seqnet.conf.layers import RnnOutputLayer
>>> out = DenseModule(RnnOutputLayer(n_in=3, n_out=2), torch.float32, torch.Generator())
>>> y = out(torch.randn(4, 3, 5))                    # applied at every step
>>> tuple(y.shape), bool(torch.allclose(y.sum(1), torch.ones(4, 5)))
((4, 2, 5), True)
"""

from __future__ import annotations

import torch
from torch import nn

from seqnet.conf.enums import WeightInit
from seqnet.conf.layers import Layer
from seqnet.nn.activations import activation_fn
from seqnet.nn.init import init_weight
from seqnet.nn.params import WeightBiasModule


class DenseModule(WeightBiasModule):
    """``DenseLayer``, ``OutputLayer`` and ``RnnOutputLayer`` (on ``[N, C]`` or ``[N, C, T]``);
    ``W [nIn, nOut]``."""

    def __init__(self, conf: Layer, dtype: torch.dtype, generator: torch.Generator,
                 weight_init: WeightInit = WeightInit.XAVIER) -> None:
        super().__init__()
        n_in, n_out = conf.n_in, conf.n_out
        assert n_in is not None and n_out is not None
        self.conf = conf
        scheme = conf.weight_init or weight_init
        self.W = nn.Parameter(init_weight((n_in, n_out), scheme, n_in, n_out, dtype, generator))
        self.b = nn.Parameter(torch.full((n_out,), conf.bias_init, dtype=dtype))
        self._act = activation_fn(conf.activation)

    def preout(self, x: torch.Tensor) -> torch.Tensor:
        """``x W + b`` before the activation, same layout as ``x``."""
        # NOTE [ Dense weight layout ] W as an [nOut, nIn]-major copy (a view of it as
        # [nIn, nOut]): the input gradient grad @ W^T then reads W^T contiguously, which BLAS
        # runs several times faster for a narrow output layer (as nn.Linear stores it).
        w = self.W.t().contiguous().t()
        if x.dim() == 3:
            time_major = x.permute(2, 0, 1)
            if time_major.is_contiguous():
                # NOTE [ Time-major recurrent outputs ] The recurrent layers return [N, C, T]
                # views of [T, N, C] storage: one addmm on that storage, no layout copies
                # forward or backward (what a hand-written nn.LSTM + nn.Linear does).
                steps, n, c = time_major.shape
                return torch.addmm(self.b, time_major.reshape(steps * n, c),
                                   w).view(steps, n, -1).permute(1, 2, 0)
            return torch.matmul(x.transpose(1, 2), w).add_(self.b).transpose(1, 2)
        return torch.addmm(self.b, x, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._act(self.preout(x))
