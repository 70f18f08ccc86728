"""PNG plots of a training run: score and metric per epoch, the confusion matrix, a forecast.

matplotlib is optional (the ``plot`` extra): :func:`have_matplotlib` says whether it is
there, and the train loop skips its plots with a logged warning when it is not. Figures are
drawn with the non-interactive Agg canvas, so plotting works without a display and never
touches pyplot's global state.

>>> import tempfile, os, matplotlib.image
>>> path = os.path.join(tempfile.mkdtemp(), "loss.png")
>>> plot_history([{"epoch": 1, "train_score": 2.0, "accuracy": 0.5},
...               {"epoch": 2, "train_score": 1.0, "accuracy": 0.8}], "accuracy", path)
>>> matplotlib.image.imread(path).shape
(480, 800, 4)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Figure sizes in inches at :data:`DPI`; the PNGs are ``100 * size`` pixels.
DPI = 100
HISTORY_SIZE = (8.0, 4.8)
FORECAST_SIZE = (10.0, 4.0)


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported (plots are skipped without it)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> None:
    # Written beside the target and renamed, so a viewer never sees half a PNG.
    tmp = f"{os.fspath(path)}.tmp.png"
    fig.savefig(tmp, dpi=DPI)
    os.replace(tmp, path)


def plot_history(history: Sequence[dict[str, Any]], metric: str,
                 path: str | os.PathLike) -> None:
    """Train score (left axis) and the evaluation ``metric`` (right axis) per epoch."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(HISTORY_SIZE)
    ax = fig.add_subplot(1, 1, 1)
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_score"] for h in history], "o-", color="tab:blue",
            label="train score")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("train score", color="tab:blue")
    points = [(h["epoch"], h[metric]) for h in history if h.get(metric) is not None]
    if points:
        right = ax.twinx()
        xs, ys = zip(*points)
        right.plot(xs, ys, "s-", color="tab:orange", label=f"eval {metric}")
        right.set_ylabel(f"eval {metric}", color="tab:orange")
    ax.set_title("training history")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def plot_confusion(matrix: np.ndarray, path: str | os.PathLike,
                   class_names: Sequence[str] | None = None) -> None:
    """The confusion matrix (rows = actual, columns = predicted) with counts in the cells.

    The figure grows with the number of classes so that the counts stay readable.
    """
    matrix = np.asarray(matrix)
    k = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    side = max(4.0, 0.5 * k + 2.0)
    fig = _figure((side, side))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=names)
    ax.set_yticks(range(k), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    threshold = matrix.max() / 2.0 if matrix.size else 0.0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > threshold else "black")
    ax.set_title("confusion matrix")
    fig.tight_layout()
    _save(fig, path)


def plot_forecast(truth: np.ndarray, predicted: np.ndarray, path: str | os.PathLike,
                  title: str = "one-step-ahead forecast", ylabel: str = "value") -> None:
    """Predictions against the truth over time (both 1-D, same length)."""
    fig = _figure(FORECAST_SIZE)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(np.asarray(truth), color="black", linewidth=1.0, label="truth")
    ax.plot(np.asarray(predicted), color="tab:red", linewidth=1.0, alpha=0.8,
            label="prediction")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
