"""A damaged ``state.json`` never resumes the wrong run, and a moved run folder resumes.

Every field of a good state is replaced, one at a time, by a value of the wrong type and by
an absurd value of the right type; ``--resume`` must then fail with a
:class:`~seqnet.errors.StateError` naming ``state.json`` and the field, before any epoch is
trained, through the API and through the CLI (exit code 1, one line).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqnet.cli import main as seqnet_main
from seqnet.errors import StateError
from seqnet.workflow.run_config import load_run_config
from seqnet.workflow.run_state import check_state
from seqnet.workflow.train import train
from tests.seqnet.test_workflow_train import write_run_file

WRONG_TYPES = {
    "version": "1", "epoch": "2", "history": {"epoch": 1}, "best_epoch": "1",
    "best_value": "0.5", "bad_epochs": 1.5, "stopped_early": "no", "rng": [1, 2],
    "checkpoint": 7,
}
ABSURD = {
    "version": 99, "epoch": -3, "best_epoch": 999, "best_value": 1e400,
    "bad_epochs": -1, "stopped_early": 0, "rng": {"torch": "AAAA", "numpy": [], "python": []},
    "checkpoint": "/etc/passwd", "history": [{"epoch": 5}, {"epoch": 9}],
}
MORE_ABSURD = {"epoch": 999, "checkpoint": "../other/checkpoints/epoch_0001.zip",
               "best_epoch": 0, "rng": {"torch": "not base64!", "numpy": [], "python": []}}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("resume")
    run = write_run_file(folder, epochs=2)
    train(load_run_config(run))
    return run, json.loads((folder / "out" / "state.json").read_text())


def test_every_damaged_field_is_refused_naming_it(finished_run):
    run, good = finished_run
    state_path = run.parent / "out" / "state.json"
    cases = [(k, v) for table in (WRONG_TYPES, ABSURD, MORE_ABSURD) for k, v in table.items()]
    cases += [(k, None) for k in good if k not in ("best_epoch", "best_value")]
    try:
        for key, value in cases:
            state = {**good, key: value}
            state_path.write_text(json.dumps(state))
            # JSON has no infinity: 1e400 is written as Infinity, refused as it is parsed.
            named = "expected finite numbers" if value == 1e400 else key
            with pytest.raises(StateError, match=rf"state\.json: .*{named}") as info:
                train(load_run_config(run), resume=True, epochs=3)
                pytest.fail(f"{key} = {value!r} resumed")
            assert "Traceback" not in str(info.value)
        for key in good:
            state = {k: v for k, v in good.items() if k != key}
            state_path.write_text(json.dumps(state))
            with pytest.raises(StateError, match=rf"state\.json: .*{key}"):
                train(load_run_config(run), resume=True, epochs=3)
        state_path.write_text("[" * 10**6 + "]" * 10**6)
        with pytest.raises(StateError, match="nested"):
            train(load_run_config(run), resume=True, epochs=3)
        # Nothing was trained by any of the refused resumes.
        assert json.loads((run.parent / "out" / "metrics.jsonl").read_text()
                          .splitlines()[-1])["epoch"] == 2
    finally:
        state_path.write_text(json.dumps(good))


def test_the_cli_exits_1_with_one_line(finished_run):
    run, good = finished_run
    state_path = run.parent / "out" / "state.json"
    try:
        for key, value in {**WRONG_TYPES, **ABSURD}.items():
            state_path.write_text(json.dumps({**good, key: value}))
            result = CliRunner().invoke(seqnet_main, ["train", str(run), "--resume",
                                                      "--no-progress"])
            assert result.exit_code == 1, (key, result.output)
            named = "finite numbers" if value == 1e400 else key
            assert "state.json" in result.output and named in result.output, result.output
    finally:
        state_path.write_text(json.dumps(good))


def test_check_state_accepts_what_a_run_writes(finished_run):
    _, good = finished_run
    assert check_state(good, "state.json") is good
    assert good["checkpoint"] == "checkpoints/epoch_0002.zip"


def test_a_moved_run_folder_resumes_with_output(tmp_path):
    run = write_run_file(tmp_path, epochs=1)
    train(load_run_config(run))
    shutil.move(tmp_path / "out", tmp_path / "moved")
    result = CliRunner().invoke(seqnet_main, ["train", str(run), "--resume", "--epochs", "2",
                                              "--no-progress", "--output",
                                              str(tmp_path / "moved")])
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output
    state = json.loads((tmp_path / "moved" / "state.json").read_text())
    assert state["epoch"] == 2 and not Path(state["checkpoint"]).is_absolute()
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_of_another_run_is_never_trained(tmp_path):
    run = write_run_file(tmp_path, epochs=1)
    train(load_run_config(run))
    other = tmp_path / "other.zip"
    shutil.copy(tmp_path / "out" / "model.zip", other)
    state_path = tmp_path / "out" / "state.json"
    good = json.loads(state_path.read_text())
    for checkpoint in (str(other), "../other.zip", "checkpoints/absent.zip"):
        state_path.write_text(json.dumps({**good, "checkpoint": checkpoint}))
        with pytest.raises(StateError, match="checkpoint"):
            train(load_run_config(run), resume=True, epochs=2)
