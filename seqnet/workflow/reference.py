"""The run-file reference (``docs/run-file.md``), generated from the schemas it documents.

Every key of every table comes from the schema that checks it (``run_config``'s tables,
``build``'s ``[network]`` table, the configuration classes' fields for layers and updaters),
with its type and default; only the meaning is written here, in :data:`MEANINGS`.
``tests/seqnet/test_workflow_reference.py`` regenerates the file and compares, and fails for
a key without a meaning, so the reference cannot drift from the code.

    python -m seqnet.workflow.reference > docs/run-file.md
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any

from seqnet.conf.layers import Layer
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.schema import field_hints
from seqnet.conf.updaters import Updater
from seqnet.errors import ConfigurationError
from seqnet.workflow import build, run_config
from seqnet.workflow.table_checks import REQUIRED

MEANINGS: dict[str, str] = {
    # [data]
    "data.task": "`classification` (one-hot labels) or `regression` (label columns as values).",
    "data.num_classes": "Number of classes; required for classification (DL4J's "
                        "`numPossibleLabels`).",
    "data.alignment": "`EQUAL_LENGTH`, `ALIGN_START` or `ALIGN_END`: how feature and label "
                      "sequences of different lengths line up (DL4J's `AlignmentMode`).",
    "data.batch_size": "Sequences per minibatch.",
    "data.normalizer": "`none`, `standardize` (NormalizerStandardize) or `minmax` "
                       "(NormalizerMinMaxScaler), fitted on the training split only.",
    "data.normalize_labels": "Also normalise regression labels (predictions are reverted).",
    "data.shuffle": "Shuffle the training sequences every epoch (seed + epoch).",
    "data.delimiter": "Field delimiter of the CSV files; longer than one character is a "
                      "regular expression (`'\\s+'`).",
    "data.skip_lines": "Header lines skipped at the top of every feature file.",
    "data.label_skip_lines": "Header lines skipped at the top of every label file.",
    "data.label_index": "Column of the feature file that holds the label (negative counts "
                        "from the end), when there are no label files.",
    "data.validation_fraction": "Fraction of the training sequences held out as the "
                                "validation split (drawn with `network.seed`); exclusive "
                                "with `[data.validation]`.",
    "data.train": "The training split (table below).",
    "data.validation": "The validation split: picks `best.zip` and drives early stopping.",
    "data.test": "The test split: evaluated and reported at the end, never used to choose.",
    # [data.<split>]
    "split.features": "`%d` pattern (with `range`) or folder of the feature files.",
    "split.labels": "`%d` pattern or folder of the label files (omit with "
                    "`data.label_index`).",
    "split.range": "`[min, max]`, inclusive, for `%d` patterns; for a store, the sequences "
                   "to use.",
    "split.store": "A packed store (`seqdata convert`), local path or URL, instead of "
                   "`features`/`labels`.",
    # [network]
    "network.seed": "Seed of the weights, dropout and the validation carve-out.",
    "network.updater": "Updater name (`adam`) or table (`{ type = \"adam\", learning_rate = "
                       "1e-3 }`); see Updaters below.",
    "network.layers": "Array of layer tables (`[[network.layers]]`), each with `type`; see "
                      "Layers below.",
    "network.input_type": "`{ kind = \"rnn\", size = N }` and friends; by default the number "
                          "of feature columns.",
    "network.input_preprocessors": "`{ 0 = { type = \"...PreProcessor\" } }`: explicit "
                                   "preprocessors by layer index.",
    "network.weight_init": "Default weight initialisation (`XAVIER`, ...).",
    "network.l1": "Default L1 regularisation of weights.",
    "network.l2": "Default L2 regularisation of weights.",
    "network.gradient_normalization": "`CLIP_ELEMENT_WISE_ABSOLUTE_VALUE`, `CLIP_L2_PER_LAYER`, "
                                      "`CLIP_L2_PER_PARAM_TYPE`, `RENORMALIZE_L2_PER_LAYER`, ... "
                                      "(DL4J's spellings too: `ClipElementWiseAbsoluteValue`).",
    "network.gradient_normalization_threshold": "Threshold of the clipping modes.",
    "network.backprop_type": "`STANDARD` or `TRUNCATED_BPTT`.",
    "network.tbptt_forward_length": "TBPTT segment length k1.",
    "network.tbptt_backward_length": "TBPTT steps back-propagated per segment, k2 <= k1.",
    "network.data_type": "`float32` or `float64`.",
    "network.update_rule": "`STANDARD` or `DL4J_LEGACY` (DL4J <= 1.0.0-beta3's update).",
    # [run]
    "run.epochs": "Epochs to train (`--epochs` overrides).",
    "run.output": "Output folder, relative to the run file (`--output` overrides).",
    "run.metric": "Validation metric that picks `best.zip`: `accuracy` or `f1`; `mse`, `mae`, "
                  "`rmse` or `r2` for regression.",
    "run.early_stopping_patience": "Stop after this many epochs without a better validation "
                                   "metric (0: never); needs a validation split.",
    "run.keep_checkpoints": "How many per-epoch checkpoints to keep.",
    "run.device": "`cpu`, `cuda`, `cuda:N` or `auto`.",
    "run.progress": "Progress bars on a terminal (log lines otherwise); `--no-progress` turns "
                    "both off.",
    "run.tensorboard": "Also write TensorBoard event files to `OUTPUT/tensorboard` (needs "
                       "`pip install 'seqdl[tensorboard]'`).",
}


def _type_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
             dict: "table", object: "value"}
    return " or ".join(names.get(k, getattr(k, "__name__", str(k))) for k in kinds)


def _default(value: Any) -> str:
    if value is REQUIRED:
        return "required"
    if value is None:
        return "-"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def _table(title: str, prefix: str, schema: Mapping[str, tuple], defaults: Mapping[str, Any],
           types: Mapping[str, str] | None = None) -> list[str]:
    lines = [f"## {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    for key, spec in schema.items():
        dotted = f"{prefix}.{key}"
        if dotted not in MEANINGS:
            raise ConfigurationError(f"run-file reference: no meaning written for {dotted}")
        kind = (types or {}).get(key) or _type_name(spec[0])
        default = defaults.get(key, spec[1])
        lines.append(f"| `{key}` | {kind} | {_default(default)} | {MEANINGS[dotted]} |")
    return lines + [""]


def _toml_type(hint: Any) -> str:
    """The TOML type a user writes for a configuration field's type hint."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_toml_type(a) for a in args))
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return "array"
    if origin is dict:
        return "table"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return f"string ({hint.__name__})"
    if hint is Updater:
        return "string or table"
    names = {int: "integer", float: "number", str: "string", bool: "boolean"}
    return names.get(hint, "table")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value.value if isinstance(value, enum.Enum) else value


