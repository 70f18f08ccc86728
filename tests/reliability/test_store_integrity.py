"""A damaged, edited, swapped or hostile store never yields a silently different epoch.

Every check runs through the public API as a user calls it (``SequenceStore``, the
iterator, ``seqdata validate``). The property for damage: opening the store and iterating
one epoch either raises :class:`~seqdata.errors.StoreError` (naming the part or the manifest
key) or yields exactly the minibatches of the intact store; nothing else escapes.

- 300 random single-bit flips of a part (``--fuzz-long``: 6,000), and 300 more with the
  manifest's sha256 recomputed, which only the Parquet page checksums and footer checks see;
- every key of ``_manifest.json`` edited to several wrong values;
- part paths that leave the store (``../``, absolute, a symbolic link), parts listed twice,
  reordered, renamed, or taken from another store;
- a store replaced (``convert --overwrite``) while a ``SequenceStore`` has it open;
- parts that are not Parquet, or Parquet that contradicts itself, with a matching checksum;
- a decompression bomb and an absurd manifest cost bounded memory;
- disk-full and permission errors while converting name the path and leave nothing behind.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from seqdata.cli import main as seqdata_main
from seqdata.errors import StoreError
from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
from seqdata.splits import NumberedFileInputSplit
from seqdata.store import convert as convert_module
from seqdata.store import writer
from seqdata.store.convert import convert
from seqdata.store.reader import SequenceStore
from tests.conftest import ROOT

FLIPS = 300
PART = "data/part-00000.parquet"


def write_corpus(root: Path, n: int, seed: int) -> tuple[str, str]:
    rng = np.random.default_rng(seed)
    for role in ("features", "labels"):
        (root / role).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        steps = int(rng.integers(1, 8))
        values = rng.standard_normal((steps, 3)).astype(np.float32)
        (root / "features" / f"{i}.csv").write_text(
            "a,b,c\n" + "".join(",".join(f"{v:.9g}" for v in row) + "\n" for row in values))
        (root / "labels" / f"{i}.csv").write_text(f"{int(rng.integers(0, 4))}\n")
    return str(root / "features" / "%d.csv"), str(root / "labels" / "%d.csv")


def make_store(root: Path, out: Path, n: int = 24, seed: int = 0, **options) -> SequenceStore:
    fpat, lpat = write_corpus(root, n, seed)
    split = lambda p: NumberedFileInputSplit(p, 0, n - 1)  # noqa: E731
    return convert(split(fpat), out, split(lpat), skip_num_lines=1, progress=False,
                   workers=options.pop("workers", 1), **options)


def epoch(path) -> list[tuple[np.ndarray, ...]]:
    """One shuffled ALIGN_END epoch of a freshly opened store, as plain arrays."""
    store = SequenceStore(path)
    it = SequenceRecordReaderDataSetIterator(
        store.reader("features"), store.reader("labels"), 5, 4,
        alignment_mode=AlignmentMode.ALIGN_END, shuffle=True, seed=3)
    return [(ds.features, ds.labels, ds.features_mask, ds.labels_mask) for ds in it]


def same(a, b) -> bool:
    return len(a) == len(b) and all(
        all((x is None and y is None) or (x is not None and y is not None
                                          and x.shape == y.shape and np.array_equal(x, y))
            for x, y in zip(u, v)) for u, v in zip(a, b))


def outcome(path, reference) -> str:
    """``"error"`` (a StoreError) or ``"same"``; anything else fails the test."""
    try:
        batches = epoch(path)
    except StoreError:
        return "error"
    assert same(batches, reference), "a damaged store yielded a different epoch silently"
    return "same"


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    root = tmp_path_factory.mktemp("intact")
    make_store(root / "csv", root / "store")
    return root / "store", epoch(root / "store")


def fresh_copy(intact, tmp_path) -> Path:
    path = tmp_path / "copy"
    shutil.copytree(intact[0], path)
    return path


def read_manifest(path: Path) -> dict:
    return json.loads((path / "_manifest.json").read_text())


def write_manifest(path: Path, manifest: dict) -> None:
    (path / "_manifest.json").write_text(json.dumps(manifest))


def test_single_bit_flips_of_a_part_never_change_an_epoch(intact, tmp_path, fuzz_examples):
    path = fresh_copy(intact, tmp_path)
    original = (path / PART).read_bytes()
    rng = np.random.default_rng(17)
    outcomes = []
    for _ in range(fuzz_examples(FLIPS)):
        bit = int(rng.integers(0, 8 * len(original)))
        damaged = bytearray(original)
        damaged[bit // 8] ^= 1 << (bit % 8)
        (path / PART).write_bytes(bytes(damaged))
        outcomes.append(outcome(path, intact[1]))
    # sha256 sees every flip; the page checksums and the footer checks back it up.
    assert outcomes.count("error") == len(outcomes)


def test_bit_flips_behind_a_matching_checksum_are_caught_by_the_page_checksums(
        intact, tmp_path, fuzz_examples):
    """The same flips with the manifest's sha256 recomputed (as a careless copy tool or a
    hand edit would leave them): Parquet's page CRCs and the footer checks alone must still
    refuse every flip that would change the epoch."""
    path = fresh_copy(intact, tmp_path)
    original = (path / PART).read_bytes()
    manifest = read_manifest(path)
    rng = np.random.default_rng(29)
    outcomes = []
    for _ in range(fuzz_examples(FLIPS)):
        bit = int(rng.integers(0, 8 * len(original)))
        damaged = bytearray(original)
        damaged[bit // 8] ^= 1 << (bit % 8)
        (path / PART).write_bytes(bytes(damaged))
        manifest["parts"][0]["sha256"] = hashlib.sha256(bytes(damaged)).hexdigest()
        write_manifest(path, manifest)
        outcomes.append(outcome(path, intact[1]))
    # Flips in bytes no reader uses (statistics, padding) change nothing; the rest are caught.
    assert outcomes.count("error") > len(outcomes) // 3


def test_a_bit_flip_is_named_by_part(intact, tmp_path):
    path = fresh_copy(intact, tmp_path)
    data = bytearray((path / PART).read_bytes())
    data[100] ^= 4
    (path / PART).write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"part data/part-00000\.parquet: checksum mismatch"):
        epoch(path)


def key_paths(value, prefix=()):
    """Every key path of a JSON document (dict keys and list positions), parents first."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from key_paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value[:3]):
            yield (*prefix, i)
            yield from key_paths(inner, (*prefix, i))


