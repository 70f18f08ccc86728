"""The run file schema: strict validation with the key named, defaults, paths, round trip."""

from __future__ import annotations

import copy
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqnet.errors import ConfigurationError
from seqnet.workflow.build import build_configuration
from seqnet.workflow.run_config import load_data_config, load_run_config, parse_run_config
from seqnet.workflow.toml_io import dump_toml, tomllib
from tests.conftest import ROOT

BASE = {
    "data": {"task": "classification", "num_classes": 3, "alignment": "ALIGN_END",
             "train": {"features": "f/%d.csv", "labels": "l/%d.csv", "range": [0, 9]},
             "test": {"features": "tf/%d.csv", "labels": "tl/%d.csv", "range": [0, 4]}},
    "network": {"seed": 7, "updater": {"type": "adam", "learning_rate": 0.01},
                "layers": [{"type": "GravesLSTM", "n_out": 8},
                           {"type": "RnnOutputLayer", "activation": "softmax"}]},
    "run": {"epochs": 2},
}


def with_change(path: str, value: object) -> dict:
    """BASE with ``value`` set at the dotted ``path`` (``"data.train.range"``)."""
    table = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    target = table
    for p in parents:
        target = target[p]
    target[last] = value
    return table


def error_of(table: dict) -> str:
    with pytest.raises(ConfigurationError) as info:
        parse_run_config(table, base_dir="/base")
    return str(info.value)


def test_the_main_job_run_file_loads_with_paths_resolved_against_its_folder():
    cfg = load_run_config(ROOT / "examples" / "japanese_vowels.toml")
    assert cfg.data.alignment == "ALIGN_END" and cfg.data.normalizer == "standardize"
    assert cfg.data.train.features == str(ROOT / "fixtures/japanese_vowels/train/features/%d.csv")
    assert cfg.data.test.range == (0, 369)
    assert os.path.exists(cfg.data.train.features % 269)
    assert cfg.run.output == str(ROOT / "examples" / "runs" / "japanese_vowels")


def test_defaults_are_filled_in():
    cfg = parse_run_config(BASE, base_dir="/base", name="demo")
    assert (cfg.data.batch_size, cfg.data.normalizer, cfg.data.shuffle) == (32, "none", True)
    assert cfg.run.metric == "accuracy" and cfg.run.early_stopping_patience == 0
    assert cfg.run.output == "/base/runs/demo"
    assert cfg.data.eval_split is cfg.data.test


@pytest.mark.parametrize("path", ["extra", "data.extra", "data.train.featurs", "network.seeed",
                                  "run.epoch"])
def test_an_unknown_key_is_rejected_with_its_dotted_name(path):
    message = error_of(with_change(path, 1))
    assert f"{path}: unknown key" in message


@pytest.mark.parametrize("path, value, expected", [
    ("run.epochs", "3", "an integer"),
    ("run.epochs", True, "an integer"),
    ("run.epochs", 2.5, "an integer"),
    ("data.batch_size", 0, ">= 1"),
    ("data.alignment", "ALIGN_MIDDLE", "'ALIGN_START'"),
    ("data.normalizer", "zscore", "'standardize'"),
    ("data.train.range", [5, 1], "min <= max"),
    ("data.train.range", [0, 1, 2], "two integers"),
    ("data.shuffle", "yes", "true or false"),
    ("network.l2", -1.0, ">= 0"),
    ("network.updater", 3, "a string or a table"),
    ("network.updater.learning_rate", "fast", "a number"),
    ("run.metric", "mse", "'accuracy'"),
])
def test_a_wrong_value_is_rejected_naming_key_and_expectation(path, value, expected):
    message = error_of(with_change(path, value))
    assert path in message and expected in message


@pytest.mark.parametrize("path", ["data.task", "run.epochs", "network.layers"])
def test_a_missing_required_key_is_named(path):
    table = copy.deepcopy(BASE)
    section, key = path.split(".")
    del table[section][key]
    assert f"{path}: required key is missing" in error_of(table)


