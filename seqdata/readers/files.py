"""The base of readers that read one sequence per file: binding to a split, index checks.

Where the files are and how their bytes are read is :mod:`seqdata.locations`' job; a
subclass only parses (:meth:`FileSequenceRecordReader.load_sequences`).
"""

from __future__ import annotations

import numpy as np

from seqdata.errors import SeqDataError, SplitError
from seqdata.locations import check_files, local_path
from seqdata.readers.base import Indices, SequenceRecordReader

__all__ = ["FileSequenceRecordReader"]


class FileSequenceRecordReader(SequenceRecordReader):
    """A reader of one sequence per file: binds to a split, checks indices; subclasses parse.

    Subclasses implement :meth:`load_sequences`, taking each index's ``(location, local
    path)`` from :meth:`_files`.
    """

    def __init__(self) -> None:
        self._locations: list[str] | None = None
        self._local_paths: list[str | None] = []

    def initialize(self, split: object = None) -> None:
        """Bind to ``split`` (an :class:`~seqdata.splits.InputSplit`) and check local files.

        Every local file must exist and be a regular file; otherwise one
        :class:`~seqdata.errors.MissingFilesError` says how many are not and lists the first
        few. URLs (``s3://``...) are checked when first read.
        """
        locations_of = getattr(split, "locations", None)
        if not callable(locations_of):
            raise SplitError(f"initialize: expected an InputSplit (NumberedFileInputSplit, "
                             f"FileSplit, ListSplit), found {type(split).__name__}")
        locations = [str(loc) for loc in locations_of()]
        if not locations:
            raise SplitError("initialize: expected a split naming at least one file, found none")
        check_files(locations)
        self._locations = locations
        self._local_paths = [local_path(location) for location in locations]
        self.reset()

    def __len__(self) -> int:
        return len(self._require_locations())

    def locations(self) -> list[str]:
        """The files this reader reads, in index order."""
        return list(self._require_locations())

    def _require_locations(self) -> list[str]:
        if self._locations is None:
            raise SeqDataError("this reader is not initialised: call initialize(split) first")
        return self._locations

    def _files(self, indices: Indices) -> list[tuple[str, str | None]]:
        """``(location, local path)`` of each index, in order, after checking it is in range."""
        locations = self._require_locations()
        n = len(locations)
        for i in indices:
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) \
                    or not -n <= i < n:
                raise SeqDataError(
                    f"sequence index {i!r} out of range: the reader holds {n} sequences")
        return [(locations[i], self._local_paths[i]) for i in indices]
