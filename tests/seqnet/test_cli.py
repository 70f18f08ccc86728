"""The ``seqnet`` command line (click's CliRunner): train, evaluate, predict, sample."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from seqnet.cli import main
from seqnet.text import CharacterIterator, CharacterVocabulary
from seqnet.workflow.model_io import load_model, save_model
from tests.seqnet.test_workflow_train import write_run_file


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run file and the model `seqnet train` made from it (3 epochs)."""
    folder = tmp_path_factory.mktemp("cli")
    run = write_run_file(folder, epochs=3)
    result = invoke("train", run)
    assert result.exit_code == 0, result.output
    return folder, run, result.output


def test_train_help_lists_the_options():
    result = invoke("train", "--help")
    assert result.exit_code == 0
    for option in ("--resume", "--overwrite", "--epochs", "--output", "--no-progress"):
        assert option in result.output


def test_train_prints_epochs_and_the_test_accuracy_of_the_model_it_saved(trained):
    folder, _, output = trained
    lines = [line for line in output.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 3 and "test accuracy" in lines[0]
    reported = float(output.split("test accuracy: ")[1].split()[0])
    # Recompute from the saved model with the library directly.
    from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
    from seqdata.readers.csv import CSVSequenceRecordReader
    from seqdata.splits import NumberedFileInputSplit
    from tests.seqnet.test_workflow_train import CLASSES

    net, extras = load_model(folder / "out" / "model.zip")
    readers = []
    for kind in ("features", "labels"):
        r = CSVSequenceRecordReader()
        r.initialize(NumberedFileInputSplit(str(folder / "test" / kind / "%d.csv"), 0, 17))
        readers.append(r)
    it = SequenceRecordReaderDataSetIterator(readers[0], readers[1], 5, CLASSES,
                                             alignment_mode=AlignmentMode.ALIGN_END)
    it.set_pre_processor(extras["normalizer"])
    assert net.evaluate(it).accuracy() == pytest.approx(reported, abs=5e-5)


def test_train_errors_exit_1_with_the_key_and_usage_errors_exit_2(tmp_path, trained):
    bad = tmp_path / "bad.toml"
    bad.write_text(trained[1].read_text().replace("batch_size = 8", "batch_sise = 8"))
    result = CliRunner().invoke(main, ["train", str(bad)])
    assert result.exit_code == 1 and "data.batch_sise: unknown key" in result.output
    assert CliRunner().invoke(main, ["train", str(bad), "--epochs", "0"]).exit_code == 2
    again = CliRunner().invoke(main, ["train", str(trained[1])])
    assert again.exit_code == 1 and "--resume" in again.output


def test_train_resume_with_more_epochs_continues_the_run(tmp_path):
    run = write_run_file(tmp_path, epochs=1)
    assert invoke("train", run).exit_code == 0
    result = invoke("train", run, "--resume", "--epochs", "2")
    assert result.exit_code == 0
    assert "resuming" in result.output and "epoch   2/2" in result.output


def test_evaluate_prints_the_stats_of_the_model_on_the_test_split(trained):
    folder, run, output = trained
    result = invoke("evaluate", folder / "out" / "model.zip", run)
    assert result.exit_code == 0
    accuracy = float(result.output.split("Accuracy:")[1].split()[0])
    assert accuracy == pytest.approx(float(output.split("test accuracy: ")[1].split()[0]),
                                     abs=1e-4)
    train_stats = invoke("evaluate", folder / "out" / "model.zip", run, "--split", "train")
    assert "Accuracy:" in train_stats.output and train_stats.output != result.output


def test_predict_writes_one_row_per_sequence_matching_the_model_output(trained, tmp_path):
    folder, _, _ = trained
    model = folder / "out" / "model.zip"
    out = tmp_path / "pred.csv"
    pattern = folder / "test" / "features" / "%d.csv"
    result = invoke("predict", model, pattern, "--range", "0", "5", "--out", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and rows[0]["source"].endswith("0.csv")
    # Independently: the output at the last step of sequence 3 alone.
    net, extras = load_model(model)
    x = np.loadtxt(folder / "test" / "features" / "3.csv", delimiter=",", ndmin=2)
    x = extras["normalizer"].transform_features(x.T[None].astype(np.float32))
    expected = np.asarray(net.output(x))[0, :, -1]
    got = np.array([float(rows[3][f"out_{k}"]) for k in range(len(expected))])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert int(rows[3]["predicted_class"]) == int(np.argmax(expected))


def test_predict_per_step_npy_holds_every_real_step(trained, tmp_path):
    folder, _, _ = trained
    out = tmp_path / "steps.npy"
    single = folder / "test" / "features" / "4.csv"
    result = invoke("predict", folder / "out" / "model.zip", single, "--per-step", "--out", out)
    assert result.exit_code == 0
    steps = len(single.read_text().splitlines())
    array = np.load(out)
    assert array.shape == (1, 3, steps)
    np.testing.assert_allclose(array.sum(axis=1), 1.0, rtol=1e-5)   # softmax per step


def test_predict_rejects_a_pattern_without_range_and_unknown_extensions(trained, tmp_path):
    folder, _, _ = trained
    model = folder / "out" / "model.zip"
    pattern = str(folder / "test" / "features" / "%d.csv")
    no_range = CliRunner().invoke(main, ["predict", str(model), pattern, "--out",
                                         str(tmp_path / "p.csv")])
    assert no_range.exit_code == 1 and "--range" in no_range.output
    bad_ext = CliRunner().invoke(main, ["predict", str(model), pattern, "--range", "0", "1",
                                        "--out", str(tmp_path / "p.txt")])
    assert bad_ext.exit_code == 1 and ".csv or .npy" in bad_ext.output


@pytest.fixture(scope="module")
def char_model(tmp_path_factory):
    """A tiny character model trained briefly and saved with its vocabulary."""
    from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
    from seqnet.conf.multilayer import MultiLayerConfiguration
    from seqnet.conf.updaters import Adam
    from seqnet.network import MultiLayerNetwork

    text = "the cat sat on the mat. " * 20
    vocab = CharacterVocabulary.from_text(text)
    conf = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=len(vocab), n_out=16),
                RnnOutputLayer(n_out=len(vocab), activation="softmax", loss="MCXENT")],
        backprop_type="TRUNCATED_BPTT", tbptt_forward_length=10, tbptt_backward_length=10,
        updater=Adam(0.02), seed=1)
    net = MultiLayerNetwork(conf)
    net.init()
    for ds in CharacterIterator(text, vocab, 20, 8, seed=0):
        net.fit(ds)
    path = tmp_path_factory.mktemp("char") / "char.zip"
    save_model(net, path, vocabulary=vocab)
    return path, vocab