WRONG = [None, -1, 0, 1, 10**18, 2.5, "x", "../../etc/passwd", [], {}, True, [1, 2]]


def test_every_manifest_key_edited(intact, tmp_path):
    path = fresh_copy(intact, tmp_path)
    manifest = read_manifest(path)
    results = {"error": 0, "same": 0}
    unchecked: set = set()
    keys = list(key_paths(manifest))
    assert len(keys) > 50
    for key in keys:
        edits = [("delete", None)] + [("set", v) for v in WRONG]
        *parents, last = key
        found = manifest
        for k in parents:
            found = found[k]
        if isinstance(found[last], int) and not isinstance(found[last], bool):
            edits += [("set", found[last] + 1), ("set", found[last] - 1)]
        if isinstance(found[last], str):
            edits += [("set", found[last][::-1]), ("set", found[last] + "0")]
        for action, value in edits:
            edited = copy.deepcopy(manifest)
            target = edited
            for k in parents:
                target = target[k]
            if action == "delete":
                del target[last]
            elif value == target[last] and type(value) is type(target[last]):
                continue                                      # not an edit
            else:
                target[last] = value
            write_manifest(path, edited)
            result = outcome(path, intact[1])
            results[result] += 1
            if result == "same":
                unchecked.add(key[0] if key[0] != "lengths" else key[:3])
    # Every key the data is read by refuses every edit; the others (when it was created, the
    # options used, the source checksums, the statistics the reader does not use) are only
    # type-checked: no edit of them can change an epoch.
    assert unchecked <= {"created", "options", "skipped", "sources", "label_counts",
                         "channels", "roots", ("lengths", "features", "median"),
                         ("lengths", "features", "mean"), ("lengths", "labels", "median"),
                         ("lengths", "labels", "mean")}, unchecked
    assert results["error"] > 500


