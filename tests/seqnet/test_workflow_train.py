"""``seqnet train``'s loop: outputs, PNGs, checkpoints, early stopping and exact resume."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from seqnet.errors import ConfigurationError, StateError
from seqnet.workflow.model_io import load_model
from seqnet.workflow.run_config import load_run_config
from seqnet.workflow.train import rng_state, set_rng_state, train
from tests.conftest import ROOT

CLASSES = 3


def write_corpus(root: Path, n: int, seed: int, regression: bool = False) -> None:
    """Variable-length sequences of 2 channels; the class (or target) is the level of
    channel 0, so a small LSTM learns it in a few epochs. One label row per sequence."""
    rng = np.random.default_rng(seed)
    (root / "features").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    for i in range(n):
        k = i % CLASSES
        length = int(rng.integers(4, 11))
        x = np.stack([k + 0.3 * rng.standard_normal(length), rng.standard_normal(length)], 1)
        np.savetxt(root / "features" / f"{i}.csv", x, delimiter=",", fmt="%.5f")
        label = f"{k * 0.5 + 0.1 * x[:, 1].mean():.5f}" if regression else str(k)
        (root / "labels" / f"{i}.csv").write_text(label + "\n")


def write_run_file(folder: Path, epochs: int = 3, regression: bool = False,
                   extra_run: str = "", updater: str = '{ type = "adam", learning_rate = 0.05 }',
                   validation: bool = False) -> Path:
    """A corpus (train 36 / test 18 sequences) and a run file using it, in ``folder``."""
    if not (folder / "train").exists():
        write_corpus(folder / "train", 36, seed=1, regression=regression)
        write_corpus(folder / "test", 18, seed=2, regression=regression)
    task = ('task = "regression"' if regression else
            f'task = "classification"\nnum_classes = {CLASSES}')
    val = ('[data.validation]\nfeatures = "test/features/%d.csv"\n'
           'labels = "test/labels/%d.csv"\nrange = [0, 8]\n' if validation else "")
    output = ('activation = "identity"\nloss = "MSE"' if regression else
              'activation = "softmax"\nloss = "MCXENT"')
    text = f"""
[data]
{task}
alignment = "ALIGN_END"
batch_size = 8
normalizer = "standardize"

[data.train]
features = "train/features/%d.csv"
labels = "train/labels/%d.csv"
range = [0, 35]

{val}
[data.test]
features = "test/features/%d.csv"
labels = "test/labels/%d.csv"
range = [0, 17]

[network]
seed = 42
updater = {updater}

[[network.layers]]
type = "GravesLSTM"
n_out = 6

[[network.layers]]
type = "RnnOutputLayer"
{output}

