"""CPU primitives of the Graves LSTM kernel: oneDNN products with packed weights, and tanh
on sigmoid's kernel. Off the CPU, or in float64, each falls back to the plain torch op.

>>> w = torch.randn(4, 8)
>>> product = step_matmul(w, rows=2, steps=16)
>>> x = torch.randn(2, 4)
>>> bool(torch.allclose(product(x), x @ w, atol=1e-5))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

_PACKED_LINEAR: Any = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
_PACK_MIN_STEPS = 8


def step_matmul(weight: torch.Tensor, rows: int,
                steps: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> x @ weight`` for the many small per-step products of one sequence batch.

    # NOTE [ Packed weights for the recurrent product ]
    # On CPU in float32, oneDNN's linear with the weight reordered once per call runs the
    # [N, H] x [H, 4H] product about twice as fast as addmm (it is what torch.nn.LSTM's CPU
    # kernel does internally). The reorder costs a few products, so short runs (time-stepping)
    # skip it; float64, other devices, or a torch without the op use mm.
    """
    return step_product(*step_weights(weight, rows, steps))


def step_product(packed_weight: torch.Tensor | None,
                 dense: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> x @ weight`` from what :func:`step_weights` returned."""
    if packed_weight is not None:
        return lambda x: packed_product(x, packed_weight)
    return lambda x: torch.mm(x, dense)


def step_weights(weight: torch.Tensor, rows: int,
                 steps: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The weights :func:`step_matmul` multiplies by: packed for oneDNN (or ``None`` where
    it does not pack) and dense; the compiled loops take these two."""
    if steps >= _PACK_MIN_STEPS and onednn(weight):
        return pack(weight, rows), weight
    return None, weight.contiguous()


def pack(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """``weight [K, M]`` reordered for oneDNN products with ``rows``-row left operands."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.t().contiguous(), rows)


def packed_product(x: torch.Tensor, packed_weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight`` with the weight as :func:`pack` returned it."""
    return _PACKED_LINEAR(x, packed_weight, None, "none", [], "")


def onednn(t: torch.Tensor) -> bool:
    """Whether products on ``t`` can take oneDNN's packed path (CPU, float32, op present)."""
    return (t.device.type == "cpu" and t.dtype == torch.float32 and _PACKED_LINEAR is not None
            and torch.backends.mkldnn.is_available())


def weight_grad(inputs: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """``inputs.t() @ grads`` for the recurrent weight gradient over all steps ``[T N, .]``.

    # NOTE [ One product for the recurrent weight gradient ]
    # A single [H, T N] x [T N, 4H] product. On CPU in float32 oneDNN runs it about twice as
    # fast as the BLAS mm on the machines measured (MKL takes a slow path on AMD CPUs).
    """
    if onednn(grads):
        return _PACKED_LINEAR(inputs.t().contiguous(), grads.t(), None, "none", [], "")
    return torch.mm(inputs.t(), grads)


def tanh_sigmoid(src: torch.Tensor, out: torch.Tensor, minus_one: torch.Tensor) -> torch.Tensor:
    """``tanh(src)`` written into ``out`` (which may be ``src``) as ``2 sigmoid(2 src) - 1``;
    ``minus_one`` is a 0-d tensor of -1 (``-1 + 2 s`` in one op is ``2 s - 1`` exactly).

    # NOTE [ tanh on CPU ]
    # torch's CPU tanh goes through MKL's vector maths, which is several times slower than
    # sigmoid and opens a parallel region for as few as 2048 values: on the recurrent loop's
    # [N, H] blocks it costs more than the recurrent product when the cores are busy. The
    # identity tanh(x) = 2 sigmoid(2x) - 1 on sigmoid's own vectorised kernel is exact in
    # real arithmetic and within one rounding of 1.0 (absolute) in floating point.

    >>> x = torch.linspace(-20, 20, 9, dtype=torch.float64)
    >>> y = tanh_sigmoid(x, torch.empty_like(x), x.new_full((), -1.0))
    >>> bool((y - torch.tanh(x)).abs().max() < 1e-15)
    True
    """
    return torch.add(minus_one, torch.mul(src, 2.0, out=out).sigmoid_(), alpha=2.0, out=out)


def tanh_torch(src: torch.Tensor, out: torch.Tensor, minus_one: torch.Tensor) -> torch.Tensor:
    """``torch.tanh(src)`` into ``out``, with :func:`tanh_sigmoid`'s signature."""
    return torch.tanh(src, out=out)


def tanh_into(device: torch.device
              ) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The faster tanh for the recurrent loop on ``device`` (see NOTE [ tanh on CPU ])."""
    return tanh_sigmoid if device.type == "cpu" else tanh_torch


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh as NOTE [ tanh on CPU ] says where no gradient is recorded (in-place ops)."""
    if x.device.type == "cpu" and not (x.requires_grad and torch.is_grad_enabled()):
        return tanh_sigmoid(x, torch.empty_like(x), x.new_full((), -1.0))
    return torch.tanh(x)

