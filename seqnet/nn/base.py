"""What every layer module provides: DL4J's parameter table and parameter groups, and forward.

Feed-forward modules map ``x`` to ``y``; recurrent modules (:class:`RecurrentModule`) take
``(x [N, C, T], mask [N, T] or None, state or None)`` and return ``(y [N, H, T], final state)``.

>>> import torch
>>> from seqnet.conf.layers import DenseLayer, GravesLSTM
>>> from seqnet.nn.build import build_module
>>> dense = build_module(DenseLayer(n_in=2, n_out=3), torch.float32, torch.Generator())
>>> isinstance(dense, LayerModule), isinstance(dense, RecurrentModule)
(True, False)
>>> lstm = build_module(GravesLSTM(n_in=2, n_out=3), torch.float32, torch.Generator())
>>> y, (h, c) = lstm(torch.zeros(4, 2, 5), None, None)
>>> isinstance(lstm, RecurrentModule), sorted(lstm.param_types())
(True, ['RW', 'W', 'b'])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, cast

import numpy as np
import torch
from torch import nn

#: A recurrent layer's state: (h, c), each ``[N, H]``.
State = tuple[torch.Tensor, torch.Tensor]

__all__ = ["LayerModule", "LayerStack", "ParameterlessModule", "RecurrentModule", "State"]


# NOTE [ A base class, not a Protocol ]
# The network keeps its layers in an nn.ModuleList and moves, copies and pickles them as
# nn.Modules, so "a layer module" is an nn.Module with four more methods; a Protocol cannot say
# "an nn.Module that also has these". An abstract base class says both, and a module that
# forgets one of the four fails when it is built, not when a model is saved.
class LayerModule(nn.Module, ABC):
    """A torch module for one layer configuration, with DL4J's parameter plumbing."""

    @abstractmethod
    def param_table(self) -> dict[str, np.ndarray]:
        """The parameters in DL4J's layouts, keyed without the layer prefix (numpy copies)."""

    @abstractmethod
    def set_param_table(self, table: dict[str, Any], prefix: str) -> None:
        """Load arrays laid out as :meth:`param_table` returns them; ``prefix`` (``"0_"``)
        only names the keys in errors."""

    @abstractmethod
    def param_types(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by DL4J parameter type (for per-type gradient clipping)."""

    @abstractmethod
    def weight_params(self) -> list[nn.Parameter]:
        """The parameters l1 / l2 apply to (not biases)."""


class ParameterlessModule(LayerModule):
    """A layer module without parameters (pooling): empty tables, nothing to load."""

    def param_table(self) -> dict[str, np.ndarray]:
        return {}

    def set_param_table(self, table: dict[str, Any], prefix: str) -> None:
        """Nothing to load."""

    def param_types(self) -> dict[str, list[nn.Parameter]]:
        return {}

    def weight_params(self) -> list[nn.Parameter]:
        return []


class RecurrentModule(LayerModule):
    """A layer module run over time: ``forward(x, mask, state) -> (y, final_state)``."""

    @abstractmethod
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """``x [N, C, T]`` -> ``[N, H, T]`` (or ``[N, H]`` for ``LastTimeStep``) and the
        state after the last step; at a step where ``mask [N, T]`` is 0, h and c are zeroed."""


class LayerStack(nn.ModuleList):
    """A network's layer modules in order: a ``torch.nn.ModuleList`` whose items are
    :class:`LayerModule` (so what a layer provides is known wherever the stack is walked)."""

    def __init__(self, modules: Iterable[LayerModule]) -> None:
        super().__init__(modules)

    def __iter__(self) -> Iterator[LayerModule]:
        return cast(Iterator[LayerModule], super().__iter__())

    def layer(self, index: int) -> LayerModule:
        """The module of layer ``index``."""
        return cast(LayerModule, self[index])
