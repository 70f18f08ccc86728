"""The seqnet commands agree with each other and with the run file: a corpus with a header
line read the same way by train and predict, predict on a store, run-file spellings in errors."""

from __future__ import annotations

import csv

import numpy as np
from click.testing import CliRunner

from seqnet.cli import main
from tests.seqnet.test_workflow_train import write_run_file


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def add_headers(folder) -> None:
    for path in sorted(folder.glob("*/features/*.csv")):
        path.write_text("level,noise\n" + path.read_text())


def test_predict_reads_a_store_and_the_run_files_reader_options(tmp_path):
    run = write_run_file(tmp_path, epochs=1)
    add_headers(tmp_path)
    run.write_text(run.read_text().replace("batch_size = 8", "batch_size = 8\nskip_lines = 1"))
    trained = invoke("train", run)
    assert trained.exit_code == 0, trained.output
    model = tmp_path / "out" / "model.zip"
    pattern = tmp_path / "test" / "features" / "%d.csv"
    # Without the header option the first line is refused, naming the file and line, and
    # the message says how to skip a header.
    bare = invoke("predict", model, pattern, "--range", "0", "5", "--out", tmp_path / "x.csv")
    assert bare.exit_code == 1 and "0.csv:1:1" in bare.output
    assert "skip_lines = 1" in bare.output and "--skip-lines 1" in bare.output
    by_run = invoke("predict", model, pattern, "--range", "0", "5", "--run-file", run,
                    "--out", tmp_path / "a.csv")
    assert by_run.exit_code == 0, by_run.output
    from seqdata.store.convert import convert

    convert([str(pattern).replace("%d", str(i)) for i in range(6)], tmp_path / "test.store",
            skip_num_lines=1, progress=False)
    by_store = invoke("predict", model, tmp_path / "test.store", "--out", tmp_path / "b.csv")
    assert by_store.exit_code == 0, by_store.output
    some = invoke("predict", model, tmp_path / "test.store", "--range", "2", "3",
                  "--out", tmp_path / "c.csv")
    assert some.exit_code == 0, some.output

    def outputs(name):
        rows = list(csv.DictReader((tmp_path / name).open()))
        return np.array([[float(r[k]) for k in r if k.startswith("out_")] for r in rows])

    np.testing.assert_allclose(outputs("b.csv"), outputs("a.csv"), rtol=1e-6)
    np.testing.assert_allclose(outputs("c.csv"), outputs("a.csv")[2:4], rtol=1e-6)


def test_alignment_errors_suggest_the_run_file_spelling(tmp_path):
    run = write_run_file(tmp_path, epochs=1)
    run.write_text(run.read_text().replace('alignment = "ALIGN_END"',
                                           'alignment = "EQUAL_LENGTH"'))
    result = invoke("train", run)
    assert result.exit_code == 1
    assert 'alignment = "ALIGN_END"' in result.output and "AlignmentMode." not in result.output
