"""Non-finite inputs and outputs are errors naming the sequence and step, never results.

A ``nan`` in an input file would otherwise become a prediction row (class 0 for a NaN
softmax) or part of an accuracy; ``seqnet predict`` and ``seqnet evaluate`` check every
minibatch with :func:`check_finite` and exit 1 instead.

>>> import numpy as np
>>> x = np.zeros((2, 3, 4), np.float32); x[1, 2, 3] = np.nan
>>> check_finite(x, None, ["a.csv", "b.csv"], "input")
Traceback (most recent call last):
...
seqnet.workflow.finite.NonFiniteError: b.csv: input: expected finite values, found nan at \
step 3 (from 0), column 2
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from seqnet.errors import SeqNetError

__all__ = ["NonFiniteError", "check_finite", "checked_batches"]


class NonFiniteError(SeqNetError, ValueError):
    """An input or output value is NaN or infinite."""


def check_finite(values: Any, mask: Any, sources: Sequence[str] | None, what: str) -> None:
    """Raise :class:`NonFiniteError` for the first non-finite value of ``values``
    (``[N, C, T]`` or ``[N, C]``) at a real step (``mask`` ``[N, T]``, 1 = real)."""
    array = np.asarray(values)
    bad = ~np.isfinite(array)
    if mask is not None and array.ndim == 3:
        bad &= np.asarray(mask)[:, None, :] > 0
    if not bad.any():
        return
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    example, column = index[0], index[1]
    where = sources[example] if sources and example < len(sources) else f"example {example}"
    step = f"step {index[2]} (from 0), " if array.ndim == 3 else ""
    raise NonFiniteError(f"{where}: {what}: expected finite values, found "
                         f"{array[index]} at {step}column {column}")


def sources_of(ds: Any, label: str, first: int = 0) -> list[str]:
    """The feature file of each example of ``ds``, else ``"<label> sequence <first + i>"``."""
    meta = getattr(ds, "example_meta_data", None)
    if meta:
        return [m.features_source for m in meta]
    return [f"{label} sequence {first + i}" for i in range(len(np.asarray(ds.features)))]


def checked_batches(iterator: Any, label: str) -> Iterator[Any]:
    """The DataSets of ``iterator`` (in order), each checked for non-finite (normalised)
    features; an error names the file, or the sequence's index in ``label``."""
    first = 0
    for ds in iterator:
        check_finite(ds.features, ds.features_mask, sources_of(ds, label, first), "input")
        first += len(np.asarray(ds.features))
        yield ds
