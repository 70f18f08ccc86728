"""Data-parallel training on ``torch.distributed``: ranks, gradient averaging, merged
evaluations, and a launcher for N local processes.

Every function is a no-op outside a process group of more than one process, so single-process
code needs no branches: rank 0 of 1 is the writer.

>>> is_distributed(), rank(), world_size(), is_writer()
(False, 0, 1, True)

How a run joins a group: ``torchrun`` (one or many nodes) or :func:`launch` (N local
processes) set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_from_env` reads them and initialises the default group (gloo on the CPU, nccl with
one GPU per process). From then on ``MultiLayerNetwork.fit``, ``evaluate`` and
``evaluate_regression`` work on this rank's shard and combine with the other ranks::

    def main() -> None:                  # runs in every process
        distributed.init_from_env()
        net = MultiLayerNetwork(conf); net.init()
        net.fit(train_iterator, epochs=10)         # this rank's shard, gradients averaged
        evaluation = net.evaluate(test_iterator)   # merged: the same on every rank
        if distributed.is_writer():
            net.save("model.zip")

    distributed.launch(main, 4)          # or, in a script: torchrun --nproc-per-node 4 ...

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

# NOTE [ TBPTT in lock-step ]
# Each TBPTT segment is one update, hence one all-reduce: every rank must cut its minibatch
# into the same number of segments. Before each minibatch the ranks agree (one small
# all-reduce) on the longest T among them, and a rank with shorter sequences pads its
# minibatch at the end to that T with masked steps, exactly as DataSet.merge pads the union
# minibatch a single process would train on. Masked steps add 0 to loss and gradient and reset
# the recurrent state, so the padding changes no loss; as in the union minibatch, a segment
# holding padding back-propagates through its last k2 steps counting the padded ones. The same
# agreement checks that every rank still has a minibatch, and stops all of them with an error
# (instead of a hang) when one has run out.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from seqnet.errors import SeqNetError, TrainingError

log = logging.getLogger("seqnet")

T = TypeVar("T")

#: How long a rank waits for the others in one collective before giving up.
TIMEOUT = datetime.timedelta(minutes=30)


class DistributedError(SeqNetError):
    """The process group cannot be set up, or a process of a launched group failed."""


# --------------------------------------------------------------------------- who am I

def is_distributed() -> bool:
    """``True`` inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes in the group (1 outside a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_writer() -> bool:
    """Whether this process writes checkpoints, metrics and plots: rank 0, or the only one."""
    return rank() == 0


def local_device(device: torch.device) -> torch.device:
    """``device`` for this process: a bare ``cuda`` becomes ``cuda:LOCAL_RANK`` in a group.

    >>> local_device(torch.device("cpu"))
    device(type='cpu')
    """
    if device.type == "cuda" and device.index is None and is_distributed():
        return torch.device("cuda", _env_int("LOCAL_RANK", 0))
    return device


# --------------------------------------------------------------------------- joining

def init_from_env(device: torch.device | str | None = None) -> bool:
    """Join the process group described by the environment, as ``torchrun`` sets it.

    Does nothing (and returns ``False``) when ``WORLD_SIZE`` is unset or 1, or a group is
    already initialised. Otherwise needs ``RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
    ``LOCAL_RANK`` picks the GPU. The backend is nccl when ``device`` is a CUDA device (default:
    when CUDA is available), else gloo. Returns ``True`` when it initialised the group.
    """
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        return False
    if not dist.is_available():
        raise DistributedError("WORLD_SIZE > 1 asks for a process group, but this torch "
                               "build has no torch.distributed")
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise DistributedError(f"WORLD_SIZE={size}: expected {', '.join(missing)} in the "
                               "environment too (start the processes with torchrun or "
                               "seqnet train --nproc-per-node)")
    cuda = (torch.device(device).type == "cuda" if device is not None
            else torch.cuda.is_available())
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(_env_int("LOCAL_RANK", 0))
    try:
        dist.init_process_group(backend, init_method="env://", world_size=size,
                                rank=_env_int("RANK", 0), timeout=TIMEOUT)
    except (RuntimeError, ValueError) as e:
        raise DistributedError(f"cannot join the process group at {os.environ['MASTER_ADDR']}:"
                               f"{os.environ['MASTER_PORT']} as rank {os.environ['RANK']} of "
                               f"{size} ({backend}): {e}") from e
    log.info("rank %d of %d joined the process group (%s)", dist.get_rank(), size, backend)
    return True


def shutdown(synchronize: bool = False) -> None:
    """Leave the process group, if one is initialised.

    ``synchronize=True`` (the normal end of a run) first waits for every rank: rank 0 hosts
    the rendezvous store that the others still talk to while they leave, and a rank that
    left early could abort them. After an error there is no waiting: the other ranks may be
    inside a collective that will never complete. A rank whose peer failed meanwhile finds the
    final barrier broken; that is logged, not raised, so the failing rank's own error is the one
    reported.
    """
    if dist.is_available() and dist.is_initialized():
        if synchronize:
            try:
                barrier()
            except RuntimeError as e:  # gloo/nccl report a vanished peer as RuntimeError
                log.warning("rank %d: the final barrier failed (%s); leaving anyway",
                            dist.get_rank(), str(e).splitlines()[0] if str(e) else "no message")
        dist.destroy_process_group()


def _env_int(key: str, default: int) -> int:
    value = os.environ.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"environment variable {key}: expected an integer, found "
                               f"{value!r}") from None


