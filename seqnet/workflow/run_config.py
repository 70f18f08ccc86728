"""The run file of ``seqnet train``: one strict TOML file for data, network and run.

Every table is checked against a schema: an unknown key, a missing required key or a value of
the wrong type is a :class:`~seqnet.errors.ConfigurationError` that names the file and the
dotted key (``data.train.range``), so a typo never silently falls back to a default.

>>> cfg = parse_run_config({
...     "data": {"task": "classification", "num_classes": 2, "alignment": "ALIGN_END",
...              "train": {"features": "f/%d.csv", "labels": "l/%d.csv", "range": [0, 9]}},
...     "network": {"layers": [{"type": "GravesLSTM", "n_out": 8},
...                            {"type": "RnnOutputLayer", "n_out": 2}]},
...     "run": {"epochs": 3}}, base_dir="/data", name="demo")
>>> cfg.data.train.features, cfg.data.batch_size, cfg.run.output, cfg.run.metric
('/data/f/%d.csv', 32, '/data/runs/demo', 'accuracy')
>>> parse_run_config({"data": {}, "network": {}, "run": {"epochs": "3"}}, base_dir=".")
Traceback (most recent call last):
...
seqnet.errors.ConfigurationError: <run config>: data.task: required key is missing

Relative paths (data patterns, stores, the output folder) are resolved against the folder of
the TOML file, so a run file works from any current directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqdata.locations import is_url
from seqnet.errors import ConfigurationError
from seqnet.workflow.build import DEFAULT_SEED, NetworkConfig, parse_network
from seqnet.workflow.table_checks import (
    MAX_INT,
    REQUIRED,
    between,
    choice,
    fraction,
    matches,
    range_pair,
    take,
)
from seqnet.workflow.toml_io import dump_toml, read_toml

__all__ = ["DataConfig", "NetworkConfig", "RunConfig", "RunSettings", "SplitConfig",
           "dump_toml", "load_data_config", "load_run_config", "parse_run_config",
           "read_toml", "run_seed"]

TASKS = ("classification", "regression")
ALIGNMENTS = ("EQUAL_LENGTH", "ALIGN_START", "ALIGN_END")
NORMALIZERS = ("none", "standardize", "minmax")
CLASSIFICATION_METRICS = ("accuracy", "f1")
REGRESSION_METRICS = ("mse", "mae", "rmse", "r2")
#: The most epochs a run file may ask for (and the bound of the other per-epoch counts).
MAX_EPOCHS = 10**6
#: Metrics where a smaller value is better (early stopping and the best model use this).
LOWER_IS_BETTER = frozenset({"mse", "mae", "rmse", "loss"})


@dataclass(frozen=True)
class SplitConfig:
    """One split of the data: ``%d`` patterns with an inclusive range, or a packed store."""

    features: str | None = None
    labels: str | None = None
    range: tuple[int, int] | None = None
    store: str | None = None


@dataclass(frozen=True)
class DataConfig:
    """The ``[data]`` table: how sequences become minibatches."""

    task: str
    num_classes: int | None
    alignment: str
    batch_size: int
    normalizer: str
    normalize_labels: bool
    shuffle: bool
    delimiter: str
    skip_lines: int
    label_skip_lines: int
    label_index: int | None
    validation_fraction: float | None
    train: SplitConfig | None
    validation: SplitConfig | None
    test: SplitConfig | None

    @property
    def eval_split(self) -> SplitConfig | None:
        """The split evaluated after every epoch: validation when given, else test."""
        return self.validation if self.validation is not None else self.test


@dataclass(frozen=True)
class RunSettings:
    """The ``[run]`` table."""

    epochs: int
    output: str
    metric: str
    early_stopping_patience: int
    keep_checkpoints: int
    device: str
    progress: bool
    tensorboard: bool


@dataclass(frozen=True)
class RunConfig:
    """A validated run file with defaults filled in and paths made absolute."""

    data: DataConfig
    network: NetworkConfig
    run: RunSettings
    source: str = "<run config>"

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain TOML-able values (see :func:`dump_toml`)."""
        data = {k: v for k, v in vars(self.data).items()
                if k not in ("train", "validation", "test") and v is not None}
        for name in ("train", "validation", "test"):
            split = getattr(self.data, name)
            if split is not None:
                data[name] = {k: (list(v) if isinstance(v, tuple) else v)
                              for k, v in vars(split).items() if v is not None}
        network = {"seed": self.network.seed, **self.network.options,
                   "updater": dict(self.network.updater),
                   "layers": [dict(layer) for layer in self.network.layers]}
        return {"data": data, "network": network, "run": dict(vars(self.run))}


# --------------------------------------------------------------------------- schemas

_SPLIT = {
    "features": (str, None),
    "labels": (str, None),
    "range": (list, None, range_pair),
    "store": (str, None),
}

_DATA = {
    "task": (str, REQUIRED, choice(*TASKS)),
    "num_classes": (int, None, between(1, MAX_INT)),
    "alignment": (str, "EQUAL_LENGTH", choice(*ALIGNMENTS)),
    "batch_size": (int, 32, between(1, MAX_INT)),
    "normalizer": (str, "none", choice(*NORMALIZERS)),
    "normalize_labels": (bool, False),
    "shuffle": (bool, True),
    "delimiter": (str, ",", matches(r"[^\r\n\"]", "one character (not a quote or newline)")),
    "skip_lines": (int, 0, between(0, MAX_INT)),
    "label_skip_lines": (int, 0, between(0, MAX_INT)),
    "label_index": (int, None, between(-MAX_INT, MAX_INT)),
    "validation_fraction": (float, None, fraction),
    "train": (dict, None),
    "validation": (dict, None),
    "test": (dict, None),
}

