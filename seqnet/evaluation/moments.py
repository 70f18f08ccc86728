"""Per-column moments of labels and predictions, streamed batch by batch and merged exactly.

>>> y = np.array([[1.0], [2.0], [3.0]]); p = np.array([[1.5], [2.0], [2.5]])
>>> whole = batch_moments(y, p, np.ones_like(y))
>>> parts = combine(batch_moments(y[:1], p[:1], np.ones((1, 1))),
...                 batch_moments(y[1:], p[1:], np.ones((2, 1))))
>>> all(np.allclose(whole[k], parts[k]) for k in MOMENTS)
True
"""

from __future__ import annotations

import numpy as np

# NOTE [ Streaming moments ]
# Per column, RegressionEvaluation keeps in float64: the count, the sums of squared and of
# absolute errors, the means of labels and predictions and their centred second moments and
# co-moment. Each batch is reduced exactly (two-pass) and folded in with Chan et al.'s pairwise
# update, which is also what merge() does; this equals the plain sums-of-squares formulas but
# does not lose the variance to cancellation when the labels have a large mean.
MOMENTS = ("n", "sse", "sae", "mean_y", "mean_p", "m2_y", "m2_p", "c_yp")


def zero_moments(c: int) -> dict[str, np.ndarray]:
    """The moments of no values, for ``c`` columns."""
    return {k: np.zeros(c) for k in MOMENTS}


def batch_moments(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Exact per-column moments of one batch, counting only values with weight ``w`` = 1."""
    n = w.sum(axis=0)
    safe = np.where(n > 0, n, 1.0)
    mean_y = (w * y).sum(axis=0) / safe
    mean_p = (w * p).sum(axis=0) / safe
    dy = np.where(w > 0, y - mean_y, 0.0)
    dp = np.where(w > 0, p - mean_p, 0.0)
    err = np.where(w > 0, y - p, 0.0)
    return {"n": n, "sse": (err ** 2).sum(axis=0), "sae": np.abs(err).sum(axis=0),
            "mean_y": mean_y, "mean_p": mean_p, "m2_y": (dy ** 2).sum(axis=0),
            "m2_p": (dp ** 2).sum(axis=0), "c_yp": (dy * dp).sum(axis=0)}


def combine(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Moments of the union of two disjoint sets of values (Chan et al.'s pairwise update)."""
    n = a["n"] + b["n"]
    safe = np.where(n > 0, n, 1.0)
    frac = b["n"] / safe
    weight = a["n"] * b["n"] / safe
    d_y = b["mean_y"] - a["mean_y"]
    d_p = b["mean_p"] - a["mean_p"]
    return {"n": n, "sse": a["sse"] + b["sse"], "sae": a["sae"] + b["sae"],
            "mean_y": a["mean_y"] + d_y * frac, "mean_p": a["mean_p"] + d_p * frac,
            "m2_y": a["m2_y"] + b["m2_y"] + d_y ** 2 * weight,
            "m2_p": a["m2_p"] + b["m2_p"] + d_p ** 2 * weight,
            "c_yp": a["c_yp"] + b["c_yp"] + d_y * d_p * weight}
