"""The ``seqdata`` command: convert, info, validate, export; exit codes; a killed conversion."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from seqdata.cli import main
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.splits import NumberedFileInputSplit
from seqdata.store.reader import SequenceStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write_texts(directory, texts):
    os.makedirs(directory, exist_ok=True)
    for i, text in enumerate(texts):
        with open(os.path.join(directory, f"{i}.csv"), "w") as f:
            f.write(text)
    return os.path.join(str(directory), "%d.csv")


@pytest.fixture
def corpus(tmp_path):
    """Six sequences of lengths 1..6 with two columns and a header; labels 0,1,1,2,2,2."""
    fpat = write_texts(tmp_path / "features", [
        "a,b\n" + "".join(f"{i}.5,{-t}\n" for t in range(i + 1)) for i in range(6)])
    lpat = write_texts(tmp_path / "labels", [f"{c}\n" for c in (0, 1, 1, 2, 2, 2)])
    return tmp_path, fpat, lpat


def test_convert_then_info(corpus):
    tmp, fpat, lpat = corpus
    result = run("convert", fpat, "--labels", lpat, "--range", 0, 5, "--skip-lines", 1,
                 "--label-skip-lines", 0, "--out", tmp / "store", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "wrote 6 sequences" in result.stdout
    result = run("info", tmp / "store")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "sequences: 6" in lines
    assert "features: 2 columns (a, b), length min 1, median 3.5, max 6" in lines
    assert "labels: 1 column, length min 1, median 1, max 1" in lines
    assert "label counts: 0: 1, 1: 2, 2: 3" in lines


def test_directories_are_read_in_sorted_order(corpus):
    tmp, _, _ = corpus
    result = run("convert", tmp / "features", "--labels", tmp / "labels", "--skip-lines", 1,
                 "--label-skip-lines", 0, "--out", tmp / "store")
    assert result.exit_code == 0, result.output
    store = SequenceStore(tmp / "store")
    assert [r.source for r in store.reader("features")] == [
        os.path.join(tmp, "features", f"{i}.csv") for i in range(6)]


def test_info_on_a_corpus_and_plot_size(corpus):
    tmp, fpat, _ = corpus
    result = run("info", fpat, "--range", 1, 4, "--skip-lines", 1, "--plot", tmp / "h.png")
    assert result.exit_code == 0, result.output
    assert "sequences: 4" in result.stdout
    assert "length: min 2, median 3.5, max 5" in result.stdout
    import matplotlib.image

    assert matplotlib.image.imread(str(tmp / "h.png")).shape == (800, 1200, 4)
    assert run("convert", fpat, "--range", 0, 5, "--skip-lines", 1, "--out",
               tmp / "s").exit_code == 0
    assert run("info", tmp / "s", "--plot", tmp / "s.png").exit_code == 0
    assert matplotlib.image.imread(str(tmp / "s.png")).shape == (800, 1200, 4)


def test_validate_reports_every_fault_with_file_and_line(tmp_path):
    good = "1,2\n3,4\n5,6\n"
    texts = [good] * 8
    texts[2] = "1,2\n3,4\n5,abc\n"      # not a number: line 3, column 2
    texts[5] = "1,2\n3,4,5\n"           # ragged row: line 2
    fpat = write_texts(tmp_path / "f", texts)
    labels = ["0\n"] * 8
    labels[7] = "0\n9\n"                # outside [0, 3): line 2
    lpat = write_texts(tmp_path / "l", labels)
    result = run("validate", fpat, "--labels", lpat, "--range", 0, 7, "--num-classes", 3)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"{fpat % 2}:3:2: expected a number, found 'abc'" in lines
    assert any(line.startswith(f"{fpat % 5}:2:") and "ragged" in line for line in lines)
    assert any(line.startswith(f"{lpat % 7}:2:1:") and "to one-hot" in line for line in lines)
    assert "3 problem(s)" in result.stderr
    clean = run("validate", fpat, "--range", 0, 1)
    assert clean.exit_code == 0 and "ok: 2 sequence(s)" in clean.stdout


def test_validate_reports_non_finite_values_and_length_notes(tmp_path):
    fpat = write_texts(tmp_path / "f", ["1\nnan\n", "inf\n"])
    lpat = write_texts(tmp_path / "l", ["0\n", "1\n"])
    result = run("validate", fpat, "--labels", lpat, "--range", 0, 1)
    assert result.exit_code == 1
    assert f"{fpat % 0}:2:1: non-finite value nan" in result.stdout
    assert f"{fpat % 1}:1:1: non-finite value inf" in result.stdout
    assert "note: 1 sequence(s) have features and labels of different lengths" in result.stdout


def test_export_round_trip(corpus):
    tmp, fpat, lpat = corpus
    assert run("convert", fpat, "--labels", lpat, "--range", 0, 5, "--skip-lines", 1,
               "--label-skip-lines", 0, "--out", tmp / "store").exit_code == 0
    result = run("export", tmp / "store", "--out", tmp / "exp", "--pattern", "s%02d.txt")
    assert result.exit_code == 0, result.output
    for role, pattern, skip in (("features", fpat, 1), ("labels", lpat, 0)):
        a, b = CSVSequenceRecordReader(skip), CSVSequenceRecordReader()
        a.initialize(NumberedFileInputSplit(pattern, 0, 5))
        b.initialize(NumberedFileInputSplit(str(tmp / "exp" / role / "s%02d.txt"), 0, 5))
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.values, y.values)


def test_skip_policy_through_the_cli(corpus):
    tmp, fpat, _ = corpus
    with open(fpat % 3, "a") as f:
        f.write("1,2,3\n")
    result = run("convert", fpat, "--range", 0, 5, "--skip-lines", 1, "--out", tmp / "s",
                 "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert "wrote 5 sequences" in result.stdout and "skipped 1" in result.stdout
    skipped = json.loads((tmp / "s" / "_manifest.json").read_text())["skipped"]
    assert [(s["id"], s["path"]) for s in skipped] == [(3, fpat % 3)]
    assert "ragged row" in skipped[0]["reason"]


def test_exit_codes(corpus):
    tmp, fpat, _ = corpus
    usage = [
        ("convert", fpat, "--range", 0, 5),                       # no --out
        ("convert", fpat, "--out", tmp / "s"),                     # pattern without --range
        ("convert", tmp / "features", "--range", 0, 1, "--out", tmp / "s"),  # range on a dir
        ("convert", fpat, "--range", 0, 5, "--out", tmp / "s", "--on-error", "ignore"),
        ("validate", fpat, "--range", 0, 5, "--num-classes", 0),
        ("validate", fpat, "--range", 0, 5, "--skip-lines", 1, "--num-classes", 3),  # no labels
        ("frobnicate",),
    ]
    for args in usage:
        assert run(*args).exit_code == 2, args
    missing = run("convert", tmp / "nowhere", "--out", tmp / "s")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: ") and "nowhere" in missing.stderr
    bad = run("convert", fpat, "--range", 0, 5, "--out", tmp / "s")   # header not skipped
    assert bad.exit_code == 1
    assert f"error: {fpat % 0}:1:1: expected a number, found 'a'" in bad.stderr
    assert "use --skip-lines 1" in bad.stderr
    assert not (tmp / "s").exists()
    ok = ("convert", fpat, "--range", 0, 5, "--skip-lines", 1, "--out", tmp / "s")
    assert run(*ok).exit_code == 0
    again = run(*ok)
    assert again.exit_code == 1 and "already exists; pass --overwrite" in again.stderr
    assert run(*ok, "--overwrite").exit_code == 0
    assert run("info", tmp / "nowhere").exit_code == 1
    assert run("export", tmp / "features", "--out", tmp / "x").exit_code == 1


def test_killed_conversion_leaves_no_output_and_a_second_run_succeeds(tmp_path):
    rows = "\n".join(",".join(f"{(r * 7 + c) % 13 - 6.25:.3f}" for c in range(8))
                     for r in range(60)) + "\n"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(5000):
        (corpus / f"{i}.csv").write_text(rows)
    out = tmp_path / "store"
    command = [sys.executable, "-c", "from seqdata.cli import main; main()", "convert",
               str(corpus / "%d.csv"), "--range", "0", "4999", "--out", str(out),
               "--workers", "1"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    temporary = tmp_path / f".store.tmp-{proc.pid}"
    deadline = time.monotonic() + 60
    while not temporary.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(random.uniform(0.0, 0.1))
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the conversion finished before it could be killed"
    assert not out.exists()
    result = run("convert", corpus / "%d.csv", "--range", 0, 4999, "--out", out,
                 "--workers", 1)
    assert result.exit_code == 0, result.output
    assert len(SequenceStore(out)) == 5000
    assert sorted(os.listdir(tmp_path)) == ["corpus", "store"]


def test_info_labels_counts_classes_of_a_csv_corpus_and_the_plot_shows_them(corpus):
    tmp, fpat, lpat = corpus
    result = run("info", fpat, "--labels", lpat, "--range", 0, 5, "--skip-lines", 1,
                 "--plot", tmp / "c.png")
    assert result.exit_code == 0, result.output
    assert "label counts: 0: 1, 1: 2, 2: 3" in result.stdout.splitlines()


def test_plot_title_names_the_corpus_and_lengths_bin_by_whole_steps(corpus, monkeypatch):
    import matplotlib.figure

    from seqdata import plots

    tmp, fpat, lpat = corpus
    titles, hists = [], []
    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle",
                        lambda self, t, **k: titles.append(t))
    real_hist = matplotlib.axes.Axes.hist
    monkeypatch.setattr(matplotlib.axes.Axes, "hist",
                        lambda self, x, bins, **k: hists.append(bins) or real_hist(
                            self, x, bins=bins, **k))
    assert run("info", fpat, "--range", 0, 5, "--skip-lines", 1, "--plot",
               tmp / "p.png").exit_code == 0
    assert titles == [f"{os.path.basename(tmp)}/features: 6 sequences"]
    assert hists == [[0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]]
    assert plots.length_bins(np.array([7, 7])).tolist() == [6.5, 7.5]


def test_validate_a_store_checks_every_part_and_label_skip_lines(corpus):
    tmp, fpat, lpat = corpus
    texts = [open(lpat % i).read() for i in range(6)]
    lpat2 = write_texts(tmp / "labels_h", ["y\n" + t for t in texts])
    result = run("validate", fpat, "--labels", lpat2, "--range", 0, 5, "--skip-lines", 1,
                 "--label-skip-lines", 1, "--num-classes", 3)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("note:") == 1     # the many-to-one note, once
    assert run("convert", fpat, "--labels", lpat, "--range", 0, 5, "--skip-lines", 1,
               "--out", tmp / "s").exit_code == 0
    ok = run("validate", tmp / "s", "--num-classes", 3)
    assert ok.exit_code == 0 and "ok: store" in ok.stdout, ok.output
    assert run("validate", tmp / "s", "--num-classes", 2).exit_code == 1
    part = tmp / "s" / "data" / "part-00000.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 1
    part.write_bytes(bytes(data))
    bad = run("validate", tmp / "s")
    assert bad.exit_code == 1 and "part data/part-00000.parquet" in bad.stderr
    assert "checksum mismatch" in bad.stderr


def test_progress_is_one_line_per_step_without_a_terminal(corpus):
    tmp, fpat, _ = corpus
    result = run("convert", fpat, "--range", 0, 5, "--skip-lines", 1, "--out", tmp / "s")
    assert result.exit_code == 0, result.output
    assert "\r" not in result.stderr
    assert "convert: 6/6 files" in result.stderr.splitlines()
    for args, line in [(("validate", fpat, "--range", 0, 5, "--skip-lines", 1),
                        "validate features: 6/6 files"),
                       (("info", fpat, "--range", 0, 5, "--skip-lines", 1), "info: 6/6 files"),
                       (("export", tmp / "s", "--out", tmp / "e"),
                        "export features: 6/6 sequences")]:
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert "\r" not in result.stderr and line in result.stderr.splitlines(), result.stderr
