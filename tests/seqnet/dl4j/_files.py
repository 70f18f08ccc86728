"""Paths of the DL4J fixture files (``fixtures/dl4j``, see fixtures/README.md)."""

from __future__ import annotations

from pathlib import Path

DL4J = Path(__file__).resolve().parents[3] / "fixtures" / "dl4j"

LSTM_071 = DL4J / "071" / "071_ModelSerializer_Regression_LSTM_1.zip"
MLP_080 = DL4J / "080" / "080_ModelSerializer_Regression_MLP_1.zip"
CHAR_100A = DL4J / "100a" / "GravesLSTMCharModelingExample_100a.bin"
CHAR_INPUT_100A = DL4J / "100a" / "GravesLSTMCharModelingExample_Input_100a.bin"
CHAR_OUTPUT_100A = DL4J / "100a" / "GravesLSTMCharModelingExample_Output_100a.bin"
CUSTOM_100A = DL4J / "100a" / "CustomLayerExample_100a.bin"
CUSTOM_INPUT_100A = DL4J / "100a" / "CustomLayerExample_Input_100a.bin"
CUSTOM_OUTPUT_100A = DL4J / "100a" / "CustomLayerExample_Output_100a.bin"
CHAR_BETA = DL4J / "beta" / "RnnCharacterTestCase"
CSV1_BETA = DL4J / "beta" / "RnnCsvSequenceClassification1"
CSV2_BETA = DL4J / "beta" / "RnnCsvSequenceClassification2"

# Every regression zip RegressionTest050..080 fills with linspace(1..n) (parameters) and
# linspace(1..m) (updater state), with n; the CNN ones are refused (see test_model.py).
LINSPACE = {
    path: n for path, n in [
        *[(DL4J / v / f"{v}_ModelSerializer_Regression_MLP_{k}.zip", 41)
          for v in ("050", "060", "071", "080") for k in (1, 2)],
        *[(DL4J / v / f"{v}_ModelSerializer_Regression_{kind}_1.zip", 477)
          for v in ("060", "071", "080") for kind in ("LSTM", "CG_LSTM")],
    ]
}
