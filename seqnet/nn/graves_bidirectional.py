"""``GravesBidirectionalLSTM``: a forward and a time-reversed GravesLSTM, outputs summed.

Parameter keys as DL4J's: ``WF, RWF, bF`` (forward) and ``WB, RWB, bB`` (backward). The
backward direction reverses the padded sequence and its mask, so it starts from zero state
at each example's last real step.

>>> import torch
>>> from seqnet.conf.layers import GravesBidirectionalLSTM
>>> bi = GravesBidirectionalModule(GravesBidirectionalLSTM(n_in=2, n_out=3), torch.float32,
...                          torch.Generator())
>>> y, _ = bi(torch.randn(4, 2, 5))
>>> tuple(y.shape), sorted(bi.param_table())
((4, 3, 5), ['RWB', 'RWF', 'WB', 'WF', 'bB', 'bF'])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from seqnet.conf.enums import WeightInit
from seqnet.conf.layers import GravesBidirectionalLSTM
from seqnet.nn.base import RecurrentModule, State
from seqnet.nn.graves import GravesLSTMModule


class GravesBidirectionalModule(RecurrentModule):
    """Sum of a forward and a backward Graves LSTM; no stored state (no time-stepping)."""

    def __init__(self, conf: GravesBidirectionalLSTM, dtype: torch.dtype,
                 generator: torch.Generator, weight_init: WeightInit = WeightInit.XAVIER) -> None:
        super().__init__()
        self.forward_lstm = GravesLSTMModule(conf, dtype, generator, weight_init)
        self.backward_lstm = GravesLSTMModule(conf, dtype, generator, weight_init)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        y_f, final = self.forward_lstm(x, mask)
        rev_mask = None if mask is None else mask.flip(-1)
        y_b, _ = self.backward_lstm(x.flip(-1), rev_mask)
        return y_f + y_b.flip(-1), final

    def param_table(self) -> dict[str, np.ndarray]:
        """DL4J's ``WF, RWF, bF, WB, RWB, bB``."""
        out = {}
        for suffix, module in (("F", self.forward_lstm), ("B", self.backward_lstm)):
            out.update({k + suffix: v for k, v in module.param_table().items()})
        return out

    def set_param_table(self, table: dict[str, Any], prefix: str) -> None:
        """Load DL4J-layout arrays (keys without the layer prefix)."""
        for suffix, module in (("F", self.forward_lstm), ("B", self.backward_lstm)):
            module.set_param_table({k: table[k + suffix] for k in ("W", "RW", "b")},
                                   prefix, suffix)

    def param_types(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by DL4J parameter type."""
        out = {}
        for suffix, module in (("F", self.forward_lstm), ("B", self.backward_lstm)):
            out.update({k + suffix: v for k, v in module.param_types().items()})
        return out

    def weight_params(self) -> list[nn.Parameter]:
        """The parameters l1 / l2 apply to (not biases)."""
        return self.forward_lstm.weight_params() + self.backward_lstm.weight_params()
