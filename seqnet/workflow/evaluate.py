"""``seqnet evaluate``: a saved model on the data of a TOML file's ``[data]`` table."""

from __future__ import annotations

import math
import os
from typing import Any

from seqnet.errors import ConfigurationError
from seqnet.workflow.data import load_run_data
from seqnet.workflow.finite import NonFiniteError, checked_batches
from seqnet.workflow.model_io import load_model
from seqnet.workflow.run_config import load_data_config, run_seed
from seqnet.workflow.train import evaluate, metric_values


def evaluate_model(model: str | os.PathLike, data_file: str | os.PathLike,
                   split: str | None = None) -> Any:
    """``Evaluation`` (classification) or ``RegressionEvaluation`` of ``model`` on ``split``.

    The default split is test, else validation, else train. The model's stored normaliser is
    used; a model saved without one gets the data file's normaliser fitted on its train split.
    A non-finite (normalised) input is a :class:`~seqnet.workflow.finite.NonFiniteError`
    naming the sequence and step, as are non-finite regression errors.
    """
    data = load_data_config(data_file)

    def configured(name: str) -> bool:
        carved = name == "validation" and data.validation_fraction is not None
        return getattr(data, name) is not None or carved

    if split is None:
        split = next((s for s in ("test", "validation", "train") if configured(s)), None)
    if split is None or not configured(split):
        raise ConfigurationError(f"{data_file}: expected a [data.{split}] table to evaluate")
    net, extras = load_model(model)
    normalizer = extras.get("normalizer")
    splits = (split,) if normalizer is not None or data.normalizer == "none" else \
        tuple(dict.fromkeys((split, "train")))
    if data.validation_fraction is not None and split in ("train", "validation"):
        splits = tuple(dict.fromkeys((*splits, "train")))   # carved from train
    if normalizer is None and data.normalizer != "none" and data.train is None:
        raise ConfigurationError(
            f"{data_file}: data.normalizer = {data.normalizer!r} but the model has no stored "
            "normaliser and there is no [data.train] to fit one on")
    run_data = load_run_data(data, splits, normalizer=normalizer, seed=run_seed(data_file))
    batches = checked_batches(run_data.iterator(split), f"{data_file} [data.{split}]")
    evaluation = evaluate(net, batches, data.task)
    if data.task == "regression":
        values = metric_values(evaluation, data.task)
        bad = sorted(k for k, v in values.items() if not math.isfinite(v) and k != "r2")
        if bad:
            raise NonFiniteError(f"{model}: model output on [data.{split}] of {data_file}: "
                                 f"expected finite values, found {', '.join(bad)} = "
                                 f"{values[bad[0]]}")
    return evaluation
