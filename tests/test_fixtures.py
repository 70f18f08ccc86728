"""The fixture data in ``fixtures/`` is present and matches what ``fixtures/README.md`` states.

Deliberately independent of ``seqdata``: files are read with numpy and the standard library
only, so these checks hold whatever state the readers are in. The hand-written layout
expectations in ``fixtures/layouts/expected.json`` are cross-checked against the CSV files
they describe (every real value lands once, padding is zero, mask sums equal lengths).
"""

from __future__ import annotations

import collections
import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LAYOUTS = FIXTURES / "layouts"
JV = FIXTURES / "japanese_vowels"

# The numbers fixtures/README.md states for Japanese Vowels (UCI: 4,274 + 5,687 frames).
JV_COUNTS = {"train": 270, "test": 370}
JV_STEPS = {"train": 4274, "test": 5687}
JV_PER_CLASS = {
    "train": [30] * 9,
    "test": [31, 35, 88, 44, 29, 24, 40, 50, 29],
}
JV_LENGTHS = {"train": (7, 26), "test": (7, 29)}


def _load(path: Path) -> np.ndarray:
    """One sequence file as ``[T, C]`` float64."""
    return np.loadtxt(path, delimiter=",", ndmin=2)


def _numbered(folder: Path) -> list[Path]:
    """``0.csv .. (n-1).csv`` in numeric order; fails if the numbering has a gap."""
    files = sorted(folder.glob("*.csv"), key=lambda p: int(p.stem))
    assert [int(p.stem) for p in files] == list(range(len(files))), folder
    return files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- Japanese Vowels


@pytest.fixture(scope="module", params=["train", "test"])
def jv_split(request) -> tuple[str, list[np.ndarray], list[np.ndarray]]:
    split = request.param
    features = [_load(p) for p in _numbered(JV / split / "features")]
    labels = [_load(p) for p in _numbered(JV / split / "labels")]
    return split, features, labels


def test_japanese_vowels_counts(jv_split):
    split, features, labels = jv_split
    assert len(features) == len(labels) == JV_COUNTS[split]


def test_japanese_vowels_features_have_12_columns_and_stated_lengths(jv_split):
    split, features, _ = jv_split
    assert {f.shape[1] for f in features} == {12}
    lengths = [f.shape[0] for f in features]
    assert (min(lengths), max(lengths)) == JV_LENGTHS[split]
    assert sum(lengths) == JV_STEPS[split]
    assert all(np.isfinite(f).all() for f in features)


def test_japanese_vowels_labels_are_one_class_index_per_sequence(jv_split):
    split, _, labels = jv_split
    assert {lab.shape for lab in labels} == {(1, 1)}
    classes = [float(lab[0, 0]) for lab in labels]
    assert all(c.is_integer() and 0 <= c <= 8 for c in classes)
    per_class = collections.Counter(int(c) for c in classes)
    assert [per_class[c] for c in range(9)] == JV_PER_CLASS[split]


def test_japanese_vowels_first_sequence_matches_the_published_values():
    # First utterance of speaker 1 in UCI's ae.train, first and last frame, by hand.
    first = _load(JV / "train" / "features" / "0.csv")
    assert first.shape == (20, 12)
    np.testing.assert_array_equal(first[0, :3], [1.860936, -0.207383, 0.261557])
    np.testing.assert_array_equal(first[-1, :2], [1.261441, -0.63835])
    assert _load(JV / "train" / "labels" / "0.csv")[0, 0] == 0


# ---------------------------------------------------------------------------- layouts


EXPECTED = json.loads((LAYOUTS / "expected.json").read_text(encoding="utf-8"))
LAYOUT_NAMES = [k for k in EXPECTED if not k.startswith("_")]
LAYOUT_MODES = [(name, mode) for name in LAYOUT_NAMES for mode in EXPECTED[name]["modes"]]


