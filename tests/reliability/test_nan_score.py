"""NaN and infinity: accepted by the reader, reported by ``seqdata validate``, fatal to ``fit``.

A ``nan``/``inf`` in a sequence file is a number to the reader (SPEC section 3), so it reaches
the DataSet unchanged. ``seqdata validate`` lists every such value as ``file:line:column``.
Training on it must stop with a :class:`~seqnet.errors.TrainingError` naming the epoch and the
iteration (parameter update) where it happened, before the parameters are damaged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqdata.cli import main as seqdata_main
from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.splits import NumberedFileInputSplit
from seqnet.cli import main as seqnet_main
from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
from seqnet.conf.updaters import Adam
from seqnet.errors import SeqNetError, TrainingError
from tests.seqnet._nets import make_net

N, BATCH, CLASSES = 12, 4, 2          # three minibatches per epoch


def write_corpus(root: Path, bad: dict[tuple[int, int, int], str] | None = None) -> None:
    """N two-column sequences of 4-6 steps with one label each; ``bad`` maps
    (file, 0-based row, 0-based column) to the text written there instead."""
    rng = np.random.default_rng(3)
    (root / "f").mkdir()
    (root / "l").mkdir()
    for i in range(N):
        rows = [[f"{v:.4f}" for v in rng.normal(size=2)] for _ in range(4 + i % 3)]
        for (file, r, c), text in (bad or {}).items():
            if file == i:
                rows[r][c] = text
        (root / "f" / f"{i}.csv").write_text("".join(",".join(r) + "\n" for r in rows))
        (root / "l" / f"{i}.csv").write_text(f"{i % CLASSES}\n")


def iterator(root: Path) -> SequenceRecordReaderDataSetIterator:
    f, lab = CSVSequenceRecordReader(), CSVSequenceRecordReader()
    f.initialize(NumberedFileInputSplit(str(root / "f" / "%d.csv"), 0, N - 1))
    lab.initialize(NumberedFileInputSplit(str(root / "l" / "%d.csv"), 0, N - 1))
    return SequenceRecordReaderDataSetIterator(f, lab, BATCH, CLASSES,
                                               alignment_mode=AlignmentMode.ALIGN_END)


def network():
    return make_net([GravesLSTM(n_in=2, n_out=5), RnnOutputLayer(n_out=CLASSES)],
                    updater=Adam(0.01))


def all_finite(net) -> bool:
    return all(np.isfinite(v).all() for v in net.param_table().values())


# --------------------------------------------------------------------------- reader, validate

def test_the_reader_passes_nan_and_inf_through_to_the_dataset(tmp_path):
    write_corpus(tmp_path, {(5, 1, 0): "nan", (6, 0, 1): "-inf"})
    batches = list(iterator(tmp_path))
    second = batches[1]                            # files 4..7
    assert np.isnan(second.features[1, 0]).sum() == 1
    assert np.isneginf(second.features[2, 1]).sum() == 1
    assert np.isfinite(batches[0].features).all() and np.isfinite(batches[2].features).all()


def test_validate_reports_every_non_finite_value_by_file_line_and_column(tmp_path):
    write_corpus(tmp_path, {(5, 1, 0): "nan", (6, 0, 1): "-inf", (6, 3, 0): "Infinity"})
    result = CliRunner().invoke(seqdata_main, [
        "validate", str(tmp_path / "f" / "%d.csv"), "--labels", str(tmp_path / "l" / "%d.csv"),
        "--range", "0", str(N - 1), "--num-classes", str(CLASSES)])
    assert result.exit_code == 1
    problems = [line for line in result.stdout.splitlines() if not line.startswith("note")]
    assert problems == [f"{tmp_path / 'f' / '5.csv'}:2:1: non-finite value nan",
                        f"{tmp_path / 'f' / '6.csv'}:1:2: non-finite value -inf",
                        f"{tmp_path / 'f' / '6.csv'}:4:1: non-finite value inf"]
    assert "error: 3 problem(s) in 12 sequence(s)" in result.stderr


def test_validate_reports_a_nan_label(tmp_path):
    write_corpus(tmp_path)
    (tmp_path / "l" / "7.csv").write_text("nan\n")
    result = CliRunner().invoke(seqdata_main, [
        "validate", str(tmp_path / "f" / "%d.csv"), "--labels", str(tmp_path / "l" / "%d.csv"),
        "--range", "0", str(N - 1), "--num-classes", str(CLASSES)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'l' / '7.csv'}:1:1: non-finite value nan" in result.stdout
    assert f"{tmp_path / 'l' / '7.csv'}:1:1: cannot convert label nan to one-hot" in result.stdout


# --------------------------------------------------------------------------- fit

def test_nan_in_features_stops_fit_naming_epoch_and_iteration(tmp_path):
    write_corpus(tmp_path, {(9, 2, 1): "nan"})     # third minibatch (files 8..11)
    net = network()
    with pytest.raises(TrainingError) as info:
        net.fit(iterator(tmp_path), epochs=2, progress=False)
    assert isinstance(info.value, SeqNetError)
    assert "epoch 0, iteration 2" in str(info.value) and "nan" in str(info.value)
    assert net.iteration_count == 2 and all_finite(net)   # the bad update was not applied


class NanInEpoch:
    """A pre-processor that puts a NaN into minibatch ``batch`` of epoch ``epoch`` only."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.target = epoch * -(-N // BATCH) + batch
        self.calls = 0

    def pre_process(self, ds) -> None:
        if self.calls == self.target:
            ds.features[0, 0, 0] = np.nan
        self.calls += 1


