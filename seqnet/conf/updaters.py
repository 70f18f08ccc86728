"""Updaters (DL4J names and defaults) as configuration objects that build torch optimisers.

>>> import torch
>>> p = torch.nn.Parameter(torch.zeros(2))
>>> Adam(1e-2).build([p]).defaults["lr"]
0.01
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any, ClassVar

import torch

from seqnet import optim
from seqnet.conf.schema import config, positional
from seqnet.errors import ConfigurationError


class Updater:
    """Base of the updater configurations; ``build(params)`` makes the torch optimiser."""

    learning_rate: float

    def _validate(self) -> None:
        if not self.learning_rate > 0:
            raise ConfigurationError(
                f"{type(self).__name__}.learning_rate: expected > 0, found {self.learning_rate}")
        if not self.learning_rate <= MAX_LEARNING_RATE:
            raise ConfigurationError(
                f"{type(self).__name__}.learning_rate: expected <= {MAX_LEARNING_RATE:g}, "
                f"found {self.learning_rate}")
        # Checked here rather than left to torch, whose ValueError would surface at fit time.
        for key in ("beta1", "beta2", "rms_decay"):
            value = getattr(self, key, 0.0)
            if not 0 <= value < 1:
                raise ConfigurationError(
                    f"{type(self).__name__}.{key}: expected in [0, 1), found {value}")
        for key in ("epsilon", "momentum"):
            value = getattr(self, key, 0.0)
            if not 0 <= value < math.inf:
                raise ConfigurationError(
                    f"{type(self).__name__}.{key}: expected >= 0, found {value}")

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """Return a torch optimiser over ``params`` with this updater's hyper-parameters."""
        raise NotImplementedError

    def build_legacy(self, groups: list[dict[str, Any]]) -> optim.LegacyOptimizer:
        """Return DL4J's own formula for this updater (:mod:`seqnet.optim`) over ``groups``
        (param groups carrying ``l1`` and ``l2``), for ``UpdateRule.DL4J_LEGACY``."""
        raise NotImplementedError


#: A learning rate beyond this turns every parameter into inf or NaN at the first update.
MAX_LEARNING_RATE = 1e6


@positional("learning_rate")

@config
class Sgd(Updater):
    """Plain stochastic gradient descent (DL4J default learning rate 1e-3)."""

    learning_rate: float = 1e-3

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(list(params), lr=self.learning_rate)

    def build_legacy(self, groups: list[dict[str, Any]]) -> optim.LegacyOptimizer:
        return optim.LegacySgd(groups, lr=self.learning_rate)


@dataclasses.dataclass(kw_only=True)
class _AdamFamily(Updater):
    """Adam's hyper-parameters, shared by its variants; ``_optimizer`` is the torch class."""

    _optimizer: ClassVar[type[torch.optim.Optimizer]]
    _legacy: ClassVar[type[optim.LegacyAdam] | type[optim.LegacyNadam]]
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return self._optimizer(list(params), lr=self.learning_rate,  # type: ignore[call-arg]
                               betas=(self.beta1, self.beta2), eps=self.epsilon)

    def build_legacy(self, groups: list[dict[str, Any]]) -> optim.LegacyOptimizer:
        return self._legacy(groups, lr=self.learning_rate, beta1=self.beta1,
                            beta2=self.beta2, eps=self.epsilon)


@positional("learning_rate", "beta1", "beta2", "epsilon")
@config
class Adam(_AdamFamily):
    """Adam (torch.optim.Adam)."""

    _optimizer = torch.optim.Adam
    _legacy = optim.LegacyAdam


@positional("learning_rate", "beta1", "beta2", "epsilon")
@config
class Nadam(_AdamFamily):
    """Nesterov-accelerated Adam (torch.optim.NAdam with its default momentum decay)."""

    _optimizer = torch.optim.NAdam
    _legacy = optim.LegacyNadam


@positional("learning_rate", "rms_decay", "epsilon")
@config
class RmsProp(Updater):
    """RMSProp; ``rms_decay`` is torch's ``alpha`` (DL4J defaults: lr 0.1, decay 0.95)."""

    learning_rate: float = 1e-1
    rms_decay: float = 0.95
    epsilon: float = 1e-8

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.RMSprop(list(params), lr=self.learning_rate, alpha=self.rms_decay,
                                   eps=self.epsilon)

    def build_legacy(self, groups: list[dict[str, Any]]) -> optim.LegacyOptimizer:
        return optim.LegacyRmsProp(groups, lr=self.learning_rate, rms_decay=self.rms_decay,
                                   eps=self.epsilon)


@positional("learning_rate", "momentum")
@config
class Nesterovs(Updater):
    """SGD with Nesterov momentum (DL4J defaults: lr 0.1, momentum 0.9)."""

    learning_rate: float = 1e-1
    momentum: float = 0.9

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(list(params), lr=self.learning_rate, momentum=self.momentum,
                               nesterov=True)

    def build_legacy(self, groups: list[dict[str, Any]]) -> optim.LegacyOptimizer:
        return optim.LegacyNesterovs(groups, lr=self.learning_rate, momentum=self.momentum)


@positional("learning_rate", "epsilon")
@config
class AdaGrad(Updater):
    """AdaGrad (DL4J defaults: lr 0.1, epsilon 1e-6)."""

    learning_rate: float = 1e-1
    epsilon: float = 1e-6

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adagrad(list(params), lr=self.learning_rate, eps=self.epsilon)

    def build_legacy(self, groups: list[dict[str, Any]]) -> optim.LegacyOptimizer:
        return optim.LegacyAdaGrad(groups, lr=self.learning_rate, eps=self.epsilon)
