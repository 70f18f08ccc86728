"""Starting N local processes that run one function as the ranks of a group, as ``torchrun``
does on one node, and ending a rank's process cleanly.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

import torch

from seqnet.distributed.errors import DistributedError
from seqnet.distributed.group import shutdown
from seqnet.process_exit import leave_process


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


def exit_process(code: int = 0) -> None:
    """End a rank's process after it left the group: exit handlers run, C++ teardown not
    (NOTE [ Leaving a process with os._exit ] in :mod:`seqnet.process_exit`)."""
    leave_process(code)
