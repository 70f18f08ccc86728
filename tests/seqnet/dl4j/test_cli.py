"""The DL4J bridge from the command line: import-dl4j, export --dl4j, and a DL4J zip given
straight to predict."""

from __future__ import annotations

import csv
import warnings

import numpy as np
from click.testing import CliRunner

from seqnet.cli import main
from seqnet.conf.enums import UpdateRule
from seqnet.dl4j import DL4JImportWarning, read_updater_state, restore_multi_layer_network
from seqnet.network import MultiLayerNetwork
from tests.seqnet.dl4j._files import CSV1_BETA, DL4J, LSTM_071

UCI = DL4J.parent / "uci_synthetic_control"


def _restore(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DL4JImportWarning)
        return restore_multi_layer_network(path, **kwargs)


def test_import_dl4j_keeps_parameters_counters_and_updater_state(tmp_path):
    out = tmp_path / "seqnet.zip"
    result = CliRunner().invoke(main, ["import-dl4j", str(LSTM_071), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "update rule DL4J_LEGACY" in result.output
    net = MultiLayerNetwork.load(out)
    dl4j = _restore(LSTM_071, load_updater=True)
    assert net.conf == dl4j.conf and net.conf.update_rule == UpdateRule.DL4J_LEGACY
    for key, value in dl4j.param_table().items():
        np.testing.assert_array_equal(net.param_table()[key], value)
    # Back out as DL4J: the updater state DL4J wrote comes back unchanged.
    back = tmp_path / "dl4j.zip"
    result = CliRunner().invoke(main, ["export", str(out), "--dl4j", str(back)])
    assert result.exit_code == 0, result.output
    original, written = read_updater_state(LSTM_071), read_updater_state(back)
    for key, arrays in original.items():
        for name, array in arrays.items():
            np.testing.assert_array_equal(written[key][name], array)


def test_predict_takes_a_dl4j_zip_directly(tmp_path):
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(main, [
        "predict", str(CSV1_BETA / "Model_RANDOM_INIT_UNTRAINED.zip"),
        str(UCI / "test" / "features" / "%d.csv"), "--range", "0", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and {"predicted_class", "out_5"} <= set(rows[0])
    net = _restore(CSV1_BETA / "Model_RANDOM_INIT_UNTRAINED.zip")
    first = np.loadtxt(UCI / "test" / "features" / "0.csv", dtype=np.float32).reshape(1, 1, -1)
    expected = net.output(first)[0]
    np.testing.assert_allclose([float(rows[0][f"out_{k}"]) for k in range(6)], expected,
                               rtol=1e-6)


def test_export_without_a_format_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["export", str(LSTM_071)])
    assert result.exit_code == 2 and "--dl4j OUT.zip" in result.output
