"""Tests for seqnet.evaluation: counts, DL4J averaging and layout, masks, merge, regression."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqnet.errors import SeqNetError
from seqnet.evaluation import Evaluation, EvaluationError, RegressionEvaluation


def one_hot(classes, c):
    out = np.zeros((len(classes), c), dtype=np.float32)
    for row, k in enumerate(classes):
        out[row, k] = 1.0
    return out


# --------------------------------------------------------------------------- reference code
# Written with plain loops and explicit conditions, on purpose unlike the vectorised module.


def ref_confusion(actual, predicted, c):
    cm = [[0] * c for _ in range(c)]
    for a, p in zip(actual, predicted):
        cm[a][p] += 1
    return np.array(cm)


def ref_metrics(cm):
    """Per-class precision/recall/F1 as dicts holding only the defined classes."""
    c = len(cm)
    prec, rec, f1 = {}, {}, {}
    for k in range(c):
        tp = cm[k][k]
        predicted_k = sum(cm[i][k] for i in range(c))
        actual_k = sum(cm[k][j] for j in range(c))
        if predicted_k:
            prec[k] = tp / predicted_k
        if actual_k:
            rec[k] = tp / actual_k
        if k in prec and k in rec:
            p, r = prec[k], rec[k]
            f1[k] = 0.0 if p == 0 or r == 0 else 2 * p * r / (p + r)
    return prec, rec, f1


def mean_or_nan(d):
    return sum(d.values()) / len(d) if d else math.nan


# --------------------------------------------------------------------------- hand-checked


def test_dl4j_published_five_class_example():
    # A DL4J stats() printout (5 classes, 3 examples): 0->0, 3->3, 4->0. Expected values and
    # exclusion lists are the ones DL4J printed.
    ev = Evaluation(5)
    ev.eval(one_hot([0, 3, 4], 5), one_hot([0, 3, 0], 5))
    assert ev.accuracy() == pytest.approx(2 / 3)
    assert ev.precision() == pytest.approx(0.75)
    assert ev.recall() == pytest.approx(2 / 3)
    assert ev.f1() == pytest.approx(0.8333, abs=1e-4)
    assert ev.excluded_classes("precision") == [1, 2, 4]
    assert ev.excluded_classes("recall") == [1, 2]
    text = ev.stats()
    assert " # of classes:    5" in text
    assert " Accuracy:        0.6667" in text
    assert " Precision:       0.7500\t(3 classes excluded from average)" in text
    assert " Recall:          0.6667\t(2 classes excluded from average)" in text
    assert " F1 Score:        0.8333\t(3 classes excluded from average)" in text
    assert ("Warning: 3 classes were never predicted by the model and were excluded from "
            "average precision") in text
    assert "Classes excluded from average precision: [1, 2, 4]" in text
    assert "Classes excluded from average recall: [1, 2]" in text


def test_dl4j_published_three_class_stats_layout():
    # DL4J printed this block for actual [0, 0, 1, 2], all predicted as class 2.
    ev = Evaluation(3)
    ev.eval(one_hot([0, 0, 1, 2], 3), one_hot([2, 2, 2, 2], 3))
    expected = """
========================Evaluation Metrics========================
 # of classes:    3
 Accuracy:        0.2500
 Precision:       0.2500\t(2 classes excluded from average)
 Recall:          0.3333
 F1 Score:        0.4000\t(2 classes excluded from average)
Precision, recall & F1: macro-averaged (equally weighted avg. of 3 classes)

Warning: 2 classes were never predicted by the model and were excluded from average precision
Classes excluded from average precision: [0, 1]
"""
    assert ev.stats().startswith(expected)
    confusion = """
=========================Confusion Matrix=========================
 0 1 2
-------
 0 0 2 | 0 = 0
 0 0 1 | 1 = 1
 0 0 1 | 2 = 2

