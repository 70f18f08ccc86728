"""The README's Python blocks run as written (from a folder holding the fixtures)."""

import os
import re

import pytest

from tests.conftest import FIXTURES, ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch, capsys):
    os.symlink(FIXTURES, tmp_path / "fixtures")
    monkeypatch.chdir(tmp_path)
    code = BLOCKS[index]
    if "SequenceStore(" in code:  # the store block opens what the CLI block converts
        from seqdata.splits import NumberedFileInputSplit
        from seqdata.store.convert import convert
        jv = "fixtures/japanese_vowels/train"
        convert(NumberedFileInputSplit(f"{jv}/features/%d.csv", 0, 269), "jv_train.store",
                labels=NumberedFileInputSplit(f"{jv}/labels/%d.csv", 0, 269), progress=False)
    namespace: dict = {}
    exec(compile(code, f"README.md block {index}", "exec"), namespace)
    if "evaluation" in namespace:
        assert namespace["evaluation"].accuracy() > 0.9