def _layout_sequences(spec: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Raw ``[T, C]`` feature and label sequences of one layout, label column split off."""
    n = spec["max_idx"] - spec["min_idx"] + 1
    idx = range(spec["min_idx"], spec["max_idx"] + 1)
    feats = [_load(LAYOUTS / (spec["features"] % i)) for i in idx]
    if spec["labels"] is None:
        li = spec["iterator"]["label_index"]
        labels = [f[:, [li]] for f in feats]
        feats = [np.delete(f, li, axis=1) for f in feats]
    else:
        labels = [_load(LAYOUTS / (spec["labels"] % i)) for i in idx]
    assert len(feats) == len(labels) == n
    return feats, labels


def test_every_layout_csv_parses_as_plain_numeric_csv():
    files = sorted(LAYOUTS.rglob("*.csv"))
    assert len(files) == 27
    for path in files:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert rows and len({len(r) for r in rows}) == 1, path
        assert np.isfinite(_load(path)).all(), path


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_layout_lengths_match_expected(name):
    spec = EXPECTED[name]
    feats, labels = _layout_sequences(spec)
    assert [len(f) for f in feats] == spec["lengths"]["features"]
    assert [len(lab) for lab in labels] == spec["lengths"]["labels"]
    assert {lab.shape[1] for lab in labels} == {1}
    assert {f.shape[1] for f in feats} == {spec["shapes"]["features"][1]}


@pytest.mark.parametrize(("name", "mode"), LAYOUT_MODES)
def test_layout_expectation_has_stated_shapes(name, mode):
    spec, exp = EXPECTED[name], EXPECTED[name]["modes"][mode]
    assert np.asarray(exp["features"]).shape == tuple(spec["shapes"]["features"])
    assert np.asarray(exp["labels"]).shape == tuple(spec["shapes"]["labels"])
    for key in ("features_mask", "labels_mask"):
        if exp[key] is not None:
            assert np.asarray(exp[key]).shape == tuple(spec["shapes"]["mask"])
    # A mask is None exactly when no sequence of that side needed padding.
    t = spec["shapes"]["features"][2]
    for side, key in (("features", "features_mask"), ("labels", "labels_mask")):
        assert (exp[key] is None) == all(n == t for n in spec["lengths"][side])


@pytest.mark.parametrize(("name", "mode"), LAYOUT_MODES)
def test_layout_expectation_holds_the_files_values_exactly_once(name, mode):
    spec, exp = EXPECTED[name], EXPECTED[name]["modes"][mode]
    feats, labels = _layout_sequences(spec)
    k = spec["iterator"]["num_possible_labels"]
    x, y = np.asarray(exp["features"], float), np.asarray(exp["labels"], float)
    for side, arr, seqs in (("features", x, feats), ("labels", y, labels)):
        mask = exp[f"{side}_mask"]
        mask = np.ones(arr.shape[::2]) if mask is None else np.asarray(mask, float)
        assert set(np.unique(mask)) <= {0.0, 1.0}
        np.testing.assert_array_equal(mask.sum(axis=1), [len(s) for s in seqs])
        for i, seq in enumerate(seqs):
            real = mask[i] == 1
            # Real steps are contiguous and in file order; everything else is zero.
            steps = np.flatnonzero(real)
            assert (np.diff(steps) == 1).all()
            assert not arr[i][:, ~real].any()
            if side == "features":
                np.testing.assert_allclose(arr[i][:, real].T, seq, rtol=0, atol=1e-12)
            else:
                onehot = np.eye(k)[seq[:, 0].astype(int)]
                np.testing.assert_array_equal(arr[i][:, real].T, onehot)


@pytest.mark.parametrize(("name", "mode"), LAYOUT_MODES)
def test_layout_expectation_follows_the_alignment_rule(name, mode):
    """ALIGN_START: both sides start at 0. ALIGN_END: both end at max(L_f, L_l) - 1."""
    spec, exp = EXPECTED[name], EXPECTED[name]["modes"][mode]
    t = spec["shapes"]["features"][2]
    lf, ll = spec["lengths"]["features"], spec["lengths"]["labels"]
    for side, lengths in (("features", lf), ("labels", ll)):
        mask = exp[f"{side}_mask"]
        mask = np.ones((len(lengths), t)) if mask is None else np.asarray(mask)
        for i, n in enumerate(lengths):
            start = max(lf[i], ll[i]) - n if mode == "ALIGN_END" else 0
            assert np.flatnonzero(mask[i]).tolist() == list(range(start, start + n))


def test_layout_guide_modes_are_listed():
    for name in LAYOUT_NAMES:
        spec = EXPECTED[name]
        assert spec["guide_mode"] in spec["modes"]
        lengths = spec["lengths"]["features"] + spec["lengths"]["labels"]
        assert ("EQUAL_LENGTH" in spec["raises_in_modes"]) == (len(set(lengths)) > 1)


# ---------------------------------------------------------------------------- other data


def test_devils_dictionary_text_is_a_utf8_excerpt_of_the_stated_size():
    path = FIXTURES / "text" / "devils_dictionary.txt"
    text = path.read_bytes().decode("utf-8")
    assert 150_000 <= len(text.encode("utf-8")) <= 300_000
    assert "THE DEVIL'S DICTIONARY" in text
    assert "ABASEMENT, n." in text and "OYSTER, n." in text and "PAIN, n." not in text
    assert _sha256(path) == "d063561fa64a166068b737db688f6d3d870f60fcf1c2c222e5050bd6d2760d5b"


def test_seattle_temps_is_the_vega_datasets_copy():
    path = FIXTURES / "seattle_temps" / "seattle-temps.csv"
    assert _sha256(path) == "c220666521ff4bec4ffb6f0d9acfdc5c1056564b1aad6f78d3b06aa0a0c8b085"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["date", "temp"]
    assert len(rows) == 1 + 8759
    assert rows[1][0] == "2010/01/01 00:00" and rows[-1][0] == "2010/12/31 23:00"
    temps = np.array([float(r[1]) for r in rows[1:]])
    assert 30 < temps.min() < temps.max() < 80


def test_readme_names_every_fixture_entry():
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for entry in FIXTURES.iterdir():
        if entry.name != "README.md" and not entry.name.startswith("."):
            assert f"{entry.name}/" in readme, entry.name
    for sub in LAYOUTS.iterdir():
        assert sub.name in readme, sub.name


# ---------------------------------------------------------------------------- UCI synthetic control

UCI = FIXTURES / "uci_synthetic_control"
UCI_PER_CLASS = {"train": [74, 71, 78, 79, 70, 78], "test": [26, 29, 22, 21, 30, 22]}
UCI_RANGE = {"train": (-5.11493, 63.8281), "test": (-1.662, 61.707)}


@pytest.mark.parametrize("split", ["train", "test"])
def test_uci_counts_lengths_values_and_classes_are_as_stated(split):
    features = [np.loadtxt(p) for p in _numbered(UCI / split / "features")]
    labels = [(p.read_text()) for p in _numbered(UCI / split / "labels")]
    assert len(features) == len(labels) == sum(UCI_PER_CLASS[split])
    assert {f.shape for f in features} == {(60,)}
    assert (min(f.min() for f in features), max(f.max() for f in features)) == UCI_RANGE[split]
    counts = collections.Counter(int(label) for label in labels)
    assert [counts[k] for k in range(6)] == UCI_PER_CLASS[split]


@pytest.mark.parametrize("folder", ["train/features", "train/labels", "test/features",
                                    "test/labels"])
def test_uci_checksums_match_the_readme(folder):
    files = _numbered(UCI / folder)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert f"`{folder}`: `{digest}`" in readme