@pytest.mark.parametrize("bad", ["../copy/data/part-00000.parquet", "/etc/passwd",
                                 "data/../data/part-00000.parquet", "data/part-0.parquet",
                                 "data\\part-00000.parquet", "_manifest.json"])
def test_part_paths_stay_in_the_store(intact, tmp_path, bad):
    path = fresh_copy(intact, tmp_path)
    manifest = read_manifest(path)
    manifest["parts"][0]["path"] = bad
    write_manifest(path, manifest)
    with pytest.raises(StoreError, match=r"key 'parts\[0\]\.path'"):
        SequenceStore(path)


def test_a_part_that_is_a_link_out_of_the_store_is_refused(intact, tmp_path):
    path = fresh_copy(intact, tmp_path)
    outside = tmp_path / "outside.parquet"
    shutil.move(path / PART, outside)
    os.symlink(outside, path / PART)
    with pytest.raises(StoreError, match="expected a file inside the store"):
        epoch(path)


@pytest.fixture(scope="module")
def parted(tmp_path_factory):
    """A store of four parts (small chunks)."""
    root = tmp_path_factory.mktemp("parted")
    mp = pytest.MonkeyPatch()
    mp.setattr(convert_module, "MIN_CHUNK_FILES", 6)
    try:
        make_store(root / "csv", root / "store", workers=4)
    finally:
        mp.undo()
    assert len(read_manifest(root / "store")["parts"]) == 4
    return root / "store", epoch(root / "store")


def test_parts_listed_twice_reordered_renamed_or_swapped_are_refused(parted, tmp_path):
    path = fresh_copy(parted, tmp_path)
    manifest = read_manifest(path)
    parts = manifest["parts"]
    for edited_parts, key in [([parts[0], parts[0], parts[2], parts[3]], "parts[1].path"),
                              ([parts[1], parts[0], parts[2], parts[3]], "parts[1].path")]:
        write_manifest(path, {**manifest, "parts": edited_parts})
        with pytest.raises(StoreError, match=re.escape(f"key '{key}'")):
            SequenceStore(path)
    # Files swapped under an unchanged manifest: their checksums no longer match.
    write_manifest(path, manifest)
    a, b = path / "data" / "part-00000.parquet", path / "data" / "part-00001.parquet"
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    assert outcome(path, parted[1]) == "error"
    # Swapped with their entries too (sizes and checksums follow): the footers say which
    # part each file is.
    swapped = copy.deepcopy(manifest)
    for entry, other in ((swapped["parts"][0], parts[1]), (swapped["parts"][1], parts[0])):
        entry["bytes"], entry["sha256"] = other["bytes"], other["sha256"]
    write_manifest(path, swapped)
    with pytest.raises(StoreError, match="expected part 0, found part 1"):
        epoch(path)


def test_a_part_of_another_store_is_refused(intact, tmp_path):
    path = fresh_copy(intact, tmp_path)
    other = make_store(tmp_path / "csv2", tmp_path / "other", seed=1)
    shutil.copy(Path(other.path) / PART, path / PART)
    manifest = read_manifest(path)
    entry = read_manifest(Path(other.path))["parts"][0]
    manifest["parts"][0].update(bytes=entry["bytes"], sha256=entry["sha256"])
    write_manifest(path, manifest)
    with pytest.raises(StoreError, match="expected a part of store"):
        epoch(path)


def test_a_store_replaced_while_open_is_detected(tmp_path):
    out = tmp_path / "store"
    make_store(tmp_path / "a", out, n=24, seed=0)
    before = SequenceStore(out)
    before.sequence_lengths()                              # index read, values not yet
    opened_untouched = SequenceStore(out)
    make_store(tmp_path / "b", out, n=24, seed=5, overwrite=True)
    for store in (before, opened_untouched):
        it = SequenceRecordReaderDataSetIterator(store.reader("features"),
                                                 store.reader("labels"), 5, 4,
                                                 alignment_mode=AlignmentMode.ALIGN_END)
        with pytest.raises(StoreError, match="store changed since it was opened"):
            list(it)


