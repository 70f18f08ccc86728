"""Padding, alignment, masks and one-hot: hand-checked vectors and properties against a
naive per-example reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdata.alignment import (
    AlignmentMode,
    align_starts,
    as_rows,
    check_equal_length,
    is_class_label,
    needs_mask,
    one_hot_classes,
    pad_one_hot,
    pad_sequences,
    sequence_mask,
    sequence_offsets,
)
from seqdata.errors import AlignmentError, LabelError


def test_spec_worked_example_align_end():
    features = np.array([[1.], [2.], [3.], [4.], [5.]])
    f_len, l_len = np.array([3, 2]), np.array([1, 1])
    fs, ls, T = align_starts(f_len, l_len, AlignmentMode.ALIGN_END)
    assert T == 3
    assert pad_sequences(features, f_len, fs, T)[:, 0, :].tolist() == [[1, 2, 3], [4, 5, 0]]
    assert sequence_mask(f_len, fs, T).tolist() == [[1, 1, 1], [1, 1, 0]]
    classes = one_hot_classes(np.array([0., 1.]), l_len, 2, ["a", "b"], np.array([1, 1]))
    labels = pad_one_hot(classes, l_len, ls, T, 2)
    assert labels[0].tolist() == [[0, 0, 1], [0, 0, 0]]
    assert labels[1].tolist() == [[0, 0, 0], [0, 1, 0]]
    assert sequence_mask(l_len, ls, T).tolist() == [[0, 0, 1], [0, 1, 0]]


def test_spec_worked_example_align_start():
    f_len, l_len = np.array([3, 2]), np.array([1, 1])
    _, ls, T = align_starts(f_len, l_len, AlignmentMode.ALIGN_START)
    assert sequence_mask(l_len, ls, T).tolist() == [[1, 0, 0], [1, 0, 0]]


def test_align_end_three_lengths_each_label_at_its_own_last_step():
    f_len = np.array([4, 2, 6])
    l_len = np.array([1, 1, 1])
    fs, ls, T = align_starts(f_len, l_len, AlignmentMode.ALIGN_END)
    assert T == 6
    assert fs.tolist() == [0, 0, 0]
    assert ls.tolist() == [3, 1, 5]
    mask = sequence_mask(l_len, ls, T)
    assert mask.argmax(axis=1).tolist() == [3, 1, 5]
    assert mask.sum(axis=1).tolist() == [1, 1, 1]


def test_align_end_one_to_many_shifts_features_right():
    fs, ls, T = align_starts(np.array([1, 1]), np.array([3, 5]), AlignmentMode.ALIGN_END)
    assert (fs.tolist(), ls.tolist(), T) == ([2, 4], [0, 0], 5)


def test_features_only_starts_at_zero():
    fs, ls, T = align_starts(np.array([2, 7]), None, AlignmentMode.ALIGN_END)
    assert fs.tolist() == [0, 0] and ls is None and T == 7


def test_equal_length_error_names_file_and_suggests_modes():
    with pytest.raises(AlignmentError) as e:
        check_equal_length(np.array([3, 4]), np.array([3, 4]), ["f/0.csv", "f/1.csv"],
                           ["l/0.csv", "l/1.csv"], [10, 11])
    msg = str(e.value)
    assert "f/1.csv" in msg and "ALIGN_START" in msg and "ALIGN_END" in msg
    assert "sequence index 11" in msg


def test_equal_length_error_for_label_length():
    with pytest.raises(AlignmentError, match="l/0.csv"):
        check_equal_length(np.array([3]), np.array([1]), ["f/0.csv"], ["l/0.csv"], [0])
    check_equal_length(np.array([3, 3]), np.array([3, 3]), ["a", "b"], ["c", "d"], [0, 1])


def test_as_rows_flattens_trailing_dims_in_c_order():
    x = np.arange(2 * 2 * 3).reshape(2, 2, 3)
    assert as_rows(x, 2).tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    assert as_rows(np.array([1., 2.]), 2).shape == (2, 1)


def test_pad_accepts_non_numpy_array_like_and_columns():
    values = [[1, 10, 100], [2, 20, 200], [3, 30, 300]]
    out = pad_sequences(values, np.array([1, 2]), np.array([0, 0]), 2, columns=[2, 0])
    assert out.dtype == np.float32
    assert out.tolist() == [[[100, 0], [1, 0]], [[200, 300], [2, 3]]]


@pytest.mark.parametrize("value, word", [(-1.0, "-1"), (2.5, "2.5"), (3.0, "3"),
                                         (float("nan"), "nan"), (float("inf"), "inf")])
def test_one_hot_rejects_bad_values_naming_file_line_and_value(value, word):
    values = np.array([0.0, 1.0, 2.0, value])
    with pytest.raises(LabelError) as e:
        one_hot_classes(values, np.array([2, 2]), 3, ["a.csv", "b.csv"], np.array([1, 5]),
                        column=1)
    msg = str(e.value)
    assert "to one-hot" in msg
    assert e.value.path == "b.csv" and e.value.line == 6 and e.value.column == 1
    assert msg.startswith("b.csv:6:1:") and word in msg


def test_one_hot_accepts_integral_floats():
    assert one_hot_classes(np.array([2.0, 0.0, 1.0]), np.array([3]), 3, ["a"],
                           np.array([1])).tolist() == [2, 0, 1]


def test_needs_mask():
    assert not needs_mask(np.array([2, 2]), np.array([0, 0]), 2)
    assert needs_mask(np.array([2, 1]), np.array([0, 0]), 2)
    assert needs_mask(np.array([1, 1]), np.array([0, 1]), 2)


def test_sequence_offsets():
    assert sequence_offsets(np.array([2, 3, 1])).tolist() == [0, 2, 5]
    assert sequence_offsets(np.array([4])).tolist() == [0]


def _reference_place(seqs, starts, T):
    """Naive per-example placement: the rule of SPEC section 4 written out."""
    out = np.zeros((len(seqs), seqs[0].shape[1], T), np.float32)
    mask = np.zeros((len(seqs), T), np.float32)
    for i, (s, start) in enumerate(zip(seqs, starts)):
        out[i, :, start:start + len(s)] = s.T
        mask[i, start:start + len(s)] = 1
    return out, mask


@settings(max_examples=150, deadline=None)
@given(data=st.data(), mode=st.sampled_from(list(AlignmentMode)),
       n=st.integers(1, 6), channels=st.integers(1, 3))
def test_property_every_value_lands_once_where_the_rule_says(data, mode, n, channels):
    f_len = np.array(data.draw(st.lists(st.integers(1, 9), min_size=n, max_size=n)))
    l_len = np.array(data.draw(st.lists(st.integers(1, 9), min_size=n, max_size=n)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    f_seqs = [rng.uniform(1, 2, (L, channels)) for L in f_len]   # nonzero: padding visible
    fs, ls, T = align_starts(f_len, l_len, mode)

    assert T == max(f_len.max(), l_len.max())
    if mode is AlignmentMode.ALIGN_END:
        assert ((fs + f_len) == (ls + l_len)).all()               # both end together
        assert ((fs + f_len) == np.maximum(f_len, l_len)).all()   # at max(Lf, Ll) - 1
        assert (np.minimum(fs, ls) == 0).all()
    else:
        assert (fs == 0).all() and (ls == 0).all()

    padded = pad_sequences(np.concatenate(f_seqs), f_len, fs, T)
    mask = sequence_mask(f_len, fs, T)
    expected, expected_mask = _reference_place(f_seqs, fs, T)
    np.testing.assert_array_equal(padded, expected)
    np.testing.assert_array_equal(mask, expected_mask)
    assert mask.sum(axis=1).tolist() == f_len.tolist()
    assert (padded * (1 - mask)[:, None, :] == 0).all()
    assert np.isclose(padded.sum(), sum(s.astype(np.float32).sum() for s in f_seqs), rtol=1e-5)

    classes = [rng.integers(0, 4, L) for L in l_len]
    onehot = pad_one_hot(np.concatenate(classes), l_len, ls, T, 4)
    l_mask = sequence_mask(l_len, ls, T)
    assert l_mask.sum(axis=1).tolist() == l_len.tolist()
    np.testing.assert_array_equal(onehot.sum(axis=1), l_mask)     # one 1 per real step
    for i, c in enumerate(classes):
        assert onehot[i].argmax(axis=0)[ls[i]:ls[i] + l_len[i]].tolist() == c.tolist()


def test_is_class_label_is_the_one_rule():
    values = np.array([0.0, 2.0, 2.5, -1.0, np.nan, np.inf, 3.0, -0.0])
    assert is_class_label(values, 3).tolist() == [True, True, False, False, False, False, False,
                                                  True]
    assert is_class_label(values).tolist() == [True, True, False, False, False, False, True,
                                               True]
    bad = values[~is_class_label(values, 3)]
    for value in bad:   # exactly what the one-hot conversion refuses
        with pytest.raises(LabelError):
            one_hot_classes(np.array([value]), np.array([1]), 3, ["a.csv"], np.array([1]))