def test_a_nan_in_a_later_epoch_names_that_epoch_and_its_iteration(tmp_path):
    write_corpus(tmp_path)
    it = iterator(tmp_path)
    it.set_pre_processor(NanInEpoch(epoch=2, batch=1))
    net = network()
    with pytest.raises(TrainingError) as info:
        net.fit(it, epochs=4, progress=False)
    assert "epoch 2, iteration 7" in str(info.value)          # 2 epochs x 3 updates + 1
    assert net.epoch_count == 2 and net.iteration_count == 7 and all_finite(net)


def test_infinity_in_features_stops_fit_before_the_parameters_are_damaged(tmp_path):
    write_corpus(tmp_path, {(9, 2, 1): "inf"})
    net = network()
    with pytest.raises(TrainingError) as info:
        net.fit(iterator(tmp_path), epochs=2, progress=False)
    assert "epoch 0, iteration 2" in str(info.value)
    assert net.iteration_count == 2 and all_finite(net)


# --------------------------------------------------------------------------- seqnet train

RUN = """
[data]
task = "classification"
num_classes = 2
alignment = "ALIGN_END"
batch_size = 4
shuffle = false

[data.train]
features = "f/%d.csv"
labels = "l/%d.csv"
range = [0, 11]

[network]
seed = 1
updater = { type = "adam", learning_rate = 0.01 }

[[network.layers]]
type = "GravesLSTM"
n_out = 5

[[network.layers]]
type = "RnnOutputLayer"
activation = "softmax"

[run]
epochs = 2
output = "out"
progress = false
"""


def test_seqnet_train_stops_on_nan_with_exit_1_naming_epoch_and_iteration(tmp_path):
    write_corpus(tmp_path, {(5, 0, 0): "NaN"})     # second minibatch (files 4..7)
    (tmp_path / "run.toml").write_text(RUN)
    result = CliRunner().invoke(seqnet_main, ["train", str(tmp_path / "run.toml")])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "epoch" in errors[0] and "iteration 1" in errors[0], errors
    # No epoch completed, so nothing claims to be a resumable run.
    assert not (tmp_path / "out" / "state.json").exists()
    assert not list((tmp_path / "out" / "checkpoints").glob("*.zip"))


def test_seqnet_train_counts_epochs_so_a_nan_names_the_right_epoch(tmp_path):
    from seqnet.workflow.model_io import load_model
    from seqnet.workflow.run_config import load_run_config
    from seqnet.workflow.train import train

    write_corpus(tmp_path)
    (tmp_path / "run.toml").write_text(RUN)
    result = train(load_run_config(tmp_path / "run.toml"))
    assert result.network.epoch_count == 2
    assert load_model(tmp_path / "out" / "model.zip")[0].epoch_count == 2