def rewrite_part(path: Path, change) -> None:
    """Replace the part by ``change(table)`` written as Parquet with the part's metadata,
    and update the manifest's size and checksum so that only the content check can tell."""
    table = pq.read_table(path / PART)
    data = change(table)
    if isinstance(data, pa.Table):
        sink = pa.BufferOutputStream()
        pq.write_table(data, sink)
        data = sink.getvalue().to_pybytes()
    (path / PART).write_bytes(data)
    manifest = read_manifest(path)
    manifest["parts"][0].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    write_manifest(path, manifest)


def with_column(table: pa.Table, name: str, values) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


@pytest.mark.parametrize("change, message", [
    (lambda t: os.urandom(3000), "damaged store"),
    (lambda t: b"PAR1" + os.urandom(100) + b"PAR1", "damaged store"),
    (lambda t: b"", r"expected an int in \[1, 2\*\*53\]"),
    (lambda t: t.drop_columns(["label"]), "expected the columns"),
    (lambda t: t.replace_schema_metadata({}), "expected a part of store"),
    (lambda t: t.slice(1), "expected 24 rows"),
    (lambda t: with_column(t, "id", list(range(24, 0, -1))), "increasing ids"),
    (lambda t: with_column(t, "length", [9] * 24), "'length' says 9 steps"),
    (lambda t: with_column(t, "length", [0] * 24), "expected values >= 1"),
    (lambda t: with_column(t, "source", [None] * 24), "no missing values"),
])
def test_self_contradicting_parts_with_matching_checksums(intact, tmp_path, change, message):
    path = fresh_copy(intact, tmp_path)
    rewrite_part(path, lambda t: change(t.replace_schema_metadata(t.schema.metadata)))
    with pytest.raises(StoreError, match=message) as err:
        epoch(path)
    assert "part data/part-00000.parquet" in str(err.value) or "_manifest.json" in str(err.value)


