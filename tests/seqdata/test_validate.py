"""seqdata.validate: every problem of a CSV corpus, with file, line and column."""

import os

from seqdata.validate import iter_parsed, validate_corpus


def write(directory, texts):
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i, text in enumerate(texts):
        path = os.path.join(directory, f"{i}.csv")
        with open(path, "w") as f:
            f.write(text)
        paths.append(path)
    return paths


def test_every_problem_is_reported(tmp_path):
    features = write(tmp_path / "f", ["h\n1,2\n3,4\n", "h\n1,x\n", "h\n1\n", "h\n5,inf\n"])
    labels = write(tmp_path / "l", ["0\n", "3\n", "1.5\n", "-1\n"])
    report = validate_corpus(features + [str(tmp_path / "f" / "gone.csv")], labels + [labels[0]],
                             skip_num_lines=1, label_skip_num_lines=0, num_possible_labels=3)
    assert not report.ok and report.sequences == 5
    problems = "\n".join(report.problems)
    assert f"{features[1]}:2:2: expected a number, found 'x'" in problems
    assert f"{features[2]}:2: expected 2 columns" in problems
    assert f"{features[3]}:2:2: non-finite value inf" in problems
    assert "gone.csv: file not found" in problems
    for path, value in ((labels[1], "3"), (labels[2], "1.5"), (labels[3], "-1")):
        assert f"{path}:1:1: cannot convert label {value} to one-hot" in problems
    assert any("different lengths" in note for note in report.notes)


def test_clean_corpus_and_parsed_batches(tmp_path):
    features = write(tmp_path / "f", ["1;2\n3;4\n", "5;6\n"])
    assert validate_corpus(features, delimiter=";").ok
    parsed = list(iter_parsed(features, 0, ";"))
    assert [(p, b.lengths.tolist(), e) for p, b, e in parsed] == \
        [(features[0], [2], None), (features[1], [1], None)]
