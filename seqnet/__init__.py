"""seqnet: recurrent networks on PyTorch for seqdata minibatches (DL4J names)."""

from seqnet.errors import ConfigurationError, ModelFileError, SeqNetError, StateError, TrainingError

__all__ = ["ConfigurationError", "ModelFileError", "SeqNetError", "StateError", "TrainingError"]
