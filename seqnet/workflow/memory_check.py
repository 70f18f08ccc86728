"""Refuse a run whose sizes cannot fit in memory before allocating them.

A run file with ``num_classes = 100000000`` or a layer of a million units would otherwise be
allocated until the kernel's OOM killer ends the process without a word. The estimate is a
lower bound of what training holds at once: the parameters four times over (values,
gradients, two optimiser moments), and for one minibatch of the first training sequence's
length the one-hot labels, the output and its gradient, and the layers' activations.

>>> from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
>>> from seqnet.conf.multilayer import MultiLayerConfiguration
>>> conf = MultiLayerConfiguration(layers=[GravesLSTM(n_in=2, n_out=8),
...                                        RnnOutputLayer(n_in=8, n_out=3)])
>>> estimate_bytes(conf, batch_size=4, steps=10)
21968
"""

from __future__ import annotations

import math
import resource
from typing import Any

from seqnet.errors import ConfigurationError
from seqnet.param_shapes import param_shapes
from seqnet.workflow.data import split_readers

__all__ = ["available_memory", "check_label_memory", "check_run_memory", "estimate_bytes",
           "first_sequence_steps"]

# Per unit of a layer's output and per step: LSTM gates (4), cell and output state, and a
# gradient of each; a lower bound for the other layers too.
_ACTIVATIONS_PER_UNIT = 8


def estimate_bytes(conf: Any, batch_size: int, steps: int) -> int:
    """A lower bound of the bytes training ``conf`` holds at once (module docstring)."""
    itemsize = 8 if conf.data_type == "float64" else 4
    shapes = param_shapes(conf) or {}
    params = sum(math.prod(s) for s in shapes.values())
    units = sum(layer.underlying().n_out or 0 for layer in conf.layers)
    output = conf.layers[-1].underlying().n_out or 0
    per_step = batch_size * steps * itemsize
    return (4 * params * itemsize + 3 * output * per_step
            + _ACTIVATIONS_PER_UNIT * units * per_step)


def available_memory() -> int | None:
    """Bytes the process may still allocate: the kernel's MemAvailable, lowered by an
    address-space limit; ``None`` where neither is known."""
    limits = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft)
    return min(limits) if limits else None


def check_run_memory(conf: Any, batch_size: int, steps: int, source: str) -> None:
    """A :class:`ConfigurationError` naming the sizes when :func:`estimate_bytes` exceeds
    :func:`available_memory`."""
    need = estimate_bytes(conf, batch_size, max(steps, 1))
    have = available_memory()
    if have is not None and need > have:
        output = conf.layers[-1].underlying().n_out
        raise ConfigurationError(
            f"{source}: the network and one minibatch need at least {need / 2**30:.1f} GiB "
            f"(layer sizes {[layer.underlying().n_out for layer in conf.layers]}, "
            f"{output} outputs or classes x batch_size {batch_size} x {steps} steps), found "
            f"{have / 2**30:.1f} GiB available; reduce data.num_classes, data.batch_size or "
            f"the layers' n_out")


def check_label_memory(config: Any) -> None:
    """Before any minibatch is made: the one-hot labels of one training minibatch
    (``num_classes x batch_size x steps``, three times: labels, output, gradient) must fit."""
    data = config.data
    if data.num_classes is None or data.train is None:
        return
    steps = max(first_sequence_steps(split_readers(data, data.train)[0]), 1)
    need = 3 * 4 * data.num_classes * data.batch_size * steps
    have = available_memory()
    if have is not None and need > have:
        raise ConfigurationError(
            f"{config.source}: data.num_classes: one minibatch of one-hot labels needs at "
            f"least {need / 2**30:.1f} GiB ({data.num_classes} classes x batch_size "
            f"{data.batch_size} x {steps} steps, three copies), found {have / 2**30:.1f} GiB "
            f"available")


def first_sequence_steps(reader: Any) -> int:
    """The length of the first sequence of ``reader`` (one sequence is read)."""
    if len(reader) == 0:
        return 1
    return int(reader.load_ragged([0]).lengths[0])
