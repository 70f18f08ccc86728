"""Per-row losses of DL4J's ``LossFunction`` s, computed from pre-activations.

Each function returns one value per row (an example, or an example's time step): the sum over
outputs, except MSE which is the mean over outputs (as DL4J's ``LossMSE``).

>>> import torch
>>> z = torch.zeros(1, 2)
>>> y = torch.tensor([[0.0, 1.0]])
>>> round(float(row_loss(LossFunction.MCXENT, z, "softmax", y)[0]), 4)   # -log(0.5)
0.6931
>>> float(row_loss(LossFunction.MSE, z, "identity", y)[0])
0.5
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqnet.conf.enums import Activation, LossFunction
from seqnet.nn.activations import activation_fn

_EPS = 1e-10


def row_loss(loss: LossFunction, preout: torch.Tensor, activation: Activation | str,
             labels: torch.Tensor) -> torch.Tensor:
    """Loss per row of ``preout`` ``[rows, nOut]`` against ``labels`` of the same shape."""
    activation = Activation(activation)
    if loss in (LossFunction.MCXENT, LossFunction.NEGATIVELOGLIKELIHOOD):
        if activation == Activation.SOFTMAX:
            log_p = torch.log_softmax(preout, dim=1)
        else:
            log_p = torch.log(activation_fn(activation)(preout).clamp_min(_EPS))
        return -(labels * log_p).sum(dim=1)
    if loss == LossFunction.XENT:
        if activation == Activation.SIGMOID:
            return F.binary_cross_entropy_with_logits(preout, labels, reduction="none").sum(dim=1)
        p = activation_fn(activation)(preout).clamp(_EPS, 1.0 - _EPS)
        return -(labels * torch.log(p) + (1.0 - labels) * torch.log1p(-p)).sum(dim=1)
    diff = activation_fn(activation)(preout) - labels
    if loss == LossFunction.L1:
        return diff.abs().sum(dim=1)
    squared = (diff * diff).sum(dim=1)
    return squared / preout.shape[1] if loss == LossFunction.MSE else squared
