"""Training plots are real PNG images of the documented size."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from seqnet.workflow.plots import plot_confusion, plot_forecast, plot_history


def size(path) -> tuple[int, int]:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.std() > 0           # something was drawn
    return image.shape[:2]


def test_history_plot_with_and_without_an_eval_metric(tmp_path):
    history = [{"epoch": e, "train_score": 1.0 / e, "rmse": 2.0 / e} for e in range(1, 6)]
    plot_history(history, "rmse", tmp_path / "a.png")
    plot_history([{"epoch": 1, "train_score": 0.5}], "accuracy", tmp_path / "b.png")
    assert size(tmp_path / "a.png") == size(tmp_path / "b.png") == (480, 800)
    assert not list(tmp_path.glob("*.tmp.png"))


@pytest.mark.parametrize("k, pixels", [(2, 400), (9, 650), (20, 1200)])
def test_confusion_plot_grows_with_the_number_of_classes(tmp_path, k, pixels):
    matrix = np.arange(k * k).reshape(k, k)
    plot_confusion(matrix, tmp_path / "c.png")
    assert size(tmp_path / "c.png") == (pixels, pixels)


def test_forecast_plot(tmp_path):
    t = np.linspace(0, 10, 200)
    plot_forecast(np.sin(t), np.sin(t + 0.1), tmp_path / "f.png")
    assert size(tmp_path / "f.png") == (400, 1000)
