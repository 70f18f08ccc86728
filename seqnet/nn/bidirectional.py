"""``Bidirectional``: a recurrent layer run forwards and, as a second copy, over reversed time.

Parameter keys are the wrapped layer's with DL4J's prefixes: ``fW, fRW, fb`` (forward) then
``bW, bRW, bb`` (backward). The backward copy reads the padded sequence and its mask reversed
(DL4J's ``reverseTimeSeries``), so it starts from zero state at each example's last real step;
its output is reversed back before the two are combined.

>>> import torch
>>> from seqnet.conf.layers import LSTM, Bidirectional
>>> bi = BidirectionalModule(Bidirectional(LSTM(n_in=2, n_out=3)), torch.float32,
...                          torch.Generator())
>>> y, _ = bi(torch.randn(4, 2, 5))
>>> tuple(y.shape), list(bi.param_table())
((4, 6, 5), ['fW', 'fRW', 'fb', 'bW', 'bRW', 'bb'])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from seqnet.conf.enums import BidirectionalMode, WeightInit
from seqnet.conf.layers import LSTM, Bidirectional
from seqnet.nn.base import RecurrentModule, State
from seqnet.nn.graves import GravesLSTMModule
from seqnet.nn.lstm import LSTMModule

_DIRECTIONS = ("f", "b")


class BidirectionalModule(RecurrentModule):
    """Two copies of an LSTM / GravesLSTM module, combined by the configuration's mode."""

    def __init__(self, conf: Bidirectional, dtype: torch.dtype, generator: torch.Generator,
                 weight_init: WeightInit = WeightInit.XAVIER) -> None:
        super().__init__()
        inner = conf.underlying()
        kind = LSTMModule if isinstance(inner, LSTM) else GravesLSTMModule
        self.mode = conf.mode
        # Forward first, then backward: the generator draws in DL4J's parameter order.
        self.fwd = kind(inner, dtype, generator, weight_init)  # type: ignore[arg-type]
        self.bwd = kind(inner, dtype, generator, weight_init)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        y_f, final = self.fwd(x, mask)
        y_b, _ = self.bwd(x.flip(-1), None if mask is None else mask.flip(-1))
        y_b = y_b.flip(-1)
        if self.mode == BidirectionalMode.CONCAT:
            y = torch.cat((y_f, y_b), dim=1)
        elif self.mode == BidirectionalMode.ADD:
            y = y_f + y_b
        elif self.mode == BidirectionalMode.MUL:
            y = y_f * y_b
        else:
            y = (y_f + y_b) * 0.5
        return y, final

    def _directions(self) -> tuple[tuple[str, RecurrentModule], ...]:
        return (("f", self.fwd), ("b", self.bwd))

    def param_table(self) -> dict[str, np.ndarray]:
        """DL4J's ``fW, fRW, fb, bW, bRW, bb`` (the wrapped layer's keys, prefixed)."""
        return {d + k: v for d, module in self._directions()
                for k, v in module.param_table().items()}

    def set_param_table(self, table: dict[str, Any], prefix: str) -> None:
        """Load DL4J-layout arrays (keys without the layer prefix)."""
        for d, module in self._directions():
            module.set_param_table({k[1:]: v for k, v in table.items() if k[0] == d},
                                   prefix + d)

    def param_types(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by DL4J parameter type (``fW`` ... ``bb``)."""
        return {d + k: v for d, module in self._directions()
                for k, v in module.param_types().items()}

    def weight_params(self) -> list[nn.Parameter]:
        """The parameters l1 / l2 apply to (not biases)."""
        return self.fwd.weight_params() + self.bwd.weight_params()
