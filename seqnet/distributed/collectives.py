"""The collectives: gradient averaging, parameter broadcast, agreeing on the next minibatch,
merging evaluations, sums and barriers. Each is a no-op outside a process group.

>>> sum_over_ranks([1, 2.5])
[1.0, 2.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import torch
import torch.distributed as dist

from seqnet.distributed.process import is_distributed, rank, world_size
from seqnet.errors import TrainingError


class Mergeable(Protocol):
    """What :func:`merge_over_ranks` combines: ``Evaluation``, ``RegressionEvaluation``."""

    def merge(self, other: Any) -> None: ...


M = TypeVar("M", bound=Mergeable)

# NOTE [ Why an explicit all-reduce and not DistributedDataParallel ]
# The contract is that W ranks training on the shards of a minibatch make exactly the update
# one process makes on their union (score = masked loss sum / N, N the union's sequences).
# shard() gives ranks minibatches whose sizes differ by one, so the union gradient is the
# example-weighted mean  sum_r n_r g_r / sum_r n_r,  not DDP's plain mean over ranks. DL4J's
# gradient normalisation (clipping) must see that union gradient, and regularisation is added
# after it, so the averaging sits between the data backward and the clipping: fit() sums
# n_r * g_r, n_r and n_r * loss_r in one flat all-reduce per update (DDP's single bucket) and
# divides. The network runs layer by layer (TBPTT heads under no_grad, recurrent state
# carried between segments) rather than through one module forward that DDP could wrap.
# Parameters are broadcast from rank 0 before the first update, as DDP does when it wraps a
# module, so ranks start equal even without conf.seed.


def comm_device(device: torch.device | None) -> torch.device:
    """Where collective buffers live: nccl needs the GPU, gloo works on the CPU."""
    if device is not None and dist.get_backend() == "nccl":
        return device
    return torch.device("cpu")


def broadcast_parameters(params: Sequence[torch.Tensor]) -> None:
    """Give every rank rank 0's parameter values (in place), in one broadcast."""
    if not is_distributed() or not params:
        return
    device = params[0].device
    flat = torch.cat([p.detach().reshape(-1) for p in params]).to(comm_device(device))
    dist.broadcast(flat, src=0)
    offset = 0
    with torch.no_grad():
        for p in params:
            p.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()


def average_gradients(params: Sequence[torch.Tensor], examples: int,
                      loss: torch.Tensor) -> torch.Tensor:
    """Make each gradient the union minibatch's, ``sum_r n_r g_r / sum_r n_r``; return the
    union loss ``sum_r n_r loss_r / sum_r n_r``.

    ``examples`` is this rank's ``n_r`` (the N its loss was divided by), ``loss`` its data
    loss. A parameter without a gradient on every rank keeps none (an optimiser skips it, as
    it would in one process); one with a gradient on some rank gets the average (zeros count
    for the others). One all-reduce of one flat buffer.
    """
    if not is_distributed():
        return loss
    like = params[0] if params else loss
    present = [p.grad is not None for p in params]
    pieces = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) * examples
              for p in params]
    tail = torch.tensor([float(examples), float(loss) * examples, *map(float, present)],
                        dtype=like.dtype, device=like.device)
    flat = torch.cat([*pieces, tail]).to(comm_device(like.device))
    dist.all_reduce(flat)
    flat = flat.to(like.device)
    total = flat[-len(params) - 2]
    offset = 0
    for p, piece, anywhere in zip(params, pieces, flat[-len(params):].tolist()):
        n = piece.numel()
        p.grad = (flat[offset:offset + n] / total).view_as(p) if anywhere else None
        offset += n
    return (flat[-len(params) - 1] / total).to(loss.dtype)


def agree_on_batch(has_batch: bool, steps: int, device: torch.device | None = None
                   ) -> tuple[bool, int]:
    """One all-reduce: whether the ranks have a next minibatch, and the longest T among them.

    Raises :class:`~seqnet.errors.TrainingError` on every rank when some have a minibatch and
    others not.
    """
    t = torch.tensor([float(has_batch), float(not has_batch), float(steps)],
                     dtype=torch.float64, device=comm_device(device))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    some, some_not, longest = (float(v) for v in t.cpu())
    if some and some_not:
        raise TrainingError(f"rank {rank()} {'has a' if has_batch else 'has no'} next minibatch "
                            f"but another rank {'has none' if has_batch else 'has one'}; every "
                            f"rank needs the same number of minibatches per epoch (use "
                            f"iterator.shard(rank, world_size))")
    return bool(some), int(longest)


def merge_over_ranks(evaluation: M) -> M:
    """The merge of every rank's ``evaluation`` (an ``Evaluation`` or
    ``RegressionEvaluation``), in rank order, so every rank holds the same result."""
    if not is_distributed():
        return evaluation
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, evaluation)
    merged = type(evaluation)()
    for part in gathered:
        merged.merge(part)
    return merged


def sum_over_ranks(values: Sequence[float]) -> list[float]:
    """Element-wise sums of ``values`` over the ranks (float64); ``values`` outside a group."""
    if not is_distributed():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                     device=comm_device(_gpu_or_none()))
    dist.all_reduce(t)
    return [float(v) for v in t.cpu()]


def barrier() -> None:
    """Wait until every rank gets here (a no-op outside a group)."""
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def _gpu_or_none() -> torch.device | None:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() \
        else None
