"""``LastTimeStep``: a recurrent layer's activation at each example's last real step.

>>> import torch
>>> last_real_step(torch.tensor([[1., 1., 0.], [0., 1., 1.], [0., 0., 0.]]), 3).tolist()
[1, 2, 2]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from seqnet.nn.base import RecurrentModule, State


def last_real_step(mask: torch.Tensor, steps: int) -> torch.Tensor:
    """Index of the last step whose mask is 1 per example (``T - 1`` when no step is real)."""
    idx = torch.arange(steps, device=mask.device).expand_as(mask)
    last = torch.where(mask > 0, idx, -1).max(dim=1).values
    return torch.where(last < 0, steps - 1, last)


class LastTimeStepModule(RecurrentModule):
    """Runs the wrapped recurrent module and keeps ``[N, H]`` at each last real step."""

    def __init__(self, inner: RecurrentModule) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        y, final = self.inner(x, mask, state)
        return self.select(y, mask), final

    @staticmethod
    def select(y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``[N, H, T]`` -> ``[N, H]`` at each example's last real step."""
        steps = y.shape[2]
        if mask is None:
            return y[:, :, steps - 1]
        idx = last_real_step(mask, steps)
        return y[torch.arange(y.shape[0], device=y.device), :, idx]

    def param_table(self) -> dict[str, np.ndarray]:
        """The wrapped layer's parameters."""
        return self.inner.param_table()

    def set_param_table(self, table: dict[str, Any], prefix: str) -> None:
        """Load the wrapped layer's parameters."""
        self.inner.set_param_table(table, prefix)

    def param_types(self) -> dict[str, list[nn.Parameter]]:
        """The wrapped layer's parameter types."""
        return self.inner.param_types()

    def weight_params(self) -> list[nn.Parameter]:
        """The wrapped layer's weights."""
        return self.inner.weight_params()
