"""Non-finite values never become results.

- A model zip with a NaN or infinite parameter is refused at load, naming the key.
- ``seqnet predict`` with a ``nan`` / ``inf`` anywhere in an input file (or an output that
  overflows) exits 1 naming the file and the step, and writes no output file.
- ``seqnet evaluate`` with a non-finite value in the evaluated split exits 1 naming the
  sequence and step, instead of printing an accuracy.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqnet.cli import main as seqnet_main
from seqnet.conf.layers import DenseLayer, GravesLSTM, RnnOutputLayer
from seqnet.errors import ModelFileError
from seqnet.network import MultiLayerNetwork
from tests.reliability.test_model_limits import npz_with, rewrite
from tests.seqnet._nets import make_net
from tests.seqnet.test_workflow_train import write_run_file

BAD = ["nan", "NaN", "inf", "-inf", "Infinity"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "m.zip"
    make_net([GravesLSTM(n_in=2, n_out=4), RnnOutputLayer(n_in=4, n_out=3)]).save(path)
    return path


def write_sequences(folder: Path, bad: str | None = None, where: tuple[int, int, int] = (0, 0, 0)
                    ) -> Path:
    """Three 5-step, 2-column files; ``bad`` replaces the value at (file, row, column)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        rows = [[f"{0.1 * (i + r + c):.2f}" for c in range(2)] for r in range(5)]
        if bad is not None and i == where[0]:
            rows[where[1]][where[2]] = bad
        (folder / f"{i}.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    return folder


def test_a_non_finite_parameter_is_refused_naming_the_key(model, tmp_path):
    with zipfile.ZipFile(model) as zf, np.load(io.BytesIO(zf.read("parameters.npz"))) as npz:
        keys = {k: npz[k] for k in npz.files}
    for key, array in keys.items():
        for value in (np.nan, np.inf, -np.inf):
            damaged = array.copy()
            damaged.flat[damaged.size // 2] = value
            path = rewrite(model, tmp_path / "bad.zip",
                           {"parameters.npz": npz_with(model, {key: damaged})})
            with pytest.raises(ModelFileError, match=rf"parameters\.npz: {key}: expected "
                                                     "finite"):
                MultiLayerNetwork.load(path)
            result = CliRunner().invoke(seqnet_main, ["predict", str(path), str(tmp_path),
                                                      "--out", str(tmp_path / "o.csv")])
            assert result.exit_code == 1 and key in result.output, result.output


def test_predict_flags_every_non_finite_input(model, tmp_path):
    for n, bad in enumerate(BAD):
        for where in ((0, 0, 0), (2, 4, 1), (1, 2, 0)):
            folder = write_sequences(tmp_path / f"in{n}{where}", bad, where)
            out = tmp_path / f"out{n}.csv"
            result = CliRunner().invoke(seqnet_main, ["predict", str(model), str(folder),
                                                      "--out", str(out)])
            assert result.exit_code == 1, (bad, where, result.output)
            assert f"{where[0]}.csv" in result.output, result.output
            assert f"step {where[1]}" in result.output and f"column {where[2]}" \
                in result.output, result.output
            assert not out.exists()
    good = write_sequences(tmp_path / "good")
    result = CliRunner().invoke(seqnet_main, ["predict", str(model), str(good), "--out",
                                              str(tmp_path / "good.csv")])
    assert result.exit_code == 0, result.output


def test_predict_flags_an_output_that_overflows(tmp_path):
    net = make_net([DenseLayer(n_in=2, n_out=3, activation="identity"),
                    RnnOutputLayer(n_in=3, n_out=2, activation="identity", loss="MSE")])
    table = net.param_table()
    table["0_W"] = np.full_like(table["0_W"], 3e38)
    net.set_param_table(table)
    net.save(tmp_path / "huge.zip")
    folder = write_sequences(tmp_path / "in")
    result = CliRunner().invoke(seqnet_main, ["predict", str(tmp_path / "huge.zip"),
                                              str(folder), "--out", str(tmp_path / "o.npy")])
    assert result.exit_code == 1 and "model output" in result.output, result.output
    assert not (tmp_path / "o.npy").exists()


def test_evaluate_flags_a_non_finite_input_instead_of_an_accuracy(tmp_path):
    run = write_run_file(tmp_path, epochs=1)
    train = CliRunner().invoke(seqnet_main, ["train", str(run), "--no-progress"])
    assert train.exit_code == 0, train.output
    model = tmp_path / "out" / "model.zip"
    for n, bad in enumerate(BAD):
        features = tmp_path / "test" / "features" / f"{n + 3}.csv"
        original = features.read_text()
        rows = original.splitlines()
        rows[1] = f"{bad},{rows[1].split(',')[1]}"
        features.write_text("\n".join(rows) + "\n")
        try:
            result = CliRunner().invoke(seqnet_main, ["evaluate", str(model), str(run)])
        finally:
            features.write_text(original)
        assert result.exit_code == 1, (bad, result.output)
        assert "expected finite values" in result.output and "step" in result.output, \
            result.output
        assert "ccuracy" not in result.output
    result = CliRunner().invoke(seqnet_main, ["evaluate", str(model), str(run)])
    assert result.exit_code == 0 and "ccuracy" in result.output, result.output


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_non_finite_normaliser_statistic_is_refused_naming_normalizer_json(tmp_path, token):
    from seqdata.dataset import DataSet
    from seqdata.normalizers import NormalizerStandardize

    net = make_net([GravesLSTM(n_in=2, n_out=4), RnnOutputLayer(n_in=4, n_out=3)])
    norm = NormalizerStandardize()
    norm.fit(DataSet(np.random.default_rng(0).random((3, 2, 4), dtype=np.float32),
                     np.zeros((3, 3, 4), np.float32)))
    net.normalizer = norm
    net.save(tmp_path / "m.zip")
    with zipfile.ZipFile(tmp_path / "m.zip") as zf:
        text = zf.read("normalizer.json").decode()
    mean = text.index('"mean": [') + len('"mean": [')
    damaged = text[:mean] + token + text[text.index(",", mean):]
    path = rewrite(tmp_path / "m.zip", tmp_path / "bad.zip",
                   {"normalizer.json": damaged.encode()})
    with pytest.raises(ModelFileError, match=r"normalizer\.json: expected finite numbers"):
        MultiLayerNetwork.load(path)
