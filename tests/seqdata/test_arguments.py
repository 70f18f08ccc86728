"""seqdata.arguments: the iterator's argument checks."""

import numpy as np
import pytest

from seqdata import arguments
from seqdata.alignment import AlignmentMode
from seqdata.errors import SeqDataError
from seqdata.readers.base import CollectionSequenceRecordReader


def test_integers():
    assert arguments.integer(np.int32(-3), "x") == -3
    assert arguments.positive_int(np.int64(2), "x") == 2
    assert arguments.non_negative_int(0, "x") == 0
    for check, bad in ((arguments.integer, True), (arguments.integer, 1.0),
                       (arguments.positive_int, 0), (arguments.non_negative_int, -1)):
        with pytest.raises(SeqDataError, match="x must be an integer"):
            check(bad, "x")


def test_alignment_mode_by_member_or_name():
    assert arguments.alignment_mode(AlignmentMode.ALIGN_END) is AlignmentMode.ALIGN_END
    assert arguments.alignment_mode("ALIGN_START") is AlignmentMode.ALIGN_START
    with pytest.raises(SeqDataError, match="alignment_mode must be one of"):
        arguments.alignment_mode("ALIGN_MIDDLE")


def test_bucket_window_and_reader():
    assert arguments.bucket_window(True) == arguments.DEFAULT_BUCKET_WINDOW
    assert arguments.bucket_window(False) == 0 and arguments.bucket_window(4) == 4
    with pytest.raises(SeqDataError, match="bucket_by_length"):
        arguments.bucket_window(-2)
    reader = CollectionSequenceRecordReader([[[1.0]]])
    assert arguments.sequence_reader(reader, "reader") is reader
    with pytest.raises(SeqDataError, match="reader must be a SequenceRecordReader"):
        arguments.sequence_reader([[1.0]], "reader")
