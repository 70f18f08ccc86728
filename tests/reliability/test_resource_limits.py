"""Resource limits: iterating a corpus far larger than a minibatch keeps memory bounded.

SPEC section 4: "iterating never loads more than a few minibatches into memory at once", and
issue 7: reading a corpus larger than memory through the store streams. Each test iterates a
corpus far larger than the bounds, twice, in a fresh subprocess, after imports, thread pools and
a warm-up pass over a tiny corpus, and measures two things:

- live bytes: the high-water mark of Arrow's memory pool plus the peak of numpy's (Python's)
  allocations traced by ``tracemalloc`` during the second pass; bound ``LIVE_BATCHES`` = 32
  minibatches;
- peak resident set size growth (``VmHWM`` of ``/proc/self/status``, reset through
  ``/proc/self/clear_refs``) during the first pass, with Arrow on the system allocator (its
  default, mimalloc, keeps freed segments cached, which is bounded but says nothing about the
  data held); bound ``RSS_BATCHES`` = 64 minibatches.

One minibatch is ``BATCH x COLUMNS x STEPS`` float32 features = 200 KiB, so the bounds are
6.25 MiB and 12.5 MiB, while the corpus holds 160 minibatches (31 MiB as float32). The store
test simulates a store larger than memory by setting the store's decode-all budget
(``seqdata.store.reader.DECODE_ALL_BYTES``) to 0, and writes row groups of ``ROW_GROUP_BYTES``
(about one minibatch): a streamed store holds a few row groups at a time. Both of its passes
are in order; a shuffled pass over a streamed store decodes a row group per sequence, which is
correct (``test_a_streamed_store_reads_what_a_decoded_one_reads``) but too slow for CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from seqdata.readers.base import CollectionSequenceRecordReader
from seqdata.store import writer
from seqdata.store.convert import write_store
from tests.conftest import ROOT

BATCH, COLUMNS, STEPS = 32, 16, 100
SEQUENCES = 160 * BATCH
BATCH_BYTES = BATCH * COLUMNS * STEPS * 4
LIVE_BATCHES, RSS_BATCHES = 32, 64
ROW_GROUP_BYTES = 1 << 18

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                                reason="needs Linux /proc to measure peak RSS")

MEASURE = textwrap.dedent("""
    import json, re, sys, tracemalloc
    import numpy as np
    import pyarrow
    from seqdata.iterator import SequenceRecordReaderDataSetIterator, AlignmentMode

    def rss_kib():
        status = dict(re.findall(r"(Vm\\w+):\\s+(\\d+) kB", open("/proc/self/status").read()))
        return int(status["VmRSS"]), int(status["VmHWM"])

    def make_iterator(kind, where, n, shuffle):
        if kind == "store":
            from seqdata.store.reader import SequenceStore
            store = SequenceStore(where)
            return SequenceRecordReaderDataSetIterator(
                store.reader("features"), store.reader("labels"), BATCH, 4,
                alignment_mode=AlignmentMode.ALIGN_END, shuffle=shuffle, seed=1)
        from seqdata.readers.csv import CSVSequenceRecordReader
        from seqdata.splits import NumberedFileInputSplit
        readers = []
        for role in ("features", "labels"):
            r = CSVSequenceRecordReader()
            r.initialize(NumberedFileInputSplit(where + "/" + role + "/%d.csv", 0, n - 1))
            readers.append(r)
        return SequenceRecordReaderDataSetIterator(readers[0], readers[1], BATCH, 4,
            alignment_mode=AlignmentMode.ALIGN_END, shuffle=shuffle, seed=1)

    kind, small, big = sys.argv[1:4]
    n_small, n_big, BATCH = map(int, sys.argv[4:7])
    if kind == "store":
        # A store larger than the memory budget, simulated with a budget of 0 bytes.
        import seqdata.store.reader
        seqdata.store.reader.DECODE_ALL_BYTES = 0
    for shuffle in (False, True):                      # warm-up: imports, pools, lazy set-up
        for ds in make_iterator(kind, small, n_small, shuffle):
            pass
    pool = pyarrow.default_memory_pool()
    arrow_base = pool.bytes_allocated()
    open("/proc/self/clear_refs", "w").write("5")      # peak RSS := current RSS
    base, _ = rss_kib()
    first, second = (False, True) if kind == "csv" else (False, False)
    seen = 0
    for ds in make_iterator(kind, big, n_big, first):  # epoch 1: peak RSS
        seen += ds.num_examples()
    _, peak = rss_kib()
    tracemalloc.start()                                # epoch 2: numpy's live bytes
    for ds in make_iterator(kind, big, n_big, second):
        seen += ds.num_examples()
        assert ds.features.dtype == np.float32
    live = pool.max_memory() - arrow_base + tracemalloc.get_traced_memory()[1]
    print(json.dumps({"live_bytes": live, "rss_bytes": (peak - base) * 1024,
                      "examples": seen}))
