"""Input splits: patterns, ranges, listing, filtering and reproducible shuffling."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqdata.errors import SeqDataError, SplitArgumentError, SplitError
from seqdata.splits import (
    FileSplit,
    InputSplit,
    ListSplit,
    NumberedFileInputSplit,
    NumberPattern,
    is_pattern,
    split_from_argument,
)


def test_numbered_plain_and_zero_padded():
    assert NumberedFileInputSplit("f/%d.csv", 0, 2).locations() == \
        ["f/0.csv", "f/1.csv", "f/2.csv"]
    assert NumberedFileInputSplit("seq_%03d.csv", 9, 10).locations() == \
        ["seq_009.csv", "seq_010.csv"]
    assert NumberedFileInputSplit("x%01d", 5, 5).locations() == ["x5"]


def test_numbered_bounds_inclusive_and_len():
    split = NumberedFileInputSplit("%d.csv", 3, 7)
    assert len(split) == 5
    assert split.locations()[0] == "3.csv" and split.locations()[-1] == "7.csv"
    assert isinstance(split, InputSplit)


def test_numbered_urls_and_percent_escapes_kept():
    split = NumberedFileInputSplit("s3://bucket/my%20files/part_%02d.csv", 1, 2)
    assert split.locations() == ["s3://bucket/my%20files/part_01.csv",
                                 "s3://bucket/my%20files/part_02.csv"]
    assert NumberedFileInputSplit("file:///tmp/%d.csv", 0, 0).locations() == ["file:///tmp/0.csv"]


@pytest.mark.parametrize("pattern", ["seq_%5d.csv", "seq_%+5d.csv", "seq_%-5d.csv",
                                     "seq_%011d.csv", "%d_%d.csv", "seq.csv", "seq_%0d.csv",
                                     "seq_% d.csv", "seq_%#3d.csv"])
def test_numbered_rejects_other_tokens(pattern):
    with pytest.raises(SplitError) as info:
        NumberedFileInputSplit(pattern, 0, 3)
    message = str(info.value)
    assert "'%d'" in message and "'%0Nd'" in message and pattern in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, SeqDataError)


def test_numbered_min_greater_than_max():
    with pytest.raises(SplitError, match=r"min_idx=5 > max_idx=4"):
        NumberedFileInputSplit("%d.csv", 5, 4)


@pytest.mark.parametrize("bad", [1.0, "1", None, True])
def test_numbered_bounds_must_be_ints(bad):
    with pytest.raises(SplitError):
        NumberedFileInputSplit("%d.csv", bad, 4)


@given(st.integers(-50, 50), st.integers(0, 30), st.integers(1, 9))
def test_numbered_matches_printf(lo, span, width):
    split = NumberedFileInputSplit(f"a/%0{width}d.txt", lo, lo + span)
    assert split.locations() == [f"a/%0{width}d.txt" % i for i in range(lo, lo + span + 1)]


def test_list_split_keeps_order_and_copies():
    split = ListSplit(["b.csv", "a.csv"])
    assert split.locations() == ["b.csv", "a.csv"] and len(split) == 2
    split.locations().append("c.csv")
    assert len(split) == 2


def test_list_split_rejects_single_string():
    with pytest.raises(SplitError, match="single path"):
        ListSplit("a.csv")


@pytest.fixture
def tree(tmp_path):
    for rel in ["b.csv", "a.csv", "xcsv", "notes.txt", "c.CSV", "sub/d.csv", "sub/deeper/e.csv",
                "sub/f.tsv"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("1\n")
    (tmp_path / "dir.csv").mkdir()
    return tmp_path


def names(split, root):
    return [os.path.relpath(p, root) for p in split.locations()]


def test_file_split_sorted_recursive_regular_files(tree):
    assert names(FileSplit(tree), tree) == sorted(
        ["a.csv", "b.csv", "c.CSV", "notes.txt", "sub/d.csv", "sub/deeper/e.csv", "sub/f.tsv",
         "xcsv"])


def test_file_split_extension_filter_is_exact(tree):
    expected = ["a.csv", "b.csv", "sub/d.csv", "sub/deeper/e.csv"]
    assert names(FileSplit(tree, allow_formats="csv"), tree) == expected
    assert names(FileSplit(tree, allow_formats=".csv"), tree) == expected
    assert names(FileSplit(tree, allow_formats=["csv", "tsv"]), tree) == \
        ["a.csv", "b.csv", "sub/d.csv", "sub/deeper/e.csv", "sub/f.tsv"]


def test_file_split_not_recursive(tree):
    assert names(FileSplit(tree, allow_formats="csv", recursive=False), tree) == \
        ["a.csv", "b.csv"]


def test_file_split_single_file(tree):
    assert FileSplit(tree / "a.csv").locations() == [str(tree / "a.csv")]


def test_file_split_seed_shuffles_reproducibly(tmp_path):
    for i in range(30):
        (tmp_path / f"{i:02d}.csv").write_text("1\n")
    plain = FileSplit(tmp_path).locations()
    first = FileSplit(tmp_path, seed=7).locations()
    assert first == FileSplit(tmp_path, seed=7).locations()
    assert sorted(first) == plain and first != plain
    assert FileSplit(tmp_path, seed=8).locations() != first


def test_file_split_missing_root(tmp_path):
    with pytest.raises(SplitError, match="found nothing"):
        FileSplit(tmp_path / "nope")


@pytest.mark.parametrize("bad", ["", ".", [3]])
def test_file_split_bad_formats(tree, bad):
    with pytest.raises(SplitError, match="allow_formats"):
        FileSplit(tree, allow_formats=bad)


def test_number_pattern_is_the_one_grammar():
    pattern = NumberPattern.parse("s3://b/my%20files/seq_%03d.csv")
    assert (pattern.head, pattern.number, pattern.tail) == \
        ("s3://b/my%20files/seq_", "%03d", ".csv")
    assert pattern.format(7) == "s3://b/my%20files/seq_007.csv"
    assert is_pattern("a_%d.csv") and is_pattern("a_%5d.csv") and not is_pattern("a%20b/")
    with pytest.raises(SplitError, match="export pattern 'x_%5d'"):
        NumberPattern.parse("x_%5d", "export pattern")


def test_split_from_argument_pattern_directory_file(tmp_path):
    for name in ("b.csv", "a.csv", "notes.txt"):
        (tmp_path / name).write_text("1\n")
    pattern = str(tmp_path / "%d.csv")
    assert split_from_argument(pattern, (0, 1)).locations() == \
        [str(tmp_path / "0.csv"), str(tmp_path / "1.csv")]
    assert [os.path.basename(p) for p in split_from_argument(tmp_path).locations()] == \
        ["a.csv", "b.csv", "notes.txt"]
    assert [os.path.basename(p) for p in
            split_from_argument(tmp_path, allow_formats="csv").locations()] == ["a.csv", "b.csv"]
    assert split_from_argument(tmp_path / "notes.txt").locations() == \
        [str(tmp_path / "notes.txt")]


def test_split_from_argument_usage_errors(tmp_path):
    with pytest.raises(SplitArgumentError, match="FEATURES .* is a %d pattern"):
        split_from_argument(str(tmp_path / "%d.csv"), name="FEATURES")
    with pytest.raises(SplitArgumentError, match="applies to %d patterns only"):
        split_from_argument(tmp_path, (0, 1))
    with pytest.raises(SplitError, match="nothing at that path") as info:
        split_from_argument(tmp_path / "nowhere")
    assert not isinstance(info.value, SplitArgumentError)
