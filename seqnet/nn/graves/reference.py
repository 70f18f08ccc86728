"""The Graves LSTM as the SPEC writes it: a plain loop of tensor ops under autograd.

The reference the fused kernel is tested against, and the path for activations other than
tanh / sigmoid (the kernel is written for that pair only).

>>> from seqnet.conf.enums import Activation
>>> zx, rw, peep = torch.randn(5, 2, 12), torch.randn(3, 12), torch.randn(3, 3)
>>> h0 = c0 = torch.zeros(2, 3)
>>> hs, h, c = graves_lstm_loop(zx, rw, peep, h0, c0, None, Activation.TANH, Activation.SIGMOID)
>>> tuple(hs.shape)
(5, 2, 3)
"""

from __future__ import annotations

import torch

from seqnet.conf.enums import Activation
from seqnet.nn.activations import activation_fn


def graves_lstm_loop(zx: torch.Tensor, rw: torch.Tensor, peep: torch.Tensor, h: torch.Tensor,
                     c: torch.Tensor, mask: torch.Tensor | None, activation: Activation,
                     gate_activation: Activation) -> tuple[torch.Tensor, torch.Tensor,
                                                           torch.Tensor]:
    """The SPEC equations step by step with autograd, for any activation pair.

    Same arguments and results as :func:`~seqnet.nn.graves.kernel.fused_graves_lstm`.
    """
    act, gate = activation_fn(activation), activation_fn(gate_activation)
    hid = rw.shape[0]
    outputs = []
    for t in range(zx.shape[0]):
        z = zx[t] + h @ rw
        a = act(z[:, :hid])
        f = gate(z[:, hid:2 * hid] + peep[0] * c)
        i = gate(z[:, 3 * hid:] + peep[2] * c)
        c = f * c + i * a
        o = gate(z[:, 2 * hid:3 * hid] + peep[1] * c)
        h = o * act(c)
        if mask is not None:
            h = h * mask[t]
            c = c * mask[t]
        outputs.append(h)
    return torch.stack(outputs), h, c
