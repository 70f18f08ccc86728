"""docs/run-file.md is generated from the run-file schemas and must match them."""

from __future__ import annotations

import re

import pytest

from seqnet.workflow import build, run_config
from seqnet.workflow.reference import MEANINGS, render
from seqnet.workflow.run_config import load_run_config
from seqnet.workflow.toml_io import read_toml
from tests.conftest import ROOT

DOC = ROOT / "docs" / "run-file.md"


def test_the_reference_is_what_the_schemas_generate():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/run-file.md is stale: python -m seqnet.workflow.reference > docs/run-file.md")


def test_every_key_of_every_table_is_documented_and_nothing_else():
    keys = {f"data.{k}" for k in run_config._DATA} | {f"split.{k}" for k in run_config._SPLIT}
    keys |= {f"network.{k}" for k in build._NETWORK} | {f"run.{k}" for k in run_config._RUN}
    assert keys == set(MEANINGS)
    text = DOC.read_text(encoding="utf-8")
    for key in keys:
        assert re.search(rf"^\| `{re.escape(key.split('.', 1)[1])}` \|", text, re.M), key


@pytest.mark.parametrize("name", ["japanese_vowels.toml", "uci_synthetic_control.toml"])
def test_the_shipped_run_files_are_valid_and_use_documented_keys(name):
    path = ROOT / "examples" / name
    config = load_run_config(path)
    table = read_toml(path)
    for section in ("data", "network", "run"):
        for key in table[section]:
            assert f"{section}.{key}" in MEANINGS, f"{name}: {section}.{key}"
    if config.data.task == "classification" and config.data.num_classes > 2:
        # Selection and early stopping look only at a validation split.
        assert config.run.early_stopping_patience == 0 or \
            config.data.validation_fraction is not None or config.data.validation is not None