# --------------------------------------------------------------------------- launching

def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(fn: Callable[..., Any], nproc_per_node: int, args: Sequence[Any] = ()) -> None:
    """Run ``fn(*args)`` in ``nproc_per_node`` new local processes, as ``torchrun`` would.

    Each process gets ``RANK`` = ``LOCAL_RANK`` (0 .. N-1), ``WORLD_SIZE`` = N,
    ``MASTER_ADDR=127.0.0.1`` and a free ``MASTER_PORT``, and ``torch`` threads = cores / N;
    ``fn`` joins the group with :func:`init_from_env` (so the same ``fn`` runs under
    ``torchrun``), and the group is shut down when it returns. ``fn`` must be picklable (a
    module-level function): the processes are spawned. If any process fails, the others are
    stopped and a :class:`DistributedError` names the rank and its last error line.
    """
    if isinstance(nproc_per_node, bool) or not isinstance(nproc_per_node, int) \
            or nproc_per_node < 1:
        raise DistributedError(f"nproc_per_node: expected a positive integer, found "
                               f"{nproc_per_node!r}")
    port = free_port()
    try:
        torch.multiprocessing.start_processes(
            _local_process, args=(fn, tuple(args), nproc_per_node, port),
            nprocs=nproc_per_node, join=True, start_method="spawn")
    except torch.multiprocessing.ProcessRaisedException as e:
        lines = [line for line in str(e).splitlines() if line.strip()]
        raise DistributedError(f"rank {e.error_index} failed: "
                               f"{lines[-1].strip() if lines else 'no message'}") from None
    except torch.multiprocessing.ProcessExitedException as e:
        how = f"signal {e.signal_name}" if e.signal_name else f"exit code {e.exit_code}"
        raise DistributedError(f"rank {e.error_index} stopped with {how}") from None