def test_sample_continues_the_prime_with_characters_of_the_corpus(char_model):
    path, vocab = char_model
    result = invoke("sample", path, "--prime", "the ", "--length", "40", "--num-samples", "3",
                    "--seed", "7")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith("the ") and len(line) == 44
        assert set(line) <= set(vocab.chars)
    again = invoke("sample", path, "--prime", "the ", "--length", "40", "--num-samples", "3",
                   "--seed", "7")
    assert again.output == result.output


def test_sample_refuses_unknown_prime_characters_and_models_without_vocabulary(char_model,
                                                                               trained):
    path, _ = char_model
    unknown = CliRunner().invoke(main, ["sample", str(path), "--prime", "XYZ", "--length", "5"])
    assert unknown.exit_code == 1 and "unknown" in unknown.output
    plain = trained[0] / "out" / "model.zip"
    no_vocab = CliRunner().invoke(main, ["sample", str(plain), "--prime", "a", "--length", "5"])
    assert no_vocab.exit_code == 1 and "vocabulary" in no_vocab.output


def test_regression_runs_train_and_evaluate_with_regression_stats(tmp_path):
    run = write_run_file(tmp_path, epochs=2, regression=True)
    trained = invoke("train", run)
    assert trained.exit_code == 0 and "test accuracy" not in trained.output
    assert "MSE" in trained.output
    result = invoke("evaluate", tmp_path / "out" / "model.zip", run)
    assert result.exit_code == 0
    row = result.output.splitlines()[1].split()
    mse, rmse = float(row[1]), float(row[3])
    assert rmse == pytest.approx(np.sqrt(mse), rel=1e-4)
    final = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()[-1]
    assert json.loads(final)["mse"] == pytest.approx(mse, rel=1e-4)


def test_predict_reverts_normalised_regression_labels_to_their_units(tmp_path):
    run = write_run_file(tmp_path, epochs=1, regression=True)
    run.write_text(run.read_text().replace('normalizer = "standardize"',
                                           'normalizer = "standardize"\nnormalize_labels = true'))
    assert invoke("train", run).exit_code == 0
    model = tmp_path / "out" / "model.zip"
    out = tmp_path / "p.npy"
    assert invoke("predict", model, tmp_path / "test" / "features" / "2.csv", "--out",
                  out).exit_code == 0
    net, extras = load_model(model)
    norm = extras["normalizer"]
    x = np.loadtxt(tmp_path / "test" / "features" / "2.csv", delimiter=",", ndmin=2)
    raw = np.asarray(net.output(norm.transform_features(x.T[None].astype(np.float32))))
    expected = raw[0, 0, -1] * norm.label_std[0] + norm.label_mean[0]
    np.testing.assert_allclose(np.load(out)[0, 0], expected, rtol=1e-5)
