"""Model selection in ``seqnet train``: a validation split chooses, the test split never does."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from seqnet.cli import main
from seqnet.errors import ConfigurationError
from seqnet.workflow.run_config import load_run_config
from seqnet.workflow.train import train
from tests.seqnet.test_workflow_train import assert_same_params, write_run_file


def test_a_run_without_a_validation_split_writes_no_best_zip_and_says_why(tmp_path):
    result = CliRunner().invoke(main, ["train", str(write_run_file(tmp_path, epochs=2))])
    assert result.exit_code == 0, result.output
    assert "no validation split" in result.output and "no best.zip" in result.output
    assert not (tmp_path / "out" / "best.zip").exists()
    assert "final model" in result.output


def test_validation_fraction_chooses_best_zip_without_looking_at_the_test_labels(tmp_path):
    run = write_run_file(tmp_path / "a", epochs=5,
                         updater='{ type = "adam", learning_rate = 0.05 }')
    text = run.read_text().replace('normalizer = "standardize"',
                                   'normalizer = "standardize"\nvalidation_fraction = 0.25')
    run.write_text(text)
    first = train(load_run_config(run))
    assert (tmp_path / "a" / "out" / "best.zip").exists() and first.test_model == "best"
    records = [json.loads(x) for x in (tmp_path / "a" / "out" / "metrics.jsonl").open()]
    assert {r["eval_split"] for r in records} == {"validation"}
    shutil.copyfile(tmp_path / "a" / "out" / "best.zip", tmp_path / "first_best.zip")
    # The same run with the test labels shuffled chooses the identical model.
    labels = sorted((tmp_path / "a" / "test" / "labels").iterdir())
    contents = [p.read_text() for p in labels]
    rng = np.random.default_rng(0)
    for path, text in zip(labels, rng.permutation(contents)):
        path.write_text(text)
    assert contents != [p.read_text() for p in labels]
    second = train(load_run_config(run), overwrite=True)
    assert second.best_epoch == first.best_epoch
    assert_same_params(tmp_path / "a" / "out" / "best.zip", tmp_path / "first_best.zip")
    assert second.history[-1]["accuracy"] == first.history[-1]["accuracy"]


def test_validation_fraction_carves_with_the_seed_and_trains_on_the_rest(tmp_path):
    from seqnet.workflow.data import load_run_data

    run = write_run_file(tmp_path, epochs=1)
    run.write_text(run.read_text().replace('batch_size = 8', 'batch_size = 8\n'
                                           'validation_fraction = 0.2'))
    config = load_run_config(run)
    a = load_run_data(config.data, seed=1)
    b = load_run_data(config.data, seed=1)
    c = load_run_data(config.data, seed=2)
    sources = [[s.source for s in d.readers["validation"][0]] for d in (a, b, c)]
    assert len(sources[0]) == 7 and sources[0] == sources[1] and sources[0] != sources[2]
    train_sources = {s.source for s in a.readers["train"][0]}
    assert len(train_sources) == 29 and not train_sources & set(sources[0])


@pytest.mark.parametrize("fraction, validation, message", [
    (1.5, False, "between 0 and 1"),
    (0.1, True, "found both"),
])
def test_validation_fraction_is_checked(tmp_path, fraction, validation, message):
    run = write_run_file(tmp_path, validation=validation)
    run.write_text(run.read_text().replace(
        'batch_size = 8', f'batch_size = 8\nvalidation_fraction = {fraction}', 1))
    with pytest.raises(ConfigurationError, match=message):
        load_run_config(run)


def test_early_stopping_without_a_validation_split_is_refused(tmp_path):
    run = write_run_file(tmp_path, extra_run="early_stopping_patience = 2")
    with pytest.raises(ConfigurationError, match="validation_fraction"):
        load_run_config(run)
