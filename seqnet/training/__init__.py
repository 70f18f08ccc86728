"""The fit loop: the :class:`Solver` a network owns, gradient normalisation, minibatch helpers.

Imports run one way: :mod:`seqnet.network` owns a :class:`Solver` and calls it; the solver
works against the small public surface of a network described by :class:`Trainable` and never
imports the network.
"""

from seqnet.training.batches import epoch_batches, pad_steps
from seqnet.training.listeners import (
    CheckpointListener,
    CollectScoresListener,
    EvaluativeListener,
    InvocationType,
    ScoreIterationListener,
    TrainingListener,
)
from seqnet.training.normalization import normalize_gradients
from seqnet.training.solver import Solver, Tensors, Trainable, rule_score

__all__ = ["CheckpointListener", "CollectScoresListener", "EvaluativeListener", "InvocationType",
           "ScoreIterationListener", "Solver", "Tensors", "Trainable", "TrainingListener",
           "epoch_batches", "normalize_gradients", "pad_steps", "rule_score"]
