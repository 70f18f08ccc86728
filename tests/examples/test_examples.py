"""Every example runs with ``--quick`` and reaches something real; generators match their
published definitions."""

from __future__ import annotations

import importlib.util
import sys

import matplotlib.image
import numpy as np
import pytest

from tests.conftest import ROOT


def example(name: str):
    """Import ``examples/<name>.py`` as a module (examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- UCI


def test_uci_reads_the_real_series_in_dl4js_layout():
    uci = example("uci_synthetic_control")
    train, test = uci.iterators(uci.DATA, uci.COUNTS, batch_size=10)
    assert (len(train), len(test)) == (45, 15)
    assert (train.input_columns(), train.total_outcomes()) == (1, 6)
    ds = next(iter(train))
    assert ds.features.shape == (10, 1, 60) and ds.features_mask is None
    # ALIGN_END, one label row per series: the label sits at the last of the 60 steps.
    assert ds.labels_mask.sum(axis=1).tolist() == [1.0] * 10 and ds.labels_mask[:, -1].all()
    assert abs(float(ds.features.mean())) < 1.0                  # standardised


def test_uci_quick_run_learns(tmp_path):
    result = example("uci_synthetic_control").main(["--quick"])
    assert result["scores"][-1] < result["initial_score"]
    assert result["accuracy"] > 1 / 6 + 0.3 and 0 < result["f1"] <= 1


# --------------------------------------------------------------------------- video


def test_video_generator_draws_every_shape_and_moves_it():
    video = example("video_frames")
    rng = np.random.default_rng(0)
    for shape in range(len(video.SHAPES)):
        clip = video.make_video(shape, 6, 16, rng)
        assert clip.shape == (6, 16, 16) and clip.dtype == np.float32
        assert not np.allclose(clip[0], clip[-1], atol=0.3)
    # A circle's outline is empty in the middle; a line through the centre is not.
    assert video.draw(0, 8, 8, 5, 0.0, 17)[8, 8] == 0.0
    assert video.draw(3, 8, 8, 5, 0.0, 17)[8, 8] == 1.0


def test_video_quick_run_classifies_frames_above_chance(tmp_path):
    result = example("video_frames").main(["--quick", "--data-dir", str(tmp_path)])
    assert result["frames_evaluated"] == 24 * 12          # every frame of every test video
    assert result["accuracy"] > 0.25 + 0.15
    assert (tmp_path / "features" / "0.npy").exists()
    assert len((tmp_path / "labels" / "0.csv").read_text().splitlines()) == 12


# --------------------------------------------------------------------------- text


def test_char_model_quick_run_learns_and_samples_the_corpus_alphabet():
    char = example("char_model")
    result = char.main(["--quick", "--sample-length", "80"])
    assert result["final_score"] < result["initial_score"]
    corpus = (ROOT / "fixtures" / "text" / "devils_dictionary.txt").read_text(encoding="utf-8")
    assert set(result["vocabulary"]) <= set(corpus)
    for sample in result["samples"]:
        assert len(sample) == 80 and set(sample) <= set(result["vocabulary"])


def test_char_model_accepts_any_text_file_and_saves_a_sampleable_model(tmp_path):
    text = tmp_path / "tiny.txt"
    text.write_text("to be or not to be, that is the question. " * 40, encoding="utf-8")
    model = tmp_path / "m.zip"
    result = example("char_model").main(["--quick", "--text", str(text), "--save", str(model),
                                         "--sample-length", "30"])
    assert set(result["vocabulary"]) == set(text.read_text())
    from seqnet.workflow.model_io import load_model

    _, extras = load_model(model)
    assert extras["vocabulary"].chars == result["vocabulary"]


# --------------------------------------------------------------------------- real data


def test_japanese_vowels_quick_run_is_well_above_chance():
    result = example("japanese_vowels").main(["--quick"])
    assert result["scores"][-1] < result["initial_score"]
    assert result["accuracy"] > 0.6 > result["untrained_accuracy"]


def test_weather_forecast_steps_equal_output_and_the_plot_is_written(tmp_path):
    png = tmp_path / "forecast.png"
    result = example("weather_forecast").main(["--quick", "--out", str(png)])
    assert result["scores"][-1] < result["scores"][0]
    # One rnn_time_step per hour gives what output() over the whole series gives at that step.
    assert result["max_abs_diff"] < 1e-4
    np.testing.assert_allclose(result["stepwise"], result["full_output"], atol=1e-4)
    assert result["forecasts"] == len(result["stepwise"]) > 100
    assert matplotlib.image.imread(png).shape[:2] == (400, 1000)


@pytest.mark.parametrize("name", ["uci_synthetic_control", "video_frames", "char_model",
                                  "japanese_vowels", "weather_forecast"])
def test_every_example_documents_quick_in_its_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        example(name).main(["--help"])
    assert info.value.code == 0 and "--quick" in capsys.readouterr().out