Confusion matrix format: Actual (rowClass) predicted as (columnClass) N times
==================================================================""".lstrip("\n")
    assert ev.stats().endswith(confusion)


def test_confusion_block_widths_match_dl4j_printouts():
    # DL4J printouts: 2 classes with counts 37/13 use 3-wide cells; 4969 uses 5-wide cells.
    ev = Evaluation(2)
    ev.eval(one_hot([0] * 37 + [1] * 13, 2), one_hot([0] * 50, 2))
    lines = ev.stats().splitlines()
    i = lines.index("=========================Confusion Matrix=========================")
    assert lines[i + 1:i + 5] == ["  0  1", "-------", " 37  0 | 0 = 0", " 13  0 | 1 = 1"]

    ev = Evaluation(2)
    ev.eval(one_hot([0] * 4969 + [1] * 26, 2), one_hot([0] * 4995, 2))
    lines = ev.stats().splitlines()
    i = lines.index("=========================Confusion Matrix=========================")
    assert lines[i + 1:i + 5] == ["    0    1", "-----------", " 4969    0 | 0 = 0",
                                  "   26    0 | 1 = 1"]


def test_confusion_columns_stay_separated_at_powers_of_ten():
    ev = Evaluation(2)
    ev.eval(one_hot([0] * 100 + [1] * 100, 2), one_hot([0] * 100 + [1] * 100, 2))
    assert " 100   0 | 0 = 0" in ev.stats()


def test_hand_checked_confusion_and_per_class_metrics():
    # actual:    0 0 0 1 1 2
    # predicted: 0 1 0 1 2 2
    ev = Evaluation()
    ev.eval(one_hot([0, 0, 0, 1, 1, 2], 3), one_hot([0, 1, 0, 1, 2, 2], 3))
    cm = ev.confusion_matrix()
    assert cm.dtype == np.int64
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert ev.accuracy() == pytest.approx(4 / 6)
    assert ev.precision(0) == pytest.approx(1.0)
    assert ev.precision(1) == pytest.approx(0.5)
    assert ev.precision(2) == pytest.approx(0.5)
    assert ev.recall(0) == pytest.approx(2 / 3)
    assert ev.recall(1) == pytest.approx(0.5)
    assert ev.recall(2) == pytest.approx(1.0)
    assert ev.f1(0) == pytest.approx(0.8)
    assert ev.f1(2) == pytest.approx(2 / 3)
    assert ev.precision() == pytest.approx(2 / 3)
    assert ev.true_positives().tolist() == [2, 1, 1]
    assert ev.false_positives().tolist() == [0, 1, 1]
    assert ev.false_negatives().tolist() == [1, 1, 0]
    assert ev.true_negatives().tolist() == [3, 3, 4]
    assert ev.false_positive_rate(2) == pytest.approx(1 / 5)
    assert ev.class_count(0) == 3
    assert ev.num_row_counter() == 6
    assert "Warning" not in ev.stats()


def test_undefined_per_class_value_is_zero_and_excluded_from_macro():
    ev = Evaluation(3)
    ev.eval(one_hot([0, 1], 3), one_hot([0, 0], 3))
    assert ev.precision(2) == 0.0            # never predicted: DL4J's edge value
    assert ev.excluded_classes("precision") == [1, 2]
    assert ev.precision() == pytest.approx(0.5)      # only class 0: 1 of 2
    assert ev.excluded_classes("recall") == [2]
    assert ev.recall() == pytest.approx(0.5)         # classes 0 (1.0) and 1 (0.0)
    text = ev.stats()
    assert "Classes excluded from average recall: [2]" in text
    assert "1 class never appeared in the labels and was excluded from average recall" in text
    assert "Classes excluded from average F1: [1, 2]" in text
    assert "Warning" not in ev.stats(suppress_warnings=True)


def test_label_names_in_stats_and_to_dict():
    ev = Evaluation(labels=["cat", "dog"])
    ev.eval(one_hot([0, 1, 1], 2), one_hot([0, 1, 0], 2))
    assert " 1 1 | 1 = dog" in ev.stats()
    d = ev.to_dict()
    assert d["accuracy"] == pytest.approx(2 / 3)
    assert d["recall/dog"] == pytest.approx(0.5)
    assert d["precision/cat"] == pytest.approx(0.5)
    assert d["f1"] == pytest.approx(ev.f1())


def test_many_classes_leave_confusion_out_unless_asked():
    ev = Evaluation(21)
    ev.eval(one_hot(list(range(21)), 21), one_hot(list(range(21)), 21))
    assert "Confusion Matrix" not in ev.stats()
    assert "Confusion Matrix" in ev.stats(include_confusion=True)


def test_single_sigmoid_column_is_binary_with_threshold_half():
    ev = Evaluation()
    ev.eval(np.array([[1.0], [0.0], [1.0], [0.0]]), np.array([[0.9], [0.2], [0.4], [0.7]]))
    assert ev.num_classes == 2
    assert ev.confusion_matrix().tolist() == [[1, 1], [1, 1]]


def test_empty_evaluation_metrics_are_nan():
    ev = Evaluation(2)
    assert math.isnan(ev.accuracy())
    assert math.isnan(ev.f1())


# --------------------------------------------------------------------------- equivalence


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda c: st.tuples(
    st.just(c), st.lists(st.tuples(st.integers(0, c - 1), st.integers(0, c - 1)),
                         min_size=1, max_size=40))))
def test_matches_independent_computation(case):
    c, pairs = case
    c = max(c, 2)
    actual = [a % c for a, _ in pairs]
    guess = [g % c for _, g in pairs]
    rng = np.random.default_rng(len(pairs))
    # Probabilities whose argmax is `guess`: noise below 0.5 plus 1 at the guessed class.
    probs = rng.uniform(0, 0.5, size=(len(pairs), c)) + one_hot(guess, c)
    ev = Evaluation()
    ev.eval(one_hot(actual, c), probs)
    cm = ref_confusion(actual, guess, c)
    np.testing.assert_array_equal(ev.confusion_matrix(), cm)
    assert ev.accuracy() == pytest.approx(sum(a == g for a, g in zip(actual, guess)) / len(pairs))
    prec, rec, f1 = ref_metrics(cm.tolist())
    for name, ref in (("precision", prec), ("recall", rec), ("f1", f1)):
        got = getattr(ev, name)()
        expected = mean_or_nan(ref)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)
        assert ev.excluded_classes(name) == [k for k in range(c) if k not in ref]
        for k in range(c):
            assert getattr(ev, name)(k) == pytest.approx(ref.get(k, 0.0))


def test_time_series_counts_only_masked_in_steps():
    rng = np.random.default_rng(0)
    n, c, t = 4, 3, 5
    labels = np.zeros((n, c, t), dtype=np.float32)
    for i in range(n):
        for j in range(t):
            labels[i, rng.integers(c), j] = 1
    out = rng.random((n, c, t)).astype(np.float32)
    mask = (rng.random((n, t)) > 0.4).astype(np.float32)
    ev = Evaluation()
    ev.eval_time_series(labels, out, mask)

    rows_y, rows_p = [], []
    for i in range(n):
        for j in range(t):
            if mask[i, j] == 1:
                rows_y.append(labels[i, :, j])
                rows_p.append(out[i, :, j])
    ref = Evaluation(c)
    ref.eval(np.array(rows_y), np.array(rows_p))
    np.testing.assert_array_equal(ev.confusion_matrix(), ref.confusion_matrix())
    assert ev.num_row_counter() == int(mask.sum())

    # Whatever sits at masked steps does not matter.
    out2 = out.copy()
    out2[np.broadcast_to(mask[:, None, :] == 0, out.shape)] = 99.0
    ev2 = Evaluation()
    ev2.eval(labels, out2, mask)        # 3-D eval dispatches to eval_time_series
    np.testing.assert_array_equal(ev2.confusion_matrix(), ev.confusion_matrix())


def test_all_zero_label_rows_count_as_class_zero_without_mask():
    # Two sequences of length 3; the second is padded at its last step (labels all zero).
    labels = np.zeros((2, 2, 3), dtype=np.float32)
    labels[0, 1, :] = 1
    labels[1, 1, :2] = 1
    out = np.zeros((2, 2, 3), dtype=np.float32)
    out[:, 1, :] = 1                    # always predicts class 1
    ev = Evaluation()
    ev.eval_time_series(labels, out)
    assert ev.confusion_matrix().tolist() == [[0, 1], [0, 5]]
    masked = Evaluation()
    masked.eval_time_series(labels, out, np.array([[1, 1, 1], [1, 1, 0]]))
    assert masked.confusion_matrix().tolist() == [[0, 0], [0, 5]]


def test_2d_mask_leaves_out_examples():
    ev = Evaluation()
    ev.eval(one_hot([0, 1, 1], 2), one_hot([0, 0, 1], 2), mask=np.array([1, 0, 1]))
    assert ev.confusion_matrix().tolist() == [[1, 0], [0, 1]]


def test_merge_equals_evaluating_the_union():
    rng = np.random.default_rng(3)
    y = one_hot(rng.integers(0, 4, 50), 4)
    p = rng.random((50, 4))
    whole = Evaluation()
    whole.eval(y, p)
    a, b = Evaluation(), Evaluation()
    a.eval(y[:20], p[:20])
    b.eval(y[20:35], p[20:35])
    b.eval(y[35:], p[35:])
    a.merge(b)
    np.testing.assert_array_equal(a.confusion_matrix(), whole.confusion_matrix())
    assert a.stats() == whole.stats()
    empty = Evaluation()
    empty.merge(whole)
    np.testing.assert_array_equal(empty.confusion_matrix(), whole.confusion_matrix())


def test_torch_tensors_accepted():
    torch = pytest.importorskip("torch")
    labels = torch.zeros(2, 3, 4)
    labels[:, 2, :] = 1
    out = torch.rand(2, 3, 4, requires_grad=True)
    mask = torch.ones(2, 4)
    ev = Evaluation()
    ev.eval_time_series(labels, out, mask)
    ref = Evaluation()
    ref.eval_time_series(labels.numpy(), out.detach().numpy(), mask.numpy())
    np.testing.assert_array_equal(ev.confusion_matrix(), ref.confusion_matrix())

    reg = RegressionEvaluation()
    reg.eval_time_series(labels, out, mask)
    assert reg.count(0) == 8


# --------------------------------------------------------------------------- errors


def test_errors_are_seqnet_errors_with_context():
    ev = Evaluation()
    ev.eval(one_hot([0, 1], 3), one_hot([0, 1], 3))
    with pytest.raises(EvaluationError, match="expected 3 classes.*found 4"):
        ev.eval(one_hot([0], 4), one_hot([0], 4))
    with pytest.raises(SeqNetError, match=r"labels \[2, 3\] and predicted \[2, 4\]"):
        Evaluation().eval(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"mask shape expected \[2, 3\] \(\[N, T\]\).*"
                                         r"found \[2, 4\]"):
        Evaluation().eval_time_series(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), np.ones((2, 4)))
    with pytest.raises(EvaluationError, match=r"expected 0 or 1, found 0.5 at index \[1, 2\]"):
        mask = np.ones((2, 3))
        mask[1, 2] = 0.5
        Evaluation().eval_time_series(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), mask)
    with pytest.raises(EvaluationError, match="num_classes=3 but 2 label names"):
        Evaluation(3, labels=["a", "b"])
    with pytest.raises(EvaluationError, match=r"class index expected .*\[0, 3\).*found 3"):
        ev.precision(3)
    with pytest.raises(EvaluationError, match="expected 3 classes, found 2"):
        other = Evaluation(2)
        other.eval(one_hot([0], 2), one_hot([0], 2))
        ev.merge(other)
    with pytest.raises(EvaluationError, match="found 4-D|found shape"):
        Evaluation().eval(np.zeros((1, 2, 3, 4)), np.zeros((1, 2, 3, 4)))
    with pytest.raises(EvaluationError, match="expected 2 columns, found 3"):
        reg = RegressionEvaluation(["a", "b"])
        reg.eval(np.zeros((1, 3)), np.zeros((1, 3)))
    with pytest.raises(EvaluationError, match="column name expected"):
        RegressionEvaluation(["a"]).mean_squared_error("b")


# --------------------------------------------------------------------------- regression


def ref_regression(y, p):
    """Plain numpy formulas on the selected values of one column."""
    err = y - p
    sse = float(np.sum(err ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    return {"mean_squared_error": float(np.mean(err ** 2)),
            "mean_absolute_error": float(np.mean(np.abs(err))),
            "root_mean_squared_error": math.sqrt(float(np.mean(err ** 2))),
            "relative_squared_error": sse / sst,
            "r_squared": 1 - sse / sst,
            "pearson_correlation": float(np.corrcoef(y, p)[0, 1])}


def test_regression_hand_checked():
    ev = RegressionEvaluation()
    ev.eval(np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([[2.0], [2.0], [2.0], [6.0]]))
    # errors -1, 0, 1, -2: SSE 6, SAE 4; mean y 2.5, SST 5
    assert ev.mean_squared_error(0) == pytest.approx(1.5)
    assert ev.mean_absolute_error(0) == pytest.approx(1.0)
    assert ev.root_mean_squared_error(0) == pytest.approx(math.sqrt(1.5))
    assert ev.relative_squared_error(0) == pytest.approx(6 / 5)
    assert ev.r_squared(0) == pytest.approx(1 - 6 / 5)
    # p - mean p = -1, -1, -1, 3; y - mean y = -1.5, -0.5, 0.5, 1.5: cov 6, var_p 12
    assert ev.pearson_correlation(0) == pytest.approx(6 / math.sqrt(5 * 12))


def test_regression_time_series_with_mask_matches_numpy_over_batches():
    rng = np.random.default_rng(7)
    ev = RegressionEvaluation(["x", "y"])
    ys, ps = [[], []], [[], []]
    for _ in range(3):
        y = rng.normal(5.0, 2.0, (3, 2, 6))
        p = y + rng.normal(0, 1.0, y.shape)
        mask = (rng.random((3, 6)) > 0.3).astype(np.float64)
        p_garbage = np.where(mask[:, None, :] == 1, p, 1e6)
        ev.eval_time_series(y, p_garbage, mask)
        for col in range(2):
            ys[col].extend(y[:, col, :][mask == 1])
            ps[col].extend(p[:, col, :][mask == 1])
    for col, name in enumerate(["x", "y"]):
        ref = ref_regression(np.array(ys[col]), np.array(ps[col]))
        for metric, value in ref.items():
            assert getattr(ev, metric)(col) == pytest.approx(value, rel=1e-10)
            assert getattr(ev, metric)(name) == pytest.approx(value, rel=1e-10)
        assert ev.count(col) == len(ys[col])
    refs = [ref_regression(np.array(ys[c]), np.array(ps[c])) for c in range(2)]
    assert ev.average_r_squared() == pytest.approx((refs[0]["r_squared"]
                                                    + refs[1]["r_squared"]) / 2)
    assert ev.average_mean_squared_error() == pytest.approx(
        (refs[0]["mean_squared_error"] + refs[1]["mean_squared_error"]) / 2)


def test_regression_per_value_mask_and_2d_mask():
    y = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 0.0]])
    p = np.array([[1.5, 11.0], [2.5, 19.0], [2.0, 33.0], [9.0, 9.0]])
    ev = RegressionEvaluation()
    ev.eval(y, p, mask=np.array([[1, 1], [1, 1], [1, 1], [1, 0]]))
    assert ev.mean_squared_error(0) == pytest.approx(ref_regression(y[:, 0], p[:, 0])[
        "mean_squared_error"])
    assert ev.mean_squared_error(1) == pytest.approx(ref_regression(y[:3, 1], p[:3, 1])[
        "mean_squared_error"])
    per_example = RegressionEvaluation()
    per_example.eval(y, p, mask=np.array([1, 1, 1, 0]))
    assert per_example.r_squared(0) == pytest.approx(ref_regression(y[:3, 0], p[:3, 0])[
        "r_squared"])


def test_regression_large_mean_does_not_lose_variance():
    rng = np.random.default_rng(1)
    y = 1e9 + rng.normal(0, 1.0, (400, 1))
    p = y + rng.normal(0, 0.1, y.shape)
    ev = RegressionEvaluation()
    for start in range(0, 400, 50):
        ev.eval(y[start:start + 50], p[start:start + 50])
    ref = ref_regression(y[:, 0], p[:, 0])
    assert ev.r_squared(0) == pytest.approx(ref["r_squared"], rel=1e-6)
    assert ev.pearson_correlation(0) == pytest.approx(ref["pearson_correlation"], rel=1e-6)


def test_regression_merge_equals_union_and_stats_headers():
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    whole = RegressionEvaluation(3)
    whole.eval(y, p)
    a, b = RegressionEvaluation(), RegressionEvaluation()
    a.eval(y[:11], p[:11])
    b.eval(y[11:], p[11:])
    a.merge(b)
    for metric in ("mean_squared_error", "relative_squared_error", "pearson_correlation"):
        for col in range(3):
            assert getattr(a, metric)(col) == pytest.approx(getattr(whole, metric)(col),
                                                            rel=1e-12)
    header = a.stats().splitlines()[0].split()
    assert header == ["Column", "MSE", "MAE", "RMSE", "RSE", "Pearson", "r", "R^2"]
    assert a.stats().splitlines()[1].startswith("col_0")
    d = a.to_dict()
    assert d["r_squared/col_2"] == pytest.approx(whole.r_squared(2))
    assert d["average_mean_absolute_error"] == pytest.approx(whole.average_mean_absolute_error())


def test_regression_constant_labels_give_nan_not_error():
    ev = RegressionEvaluation()
    ev.eval(np.ones((4, 1)), np.arange(4.0).reshape(4, 1))
    assert math.isnan(ev.r_squared(0))
    assert math.isnan(ev.pearson_correlation(0))
    assert ev.mean_squared_error(0) == pytest.approx(np.mean((1 - np.arange(4.0)) ** 2))
