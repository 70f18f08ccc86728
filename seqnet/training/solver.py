"""The :class:`Solver`: what one network's training remembers, and the updates it makes.

# NOTE [ What one update does ]
# zero grads -> data loss (masked sum / N) backward -> in a process group, the example-weighted
# average over ranks (seqnet.distributed) -> DL4J gradient normalisation per layer
# -> regularisation backward (l1/l2 after clipping, as DL4J applies it inside the updater)
# -> NaN check -> optimiser steps. Without clipping the gradient is exactly that of
# score = data loss + regularisation, over the union of every rank's minibatch.

Under ``torch.distributed`` (see :mod:`seqnet.distributed`) an iterator is sharded by rank,
parameters start from rank 0's, gradients are averaged before every update, and TBPTT
minibatches are padded to the longest T among the ranks so segment updates stay in
lock-step.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from typing import Any, Protocol

import torch
from torch import nn

from seqnet import distributed
from seqnet.conf.enums import BackpropType, UpdateRule
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.schema import to_dict
from seqnet.conf.updaters import Updater
from seqnet.errors import SeqNetError, StateError, TrainingError
from seqnet.nn.base import LayerStack, State
from seqnet.training.batches import epoch_batches, pad_steps
from seqnet.training.listeners import TrainingListener
from seqnet.training.normalization import normalize_gradients
from seqnet.training.progress import progress as progress_reporter

logger = logging.getLogger("seqnet")

Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]


class Trainable(Protocol):
    """What a :class:`Solver` needs of a network (``MultiLayerNetwork`` provides it)."""

    conf: MultiLayerConfiguration
    iteration_count: int
    epoch_count: int

    @property
    def layers(self) -> LayerStack: ...

    @property
    def device(self) -> torch.device: ...

    def parameters(self) -> list[nn.Parameter]: ...

    def dataset_tensors(self, ds: Any) -> Tensors: ...

    def data_loss(self, x: torch.Tensor, labels: torch.Tensor, fmask: torch.Tensor | None,
                  lmask: torch.Tensor | None, states: dict[int, State] | None = None,
                  detach_steps: int = 0, average: bool = True
                  ) -> tuple[torch.Tensor, dict[int, State]]: ...

    def regularization(self) -> torch.Tensor: ...

    def rnn_clear_previous_state(self) -> None: ...


def rule_score(rule: UpdateRule, loss_sum: torch.Tensor, reg: torch.Tensor,
               n: int) -> torch.Tensor:
    """The score of a minibatch of ``n`` examples under ``rule`` (see :class:`UpdateRule`).

    >>> float(rule_score(UpdateRule.STANDARD, torch.tensor(6.0), torch.tensor(1.0), 3))
    3.0
    >>> float(rule_score(UpdateRule.DL4J_LEGACY, torch.tensor(6.0), torch.tensor(1.0), 3))
    2.3333332538604736
    """
    if rule == UpdateRule.DL4J_LEGACY:
        return (loss_sum + reg) / n
    return loss_sum / n + reg


class Solver:
    """The fit loop of one network (DL4J's ``Solver``): its optimisers (one per distinct
    updater, built on first use), the score of the last update and of the last epoch, and the
    process group its parameters were last broadcast in."""

    def __init__(self, net: Trainable) -> None:
        self.net = net
        self.last_score = float("nan")
        #: The example-weighted mean score of the last epoch ``fit_iterator`` ran (with
        #: TBPTT, of each minibatch's last segment), over every rank in a process group.
        self.last_epoch_score = float("nan")
        self._optimizers: list[torch.optim.Optimizer] | None = None
        self._replica_group: Any = None
        self._listeners: list[TrainingListener] = []

    # ------------------------------------------------------------------ listeners

    @property
    def listeners(self) -> list[TrainingListener]:
        """The training listeners, called in this order (a copy)."""
        return list(self._listeners)

    def set_listeners(self, *listeners: TrainingListener | Iterable[TrainingListener]) -> None:
        """Replace the listeners (DL4J's ``setListeners``): each argument a listener or a list
        of them; none clears them."""
        flat: list[Any] = []
        for item in listeners:
            flat.extend(item if isinstance(item, (list, tuple)) else [item])
        for item in flat:
            if not isinstance(item, TrainingListener):
                raise SeqNetError(f"set_listeners: expected TrainingListener objects, found "
                                  f"{type(item).__name__}")
        self._listeners = flat

    def add_listeners(self, *listeners: TrainingListener) -> None:
        """Append listeners to those already set."""
        self.set_listeners(self._listeners, list(listeners))

    # ------------------------------------------------------------------ updaters

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """One torch optimiser per distinct updater (a layer's own, else the network's)."""
        if self._optimizers is None:
            conf = self.net.conf
            legacy = conf.update_rule == UpdateRule.DL4J_LEGACY
            groups: dict[str, tuple[Updater, list[Any]]] = {}
            for i, module in enumerate(self.net.layers):
                updater = conf.layer_setting(i, "updater")
                params = [p for p in module.parameters() if p.requires_grad]
                if not params:
                    continue
                key = json.dumps(to_dict(updater), sort_keys=True)
                entry = groups.setdefault(key, (updater, []))[1]
                if not legacy:
                    entry.extend(params)
                    continue
                # DL4J's l1/l2 act on the update of weights only (NOTE in seqnet.optim).
                weights = {id(w) for w in module.weight_params()}
                entry.append({"params": [p for p in params if id(p) in weights],
                              "l1": float(conf.layer_setting(i, "l1")),
                              "l2": float(conf.layer_setting(i, "l2"))})
                entry.append({"params": [p for p in params if id(p) not in weights]})
            self._optimizers = [updater.build_legacy([g for g in entries if g["params"]])
                                if legacy else updater.build(entries)
                                for updater, entries in groups.values()]
        return self._optimizers

    def updater_state(self) -> list[dict[str, Any]] | None:
        """The optimisers' state dicts, or ``None`` before the first update built them."""
        if self._optimizers is None:
            return None
        return [opt.state_dict() for opt in self._optimizers]

    def set_updater_state(self, states: list[dict[str, Any]]) -> None:
        """Load what :meth:`updater_state` returned (building the optimisers first)."""
        opts = self.optimizers()
        if not isinstance(states, list) or len(states) != len(opts):
            found = len(states) if isinstance(states, list) else repr(states)
            raise StateError(f"expected {len(opts)} optimiser states, found {found}")
        try:
            for opt, state in zip(opts, states):
                opt.load_state_dict(state)
        except (ValueError, KeyError, TypeError) as e:
            raise StateError(f"the updater state does not fit the network: {e}") from None

    def parameter_states(self) -> dict[nn.Parameter, dict[str, torch.Tensor]]:
        """Each parameter's updater state (e.g. ``{"M": ..., "V": ...}`` under
        ``UpdateRule.DL4J_LEGACY``'s Adam), for the parameters that have one."""
        return {p: dict(state) for opt in self.optimizers() for p, state in opt.state.items()
                if isinstance(p, nn.Parameter)}

    def set_parameter_states(self, states: dict[nn.Parameter, dict[str, torch.Tensor]]) -> None:
        """Set the updater state of the given parameters (replacing what they had)."""
        owner = {p: opt for opt in self.optimizers() for group in opt.param_groups
                 for p in group["params"]}
        for p, state in states.items():
            if p not in owner:
                raise StateError("set_parameter_states: a parameter that no updater of this "
                                 "network trains")
            owner[p].state[p] = {k: v.to(p.device, p.dtype) for k, v in state.items()}

    def to(self, device: torch.device) -> None:
        """Move the updater state to ``device``."""
        for opt in self._optimizers or []:
            for state in opt.state.values():
                for key, value in state.items():
                    if isinstance(value, torch.Tensor) and value.dim() > 0:
                        state[key] = value.to(device)

    # ------------------------------------------------------------------ fitting

    def fit_dataset(self, ds: Any, common_steps: int | None = None) -> float:
        """Train on one minibatch: one update, or one per TBPTT segment. Returns the score.

        In a process group, ``common_steps`` is the longest T among the ranks' minibatches
        (agreed here when not given); a TBPTT minibatch is padded to it.
        """
        net = self.net
        if distributed.is_distributed():
            self._start_replicas()
        x, labels, fmask, lmask = net.dataset_tensors(ds)
        if net.conf.backprop_type != BackpropType.TRUNCATED_BPTT or x.dim() != 3:
            self._update(x, labels, fmask, lmask, None, 0)
            return self.last_score
        steps = x.shape[2]
        if labels.dim() != 3 or labels.shape[2] != steps:
            raise SeqNetError(f"truncated BPTT: expected labels with the features' {steps} "
                              f"steps, found shape {list(labels.shape)}")
        if distributed.is_distributed():
            if common_steps is None:
                common_steps = distributed.agree_on_batch(True, steps, net.device)[1]
            x, labels, fmask, lmask = pad_steps(x, labels, fmask, lmask, common_steps)
            steps = common_steps
        k1, k2 = net.conf.tbptt_forward_length, net.conf.tbptt_backward_length
        states: dict[int, State] | None = None
        net.rnn_clear_previous_state()
        for start in range(0, steps, k1):
            end = min(start + k1, steps)
            cut = slice(start, end)
            states = self._update(x[:, :, cut], labels[:, :, cut],
                                  None if fmask is None else fmask[:, cut],
                                  None if lmask is None else lmask[:, cut],
                                  states, max(0, end - start - k2))
        net.rnn_clear_previous_state()
        return self.last_score

    def fit_iterator(self, data: Iterable[Any], epochs: int, progress: bool) -> None:
        """``epochs`` passes over ``data``, each from the start, with a progress bar on a
        terminal (log lines elsewhere: :mod:`seqnet.training.progress`).

        In a process group each rank trains on its shard (:func:`seqnet.distributed.epoch_parts`)
        in lock-step with the others; only the writer shows progress and logs.
        """
        net = self.net
        writer = distributed.is_writer()
        for part in distributed.epoch_parts(data, epochs):
            try:
                total = len(part)
            except TypeError:
                total = None
            weighted, examples = 0.0, 0.0
            for listener in self._listeners:
                listener.on_epoch_start(net)
            with progress_reporter(total, f"epoch {net.epoch_count + 1}",
                                   enabled=progress and writer) as bar:
                for ds, steps in distributed.lockstep(epoch_batches(part), net.device):
                    score = self.fit_dataset(ds, steps)
                    n = int(ds.features.shape[0])
                    weighted += score * n
                    examples += n
                    bar.update(1, score=score)
            # Every rank reports the union minibatch's score, so summing score * n_r and n_r
            # over ranks weights it by the union's examples.
            weighted, examples = distributed.sum_over_ranks([weighted, examples])
            self.last_epoch_score = weighted / examples if examples else float("nan")
            net.epoch_count += 1
            if writer:
                logger.info("epoch %d done: iteration %d, score %.6g", net.epoch_count,
                            net.iteration_count, self.last_score)
            for listener in self._listeners:
                listener.on_epoch_end(net)

    # ------------------------------------------------------------------ one update

    def _update(self, x: torch.Tensor, labels: torch.Tensor, fmask: torch.Tensor | None,
                lmask: torch.Tensor | None, states: dict[int, State] | None,
                detach_steps: int) -> dict[int, State]:
        """One parameter update; returns the recurrent layers' final states, detached."""
        net = self.net
        if net.conf.update_rule == UpdateRule.DL4J_LEGACY:
            return self._legacy_update(x, labels, fmask, lmask, states, detach_steps)
        opts = self.optimizers()
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        data, new_states = net.data_loss(x, labels, fmask, lmask, states, detach_steps)
        if data.requires_grad:
            data.backward()
        # Every rank takes part, whatever its own numbers: a NaN anywhere reaches every rank's
        # union score and gradients below, so all of them stop together.
        params = net.parameters()
        data_score = distributed.average_gradients(params, x.shape[0], data.detach())
        normalize_gradients(net.conf, net.layers)
        reg = net.regularization()
        if reg.requires_grad:
            reg.backward()
        grads = [p.grad for p in params if p.grad is not None]
        self._step(opts, data_score + reg.detach(), grads, reg.dtype)
        return {i: (h.detach(), c.detach()) for i, (h, c) in new_states.items()}

    def _legacy_update(self, x: torch.Tensor, labels: torch.Tensor, fmask: torch.Tensor | None,
                       lmask: torch.Tensor | None, states: dict[int, State] | None,
                       detach_steps: int) -> dict[int, State]:
        """One update by ``UpdateRule.DL4J_LEGACY`` (NOTE [ The legacy DL4J update ] in
        :mod:`seqnet.optim`)."""
        net = self.net
        if distributed.is_distributed():
            raise TrainingError("fit: the DL4J_LEGACY update rule trains in one process; use "
                                "UpdateRule.STANDARD under torch.distributed")
        opts = self.optimizers()
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        loss_sum, new_states = net.data_loss(x, labels, fmask, lmask, states, detach_steps,
                                             average=False)
        if loss_sum.requires_grad:
            loss_sum.backward()
        normalize_gradients(net.conf, net.layers)
        with torch.no_grad():
            reg = net.regularization()
        n = x.shape[0]
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        self._step(opts, rule_score(UpdateRule.DL4J_LEGACY, loss_sum.detach(), reg, n), grads,
                   reg.dtype, {"iteration": net.iteration_count, "minibatch": n})
        return {i: (h.detach(), c.detach()) for i, (h, c) in new_states.items()}

    def _step(self, opts: list[torch.optim.Optimizer], score_tensor: torch.Tensor,
              grads: list[torch.Tensor], dtype: torch.dtype,
              step_args: dict[str, int] | None = None) -> None:
        """Refuse a non-finite score or gradient, then step every optimiser and count the
        iteration."""
        net = self.net
        # One device-to-host copy per update for both checks.
        probe = torch.stack([g.sum() for g in grads]).sum() if grads else score_tensor
        score, grad_sum = torch.stack((score_tensor, probe.to(dtype))).tolist()
        if not math.isfinite(score):
            raise TrainingError(f"fit: expected a finite score, found {score} at epoch "
                                f"{net.epoch_count}, iteration {net.iteration_count}")
        # An infinite input can give a finite score but non-finite gradients: refuse the
        # update before it damages the parameters.
        if grads and not math.isfinite(grad_sum):
            raise TrainingError(f"fit: expected finite gradients, found inf or NaN at epoch "
                                f"{net.epoch_count}, iteration {net.iteration_count} (check "
                                f"the features of this minibatch for inf or NaN)")
        for opt in opts:
            opt.step(**(step_args or {}))  # type: ignore[call-overload]
        net.iteration_count += 1
        self.last_score = score
        logger.debug("iteration %d: score %.6g", net.iteration_count, score)
        for listener in self._listeners:
            listener.iteration_done(net, net.iteration_count, net.epoch_count)

    def _start_replicas(self) -> None:
        """Every rank takes rank 0's parameters, once per network and process group (as DDP
        does when it wraps a module), so ranks agree even when their initialisation
        differed."""
        group = torch.distributed.group.WORLD
        if self._replica_group is not group:
            distributed.broadcast_parameters(self.net.parameters())
            self._replica_group = group
