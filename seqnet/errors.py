"""The exception hierarchy of seqnet."""

from __future__ import annotations


class SeqNetError(Exception):
    """Root of every error seqnet raises on purpose."""


class ConfigurationError(SeqNetError, ValueError):
    """A configuration is invalid (bad value, unknown key, layer sizes that do not fit)."""


class StateError(SeqNetError):
    """An operation does not fit the network's current state (e.g. RNN state batch size)."""


class ModelFileError(SeqNetError):
    """A saved model file is malformed or unsafe to load."""


class TrainingError(SeqNetError):
    """Training cannot continue (e.g. the score became NaN)."""
