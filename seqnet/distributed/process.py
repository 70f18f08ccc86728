"""Who this process is in the group: rank, world size, writer, device. Outside a process
group of more than one process, rank 0 of 1, the writer.

>>> is_distributed(), rank(), world_size(), is_writer()
(False, 0, 1, True)
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from seqnet.distributed.errors import DistributedError


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
        return torch.device("cuda", env_int("LOCAL_RANK", 0))
    return device


def env_int(key: str, default: int) -> int:
    """The integer environment variable ``key``, ``default`` when unset."""
    value = os.environ.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"environment variable {key}: expected an integer, found "
                               f"{value!r}") from None
