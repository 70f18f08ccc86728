"""seqdata.roles: which columns are features and which labels (SPEC section 4)."""

import pytest

from seqdata.errors import LabelError, ParseError, SeqDataError
from seqdata.readers.base import SequenceRecord
from seqdata.roles import check_role_arguments, infer_roles, label_file_roles


def test_one_reader_label_column_and_regression_columns():
    roles = infer_roles(5, num_possible_labels=4, regression=False, label_index=1)
    assert roles.feature_columns.tolist() == [0, 2, 3, 4] and roles.label_columns.tolist() == [1]
    assert (roles.n_features, roles.n_label_columns, roles.n_outcomes) == (4, 1, 4)
    roles = infer_roles(5, num_possible_labels=2, regression=True, label_index=3)
    assert roles.label_columns.tolist() == [3, 4] and roles.n_outcomes == 2
    features_only = infer_roles(3, num_possible_labels=-1, regression=False, label_index=-1)
    assert features_only.label_columns is None and features_only.n_outcomes == 0


def test_one_reader_errors_name_the_file():
    with pytest.raises(ParseError, match="a.csv: label_index 3 is out of range"):
        infer_roles(3, 2, False, 3, "a.csv")
    with pytest.raises(ParseError, match="expected 3 columns, found 2"):
        infer_roles(4, 3, True, 2, "a.csv")
    with pytest.raises(ParseError, match="at least one feature column"):
        infer_roles(1, 2, False, 0, "a.csv")


def test_label_file_roles():
    record = SequenceRecord(None, "l.csv", 2)
    assert label_file_roles(4, record, 1, 3, regression=False).n_outcomes == 3
    assert label_file_roles(4, record, 2, 3, regression=True).n_outcomes == 2
    with pytest.raises(LabelError, match="l.csv:2:2: expected one label column"):
        label_file_roles(4, record, 2, 3, regression=False)


def test_classification_needs_classes():
    check_role_arguments(-1, False, two_readers=False, label_index=-1)   # features only
    check_role_arguments(0, True, two_readers=True, label_index=None)    # regression
    with pytest.raises(SeqDataError, match="num_possible_labels >= 1, found 0"):
        check_role_arguments(0, False, two_readers=True, label_index=None)
    with pytest.raises(SeqDataError, match="found -1"):
        check_role_arguments(-1, False, two_readers=False, label_index=0)
