"""Activation functions by DL4J name; softmax is over the channel axis (dim 1).

>>> import torch
>>> activation_fn("softmax")(torch.zeros(1, 4, 2))[0, :, 0].tolist()
[0.25, 0.25, 0.25, 0.25]
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from seqnet.conf.enums import Activation


def _hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    # DL4J's hard sigmoid: min(1, max(0, 0.2 x + 0.5)).
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def _leaky_relu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.01)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=1)


# Module-level functions, not lambdas, so that modules holding them pickle.
_FUNCTIONS: dict[Activation, Callable[[torch.Tensor], torch.Tensor]] = {
    Activation.TANH: torch.tanh,
    Activation.SIGMOID: torch.sigmoid,
    Activation.HARDSIGMOID: _hard_sigmoid,
    Activation.HARDTANH: F.hardtanh,
    Activation.RELU: torch.relu,
    Activation.LEAKYRELU: _leaky_relu,
    Activation.ELU: F.elu,
    Activation.SOFTSIGN: F.softsign,
    Activation.SOFTPLUS: F.softplus,
    Activation.IDENTITY: _identity,
    Activation.SOFTMAX: _softmax,
}


def activation_fn(name: Activation | str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The element-wise (or, for softmax, channel-wise) function for an activation name."""
    return _FUNCTIONS[Activation(name) if not isinstance(name, Activation) else name]
