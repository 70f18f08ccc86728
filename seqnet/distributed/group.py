"""Joining and leaving the process group described by the environment (as ``torchrun`` sets
it): ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.

>>> init_from_env()             # WORLD_SIZE unset: no group to join
False
"""

from __future__ import annotations

import datetime
import logging
import os

import torch
import torch.distributed as dist

from seqnet.distributed.collectives import barrier
from seqnet.distributed.errors import DistributedError
from seqnet.distributed.process import env_int

log = logging.getLogger("seqnet")

#: How long a rank waits for the others in one collective before giving up.
TIMEOUT = datetime.timedelta(minutes=30)


def init_from_env(device: torch.device | str | None = None) -> bool:
    """Join the process group described by the environment, as ``torchrun`` sets it.

    Does nothing (and returns ``False``) when ``WORLD_SIZE`` is unset or 1, or a group is
    already initialised. Otherwise needs ``RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
    ``LOCAL_RANK`` picks the GPU. The backend is nccl when ``device`` is a CUDA device (default:
    when CUDA is available), else gloo. Returns ``True`` when it initialised the group.
    """
    size = env_int("WORLD_SIZE", 1)
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
        torch.cuda.set_device(env_int("LOCAL_RANK", 0))
    try:
        dist.init_process_group(backend, init_method="env://", world_size=size,
                                rank=env_int("RANK", 0), timeout=TIMEOUT)
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
