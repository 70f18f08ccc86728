"""What every example script shares: its basic options and building its network.

The scripts import it as ``examples._common`` (each puts the repository root on ``sys.path``).
"""

from __future__ import annotations

import argparse


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """The options every example takes (``--quick``, ``--epochs``, ``--seed``); add your own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small, fast run (for tests)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=123)
    return parser


def epoch_count(args: argparse.Namespace, quick: int, full: int) -> int:
    """``--epochs`` when given, else ``quick`` or ``full`` as ``--quick`` says."""
    if args.epochs is not None:
        return args.epochs
    return quick if args.quick else full


def initialized_network(conf):
    """A ``MultiLayerNetwork`` of ``conf`` with its parameters initialised."""
    # Imported here, as in the scripts, so that ``--help`` does not wait for torch.
    from seqnet.network import MultiLayerNetwork

    net = MultiLayerNetwork(conf)
    net.init()
    return net
