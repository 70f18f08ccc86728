"""Regression evaluation: per-column MSE, MAE, RMSE, RSE, Pearson r and R^2, with DL4J's names.

Moments accumulate in float64 batch by batch (NOTE [ Streaming moments ] in
:mod:`seqnet.evaluation.moments`), so evaluations of parts merge into the evaluation of the
whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from seqnet.evaluation.arrays import checked_mask, pair, time_series_rows
from seqnet.evaluation.errors import EvaluationError
from seqnet.evaluation.moments import batch_moments, combine, zero_moments
from seqnet.evaluation.report import regression_table

# (method name, heading in stats()), in the report's order.
_METRICS = (("mean_squared_error", "MSE"), ("mean_absolute_error", "MAE"),
            ("root_mean_squared_error", "RMSE"), ("relative_squared_error", "RSE"),
            ("pearson_correlation", "Pearson r"), ("r_squared", "R^2"))


class RegressionEvaluation:
    """Accumulating per-column regression metrics: MSE, MAE, RMSE, RSE, Pearson r and R^2.

    ``r_squared`` is the coefficient of determination ``1 - SSE / SST`` (not the square of
    Pearson's r); ``relative_squared_error`` is ``SSE / SST``, with
    ``SST = sum((y - mean(y))**2)`` over all counted values of the column.

    >>> import numpy as np
    >>> ev = RegressionEvaluation(["price"])
    >>> ev.eval(np.array([[1.0], [2.0], [3.0]]), np.array([[1.5], [2.0], [2.5]]))
    >>> round(ev.mean_squared_error("price"), 4), round(ev.r_squared(0), 4)
    (0.1667, 0.75)

    Parameters
    ----------
    columns:
        ``None`` (count inferred from the first batch, named ``col_0``, ...), a column count,
        or a list of column names.

    Undefined values (no data, or a constant column for RSE, R^2 and Pearson r) are NaN, and
    the ``average_*`` methods are plain means over columns, so a NaN column makes them NaN.
    """

    def __init__(self, columns: int | Sequence[str] | None = None) -> None:
        self._names: list[str] | None = None
        if isinstance(columns, (int, np.integer)) and not isinstance(columns, bool):
            if columns < 1:
                raise EvaluationError(f"RegressionEvaluation: columns expected a positive count, "
                                      f"found {columns}")
            self._names = [f"col_{i}" for i in range(int(columns))]
        elif columns is not None:
            if isinstance(columns, str) or not isinstance(columns, Sequence) or not columns:
                raise EvaluationError(f"RegressionEvaluation: columns expected None, a count or "
                                      f"a list of names, found {columns!r}")
            self._names = [str(c) for c in columns]
        self._m: dict[str, np.ndarray] | None = None
        if self._names is not None:
            self._m = zero_moments(len(self._names))

    # ------------------------------------------------------------------ accumulation

    def eval(self, labels: Any, predicted: Any, mask: Any = None) -> None:
        """Accumulate ``[N, C]`` labels and predictions (3-D goes to ``eval_time_series``).

        ``mask`` may be ``[N]``, ``[N, 1]`` (per example) or ``[N, C]`` (per value).
        """
        y, p = pair(labels, predicted, "RegressionEvaluation.eval")
        if y.ndim == 3:
            self.eval_time_series(y, p, mask)
            return
        if y.ndim != 2:
            raise EvaluationError(f"RegressionEvaluation.eval: expected 2-D [N, C] or 3-D "
                                  f"[N, C, T] labels and predicted, found shape {list(y.shape)}")
        keep = None
        if mask is not None:
            n, c = y.shape
            keep = checked_mask(mask, {(n,): "[N]", (n, 1): "[N, 1]", (n, c): "[N, C]"},
                                 "RegressionEvaluation.eval")
            if keep.ndim == 1:
                keep = keep[:, None]
        self._accumulate(y, p, keep, "RegressionEvaluation.eval")

    def eval_time_series(self, labels: Any, predicted: Any, output_mask: Any = None) -> None:
        """Accumulate ``[N, C, T]`` data, counting only steps where ``output_mask`` is 1.

        ``output_mask`` is ``[N, T]`` (per step) or ``[N, C, T]`` (per value).
        """
        where = "RegressionEvaluation.eval_time_series"
        y, p, m = time_series_rows(labels, predicted, output_mask, where)
        if m is not None and m.ndim == 1:
            m = m[:, None]
        self._accumulate(y, p, m, where)

    def _accumulate(self, y: np.ndarray, p: np.ndarray, keep: np.ndarray | None,
                    where: str) -> None:
        width = y.shape[1]
        if self._names is None:
            self._names = [f"col_{i}" for i in range(width)]
            self._m = zero_moments(width)
        elif width != len(self._names):
            raise EvaluationError(f"{where}: expected {len(self._names)} columns, found "
                                  f"{width} in shape {list(y.shape)}")
        y = y.astype(np.float64)
        p = p.astype(np.float64)
        w = np.ones(y.shape) if keep is None else np.broadcast_to(keep, y.shape).astype(np.float64)
        assert self._m is not None
        self._m = combine(self._m, batch_moments(y, p, w))

    def merge(self, other: RegressionEvaluation) -> None:
        """Add everything ``other`` has seen into this evaluation."""
        if not isinstance(other, RegressionEvaluation):
            raise EvaluationError(f"RegressionEvaluation.merge: expected a RegressionEvaluation, "
                                  f"found {type(other).__name__}")
        if other._m is None or other._names is None:
            return
        if self._m is None or self._names is None:
            self._names = list(other._names)
            self._m = {k: v.copy() for k, v in other._m.items()}
            return
        if len(other._names) != len(self._names):
            raise EvaluationError(f"RegressionEvaluation.merge: expected {len(self._names)} "
                                  f"columns, found {len(other._names)}")
        self._m = combine(self._m, other._m)

    # ------------------------------------------------------------------ metrics

    @property
    def column_names(self) -> list[str]:
        """Column names (``col_0``, ... unless given)."""
        return list(self._names or [])

    def num_columns(self) -> int:
        """Number of columns (0 before the first ``eval`` when not given)."""
        return len(self._names or [])

    def _col(self, col: int | str) -> int:
        names = self._names or []
        if isinstance(col, str):
            if col not in names:
                raise EvaluationError(f"RegressionEvaluation: column name expected one of "
                                      f"{names}, found {col!r}")
            return names.index(col)
        if not isinstance(col, (int, np.integer)) or not 0 <= col < len(names):
            raise EvaluationError(f"RegressionEvaluation: column index expected an integer in "
                                  f"[0, {len(names)}), found {col!r}")
        return int(col)

    def _all(self, name: str) -> np.ndarray:
        """Metric ``name`` for every column (NaN where undefined)."""
        if self._m is None:
            return np.zeros(0)
        m = self._m
        with np.errstate(divide="ignore", invalid="ignore"):
            n = np.where(m["n"] > 0, m["n"], np.nan)
            sst = np.where(m["m2_y"] > 0, m["m2_y"], np.nan)
            values = {
                "mean_squared_error": m["sse"] / n,
                "mean_absolute_error": m["sae"] / n,
                "root_mean_squared_error": np.sqrt(m["sse"] / n),
                "relative_squared_error": m["sse"] / sst,
                "r_squared": 1.0 - m["sse"] / sst,
                "pearson_correlation": m["c_yp"] / np.sqrt(sst * np.where(
                    m["m2_p"] > 0, m["m2_p"], np.nan)),
            }
        return values[name]

    def _one(self, name: str, col: int | str) -> float:
        return float(self._all(name)[self._col(col)])

    def _average(self, name: str) -> float:
        values = self._all(name)
        return float(values.mean()) if values.size else math.nan

    def count(self, col: int | str) -> int:
        """Number of values counted in column ``col``."""
        index = self._col(col)
        return int(self._m["n"][index]) if self._m is not None else 0

    def mean_squared_error(self, col: int | str) -> float:
        """MSE: mean of (y - p)^2 over the column's counted values."""
        return self._one("mean_squared_error", col)

    def mean_absolute_error(self, col: int | str) -> float:
        """MAE: mean of |y - p|."""
        return self._one("mean_absolute_error", col)

    def root_mean_squared_error(self, col: int | str) -> float:
        """RMSE: square root of the MSE."""
        return self._one("root_mean_squared_error", col)

    def relative_squared_error(self, col: int | str) -> float:
        """RSE: sum((y - p)^2) / sum((y - mean y)^2)."""
        return self._one("relative_squared_error", col)

    def pearson_correlation(self, col: int | str) -> float:
        """Pearson correlation coefficient r between labels and predictions."""
        return self._one("pearson_correlation", col)

    def r_squared(self, col: int | str) -> float:
        """Coefficient of determination R^2 = 1 - SSE / SST."""
        return self._one("r_squared", col)

    def average_mean_squared_error(self) -> float:
        """MSE averaged over columns."""
        return self._average("mean_squared_error")

    def average_mean_absolute_error(self) -> float:
        """MAE averaged over columns."""
        return self._average("mean_absolute_error")

    def average_root_mean_squared_error(self) -> float:
        """RMSE averaged over columns."""
        return self._average("root_mean_squared_error")

    def average_relative_squared_error(self) -> float:
        """RSE averaged over columns."""
        return self._average("relative_squared_error")

    def average_pearson_correlation(self) -> float:
        """Pearson r averaged over columns."""
        return self._average("pearson_correlation")

    def average_r_squared(self) -> float:
        """R^2 averaged over columns."""
        return self._average("r_squared")

    # ------------------------------------------------------------------ reporting

    def to_dict(self) -> dict[str, float]:
        """Flat metrics for logging: ``"average_<metric>"`` and ``"<metric>/<column>"``."""
        out: dict[str, float] = {}
        for name, _ in _METRICS:
            out[f"average_{name}"] = self._average(name)
        for name, _ in _METRICS:
            for i, col in enumerate(self.column_names):
                out[f"{name}/{col}"] = float(self._all(name)[i])
        return out

    def stats(self) -> str:
        """A table, one row per column, headed MSE, MAE, RMSE, RSE, Pearson r, R^2."""
        return regression_table(self.column_names,
                                [(short, self._all(name)) for name, short in _METRICS])

    def __str__(self) -> str:
        return self.stats()

    def __repr__(self) -> str:
        return f"RegressionEvaluation(columns={self.column_names})"
