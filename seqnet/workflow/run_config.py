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

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from seqnet.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published as tomli before it joined the standard library
    import tomli as tomllib

_REQUIRED = object()

TASKS = ("classification", "regression")
ALIGNMENTS = ("EQUAL_LENGTH", "ALIGN_START", "ALIGN_END")
NORMALIZERS = ("none", "standardize", "minmax")
CLASSIFICATION_METRICS = ("accuracy", "f1")
REGRESSION_METRICS = ("mse", "mae", "rmse", "r2")
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
    train: SplitConfig | None
    validation: SplitConfig | None
    test: SplitConfig | None

    @property
    def eval_split(self) -> SplitConfig | None:
        """The split evaluated after every epoch: validation when given, else test."""
        return self.validation if self.validation is not None else self.test


@dataclass(frozen=True)
class NetworkConfig:
    """The ``[network]`` table, kept as plain values until ``build`` maps it to seqnet."""

    seed: int
    updater: dict[str, Any]
    layers: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)


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


# --------------------------------------------------------------------------- value checks

def _choice(*allowed: str) -> Callable[[str, str], str]:
    def check(value: str, where: str) -> str:
        if value not in allowed:
            raise ConfigurationError(
                f"{where}: expected one of {', '.join(repr(a) for a in allowed)}, found {value!r}")
        return value
    return check


def _at_least(low: int | float) -> Callable[[Any, str], Any]:
    def check(value: Any, where: str) -> Any:
        if value < low:
            raise ConfigurationError(f"{where}: expected a value >= {low}, found {value!r}")
        return value
    return check


def _range_pair(value: list, where: str) -> tuple[int, int]:
    if len(value) != 2 or not all(_is_int(v) for v in value):
        raise ConfigurationError(f"{where}: expected [min, max] (two integers), found {value!r}")
    low, high = value
    if low > high:
        raise ConfigurationError(f"{where}: expected min <= max, found [{low}, {high}]")
    return (low, high)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "an array", dict: "a table"}


def _typed(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is int and _is_int(value):
            return value
        if k is float and (_is_int(value) or isinstance(value, float)):
            if isinstance(value, float) and not math.isfinite(value):
                break
            return float(value)
        if k not in (int, float) and isinstance(value, k):
            return value
    expected = " or ".join(_TYPE_NAMES[k] for k in kinds)
    raise ConfigurationError(f"{where}: expected {expected}, found {value!r}")


def _take(table: Any, schema: Mapping[str, tuple], where: str) -> dict[str, Any]:
    """Check ``table`` against ``schema`` (key -> (type, default[, check])) and fill defaults."""
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where}: expected a table, found {table!r}")
    unknown = sorted(set(table) - set(schema))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigurationError(
            f"{key}: unknown key; expected one of: {', '.join(sorted(schema))}")
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        kind, default = spec[0], spec[1]
        path = f"{where}.{key}" if where else key
        if key not in table:
            if default is _REQUIRED:
                raise ConfigurationError(f"{path}: required key is missing")
            out[key] = default
            continue
        value = _typed(table[key], kind, path)
        if len(spec) > 2:
            value = spec[2](value, path)
        out[key] = value
    return out


# --------------------------------------------------------------------------- schemas

_SPLIT = {
    "features": (str, None),
    "labels": (str, None),
    "range": (list, None, _range_pair),
    "store": (str, None),
}

_DATA = {
    "task": (str, _REQUIRED, _choice(*TASKS)),
    "num_classes": (int, None, _at_least(1)),
    "alignment": (str, "EQUAL_LENGTH", _choice(*ALIGNMENTS)),
    "batch_size": (int, 32, _at_least(1)),
    "normalizer": (str, "none", _choice(*NORMALIZERS)),
    "normalize_labels": (bool, False),
    "shuffle": (bool, True),
    "delimiter": (str, ","),
    "skip_lines": (int, 0, _at_least(0)),
    "label_skip_lines": (int, 0, _at_least(0)),
    "label_index": (int, None),
    "train": (dict, None),
    "validation": (dict, None),
    "test": (dict, None),
}

_NETWORK = {
    "seed": (int, 123),
    "updater": ((str, dict), "adam"),
    "layers": (list, _REQUIRED),
    "l1": (float, None, _at_least(0)),
    "l2": (float, None, _at_least(0)),
    "gradient_normalization": (str, None),
    "gradient_normalization_threshold": (float, None, _at_least(0)),
    "backprop_type": (str, None, _choice("STANDARD", "TRUNCATED_BPTT")),
    "tbptt_forward_length": (int, None, _at_least(1)),
    "tbptt_backward_length": (int, None, _at_least(1)),
    "data_type": (str, None, _choice("float32", "float64")),
    "weight_init": (str, None),
    "input_type": (dict, None),
    "input_preprocessors": (dict, None),
}

_RUN = {
    "epochs": (int, _REQUIRED, _at_least(1)),
    "output": (str, None),
    "metric": (str, None),
    "early_stopping_patience": (int, 0, _at_least(0)),
    "keep_checkpoints": (int, 3, _at_least(1)),
    "device": (str, "cpu"),
    "progress": (bool, True),
}

_TOP = {"data": (dict, _REQUIRED), "network": (dict, _REQUIRED), "run": (dict, _REQUIRED)}


def _resolve(path: str | None, base_dir: str) -> str | None:
    if path is None or "://" in path:
        return path
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))


