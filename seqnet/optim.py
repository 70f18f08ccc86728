"""DL4J's own updater formulas (ND4J 1.0.0-beta and earlier) as torch optimisers.

These serve :attr:`UpdateRule.DL4J_LEGACY <seqnet.conf.enums.UpdateRule>`, the rule that
reproduces a network trained by DL4J <= 1.0.0-beta3 (``FORMAT.md`` section 6 of the DL4J notes).

# NOTE [ The legacy DL4J update ]
# DL4J's BaseMultiLayerUpdater: G is the gradient of the *sum* of the examples' losses (after
# gradient normalisation); u = updater(G) with ND4J's formulas below; then, after the updater
# and not scaled by the learning rate, u += l2 * w + l1 * sign(w) for weights (UpdaterBlock's
# postApply); then u /= N (miniBatch = true); p -= u. Each param group carries its ``l1`` and
# ``l2``; ``step`` takes the iteration (Adam's bias correction uses iteration + 1, the network's
# count, so an imported model continues where DL4J stopped) and the minibatch size N.
# ND4J's formulas differ from torch's: Adam adds eps to sqrt(v) after the bias correction is
# folded into the step size, RmsProp and AdaGrad add eps outside the square root and start
# their accumulators at eps (AdaGrad at 1e-6), Nesterovs uses the cs231n form. State keys are
# ND4J's names (Adam "M", "V"; RmsProp "G"; AdaGrad "grad"; Nesterovs "V"), so DL4J's
# updaterState.bin maps onto them one to one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


class LegacyOptimizer(torch.optim.Optimizer):
    """Base: ``step(iteration, minibatch)`` applies ``p -= (update(G) + l2 w + l1 sign w) / N``.

    Subclasses implement :meth:`update` (the ND4J updater) on one parameter's gradient.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        super().__init__(params, {"l1": 0.0, "l2": 0.0, **defaults})

    def update(self, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
               iteration: int) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Any = None, *, iteration: int = 0,  # type: ignore[override]
             minibatch: int = 1) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                u = self.update(p.grad, self.state[p], group, iteration)
                if group["l2"]:
                    u = u + group["l2"] * p
                if group["l1"]:
                    u = u + group["l1"] * torch.sign(p)
                p.sub_(u / minibatch)


class LegacySgd(LegacyOptimizer):
    """``u = lr * G``."""

    def __init__(self, params: Iterable[Any], lr: float) -> None:
        super().__init__(params, {"lr": lr})

    def update(self, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
               iteration: int) -> torch.Tensor:
        return grad * group["lr"]


def _moments(grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam's and Nadam's moving averages ``M`` (of G) and ``V`` (of G^2), updated in place."""
    b1, b2 = group["beta1"], group["beta2"]
    if not state:
        state["M"] = torch.zeros_like(grad)
        state["V"] = torch.zeros_like(grad)
    m, v = state["M"], state["V"]
    m.mul_(b1).add_(grad, alpha=1 - b1)
    v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
    return m, v


class LegacyAdam(LegacyOptimizer):
    """ND4J's AdamUpdater: ``m = b1 m + (1-b1) G``, ``v = b2 v + (1-b2) G^2``,
    ``u = lr sqrt(1-b2^t) / (1-b1^t) * m / (sqrt(v) + eps)`` with ``t = iteration + 1``."""

    def __init__(self, params: Iterable[Any], lr: float, beta1: float, beta2: float,
                 eps: float) -> None:
        super().__init__(params, {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps})

    def update(self, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
               iteration: int) -> torch.Tensor:
        b1, b2 = group["beta1"], group["beta2"]
        m, v = _moments(grad, state, group)
        t = iteration + 1
        alpha = group["lr"] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return alpha * m / (v.sqrt() + group["eps"])


class LegacyNadam(LegacyOptimizer):
    """ND4J's NadamUpdater: ``m``, ``v`` as Adam;
    ``u = lr (b1 m / (1-b1^t) + (1-b1) G / (1-b1^t)) / (sqrt(v) + eps)``."""

    def __init__(self, params: Iterable[Any], lr: float, beta1: float, beta2: float,
                 eps: float) -> None:
        super().__init__(params, {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps})

    def update(self, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
               iteration: int) -> torch.Tensor:
        b1 = group["beta1"]
        m, v = _moments(grad, state, group)
        first = grad * (1 - b1)
        correction = 1 - b1 ** (iteration + 1)
        alpha = (m * b1 / correction + first / correction) * group["lr"]
        return alpha / (v.sqrt() + group["eps"])


class LegacyRmsProp(LegacyOptimizer):
    """ND4J's RmsPropUpdater: ``g = decay g + (1-decay) G^2`` (``g`` starts at eps),
    ``u = lr G / (sqrt(g) + eps)``."""

    def __init__(self, params: Iterable[Any], lr: float, rms_decay: float, eps: float) -> None:
        super().__init__(params, {"lr": lr, "rms_decay": rms_decay, "eps": eps})

    def update(self, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
               iteration: int) -> torch.Tensor:
        decay = group["rms_decay"]
        if not state:
            state["G"] = torch.full_like(grad, group["eps"])
        g = state["G"]
        g.mul_(decay).addcmul_(grad, grad, value=1 - decay)
        return grad * group["lr"] / (g.sqrt() + group["eps"])


#: ND4J's AdaGradUpdater fills a new history with its own default epsilon, whatever the
#: configured one (which only enters the update).
ADAGRAD_INITIAL_HISTORY = 1e-6


class LegacyAdaGrad(LegacyOptimizer):
    """ND4J's AdaGradUpdater: ``h += G^2`` (``h`` starts at 1e-6),
    ``u = lr G / (sqrt(h) + eps)``."""

    def __init__(self, params: Iterable[Any], lr: float, eps: float) -> None:
        super().__init__(params, {"lr": lr, "eps": eps})

    def update(self, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
               iteration: int) -> torch.Tensor:
        if not state:
            state["grad"] = torch.full_like(grad, ADAGRAD_INITIAL_HISTORY)
        h = state["grad"]
        h.addcmul_(grad, grad)
        return grad * (group["lr"] / (h.sqrt() + group["eps"]))


class LegacyNesterovs(LegacyOptimizer):
    """ND4J's NesterovsUpdater: ``v' = mu v - lr G``, ``u = mu v - (1 + mu) v'``."""

    def __init__(self, params: Iterable[Any], lr: float, momentum: float) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum})

    def update(self, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
               iteration: int) -> torch.Tensor:
        mu = group["momentum"]
        if not state:
            state["V"] = torch.zeros_like(grad)
        v = state["V"]
        previous = v.clone()
        v.mul_(mu).sub_(grad * group["lr"])
        return previous * mu - v * (1 + mu)
