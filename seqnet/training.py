"""The fit loop: updaters, gradient normalisation, truncated BPTT, progress.

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
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from seqnet import distributed
from seqnet.conf._schema import to_dict
from seqnet.conf.enums import BackpropType, GradientNormalization
from seqnet.conf.layers import LastTimeStep
from seqnet.conf.updaters import Updater
from seqnet.errors import SeqNetError, TrainingError

if TYPE_CHECKING:
    from seqnet.network import MultiLayerNetwork, State

logger = logging.getLogger("seqnet")


def build_optimizers(net: MultiLayerNetwork) -> list[torch.optim.Optimizer]:
    """One torch optimiser per distinct updater (a layer's own, else the network's)."""
    groups: dict[str, tuple[Updater, list[torch.nn.Parameter]]] = {}
    for layer, module in zip(net.conf.layers, net.layers):
        inner = layer.layer if isinstance(layer, LastTimeStep) else layer
        updater = (inner.updater if inner is not None and inner.updater is not None
                   else layer.updater or net.conf.updater)
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            continue
        key = json.dumps(to_dict(updater), sort_keys=True)
        groups.setdefault(key, (updater, []))[1].extend(params)
    return [updater.build(params) for updater, params in groups.values()]


def optimizers(net: MultiLayerNetwork) -> list[torch.optim.Optimizer]:
    """The network's optimisers, built on first use."""
    if net._optimizers is None:
        net._optimizers = build_optimizers(net)
    return net._optimizers


def normalize_gradients(net: MultiLayerNetwork) -> None:
    """Apply each layer's DL4J gradient normalisation mode to its gradients in place."""
    for layer, module in zip(net.conf.layers, net.layers):
        inner = layer.layer if isinstance(layer, LastTimeStep) and layer.layer else layer
        mode = (inner.gradient_normalization or layer.gradient_normalization
                or net.conf.gradient_normalization)
        if mode == GradientNormalization.NONE:
            continue
        threshold = (inner.gradient_normalization_threshold
                     or layer.gradient_normalization_threshold
                     or net.conf.gradient_normalization_threshold)
        types = {k: [p.grad for p in ps if p.grad is not None]
                 for k, ps in module.param_types().items()}
        if mode == GradientNormalization.CLIP_ELEMENT_WISE_ABSOLUTE_VALUE:
            for grads in types.values():
                for g in grads:
                    g.clamp_(-threshold, threshold)
        elif mode in (GradientNormalization.RENORMALIZE_L2_PER_LAYER,
                      GradientNormalization.CLIP_L2_PER_LAYER):
            _scale([g for grads in types.values() for g in grads], mode, threshold)
        else:
            for grads in types.values():
                _scale(grads, mode, threshold)


def _scale(grads: list[torch.Tensor], mode: GradientNormalization, threshold: float) -> None:
    if not grads:
        return
    norm = torch.sqrt(sum((g * g).sum() for g in grads))  # type: ignore[arg-type]
    if mode in (GradientNormalization.RENORMALIZE_L2_PER_LAYER,
                GradientNormalization.RENORMALIZE_L2_PER_PARAM_TYPE):
        factor = torch.where(norm > 0, 1.0 / norm, torch.ones_like(norm))
    else:
        factor = torch.where(norm > threshold, threshold / norm, torch.ones_like(norm))
    for g in grads:
        g.mul_(factor)


def _update(net: MultiLayerNetwork, x: torch.Tensor, labels: torch.Tensor,
            fmask: torch.Tensor | None, lmask: torch.Tensor | None,
            states: dict[int, State] | None, detach_steps: int) -> dict[int, State]:
    """One parameter update; returns the recurrent layers' final states, detached."""
    opts = optimizers(net)
    for opt in opts:
        opt.zero_grad(set_to_none=True)
    data, new_states = net._data_loss(x, labels, fmask, lmask, states, detach_steps)
    if data.requires_grad:
        data.backward()
    # Every rank takes part, whatever its own numbers: a NaN anywhere reaches every rank's
    # union score and gradients below, so all of them stop together.
    data_score = distributed.average_gradients(net.parameters(), x.shape[0], data.detach())
    normalize_gradients(net)
    reg = net.regularization()
    if reg.requires_grad:
        reg.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    # One device-to-host copy per update for both checks.
    probe = torch.stack([g.sum() for g in grads]).sum() if grads else reg.detach()
    score, grad_sum = torch.stack((data_score + reg.detach(), probe.to(reg.dtype))).tolist()
    if not math.isfinite(score):
        raise TrainingError(f"fit: expected a finite score, found {score} at epoch "
                            f"{net.epoch_count}, iteration {net.iteration_count}")
    # An infinite input can give a finite score but non-finite gradients: refuse the update
    # before it damages the parameters.
    if grads and not math.isfinite(grad_sum):
        raise TrainingError(f"fit: expected finite gradients, found inf or NaN at epoch "
                            f"{net.epoch_count}, iteration {net.iteration_count} (check the "
                            f"features of this minibatch for inf or NaN)")
    for opt in opts:
        opt.step()
    net.iteration_count += 1
    net._last_score = score
    logger.debug("iteration %d: score %.6g", net.iteration_count, score)
    return {i: (h.detach(), c.detach()) for i, (h, c) in new_states.items()}