def _split(table: dict | None, data: dict, where: str, base_dir: str) -> SplitConfig | None:
    if table is None:
        return None
    s = _take(table, _SPLIT, where)
    if s["store"] is not None:
        if s["features"] is not None or s["labels"] is not None:
            raise ConfigurationError(
                f"{where}: give either 'store' or 'features'/'labels', found both")
        return SplitConfig(store=_resolve(s["store"], base_dir), range=s["range"])
    if s["features"] is None:
        raise ConfigurationError(f"{where}.features: required key is missing (or give 'store')")
    if s["range"] is None:
        raise ConfigurationError(f"{where}.range: required key is missing (with '%d' patterns)")
    if s["labels"] is None and data["label_index"] is None:
        raise ConfigurationError(
            f"{where}.labels: required key is missing (or set data.label_index for label "
            "columns inside the feature files)")
    return SplitConfig(features=_resolve(s["features"], base_dir),
                       labels=_resolve(s["labels"], base_dir), range=s["range"])


def _data(table: Any, base_dir: str) -> DataConfig:
    d = _take(table, _DATA, "data")
    if d["task"] == "classification" and d["num_classes"] is None:
        raise ConfigurationError("data.num_classes: required for task = 'classification'")
    if d["normalize_labels"] and d["task"] != "regression":
        raise ConfigurationError("data.normalize_labels: only applies to task = 'regression'")
    splits = {name: _split(d[name], d, f"data.{name}", base_dir)
              for name in ("train", "validation", "test")}
    if all(s is None for s in splits.values()):
        raise ConfigurationError("data: expected at least one of [data.train], "
                                 "[data.validation], [data.test]; found none")
    d.update(splits)
    return DataConfig(**d)


def _updater(value: str | dict, where: str) -> dict[str, Any]:
    if isinstance(value, str):
        return {"type": value}
    if "type" not in value or not isinstance(value["type"], str):
        raise ConfigurationError(f"{where}.type: required key is missing (e.g. type = \"adam\")")
    for key, v in value.items():
        if key != "type":
            _typed(v, (float, bool), f"{where}.{key}")
    return dict(value)


def _network(table: Any) -> NetworkConfig:
    n = _take(table, _NETWORK, "network")
    layers = n.pop("layers")
    if not layers:
        raise ConfigurationError("network.layers: expected at least one [[network.layers]] table")
    checked = []
    for i, layer in enumerate(layers):
        where = f"network.layers[{i}]"
        if not isinstance(layer, dict):
            raise ConfigurationError(f"{where}: expected a table, found {layer!r}")
        if not isinstance(layer.get("type"), str):
            raise ConfigurationError(f"{where}.type: required key is missing "
                                     "(a layer class name such as \"GravesLSTM\")")
        checked.append(dict(layer))
    seed = n.pop("seed")
    updater = _updater(n.pop("updater"), "network.updater")
    options = {k: v for k, v in n.items() if v is not None}
    if options.get("backprop_type") == "TRUNCATED_BPTT":
        for key in ("tbptt_forward_length", "tbptt_backward_length"):
            if key not in options:
                raise ConfigurationError(
                    f"network.{key}: required with backprop_type = 'TRUNCATED_BPTT'")
    return NetworkConfig(seed=seed, updater=updater, layers=checked, options=options)


def _run(table: Any, task: str, base_dir: str, name: str) -> RunSettings:
    r = _take(table, _RUN, "run")
    allowed = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    if r["metric"] is None:
        r["metric"] = allowed[0]
    _choice(*allowed)(r["metric"], "run.metric")
    r["output"] = _resolve(r["output"] or os.path.join("runs", name), base_dir)
    return RunSettings(**r)


def parse_run_config(table: Mapping[str, Any], base_dir: str | os.PathLike = ".",
                     name: str = "run", source: str = "<run config>") -> RunConfig:
    """Validate a parsed run file; relative paths are resolved against ``base_dir``."""
    try:
        top = _take(dict(table), _TOP, "")
        base = os.fspath(base_dir)
        data = _data(top["data"], base)
        return RunConfig(data=data, network=_network(top["network"]),
                         run=_run(top["run"], data.task, base, name), source=source)
    except ConfigurationError as e:
        raise ConfigurationError(f"{source}: {e}") from None


def load_run_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a run file (TOML)."""
    path = Path(path)
    table = read_toml(path)
    return parse_run_config(table, base_dir=path.resolve().parent, name=path.stem,
                            source=str(path))


# --------------------------------------------------------------------------- writing

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes are all valid TOML escapes; TOML also forbids a raw DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ConfigurationError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def dump_toml(table: Mapping[str, Any]) -> str:
    """Write the resolved run configuration back as TOML (tables two levels deep, arrays of
    tables for lists of tables, inline tables below that).

    >>> print(dump_toml({"run": {"epochs": 2}, "network": {"layers": [{"type": "LSTM"}]}}))
    [run]
    epochs = 2
    <BLANKLINE>
    [[network.layers]]
    type = "LSTM"
    <BLANKLINE>
    """
    lines: list[str] = []

    def emit(prefix: str, body: Mapping[str, Any], header: str) -> None:
        scalars = {k: v for k, v in body.items() if not _is_table_like(v)}
        if scalars or not body:
            lines.append(header)
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
            lines.append("")
        for key, value in body.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                emit(name, value, f"[{name}]")
            elif _is_table_like(value):
                for item in value:
                    lines.append(f"[[{name}]]")
                    lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
                    lines.append("")

    for key, value in table.items():
        emit(key, value, f"[{key}]")
    return "\n".join(lines)


def _is_table_like(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file; unreadable files and syntax errors name the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot read the file ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"{path}: not valid TOML: {e}") from None


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