def test_classification_needs_num_classes_and_tbptt_needs_its_lengths():
    table = copy.deepcopy(BASE)
    del table["data"]["num_classes"]
    assert "data.num_classes" in error_of(table)
    assert "network.tbptt_forward_length" in error_of(
        with_change("network.backprop_type", "TRUNCATED_BPTT"))


def test_a_split_needs_labels_unless_label_index_is_given():
    table = copy.deepcopy(BASE)
    del table["data"]["train"]["labels"]
    assert "data.train.labels" in error_of(table)
    table["data"]["label_index"] = -1
    # label_index with a split that has label files is refused (it would be ignored there).
    assert "data.label_index" in error_of(table)
    for split in ("validation", "test"):
        if split in table["data"]:
            table["data"][split].pop("labels", None)
    assert parse_run_config(table, base_dir="/b").data.train.labels is None


def test_a_toml_syntax_error_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[data]\ntask = \n")
    with pytest.raises(ConfigurationError, match=r"bad\.toml: not valid TOML.*line 2"):
        load_run_config(bad)


def test_the_resolved_config_written_as_toml_reads_back_identically(tmp_path):
    cfg = parse_run_config(BASE, base_dir="/base", name="demo")
    text = dump_toml(cfg.to_dict())
    assert tomllib.loads(text) == cfg.to_dict()
    (tmp_path / "again.toml").write_text(text)
    assert load_run_config(tmp_path / "again.toml").to_dict() == cfg.to_dict()


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True),
                       st.one_of(st.integers(-10**6, 10**6), st.booleans(),
                                 st.floats(allow_nan=False, allow_infinity=False),
                                 st.text(max_size=12),
                                 st.lists(st.integers(-5, 5), max_size=3)),
                       max_size=6))
def test_dump_toml_round_trips_scalar_tables(table):
    assert tomllib.loads(dump_toml({"t": table})) == {"t": table}


def test_the_data_table_alone_is_enough_for_evaluate(tmp_path):
    f = tmp_path / "data.toml"
    f.write_text('[data]\ntask = "regression"\n[data.test]\nfeatures = "x/%d.csv"\n'
                 'labels = "y/%d.csv"\nrange = [0, 3]\n')
    data = load_data_config(f)
    assert data.task == "regression" and data.test.features == str(tmp_path / "x/%d.csv")


# --------------------------------------------------------------------------- build


def network_of(table: dict):
    return parse_run_config(table, base_dir="/b").network


def test_sizes_left_out_come_from_the_data():
    conf = build_configuration(network_of(BASE), n_in=12, n_out=3)
    assert conf.layers[0].n_in == 12 and conf.layers[1].n_in == 8
    assert conf.layers[1].n_out == 3 and conf.seed == 7
    assert type(conf.updater).__name__ == "Adam" and conf.updater.learning_rate == 0.01


@pytest.mark.parametrize("layer, expected", [
    ({"type": "GravesLSTM", "n_outt": 8}, "network.layers[0]: unknown key 'n_outt'"),
    ({"type": "GravesLTSM", "n_out": 8}, "network.layers[0].type"),
    ({"type": "GravesLSTM", "n_out": "8"}, "network.layers[0].n_out"),
    ({"type": "GravesLSTM", "n_out": 8, "activation": "swish"}, "network.layers[0].activation"),
])
def test_layer_errors_name_the_toml_key(layer, expected):
    table = with_change("network.layers", [layer, {"type": "RnnOutputLayer"}])
    with pytest.raises(ConfigurationError) as info:
        build_configuration(network_of(table), n_in=4, n_out=3)
    assert expected in str(info.value)


def test_updater_names_are_case_insensitive_and_unknown_ones_listed():
    conf = build_configuration(network_of(with_change("network.updater", "RMSPROP")), 4, 3)
    assert type(conf.updater).__name__ == "RmsProp"
    with pytest.raises(ConfigurationError, match="network.updater.type.*adam"):
        build_configuration(network_of(with_change("network.updater", "adamw")), 4, 3)