def fit_dataset(net: MultiLayerNetwork, ds: Any, common_steps: int | None = None) -> float:
    """Train on one minibatch: one update, or one per TBPTT segment. Returns the score.

    In a process group, ``common_steps`` is the longest T among the ranks' minibatches (agreed
    here when not given); a TBPTT minibatch is padded to it.
    """
    if distributed.is_distributed():
        _start_replicas(net)
    x, labels, fmask, lmask = net._dataset_tensors(ds)
    if net.conf.backprop_type != BackpropType.TRUNCATED_BPTT or x.dim() != 3:
        _update(net, x, labels, fmask, lmask, None, 0)
        return net._last_score
    steps = x.shape[2]
    if labels.dim() != 3 or labels.shape[2] != steps:
        raise SeqNetError(f"truncated BPTT: expected labels with the features' {steps} steps, "
                          f"found shape {list(labels.shape)}")
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
        states = _update(net, x[:, :, cut], labels[:, :, cut],
                         None if fmask is None else fmask[:, cut],
                         None if lmask is None else lmask[:, cut],
                         states, max(0, end - start - k2))
    net.rnn_clear_previous_state()
    return net._last_score


def _start_replicas(net: MultiLayerNetwork) -> None:
    """Every rank takes rank 0's parameters, once per network and process group (as DDP does
    when it wraps a module), so ranks agree even when their initialisation differed."""
    group = torch.distributed.group.WORLD
    if net._replica_group is not group:
        distributed.broadcast_parameters(net.parameters())
        net._replica_group = group


def pad_steps(x: torch.Tensor, labels: torch.Tensor, fmask: torch.Tensor | None,
              lmask: torch.Tensor | None, steps: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``[N, C, T]`` features and labels zero-padded at the end to ``steps``, with masks that
    are 0 on the padding (see NOTE [ TBPTT in lock-step ] in :mod:`seqnet.distributed`).

    A missing features mask becomes ones on the real steps; a missing labels mask stays
    missing, so the loss is masked by the features mask as before.

    >>> x = torch.ones(1, 2, 2); y = torch.ones(1, 3, 2)
    >>> px, py, fm, lm = pad_steps(x, y, None, None, 3)
    >>> px.shape, py.shape, fm.tolist(), lm
    (torch.Size([1, 2, 3]), torch.Size([1, 3, 3]), [[1.0, 1.0, 0.0]], None)
    """
    extra = steps - x.shape[2]
    if extra <= 0:
        return x, labels, fmask, lmask
    if fmask is None:
        fmask = torch.ones(x.shape[0], x.shape[2], dtype=x.dtype, device=x.device)
    pad = torch.nn.functional.pad
    return (pad(x, (0, extra)), pad(labels, (0, extra)), pad(fmask, (0, extra)),
            None if lmask is None else pad(lmask, (0, extra)))


def epoch_batches(data: Iterable[Any]) -> Iterator[Any]:
    """One epoch of DataSets from ``data``, started from the beginning.

    seqdata's iterators reset themselves when iterated; an object with only DL4J's
    ``reset / has_next / next`` is reset explicitly.
    """
    if hasattr(data, "__iter__"):
        yield from data
        return
    if not (hasattr(data, "has_next") and hasattr(data, "next")):
        raise SeqNetError(f"fit: expected a DataSet or a DataSet iterator, found "
                          f"{type(data).__name__}")
    if hasattr(data, "reset"):
        data.reset()
    while data.has_next():
        yield data.next()


def fit_iterator(net: MultiLayerNetwork, data: Iterable[Any], epochs: int,
                 progress: bool) -> None:
    """``epochs`` passes over ``data``, each from the start, with a progress bar.

    In a process group each rank trains on its shard (:func:`seqnet.distributed.epoch_parts`)
    in lock-step with the others; only the writer shows progress and logs.
    """
    writer = distributed.is_writer()
    for part in distributed.epoch_parts(data, epochs):
        try:
            total = len(part)
        except TypeError:
            total = None
        with tqdm(total=total, desc=f"epoch {net.epoch_count + 1}",
                  disable=not (progress and writer), leave=False, unit="batch") as bar:
            for ds, steps in distributed.lockstep(epoch_batches(part), net.device):
                score = fit_dataset(net, ds, steps)
                bar.update(1)
                bar.set_postfix(score=f"{score:.5g}", refresh=False)
        net.epoch_count += 1
        if writer:
            logger.info("epoch %d done: iteration %d, score %.6g", net.epoch_count,
                        net.iteration_count, net._last_score)
