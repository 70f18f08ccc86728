"""The evaluation package's one exception."""

from __future__ import annotations

from seqnet.errors import SeqNetError


class EvaluationError(SeqNetError, ValueError):
    """Evaluation inputs do not fit (shapes, class count, mask values, merge partners)."""
