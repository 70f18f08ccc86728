"""Small helpers shared by the seqnet tests: random data and tiny networks."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqdata.dataset import DataSet
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.network import MultiLayerNetwork


def make_net(layers: list[Any], **conf: Any) -> MultiLayerNetwork:
    conf.setdefault("seed", 7)
    net = MultiLayerNetwork(MultiLayerConfiguration(layers=layers, **conf))
    net.init()
    return net


def one_hot_steps(rng: np.random.Generator, n: int, k: int, t: int) -> np.ndarray:
    labels = np.zeros((n, k, t), np.float32)
    cls = rng.integers(0, k, size=(n, t))
    labels[np.arange(n)[:, None], cls, np.arange(t)[None, :]] = 1.0
    return labels


def random_dataset(rng: np.random.Generator, n: int, c: int, k: int, t: int,
                   dtype: Any = np.float32) -> DataSet:
    x = rng.normal(size=(n, c, t)).astype(dtype)
    return DataSet(x, one_hot_steps(rng, n, k, t).astype(dtype))