[run]
epochs = {epochs}
output = "out"
progress = false
{extra_run}
"""
    path = folder / "run.toml"
    path.write_text(text)
    return path


def params(model: Path) -> dict[str, np.ndarray]:
    return load_model(model)[0].param_table()


def assert_same_params(a: Path, b: Path) -> None:
    pa, pb = params(a), params(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)


def test_a_run_writes_every_output_and_learns(tmp_path):
    result = train(load_run_config(write_run_file(tmp_path, epochs=4)))
    out = tmp_path / "out"
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]
    assert {"train_score", "accuracy", "f1", "seconds", "iterations"} <= set(lines[0])
    assert lines[-1]["train_score"] < lines[0]["train_score"]
    assert lines[-1]["iterations"] == 4 * 5          # 36 sequences in minibatches of 8
    assert result.test.accuracy() > 1 / CLASSES + 0.2
    assert result.test_model == "final"
    # PNGs are real images of the documented size (100 dpi).
    assert matplotlib.image.imread(out / "loss.png").shape[:2] == (480, 800)
    assert matplotlib.image.imread(out / "confusion.png").shape[:2] == (400, 400)
    # The model zip holds the normaliser, and it gives the same test numbers.
    net, extras = load_model(out / "model.zip")
    assert extras["normalizer"] is not None
    np.testing.assert_allclose(extras["normalizer"].mean, result.network.normalizer.mean)
    # No validation split: nothing chooses a model, so there is no best.zip.
    assert not (out / "best.zip").exists() and (out / "config.toml").exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "epoch_0002.zip", "epoch_0003.zip", "epoch_0004.zip"]      # keep_checkpoints = 3
    assert load_run_config(out / "config.toml").to_dict()["network"] == \
        load_run_config(tmp_path / "run.toml").to_dict()["network"]


EPOCHS = 8


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A run of EPOCHS epochs without interruption (the reference for resumed runs)."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    result = train(load_run_config(write_run_file(folder, epochs=EPOCHS)))
    return folder / "out" / "model.zip", result


def test_resume_after_fewer_epochs_ends_with_the_uninterrupted_parameters(tmp_path,
                                                                            uninterrupted):
    model, full = uninterrupted
    cfg = load_run_config(write_run_file(tmp_path, epochs=EPOCHS))
    train(cfg, epochs=2)
    resumed = train(cfg, resume=True)
    assert_same_params(model, tmp_path / "out" / "model.zip")
    assert [h["train_score"] for h in resumed.history] == [h["train_score"] for h in full.history]
    assert resumed.test.accuracy() == full.test.accuracy()


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_parameters(tmp_path,
                                                                           uninterrupted):
    run = write_run_file(tmp_path, epochs=EPOCHS)
    state = tmp_path / "out" / "state.json"
    # The same intra-op thread count as this process (tests/conftest.py), which resumes the
    # run: a different count changes float32 reduction order, hence the last bits.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen([sys.executable, "-c", "from seqnet.cli import main; main()",
                             "train", str(run)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if state.exists() and json.loads(state.read_text())["epoch"] >= 2:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed_after = json.loads(state.read_text())["epoch"]
    assert proc.returncode == -signal.SIGKILL and 2 <= killed_after < EPOCHS
    resumed = train(load_run_config(run), resume=True)
    assert resumed.epochs_completed == EPOCHS
    assert_same_params(uninterrupted[0], tmp_path / "out" / "model.zip")


def test_resume_refuses_a_changed_run_file_and_a_missing_run(tmp_path):
    run = write_run_file(tmp_path, epochs=1)
    with pytest.raises(StateError, match="nothing|none"):
        train(load_run_config(run), resume=True)
    train(load_run_config(run))
    with pytest.raises(StateError, match="--resume"):
        train(load_run_config(run))                       # would overwrite silently
    write_run_file(tmp_path, epochs=2, updater='{ type = "adam", learning_rate = 0.01 }')
    with pytest.raises(ConfigurationError, match=r"network\.updater\.learning_rate"):
        train(load_run_config(run), resume=True)
    write_run_file(tmp_path, epochs=2)                    # only epochs changed: fine
    assert train(load_run_config(run), resume=True).epochs_completed == 2


def test_resume_names_a_damaged_state_file(tmp_path):
    run = write_run_file(tmp_path, epochs=1)
    train(load_run_config(run))
    state = tmp_path / "out" / "state.json"
    good = json.loads(state.read_text())
    state.write_text("{not json")
    with pytest.raises(StateError, match=r"state\.json: cannot resume: .*unreadable"):
        train(load_run_config(run), resume=True)
    del good["checkpoint"]
    state.write_text(json.dumps(good))
    with pytest.raises(StateError, match="found no checkpoint"):
        train(load_run_config(run), resume=True)


def test_early_stopping_stops_after_patience_epochs_without_improvement(tmp_path):
    # A learning rate this small leaves the metric unchanged after the first epoch.
    run = write_run_file(tmp_path, epochs=10, validation=True,
                         updater='{ type = "sgd", learning_rate = 1e-12 }',
                         extra_run="early_stopping_patience = 2")
    result = train(load_run_config(run))
    assert result.stopped_early and result.epochs_completed == 3
    assert result.best_epoch == 1 and result.test_model == "best"
    assert_same_params(tmp_path / "out" / "best.zip",
                       tmp_path / "out" / "checkpoints" / "epoch_0001.zip")
    again = train(load_run_config(run), resume=True)     # a stopped run stays stopped
    assert again.epochs_completed == 3


def test_regression_runs_log_error_metrics_and_draw_no_confusion_matrix(tmp_path):
    result = train(load_run_config(write_run_file(tmp_path, epochs=2, regression=True)))
    record = json.loads((tmp_path / "out" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"mse", "mae", "rmse", "r2"} <= set(record)
    assert record["rmse"] == pytest.approx(np.sqrt(record["mse"]))
    assert not (tmp_path / "out" / "confusion.png").exists()
    assert result.test.average_mean_squared_error() >= 0


def test_rng_states_round_trip_through_json():
    torch.manual_seed(3)
    np.random.seed(4)
    random.seed(5)
    saved = json.loads(json.dumps(rng_state()))
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(saved)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[2] == again[2]


def test_a_run_on_packed_stores_ends_with_the_parameters_of_the_csv_run(tmp_path, uninterrupted):
    from seqdata.splits import NumberedFileInputSplit
    from seqdata.store.convert import convert

    run = write_run_file(tmp_path, epochs=EPOCHS)
    for split, hi in (("train", 35), ("test", 17)):
        convert(NumberedFileInputSplit(str(tmp_path / split / "features" / "%d.csv"), 0, hi),
                tmp_path / f"{split}.store",
                NumberedFileInputSplit(str(tmp_path / split / "labels" / "%d.csv"), 0, hi),
                progress=False)
    text = run.read_text()
    for split, hi in (("train", 35), ("test", 17)):
        text = text.replace(f'features = "{split}/features/%d.csv"\n'
                            f'labels = "{split}/labels/%d.csv"\nrange = [0, {hi}]',
                            f'store = "{split}.store"')
    assert text.count("store =") == 2
    run.write_text(text)
    result = train(load_run_config(run))
    assert_same_params(uninterrupted[0], tmp_path / "out" / "model.zip")
    assert result.test.accuracy() == uninterrupted[1].test.accuracy()


def test_a_store_range_selects_those_sequences(tmp_path):
    from seqdata.splits import NumberedFileInputSplit
    from seqdata.store.convert import convert
    from seqnet.workflow.data import load_run_data
    from seqnet.workflow.run_config import parse_run_config

    write_corpus(tmp_path / "c", 12, seed=3)
    convert(NumberedFileInputSplit(str(tmp_path / "c" / "features" / "%d.csv"), 0, 11),
            tmp_path / "s", NumberedFileInputSplit(str(tmp_path / "c" / "labels" / "%d.csv"),
                                                   0, 11), progress=False)
    table = {"data": {"task": "classification", "num_classes": CLASSES, "batch_size": 100,
                      "alignment": "ALIGN_END",
                      "test": {"store": "s", "range": [4, 9]}},
             "network": {"layers": [{"type": "LSTM", "n_out": 2}]}, "run": {"epochs": 1}}
    data = load_run_data(parse_run_config(table, base_dir=tmp_path).data)
    ds = next(iter(data.iterator("test")))
    assert ds.num_examples() == 6
    first = np.loadtxt(tmp_path / "c" / "features" / "4.csv", delimiter=",", ndmin=2)
    np.testing.assert_allclose(ds.features[0, :, :len(first)], first.T, rtol=1e-6)
    with pytest.raises(ConfigurationError, match="below its 12 sequences"):
        table["data"]["test"]["range"] = [0, 12]
        load_run_data(parse_run_config(table, base_dir=tmp_path).data)


def test_device_names_resolve_or_fail_with_the_key():
    from seqnet.workflow.train import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigurationError, match="run.device"):
        resolve_device("tpu:banana")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="run.device.*no CUDA"):
            resolve_device("cuda")