def _local_process(local_rank: int, fn: Callable[..., Any], args: tuple[Any, ...],
                   nproc: int, port: int) -> None:
    os.environ.update(RANK=str(local_rank), LOCAL_RANK=str(local_rank),
                      WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if "OMP_NUM_THREADS" not in os.environ:
        # N processes with one thread per core each would fight over the cores.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    try:
        fn(*args)
    except BaseException:
        shutdown()
        raise
    shutdown(synchronize=True)
    exit_process()


def exit_process() -> None:
    """End a rank's process after it left the group: exit handlers run, C++ teardown not.

    # NOTE [ Leaving a rank with os._exit ]
    A normal interpreter exit runs C++ static destructors, and one of torch's background
    threads is sometimes still joinable then: "terminate called without an active exception",
    SIGABRT, about one run in five on 2 cores. So the Python-level exit handlers run (they
    release multiprocessing semaphores, flush logging), and the process then leaves without
    the C++ teardown, as multiprocessing's own forked children do.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# --------------------------------------------------------------------------- data

def _is_shard(iterator: Any) -> bool:
    # seqdata iterators say which shard they are (world size 1: all of the data); anything
    # without the attribute counts as unsharded.
    return getattr(iterator, "world_size", 1) > 1


def _shardable(data: Any) -> bool:
    return hasattr(data, "shard") and hasattr(data, "set_epoch") and not _is_shard(data)


def shard(data: Any) -> Any:
    """This rank's part of a seqdata iterator (``data.shard(rank, world_size)``); ``data``
    itself outside a process group, or when it is already a shard or has no ``shard``."""
    return data.shard(rank(), world_size()) if is_distributed() and _shardable(data) else data


def epoch_parts(data: Any, epochs: int) -> Iterator[Any]:
    """What this rank trains on in each of ``epochs`` epochs of ``data``.

    A seqdata iterator is split with ``shard(rank, world_size)`` once, and each epoch starts
    with ``set_epoch`` at the epoch ``data`` itself would be in (so the shuffle of epoch e is
    the one a single process sees); afterwards ``data`` starts its next pass at the epoch it
    would after a single-process run. An iterator that is already a shard, or anything
    without ``shard`` (a DataLoader over a ``DistributedSampler``, say), is taken to be this
    rank's part.
    Outside a process group: ``data`` itself, every epoch.
    """
    if not is_distributed() or not _shardable(data):
        for _ in range(epochs):
            yield data
        return
    data.reset()                 # the epoch a single-process `for ds in data` would run next
    first = data.epoch
    part = shard(data)
    for k in range(epochs):
        part.set_epoch(first + k)
        yield part
    data.set_epoch(first + epochs)


def evaluation_part(data: Any) -> tuple[Any, bool]:
    """What this rank evaluates, and whether the results must be merged across ranks.

    A seqdata iterator is sharded; when it cannot be (too few sequences for equal shards)
    every rank evaluates all of it and nothing is merged. An iterator that is already a
    shard, or anything without ``shard``, is this rank's part and is merged.
    """
    if not is_distributed():
        return data, False
    if _shardable(data):
        from seqdata.errors import SeqDataError

        try:
            return shard(data), True
        except SeqDataError as e:
            log.info("evaluating all of the data on every rank (%s)", e)
            return data, False
    return data, True


def lockstep(batches: Iterable[T], device: torch.device | None = None
             ) -> Iterator[tuple[T, int | None]]:
    """The minibatches of one epoch, each with the longest T over all ranks' minibatches.

    Outside a process group the T is ``None``. In one, every rank must yield the same number
    of minibatches (see NOTE [ TBPTT in lock-step ]); otherwise every rank raises
    :class:`~seqnet.errors.TrainingError` at the first minibatch one of them lacks.
    """
    if not is_distributed():
        for ds in batches:
            yield ds, None
        return
    for ds in _then_none(batches):
        any_left, longest = agree_on_batch(ds is not None, _steps(ds), device)
        if not any_left:
            return
        assert ds is not None        # agree_on_batch raised if only some ranks had one
        yield ds, longest


def _then_none(items: Iterable[T]) -> Iterator[T | None]:
    yield from items
    yield None


def _steps(ds: Any) -> int:
    features = getattr(ds, "features", None)
    return int(features.shape[2]) if features is not None and features.ndim == 3 else 0


def agree_on_batch(has_batch: bool, steps: int, device: torch.device | None = None
                   ) -> tuple[bool, int]:
    """One all-reduce: whether the ranks have a next minibatch, and the longest T among them.

    Raises :class:`~seqnet.errors.TrainingError` on every rank when some have a minibatch and
    others not.
    """
    t = torch.tensor([float(has_batch), float(not has_batch), float(steps)],
                     dtype=torch.float64, device=_comm_device(device))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    some, some_not, longest = (float(v) for v in t.cpu())
    if some and some_not:
        raise TrainingError(f"rank {rank()} {'has a' if has_batch else 'has no'} next minibatch "
                            f"but another rank {'has none' if has_batch else 'has one'}; every "
                            f"rank needs the same number of minibatches per epoch (use "
                            f"iterator.shard(rank, world_size))")
    return bool(some), int(longest)


# --------------------------------------------------------------------------- gradients

def _comm_device(device: torch.device | None) -> torch.device:
    """Where collective buffers live: nccl needs the GPU, gloo works on the CPU."""
    if device is not None and dist.get_backend() == "nccl":
        return device
    return torch.device("cpu")


def broadcast_parameters(params: Sequence[torch.Tensor]) -> None:
    """Give every rank rank 0's parameter values (in place), in one broadcast."""
    if not is_distributed() or not params:
        return
    device = params[0].device
    flat = torch.cat([p.detach().reshape(-1) for p in params]).to(_comm_device(device))
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
    flat = torch.cat([*pieces, tail]).to(_comm_device(like.device))
    dist.all_reduce(flat)
    flat = flat.to(like.device)
    total = flat[-len(params) - 2]
    offset = 0
    for p, piece, anywhere in zip(params, pieces, flat[-len(params):].tolist()):
        n = piece.numel()
        p.grad = (flat[offset:offset + n] / total).view_as(p) if anywhere else None
        offset += n
    return (flat[-len(params) - 1] / total).to(loss.dtype)


# --------------------------------------------------------------------------- evaluation

def merge_over_ranks(evaluation: T) -> T:
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
                     device=_comm_device(_gpu_or_none()))
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
