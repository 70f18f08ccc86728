"""Every run-file key, given a value of the wrong type and an absurd value of the right type,
is a :class:`~seqnet.errors.ConfigurationError` naming the key, never a traceback, a guess or
the kernel's OOM killer.

Most values are refused when the run file is read; sizes that only the data completes (the
label width, the first layer's input) are refused by the memory estimate before anything is
allocated, and ``seqnet train`` exits 1 with one line.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqnet.cli import main as seqnet_main
from seqnet.errors import ConfigurationError
from seqnet.workflow.run_config import load_run_config, parse_run_config
from seqnet.workflow.toml_io import dump_toml, tomllib
from seqnet.workflow.train import train
from tests.seqnet.test_workflow_train import write_run_file

BASE = {
    "data": {"task": "classification", "num_classes": 3, "alignment": "ALIGN_END",
             "train": {"features": "f/%d.csv", "labels": "l/%d.csv", "range": [0, 9]},
             "validation": {"features": "vf/%d.csv", "labels": "vl/%d.csv", "range": [0, 2]},
             "test": {"features": "tf/%d.csv", "labels": "tl/%d.csv", "range": [0, 4]}},
    "network": {"seed": 7, "updater": {"type": "adam", "learning_rate": 0.01},
                "layers": [{"type": "GravesLSTM", "n_out": 8},
                           {"type": "RnnOutputLayer", "activation": "softmax"}]},
    "run": {"epochs": 2},
}

# key -> (a value of the wrong type, absurd values of the right type); the error must
# mention the last part of the key.
CASES: dict[str, tuple[object, list[object]]] = {
    "data.task": (1, ["classify"]),
    "data.num_classes": ("3", [0, -1, 2**70]),
    "data.alignment": ([1], ["ALIGN_MIDDLE"]),
    "data.batch_size": (2.5, [0, -8, 10**12]),
    "data.normalizer": (True, ["zscore"]),
    "data.normalize_labels": ("yes", []),
    "data.shuffle": (1, []),
    "data.delimiter": (44, ["", ";;", "\n", '"']),
    "data.skip_lines": ("1", [-1, 10**15]),
    "data.label_skip_lines": (1.0, [-1, 10**15]),
    "data.label_index": ("0", [2**40, -(2**40)]),
    "data.validation_fraction": ("0.1", [0, 1, -0.5, 2.0, float("nan")]),
    "data.train": ("f.csv", []),
    "data.train.features": (1, []),
    "data.train.labels": ([], []),
    "data.train.range": ("0-9", [[9, 0], [-5, 3], [0, 2**70], [0], [0, 1, 2]]),
    "data.train.store": (5, []),
    "data.validation": ([1], []),
    "data.validation.range": ({"a": 1}, [[3, 1]]),
    "data.test": (2, []),
    "data.test.range": (7, [[0, 10**40]]),
    "network.seed": ("7", [-5, 2**64]),
    "network.updater": (3, ["adamw"]),
    "network.updater.learning_rate": ("0.1", [0, -1, 1e308]),
    "network.updater.beta1": ("x", [1.0, -0.5]),
    "network.updater.epsilon": ("x", [-1e-8]),
    "network.layers": ({}, [[]]),
    "network.layers.0.n_out": ("8", [0, -3, 2**70]),
    "network.layers.0.n_in": (8.5, [0, 2**40]),
    "network.layers.0.l2": ("x", [-1.0]),
    "network.layers.0.activation": (1, ["swishy"]),
    "network.layers.1.loss": (1, ["HINGEY"]),
    "network.input_type": ("rnn", [{"kind": "rnn", "size": -3}, {"kind": "rnn", "size": 0},
                                   {"kind": "bogus", "size": 2},
                                   {"kind": "rnn", "size": 2**40}]),
    "network.l1": ("x", [-1]),
    "network.l2": ([], [-0.5]),
    "network.weight_init": (3, ["RANDOM_GUESS"]),
    "network.data_type": (32, ["float16"]),
    "network.tbptt_forward_length": ("5", [0, -1, 10**15]),
    "network.gradient_normalization_threshold": ("1", [0, -1.0]),
    "run.epochs": ("2", [0, -1, 10**12]),
    "run.output": (1, [""]),
    "run.metric": (1, ["mse", "auc"]),
    "run.early_stopping_patience": ("2", [-1, 10**12]),
    "run.keep_checkpoints": (1.5, [0, 10**12]),
    "run.device": (0, ["meta", "cuda:-1", "gpu", "cpu; rm -rf /"]),
    "run.progress": ("no", []),
    "run.tensorboard": ("yes", []),
}


def with_value(path: str, value: object) -> dict:
    table = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    target: object = table
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return table


def test_every_key_with_a_wrong_type_or_an_absurd_value_is_named():
    tried = 0
    for key, (wrong, absurd) in CASES.items():
        name = key.split(".")[-1]
        for value in [wrong, *absurd]:
            with pytest.raises(ConfigurationError) as info:
                parse_run_config(with_value(key, value), base_dir="/base")
                pytest.fail(f"{key} = {value!r} accepted")
            message = str(info.value)
            assert name in message, (key, value, message)
            assert "Traceback" not in message and len(message.splitlines()) == 1, message
            tried += 1
    assert tried > 100


def test_every_schema_key_has_a_case():
    from seqnet.workflow import run_config

    keys = ({f"data.{k}" for k in run_config._DATA} | {f"run.{k}" for k in run_config._RUN}
            | {f"data.train.{k}" for k in run_config._SPLIT})
    assert keys <= set(CASES), sorted(keys - set(CASES))


def test_label_index_with_label_files_is_refused():
    table = with_value("data.label_index", 0)
    with pytest.raises(ConfigurationError, match="data.label_index.*label files"):
        parse_run_config(table, base_dir="/base")


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory) -> Path:
    return write_run_file(tmp_path_factory.mktemp("ranges"), epochs=1)


def edited(run: Path, name: str, edit) -> Path:
    table = tomllib.loads(run.read_text())
    edit(table)
    path = run.with_name(name)
    path.write_text(dump_toml(table))
    return path


SIZE_CASES = {
    "data.num_classes": lambda t: t["data"].update(num_classes=100_000_000),
    "n_out": lambda t: t["network"]["layers"][0].update(n_out=1_000_000),
    "batch_size": lambda t: t["data"].update(batch_size=2**31 - 1, num_classes=1_000_000),
}


def test_sizes_beyond_memory_are_refused_before_allocating(corpus_run):
    for name, edit in SIZE_CASES.items():
        run = edited(corpus_run, "big.toml", edit)
        with pytest.raises(ConfigurationError, match="GiB available") as info:
            train(load_run_config(run), overwrite=True)
        assert name.split(".")[-1] in str(info.value) or "n_out" in str(info.value)


def test_the_cli_exits_1_for_each_late_error(corpus_run, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    cases = {
        **SIZE_CASES,
        "run.output": lambda t: t["run"].update(output=str(tmp_path / "a_file")),
        "run.device": lambda t: t["run"].update(device="meta"),
        "network.seed": lambda t: t["network"].update(seed=-5),
        "input_type": lambda t: t["network"].update(input_type={"kind": "rnn", "size": -3}),
    }
    for key, edit in cases.items():
        run = edited(corpus_run, "late.toml", edit)
        result = CliRunner().invoke(seqnet_main, ["train", str(run), "--overwrite",
                                                  "--no-progress"])
        assert result.exit_code == 1, (key, result.output, result.exception)
        assert result.output.startswith("error: ") and len(result.output.splitlines()) == 1, \
            result.output
        assert key.split(".")[-1] in result.output or "GiB" in result.output, result.output
    assert json.dumps(BASE)      # BASE itself stays untouched by the edits