def test_raw_library_errors_become_store_errors(intact, tmp_path):
    path = fresh_copy(intact, tmp_path)
    (path / "_manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(StoreError, match="_manifest.json"):
        SequenceStore(path)
    (path / "_manifest.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(StoreError, match="_manifest.json"):
        SequenceStore(path)
    (path / "_manifest.json").unlink()
    (path / "manifest.json").write_text('{"format": "seqdata-store", "format_version": 1}')
    with pytest.raises(StoreError, match="format 1.*seqdata convert .*--overwrite"):
        SequenceStore(path)


def test_a_negative_range_of_a_store_is_refused(intact):
    store = SequenceStore(intact[0])
    assert store.index_range(0, 23) == range(24)
    for low, high in ((-5, 9), (3, 2), (0, 24)):
        with pytest.raises(StoreError, match="expected 0 <= MIN <= MAX < 24"):
            store.index_range(low, high)


def test_validate_checks_a_store_without_training(intact, tmp_path):
    path = fresh_copy(intact, tmp_path)
    ok = CliRunner().invoke(seqdata_main, ["validate", str(path)])
    assert ok.exit_code == 0 and "ok: store" in ok.stdout
    manifest = read_manifest(path)
    manifest["label_counts"] = {"0": 1}
    write_manifest(path, manifest)
    bad = CliRunner().invoke(seqdata_main, ["validate", str(path)])
    assert bad.exit_code == 1 and "key 'label_counts'" in bad.stderr


MEASURE = textwrap.dedent("""
    import json, sys, tracemalloc
    import pyarrow as pa
    from seqdata.errors import StoreError
    from seqdata.store.reader import SequenceStore
    tracemalloc.start()
    try:
        store = SequenceStore(sys.argv[1])
        store.reader("features").load_ragged(range(len(store)))
        outcome = "read"
    except StoreError as e:
        outcome = str(e)
    print(json.dumps({"outcome": outcome, "arrow": pa.default_memory_pool().max_memory(),
                      "python": tracemalloc.get_traced_memory()[1]}))
""")


def measure(path: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT},
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_decompression_bomb_costs_bounded_memory(intact, tmp_path):
    """A part of a few hundred kilobytes that decodes to 200 MB of zeros, under a manifest that
    promises what the intact store holds, is refused before it is decoded."""
    path = fresh_copy(intact, tmp_path)
    per_row = 200_000_000 // (24 * 3 * 4)            # 200 MB of float32 zeros in all

    def bomb(table: pa.Table) -> bytes:
        values = pa.FixedSizeListArray.from_arrays(
            pa.array(np.zeros(24 * per_row * 3, np.float32)), 3)
        features = pa.LargeListArray.from_arrays(pa.array(np.arange(25) * per_row), values)
        t = with_column(table, "length", [per_row] * 24)
        t = t.set_column(t.schema.get_field_index("features"), t.schema.field("features"),
                         features)
        sink = pa.BufferOutputStream()
        pq.write_table(t, sink, compression="zstd")
        return sink.getvalue().to_pybytes()

    rewrite_part(path, bomb)
    assert (path / PART).stat().st_size < 2_000_000
    report = measure(path)
    assert "part data/part-00000.parquet: expected at most" in report["outcome"], report
    assert report["arrow"] + report["python"] < 64 << 20, report


def test_an_absurd_manifest_costs_bounded_memory(intact, tmp_path):
    path = fresh_copy(intact, tmp_path)
    manifest = read_manifest(path)
    manifest["num_sequences"] = 10**15
    manifest["parts"][0]["rows"] = 10**15
    for role in ("features", "labels"):
        manifest["lengths"][role].update(count=10**15, total=10**15, min=1, max=1)
    write_manifest(path, manifest)
    report = measure(path)
    assert "expected 1000000000000000 rows" in report["outcome"], report
    assert report["arrow"] + report["python"] < 64 << 20, report


@pytest.mark.parametrize("error, where", [
    (OSError(errno.ENOSPC, "No space left on device"), "part-00000.parquet"),
    (PermissionError(errno.EACCES, "Permission denied"), "_manifest.json"),
])
def test_disk_full_and_permission_errors_name_the_path_and_leave_nothing(tmp_path, monkeypatch,
                                                                         error, where):
    real_open = open

    def failing_open(file, mode="r", *args, **kwargs):
        if "w" in mode and str(file).endswith(where):
            error.filename = str(file)
            raise error
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(writer, "open", failing_open, raising=False)
    with pytest.raises(StoreError) as err:
        make_store(tmp_path / "csv", tmp_path / "out" / "store")
    assert where in str(err.value) and error.strerror in str(err.value)
    assert os.listdir(tmp_path / "out") == []


CONVERT_BIG = textwrap.dedent("""
    import json, sys, tracemalloc
    import pyarrow as pa
    from seqdata.errors import ParseError
    from seqdata.store.convert import convert
    tracemalloc.start()
    try:
        convert([sys.argv[1]], sys.argv[2], progress=False, workers=1)
        outcome = "converted"
    except ParseError as e:
        outcome = str(e)
    print(json.dumps({"outcome": outcome, "arrow": pa.default_memory_pool().max_memory(),
                      "python": tracemalloc.get_traced_memory()[1]}))
""")


def test_a_large_file_with_an_error_on_line_2_costs_one_block(tmp_path):
    """Conversion reads a large file in blocks: a 96 MB file whose line 2 is bad fails after
    one block, not after holding three copies of the file."""
    path = tmp_path / "big.csv"
    line = b"0.125,1.5,-2.25,3.0\n"
    with open(path, "wb") as f:
        f.write(line + b"0.5,oops,1,2\n")
        f.write(line * (96_000_000 // len(line)))
    result = subprocess.run([sys.executable, "-c", CONVERT_BIG, str(path), str(tmp_path / "s")],
                            capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": ROOT}, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"].startswith(f"{path}:2:2: expected a number, found 'oops'")
    assert report["arrow"] + report["python"] < 80 << 20, report


def test_parts_carry_page_checksums_that_are_verified(intact, tmp_path):
    path = fresh_copy(intact, tmp_path)
    meta = pq.ParquetFile(path / PART).metadata
    group = meta.row_group(0)
    chunk = next(group.column(i) for i in range(group.num_columns)
                 if group.column(i).path_in_schema.startswith("features."))
    data = bytearray((path / PART).read_bytes())
    data[chunk.data_page_offset + chunk.total_compressed_size - 10] ^= 1    # in the page data
    rewrite_part(path, lambda t: bytes(data))
    with pytest.raises(StoreError, match="CRC checksum verification failed"):
        epoch(path)