def _classes(base: type) -> list[type]:
    found: list[type] = []
    todo: list[type] = [base]
    while todo:
        cls = todo.pop()
        sub: type
        for sub in cls.__subclasses__():
            todo.append(sub)
            # seqnet's own public classes only (tests and users may subclass too)
            if dataclasses.is_dataclass(sub) and not sub.__name__.startswith("_") \
                    and sub.__module__.startswith("seqnet.") and sub.__name__ != "BaseLSTM":
                found.append(sub)
    return sorted(set(found), key=lambda c: c.__name__)


def _fields(cls: type, skip: Mapping[str, Any] = {}) -> str:
    """``key`` (type, default) for the fields of ``cls`` that ``skip`` does not hold with
    the same default."""
    hints = field_hints(cls)
    parts = []
    for f in dataclasses.fields(cls):
        default = _plain(f.default) if f.default is not dataclasses.MISSING else None
        if f.name in skip and skip[f.name] == default:
            continue
        shown = "-" if default is None else f"`{default!r}`".replace("'", '"')
        parts.append(f"`{f.name}` ({_toml_type(hints[f.name])}, {shown})")
    return ", ".join(parts) or "no other keys"


def render() -> str:
    """The reference as Markdown."""
    settings = {f.name: f for f in dataclasses.fields(MultiLayerConfiguration)}
    hints = typing.get_type_hints(MultiLayerConfiguration)
    network_types = {key: _toml_type(hints[key]) for key in settings if key in hints}
    network_defaults = {key: (settings[key].default if settings[key].default is not
                              dataclasses.MISSING else None) for key in settings}
    network_defaults.update({"seed": build.DEFAULT_SEED, "updater": "adam", "layers": REQUIRED})
    lines = [
        "# The run file of `seqnet train`",
        "",
        "<!-- Generated by `python -m seqnet.workflow.reference > docs/run-file.md` from the",
        "     schemas in seqnet/workflow; tests/seqnet/test_workflow_reference.py checks it. -->",
        "",
        "One TOML file with the tables `[data]`, `[network]` and `[run]` "
        "(`examples/japanese_vowels.toml` is a complete one). Unknown keys and wrong types are "
        "errors naming the dotted key. Relative paths are resolved against the run file's "
        "folder. Enum values are accepted in DL4J's spellings too (`\"TanH\"`, "
        "`\"ClipElementWiseAbsoluteValue\"`).",
        "",
    ]
    lines += _table("[data]", "data", run_config._DATA, {})
    lines += _table("[data.train], [data.validation], [data.test]", "split", run_config._SPLIT,
                    {})
    lines += _table("[network]", "network", build._NETWORK, network_defaults, network_types)
    lines += _table("[run]", "run", run_config._RUN,
                    {"output": "runs/<run file name>", "metric": "accuracy / mse"})
    common = {f.name: _plain(f.default) for f in dataclasses.fields(Layer)}
    lines += ["## Layers (`[[network.layers]]`, `type = \"...\"`)", "",
              "Keys are the fields of the configuration class (DL4J's names, snake_case); "
              "`n_in` and the output layer's `n_out` may be left out. Every layer takes "
              f"{_fields(Layer)}; a layer-level `updater`, `l1`, `l2` or "
              "`gradient_normalization` overrides the network's. Besides those (and where "
              "the default differs):", ""]
    lines += [f"- `{cls.__name__}`: {_fields(cls, common)}" for cls in _classes(Layer)]
    lines += ["", "## Updaters (`network.updater`, or a layer's `updater`)", ""]
    lines += [f"- `{cls.__name__}` (`type = \"{cls.__name__.lower()}\"`): {_fields(cls)}"
              for cls in _classes(Updater)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
