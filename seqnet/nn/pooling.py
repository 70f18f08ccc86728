"""``GlobalPoolingLayer``: ``[N, C, T]`` pooled over time into ``[N, C]``, honouring the mask.

The masked reductions are DL4J's ``MaskedReductionUtil.maskedPoolingTimeSeries``: SUM is
``sum_t x m``, AVG ``sum_t x m / sum_t m``, MAX the maximum over steps whose mask is 1, PNORM
``(sum_t |x m|^p)^(1/p)`` (no division by the number of steps).

>>> import torch
>>> from seqnet.conf.enums import PoolingType
>>> from seqnet.conf.layers import GlobalPoolingLayer
>>> pool = GlobalPoolingModule(GlobalPoolingLayer(n_in=1, pooling_type=PoolingType.AVG),
...                            torch.float32, torch.Generator())
>>> x = torch.tensor([[[1., 2., 9.]]])
>>> pool(x).tolist(), pool(x, torch.tensor([[1., 1., 0.]])).tolist()
([[4.0]], [[1.5]])
"""

from __future__ import annotations

import torch

from seqnet.conf.enums import PoolingType, WeightInit
from seqnet.conf.layers import GlobalPoolingLayer
from seqnet.nn.base import ParameterlessModule


class GlobalPoolingModule(ParameterlessModule):
    """Pooling over the time axis; no parameters."""

    def __init__(self, conf: GlobalPoolingLayer, dtype: torch.dtype,
                 generator: torch.Generator, weight_init: WeightInit = WeightInit.XAVIER) -> None:
        super().__init__()
        self.pooling_type = conf.pooling_type
        self.pnorm = conf.pnorm

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        kind = self.pooling_type
        if mask is None:
            if kind == PoolingType.MAX:
                return x.amax(dim=2)
            if kind == PoolingType.AVG:
                return x.mean(dim=2)
            if kind == PoolingType.SUM:
                return x.sum(dim=2)
            return x.abs().pow(self.pnorm).sum(dim=2).pow(1.0 / self.pnorm)
        m = mask.unsqueeze(1).to(x.dtype)
        if kind == PoolingType.MAX:
            return x.masked_fill(m == 0, float("-inf")).amax(dim=2)
        if kind == PoolingType.AVG:
            return (x * m).sum(dim=2) / m.sum(dim=2)
        if kind == PoolingType.SUM:
            return (x * m).sum(dim=2)
        return (x * m).abs().pow(self.pnorm).sum(dim=2).pow(1.0 / self.pnorm)
