"""Weight initialisation with DL4J's formulas (fan-in / fan-out given by the caller).

>>> import torch
>>> w = init_weight((400, 300), WeightInit.XAVIER, fan_in=400, fan_out=300,
...                 dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> abs(float(w.std()) - (2 / 700) ** 0.5) < 1e-3
True
"""

from __future__ import annotations

import math

import torch

from seqnet.conf.enums import WeightInit


def init_weight(shape: tuple[int, ...], scheme: WeightInit, fan_in: float, fan_out: float,
                dtype: torch.dtype, generator: torch.Generator) -> torch.Tensor:
    """A new tensor of ``shape`` drawn as DL4J's ``WeightInit`` ``scheme`` draws it."""
    out = torch.empty(shape, dtype=dtype)
    if scheme == WeightInit.ZERO:
        return out.zero_()
    normal_std = {
        WeightInit.XAVIER: math.sqrt(2.0 / (fan_in + fan_out)),
        WeightInit.RELU: math.sqrt(2.0 / fan_in),
        WeightInit.LECUN_NORMAL: math.sqrt(1.0 / fan_in),
        WeightInit.NORMAL: 1.0 / math.sqrt(fan_in),
    }
    if scheme in normal_std:
        return out.normal_(0.0, normal_std[scheme], generator=generator)
    bound = {
        WeightInit.XAVIER_UNIFORM: math.sqrt(6.0 / (fan_in + fan_out)),
        WeightInit.RELU_UNIFORM: math.sqrt(6.0 / fan_in),
        WeightInit.UNIFORM: 1.0 / math.sqrt(fan_in),
    }[scheme]
    return out.uniform_(-bound, bound, generator=generator)