""")


def sequences(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    block = rng.normal(size=(STEPS, COLUMNS))
    # Distinct but cheap: every sequence is the same block shifted by its index.
    features = [block + i for i in range(n)]
    labels = [np.array([[i % 4]], dtype=np.float64) for i in range(n)]
    return features, labels


def write_test_store(path: Path, n: int, monkeypatch) -> None:
    features, labels = sequences(n)
    with monkeypatch.context() as m:
        m.setattr(writer, "ROW_GROUP_BYTES", ROW_GROUP_BYTES)
        write_store(CollectionSequenceRecordReader(features),
                    path, CollectionSequenceRecordReader(labels))


def write_test_csv(root: Path, n: int) -> None:
    features, _ = sequences(1)
    text = "".join(",".join(f"{v:.5f}" for v in row) + "\n" for row in features[0]).encode()
    for role, data in (("features", text), ("labels", None)):
        (root / role).mkdir(parents=True)
        for i in range(n):
            (root / role / f"{i}.csv").write_bytes(data if data is not None
                                                  else f"{i % 4}\n".encode())


def measure(kind: str, small: Path, big: Path, n_small: int, n_big: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, kind, str(small), str(big), str(n_small), str(n_big),
         str(BATCH)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "ARROW_DEFAULT_MEMORY_POOL": "system"},
        capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["examples"] == 2 * n_big
    return report


def assert_bounded(report: dict, corpus_bytes: int) -> None:
    live, rss = LIVE_BATCHES * BATCH_BYTES, RSS_BATCHES * BATCH_BYTES
    assert corpus_bytes >= 2 * rss, "the corpus must dwarf the bounds for the test to mean much"
    found = (f"live {report['live_bytes'] / 2**20:.2f} MiB, peak RSS growth "
             f"{report['rss_bytes'] / 2**20:.2f} MiB while iterating a "
             f"{corpus_bytes / 2**20:.1f} MiB corpus in minibatches of "
             f"{BATCH_BYTES / 2**10:.0f} KiB")
    assert report["live_bytes"] <= live, f"{found}; bound {live / 2**20:.2f} MiB live"
    assert report["rss_bytes"] <= rss, f"{found}; bound {rss / 2**20:.2f} MiB RSS"


def test_iterating_csv_files_keeps_peak_memory_bounded(tmp_path):
    # The control: the CSV path reads each minibatch's files when it needs them.
    n = SEQUENCES // 2
    write_test_csv(tmp_path / "small", 2 * BATCH)
    write_test_csv(tmp_path / "big", n)
    report = measure("csv", tmp_path / "small", tmp_path / "big", 2 * BATCH, n)
    assert_bounded(report, n * STEPS * COLUMNS * 8)       # parsed as float64


def test_iterating_a_store_keeps_peak_memory_bounded(tmp_path, monkeypatch):
    write_test_store(tmp_path / "small", 2 * BATCH, monkeypatch)
    write_test_store(tmp_path / "big", SEQUENCES, monkeypatch)
    report = measure("store", tmp_path / "small", tmp_path / "big", 2 * BATCH, SEQUENCES)
    assert_bounded(report, SEQUENCES * STEPS * COLUMNS * 4)


# --------------------------------------------------------------------------- streamed == decoded

@pytest.fixture(scope="module")
def multi_part_store(tmp_path_factory):
    """A store of 3 parts with many small row groups, converted from CSV files of 1-7 steps."""
    from seqdata.store import convert as convert_module

    root = tmp_path_factory.mktemp("streamed")
    rng = np.random.default_rng(5)
    for role in ("features", "labels"):
        (root / role).mkdir()
    for i in range(60):
        rows = rng.normal(size=(int(rng.integers(1, 8)), 3))
        (root / "features" / f"{i}.csv").write_text(
            "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows))
        (root / "labels" / f"{i}.csv").write_text(f"{i % 3}\n")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(writer, "ROW_GROUP_BYTES", 256)         # a handful of sequences per group
        m.setattr(convert_module, "MIN_CHUNK_FILES", 25)  # 60 files -> 3 parts
        convert_module.convert([str(root / "features" / f"{i}.csv") for i in range(60)],
                               root / "store",
                               [str(root / "labels" / f"{i}.csv") for i in range(60)],
                               workers=1, progress=False)
    return root / "store"


def test_a_streamed_store_reads_what_a_decoded_one_reads(multi_part_store, monkeypatch):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    import seqdata.store.reader as store_reader
    from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator

    decoded = store_reader.SequenceStore(multi_part_store)
    decoded.reader().load_sequences([0])
    monkeypatch.setattr(store_reader, "DECODE_ALL_BYTES", 0)
    streamed = store_reader.SequenceStore(multi_part_store)
    streamed.reader().load_sequences([0])
    assert isinstance(streamed._cache["features"], store_reader._Streamed)
    assert len(streamed._cache["features"].groups) > 3 and len(decoded.data_files) == 3
    assert isinstance(decoded._cache["features"], store_reader._Decoded)

    @settings(max_examples=60, deadline=None, database=None)
    @given(st.lists(st.integers(-60, 59), max_size=25), st.sampled_from(["features", "labels"]))
    def same(indices, role):
        a, b = decoded.reader(role).load_ragged(indices), streamed.reader(role).load_ragged(indices)
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.lengths, b.lengths)
        assert a.sources == b.sources and a.first_lines.tolist() == b.first_lines.tolist()
        for ra, rb in zip(decoded.reader(role).load_sequences(indices),
                          streamed.reader(role).load_sequences(indices)):
            np.testing.assert_array_equal(ra.values, rb.values)

    same()
    its = [SequenceRecordReaderDataSetIterator(s.reader("features"), s.reader("labels"), 7, 3,
                                               alignment_mode=AlignmentMode.ALIGN_END,
                                               shuffle=True, seed=3) for s in (decoded, streamed)]
    for da, db in zip(*its):
        for name in ("features", "labels", "features_mask", "labels_mask"):
            np.testing.assert_array_equal(getattr(da, name), getattr(db, name), err_msg=name)
