"""Convolution and subsampling layers on ``[N, C, H, W]`` (DL4J's truncate mode).

>>> import torch
>>> from seqnet.conf.layers import ConvolutionLayer
>>> conv = ConvolutionModule(ConvolutionLayer(n_in=1, n_out=4, kernel_size=(3, 3)),
...                          torch.float32, torch.Generator())
>>> tuple(conv(torch.randn(2, 1, 8, 8)).shape)
(2, 4, 6, 6)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqnet.conf.enums import PoolingType, WeightInit
from seqnet.conf.layers import ConvolutionLayer, SubsamplingLayer
from seqnet.nn.activations import activation_fn
from seqnet.nn.base import ParameterlessModule
from seqnet.nn.init import init_weight
from seqnet.nn.params import WeightBiasModule


class ConvolutionModule(WeightBiasModule):
    """2-D convolution; ``W [nOut, nIn, kH, kW]`` and ``b [1, nOut]`` as in DL4J."""

    def __init__(self, conf: ConvolutionLayer, dtype: torch.dtype, generator: torch.Generator,
                 weight_init: WeightInit = WeightInit.XAVIER) -> None:
        super().__init__()
        n_in, n_out = conf.n_in, conf.n_out
        assert n_in is not None and n_out is not None
        self.conf = conf
        kh, kw = conf.kernel_size
        scheme = conf.weight_init or weight_init
        # DL4J: fan_in = nIn * kH * kW, fan_out = nOut * kH * kW / (sH * sW).
        fan_in = n_in * kh * kw
        fan_out = n_out * kh * kw / (conf.stride[0] * conf.stride[1])
        self.W = nn.Parameter(init_weight((n_out, n_in, kh, kw), scheme, fan_in, fan_out, dtype,
                                          generator))
        self.b = nn.Parameter(torch.full((n_out,), conf.bias_init, dtype=dtype))
        self._act = activation_fn(conf.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._act(F.conv2d(x, self.W, self.b, stride=self.conf.stride,
                                  padding=self.conf.padding))


class SubsamplingModule(ParameterlessModule):
    """Max or average pooling; no parameters."""

    def __init__(self, conf: SubsamplingLayer, dtype: torch.dtype, generator: torch.Generator,
                 weight_init: WeightInit = WeightInit.XAVIER) -> None:
        super().__init__()
        self.conf = conf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = F.max_pool2d if self.conf.pooling_type == PoolingType.MAX else F.avg_pool2d
        return pool(x, self.conf.kernel_size, self.conf.stride, self.conf.padding)
