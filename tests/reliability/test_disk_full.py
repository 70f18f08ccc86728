"""A disk that fills up (or refuses permission) mid-run: a SeqNetError naming the path, and
no temporary file left behind; a resumed run removes the temporaries of a killed one.

ENOSPC and EACCES are injected into each kind of write ``seqnet train`` does (the model zip,
a copy to ``best.zip`` / ``model.zip``, ``state.json`` / ``metrics.jsonl`` / ``config.toml``)
after part of the file was written, at each epoch in turn.
"""

from __future__ import annotations

import errno
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqnet.cli import main as seqnet_main
from seqnet.errors import SeqNetError
from seqnet.workflow import run_state
from seqnet.workflow.run_config import load_run_config
from seqnet.workflow.train import train
from tests.seqnet.test_workflow_train import write_run_file


def temporaries(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.name.endswith(".tmp"))


class Fault:
    """Fails the ``after``-th call (counting from 0) with ``code``, after a partial write."""

    def __init__(self, after: int, code: int) -> None:
        self.after, self.code, self.calls = after, code, 0

    def due(self) -> bool:
        self.calls += 1
        return self.calls > self.after

    def error(self, path: object) -> OSError:
        return OSError(self.code, "injected " + errno.errorcode[self.code], str(path))


def inject(monkeypatch, kind: str, fault: Fault) -> None:
    if kind == "model zip":
        original = zipfile.ZipFile.writestr

        def writestr(self, name, data, *args, **kwargs):
            original(self, name, data, *args, **kwargs)
            if name == "parameters.npz" and fault.due():
                raise fault.error(getattr(self.fp, "name", name))
        monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)
    elif kind == "copy":
        original_copy = shutil.copyfile

        def copyfile(src, dst, *args, **kwargs):
            if fault.due():
                Path(dst).write_bytes(b"partial")
                raise fault.error(dst)
            return original_copy(src, dst, *args, **kwargs)
        monkeypatch.setattr(run_state.shutil, "copyfile", copyfile)
    else:
        original_write = Path.write_text

        def write_text(self, text, *args, **kwargs):
            if self.name.endswith(".tmp") and self.name.startswith(kind) and fault.due():
                original_write(self, text[:10], *args, **kwargs)
                raise fault.error(self)
            return original_write(self, text, *args, **kwargs)
        monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
@pytest.mark.parametrize("kind", ["model zip", "copy", "state.json", "metrics.jsonl",
                                  "config.toml"])
def test_a_failed_write_names_the_path_and_leaves_no_temporary(tmp_path, monkeypatch, kind,
                                                               code):
    run = write_run_file(tmp_path, epochs=2)
    out = tmp_path / "out"
    for after in (0, 1):
        with monkeypatch.context() as patch:
            inject(patch, kind, Fault(after, code))
            with pytest.raises(SeqNetError) as info:
                train(load_run_config(run), overwrite=True)
        message = str(info.value)
        assert str(out) in message and ("injected" in message or "No space" in message), \
            message
        assert temporaries(out) == [], (kind, after, temporaries(out))
        if kind == "config.toml":
            break           # written once, before the first epoch


def test_the_cli_says_which_file_and_exits_1(tmp_path, monkeypatch):
    run = write_run_file(tmp_path, epochs=1)
    inject(monkeypatch, "state.json", Fault(0, errno.ENOSPC))
    result = CliRunner().invoke(seqnet_main, ["train", str(run), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "state.json" in result.output and "Traceback" not in result.output
    assert temporaries(tmp_path / "out") == []


def test_a_resume_removes_what_a_killed_run_left(tmp_path):
    run = write_run_file(tmp_path, epochs=1)
    train(load_run_config(run))
    out = tmp_path / "out"
    left = [out / "state.json.tmp", out / "model.zip.tmp", out / "best.zip.tmp",
            out / ".model.zip.tmp.abc123.tmp", out / "checkpoints" / "epoch_0002.zip.tmp",
            out / "checkpoints" / ".epoch_0002.zip.tmp.x1y2.tmp"]
    for path in left:
        path.write_bytes(b"partial")
    (out / "notes.txt").write_text("mine")
    result = train(load_run_config(run), resume=True, epochs=2)
    assert result.epochs_completed == 2
    assert temporaries(out) == []
    assert (out / "notes.txt").read_text() == "mine"     # only our temporaries go
    assert json.loads((out / "state.json").read_text())["epoch"] == 2
