"""The picture ``seqdata info --plot`` draws of a corpus or a store (needs matplotlib).

One 1200x800 figure: the histogram of sequence lengths (whole steps per bin, integer counts;
a corpus of equal lengths is one bar at that length), the number of sequences per class, and
the first channels of a few example sequences of each class. The title names the corpus,
never its full path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from seqdata.errors import SeqDataError

__all__ = ["length_bins", "plot_corpus"]

# Classes drawn with example series (the first ones), examples per class, channels per
# example: enough to see what the data looks like, few enough to stay readable.
MAX_CLASSES_SHOWN = 6
EXAMPLES_PER_CLASS = 3
MAX_CHANNELS_SHOWN = 4
MAX_BINS = 50


def length_bins(lengths: np.ndarray) -> np.ndarray:
    """Bin edges for a length histogram: at most :data:`MAX_BINS` bins, each a whole number of
    steps, centred on integers (one bar for equal lengths).

    >>> length_bins(np.array([5, 5, 5])).tolist()
    [4.5, 5.5]
    >>> length_bins(np.array([1, 3])).tolist()
    [0.5, 1.5, 2.5, 3.5]
    """
    lo, hi = int(lengths.min()), int(lengths.max())
    width = -(-(hi - lo + 1) // MAX_BINS)
    return np.arange(lo, hi + width + 1, width) - 0.5


def plot_corpus(path: str, name: str, lengths: np.ndarray, classes: Sequence[int | None] | None,
                examples: Callable[[list[int]], Sequence[Any]]) -> None:
    """Write the PNG to ``path``; ``classes`` is each sequence's class (``None`` where it has
    none, or no list for a corpus without class labels); ``examples(indices)`` loads records
    (objects with ``values [T, C]``)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise SeqDataError("--plot needs matplotlib, which is not installed: "
                           "pip install 'seqdl[plot]'") from None
    known = [c for c in (classes or []) if c is not None]
    shown = sorted(set(known))[:MAX_CLASSES_SHOWN]
    # NOTE [ Plot size ]
    # A fixed 12x8 inch figure at 100 dpi: every plot is 1200x800 pixels, whatever the data.
    fig = plt.figure(figsize=(12, 8), dpi=100)
    grid = fig.add_gridspec(2, max(2, len(shown) or 1))
    ax = fig.add_subplot(grid[0, :max(1, grid.ncols // 2)])
    ax.hist(lengths, bins=length_bins(lengths).tolist(), color="tab:blue")
    ax.set_xlabel("sequence length (steps)")
    ax.set_ylabel("sequences")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("lengths")
    ax = fig.add_subplot(grid[0, max(1, grid.ncols // 2):])
    if known:
        values, counts = np.unique(np.array(known), return_counts=True)
        ax.bar([str(v) for v in values], counts, color="tab:orange")
        ax.set_xlabel("class")
        ax.set_ylabel("sequences")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("class counts")
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "no class labels", ha="center", va="center")
    groups = [(f"class {c}", [i for i, k in enumerate(classes or []) if k == c])
              for c in shown] or [("examples", list(range(len(lengths))))]
    for j, (label, members) in enumerate(groups):
        ax = fig.add_subplot(grid[1, j])
        for record in examples(members[:EXAMPLES_PER_CLASS]):
            values = np.asarray(record.values)
            for c in range(min(values.shape[1], MAX_CHANNELS_SHOWN)):
                ax.plot(values[:, c], linewidth=1, color=f"C{c}")   # one colour per channel
        ax.set_title(label)
        ax.set_xlabel("step")
    more = len(set(known)) - len(shown)
    fig.suptitle(f"{name}: {len(lengths)} sequences"
                 + (f" (examples of the first {len(shown)} classes of {len(set(known))}; "
                    f"first {MAX_CHANNELS_SHOWN} channels, one colour each)" if more > 0 else ""))
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as e:
        raise SeqDataError(f"--plot: cannot write {path}: {e}") from None
    finally:
        plt.close(fig)
