"""What ``seqnet`` writes when its output goes to a file, and ``--version`` without torch."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

TRAIN = """
import sys
import seqnet.training.progress as progress
progress.LINE_INTERVAL_S = 0.0          # a line for every minibatch, as a long epoch gets
from seqnet.cli import main
main(sys.argv[1:])
"""


def test_train_logged_to_a_file_has_no_carriage_returns_and_short_lines(tmp_path):
    log = tmp_path / "log"
    with log.open("wb") as stderr:
        done = subprocess.run(
            [sys.executable, "-c", TRAIN, "train", str(ROOT / "examples/japanese_vowels.toml"),
             "--epochs", "2", "--output", str(tmp_path / "run")],
            stdout=subprocess.PIPE, stderr=stderr, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, log.read_text()
    text = log.read_bytes().decode()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines and max(len(line) for line in lines) <= 200
    assert any("epoch 1: 9/9 minibatches" in line for line in lines), text
    out = done.stdout.decode()
    assert "epoch   2/2" in out and "\r" not in out


def test_version_answers_without_importing_torch():
    code = ("import sys; from seqnet.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == [done.stdout.splitlines()[0], "False"]
    assert done.stdout.startswith("seqnet ")
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert not any(name == "torch" or name.startswith("torch.") for name in imported)
