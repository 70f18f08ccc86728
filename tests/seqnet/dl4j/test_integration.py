"""DL4J 1.0.0-beta's own integration tests, rebuilt: the two RnnCsvSequenceClassification nets
(LSTM, and Bidirectional(LSTM); GlobalPoolingLayer(AVG) -> OutputLayer; Adam 0.05, l1 = l2 =
1e-3) trained by DL4J on the UCI synthetic control data. DL4J recorded the untrained model,
its output and gradient on the first minibatch, the score of every iteration of one epoch and
the parameters after it (fixtures/dl4j/beta); the procedure is DL4J's ``RNNTestCases``:
minibatches of 10 in file order, ALIGN_END, the normaliser fitted on the training split (case 1
standardises, case 2 min-max scales), labels taken at the last step.

Tolerances are float32's: DL4J summed in float32 in its own order, so a gradient summed over
10 examples x 60 steps can differ from ours by tens of float32 ulps of the array's magnitude
(measured: at most 1.1e-5 of the largest entry of a gradient array; the same arithmetic done
in float64 is as far from DL4J's file, so the difference is DL4J's float32 rounding). Measured
otherwise: outputs within 1.5e-7, scores within 5.6e-6 relative over the 45 iterations,
parameters after the epoch within 5.4e-6.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from seqdata import (
    AlignmentMode,
    CompositeDataSetPreProcessor,
    CSVSequenceRecordReader,
    LabelLastTimeStepPreProcessor,
    NormalizerMinMaxScaler,
    NormalizerStandardize,
    NumberedFileInputSplit,
    SequenceRecordReaderDataSetIterator,
)
from seqnet.conf.enums import UpdateRule
from seqnet.dl4j import DL4JImportWarning, read_nd4j_array, restore_multi_layer_network
from seqnet.dl4j.params import flatten, param_layout
from tests.seqnet.dl4j._files import CSV1_BETA, CSV2_BETA, DL4J

UCI = DL4J.parent / "uci_synthetic_control"
CASES = {"1": (CSV1_BETA, NormalizerStandardize), "2": (CSV2_BETA, NormalizerMinMaxScaler)}


def _iterator(split: str, last: int) -> SequenceRecordReaderDataSetIterator:
    features, labels = CSVSequenceRecordReader(), CSVSequenceRecordReader()
    features.initialize(NumberedFileInputSplit(str(UCI / split / "features" / "%d.csv"), 0, last))
    labels.initialize(NumberedFileInputSplit(str(UCI / split / "labels" / "%d.csv"), 0, last))
    return SequenceRecordReaderDataSetIterator(features, labels, 10, 6,
                                               alignment_mode=AlignmentMode.ALIGN_END)


@pytest.fixture(scope="module", params=sorted(CASES), ids=lambda c: f"case{c}")
def case(request):
    folder, normalizer_class = CASES[request.param]
    normalizer = normalizer_class()
    normalizer.fit(_iterator("train", 449))
    train = _iterator("train", 449)
    train.set_pre_processor(CompositeDataSetPreProcessor(normalizer,
                                                         LabelLastTimeStepPreProcessor()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DL4JImportWarning)
        net = restore_multi_layer_network(folder / "Model_RANDOM_INIT_UNTRAINED.zip")
    return folder, net, train


def _expected(folder, name):
    return read_nd4j_array(folder / name).astype(np.float64)


def test_imported_nets_train_by_dl4js_legacy_rule(case):
    _, net, _ = case
    assert net.conf.update_rule == UpdateRule.DL4J_LEGACY


def test_output_of_the_untrained_net_on_the_first_minibatch(case):
    folder, net, train = case
    first = next(iter(train))
    np.testing.assert_allclose(net.output(first.features, first.features_mask),
                               _expected(folder, "predictions/output_0_0.bin"), rtol=0,
                               atol=5e-7)


def test_gradient_and_score_on_the_first_minibatch(case):
    folder, net, train = case
    first = next(iter(train))
    gradients, score = net.compute_gradient_and_score(first)
    curve = np.loadtxt(folder / "trainingCurve.csv", delimiter=",")
    assert score == pytest.approx(curve[0], rel=1e-6)
    flat = flatten(net.conf, gradients).reshape(-1)
    expected_flat = _expected(folder, "flattenedGradients.bin").reshape(-1)
    start = 0
    for p in param_layout(net.conf):
        expected = _expected(folder, f"gradients/{p.key}.bin")
        np.testing.assert_array_equal(expected.reshape(-1, order="F"),
                                      expected_flat[start:start + p.size])
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(gradients[p.key], expected, rtol=0, atol=2e-5 * scale,
                                   err_msg=p.key)
        np.testing.assert_allclose(flat[start:start + p.size], expected_flat[start:start + p.size],
                                   rtol=0, atol=2e-5 * scale, err_msg=p.key)
        start += p.size


def test_one_epoch_of_training_follows_dl4js_curve_and_ends_at_its_parameters(case):
    folder, net, train = case
    scores = []
    for ds in train:
        net.fit(ds)
        scores.append(net.score())
    curve = np.loadtxt(folder / "trainingCurve.csv", delimiter=",")
    assert len(scores) == len(curve) == 45
    np.testing.assert_allclose(scores, curve, rtol=1e-5)
    final = flatten(net.conf, net.param_table()).reshape(-1)
    np.testing.assert_allclose(final, _expected(folder, "paramsPostTrain.bin").reshape(-1),
                               rtol=0, atol=1e-5)
    assert net.iteration_count == 45
