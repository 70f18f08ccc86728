"""docs/run-file.md is generated from the run-file schemas and must match them."""

from __future__ import annotations

import re

from seqnet.workflow import build, run_config
from seqnet.workflow.reference import MEANINGS, render
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


def test_the_shipped_run_file_only_uses_documented_keys():
    table = read_toml(ROOT / "examples" / "japanese_vowels.toml")
    for section in ("data", "run"):
        for key in table[section]:
            prefix = "split" if key in ("train", "validation", "test") else section
            assert f"{section}.{key}" in MEANINGS or f"{prefix}.{key}" in MEANINGS
