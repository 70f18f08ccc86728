"""The distributed package's one exception."""

from __future__ import annotations

from seqnet.errors import SeqNetError


class DistributedError(SeqNetError):
    """The process group cannot be set up, or a process of a launched group failed."""
