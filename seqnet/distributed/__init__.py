"""Data-parallel training on ``torch.distributed``: ranks, gradient averaging, merged
evaluations, and a launcher for N local processes.

Every function is a no-op outside a process group of more than one process, so single-process
code needs no branches: rank 0 of 1 is the writer. One module per job: ``process`` (who this
process is), ``group`` (joining and leaving), ``launcher`` (N local processes), ``sharding``
(what each rank works on), ``collectives`` (what the ranks exchange).

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
"""

from seqnet.distributed.collectives import (
    agree_on_batch,
    average_gradients,
    barrier,
    broadcast_parameters,
    merge_over_ranks,
    sum_over_ranks,
)
from seqnet.distributed.errors import DistributedError
from seqnet.distributed.group import TIMEOUT, init_from_env, shutdown
from seqnet.distributed.launcher import exit_process, free_port, launch
from seqnet.distributed.process import is_distributed, is_writer, local_device, rank, world_size
from seqnet.distributed.sharding import epoch_parts, evaluation_part, lockstep, shard

__all__ = [
    "DistributedError",
    "TIMEOUT",
    "agree_on_batch",
    "average_gradients",
    "barrier",
    "broadcast_parameters",
    "epoch_parts",
    "evaluation_part",
    "exit_process",
    "free_port",
    "init_from_env",
    "is_distributed",
    "is_writer",
    "launch",
    "local_device",
    "lockstep",
    "merge_over_ranks",
    "rank",
    "shard",
    "shutdown",
    "sum_over_ranks",
    "world_size",
]