_RUN = {
    "epochs": (int, REQUIRED, between(1, MAX_EPOCHS)),
    "output": (str, None, matches(r".+", "a folder")),
    "metric": (str, None),
    "early_stopping_patience": (int, 0, between(0, MAX_EPOCHS)),
    "keep_checkpoints": (int, 3, between(1, MAX_EPOCHS)),
    "device": (str, "cpu", matches(r"auto|cpu|cuda(:[0-9]{1,4})?",
                                   "'cpu', 'cuda', 'cuda:N' or 'auto'")),
    "progress": (bool, True),
    "tensorboard": (bool, False),
}

_TOP = {"data": (dict, REQUIRED), "network": (dict, REQUIRED), "run": (dict, REQUIRED)}


def _resolve(path: str | None, base_dir: str) -> str | None:
    if path is None or is_url(path):
        return path
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))


def _split(table: dict | None, data: dict, where: str, base_dir: str) -> SplitConfig | None:
    if table is None:
        return None
    s = take(table, _SPLIT, where)
    if s["store"] is not None:
        if s["features"] is not None or s["labels"] is not None:
            raise ConfigurationError(
                f"{where}: give either 'store' or 'features'/'labels', found both")
        return SplitConfig(store=_resolve(s["store"], base_dir), range=s["range"])
    if s["features"] is None:
        raise ConfigurationError(f"{where}.features: required key is missing (or give 'store')")
    if s["range"] is None:
        raise ConfigurationError(f"{where}.range: required key is missing (with '%d' patterns)")
    if s["labels"] is not None and data["label_index"] is not None:
        raise ConfigurationError(
            f"data.label_index: only applies to splits without label files, found "
            f"{where}.labels as well; remove one of them")
    if s["labels"] is None and data["label_index"] is None:
        raise ConfigurationError(
            f"{where}.labels: required key is missing (or set data.label_index for label "
            "columns inside the feature files)")
    return SplitConfig(features=_resolve(s["features"], base_dir),
                       labels=_resolve(s["labels"], base_dir), range=s["range"])


def _data(table: Any, base_dir: str) -> DataConfig:
    d = take(table, _DATA, "data")
    if d["task"] == "classification" and d["num_classes"] is None:
        raise ConfigurationError("data.num_classes: required for task = 'classification'")
    if d["normalize_labels"] and d["task"] != "regression":
        raise ConfigurationError("data.normalize_labels: only applies to task = 'regression'")
    splits = {name: _split(d[name], d, f"data.{name}", base_dir)
              for name in ("train", "validation", "test")}
    if d["validation_fraction"] is not None:
        if splits["validation"] is not None:
            raise ConfigurationError("data.validation_fraction: give either [data.validation] "
                                     "or validation_fraction, found both")
        if splits["train"] is None:
            raise ConfigurationError("data.validation_fraction: carves the validation split "
                                     "out of [data.train], which is missing")
    if all(s is None for s in splits.values()):
        raise ConfigurationError("data: expected at least one of [data.train], "
                                 "[data.validation], [data.test]; found none")
    d.update(splits)
    return DataConfig(**d)


def _run(table: Any, data: DataConfig, base_dir: str, name: str) -> RunSettings:
    r = take(table, _RUN, "run")
    task = data.task
    if r["early_stopping_patience"] and data.validation is None and \
            data.validation_fraction is None:
        raise ConfigurationError(
            "run.early_stopping_patience: needs a validation split to watch; add "
            "[data.validation] or data.validation_fraction = 0.1 (the test split never "
            "chooses a model)")
    allowed = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    if r["metric"] is None:
        r["metric"] = allowed[0]
    choice(*allowed)(r["metric"], "run.metric")
    r["output"] = _resolve(r["output"] or os.path.join("runs", name), base_dir)
    return RunSettings(**r)


def parse_run_config(table: Mapping[str, Any], base_dir: str | os.PathLike = ".",
                     name: str = "run", source: str = "<run config>") -> RunConfig:
    """Validate a parsed run file; relative paths are resolved against ``base_dir``."""
    try:
        top = take(dict(table), _TOP, "")
        base = os.fspath(base_dir)
        data = _data(top["data"], base)
        return RunConfig(data=data, network=parse_network(top["network"]),
                         run=_run(top["run"], data, base, name), source=source)
    except ConfigurationError as e:
        raise ConfigurationError(f"{source}: {e}") from None


def load_run_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a run file (TOML)."""
    path = Path(path)
    table = read_toml(path)
    return parse_run_config(table, base_dir=path.resolve().parent, name=path.stem,
                            source=str(path))


def load_data_config(path: str | os.PathLike) -> DataConfig:
    """Read the ``[data]`` table of a TOML file (a run file or one with only ``[data]``).

    ``seqnet evaluate`` uses this: a run file works as is, its other tables are not read.
    """
    path = Path(path)
    table = read_toml(path)
    if "data" not in table:
        raise ConfigurationError(f"{path}: data: required table is missing")
    try:
        return _data(table["data"], os.fspath(path.resolve().parent))
    except ConfigurationError as e:
        raise ConfigurationError(f"{path}: {e}") from None


def run_seed(path: str | os.PathLike) -> int:
    """The run's seed (``network.seed``) in a TOML file, which carves
    ``data.validation_fraction``; the network's default when the file gives none."""
    table = read_toml(Path(path))
    network = table.get("network")
    seed = network.get("seed") if isinstance(network, dict) else None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else DEFAULT_SEED
