"""seqnet: recurrent networks on PyTorch for seqdata minibatches (DL4J names)."""

from seqnet.errors import ConfigurationError, ModelFileError, SeqNetError, StateError, TrainingError
from seqnet.evaluation import Evaluation, EvaluationError, RegressionEvaluation

__all__ = [
    "ConfigurationError",
    "Evaluation",
    "EvaluationError",
    "ModelFileError",
    "RegressionEvaluation",
    "SeqNetError",
    "StateError",
    "TrainingError",
]
