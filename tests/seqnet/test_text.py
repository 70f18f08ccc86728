"""Character data and sampling: vocabulary, next-character batches, rnn_time_step sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqnet.errors import ConfigurationError
from seqnet.text import CharacterIterator, CharacterVocabulary
from seqnet.workflow.sample import _draw, sample_characters


@given(st.text(min_size=1, max_size=200))
def test_encode_then_decode_is_the_identity(text):
    vocab = CharacterVocabulary.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert CharacterVocabulary.from_dict(vocab.to_dict()).chars == vocab.chars


def test_unknown_characters_are_an_error_that_lists_them():
    vocab = CharacterVocabulary.from_text("abc")
    with pytest.raises(ConfigurationError, match="unknown: 'xz'"):
        vocab.encode("axbz")


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="abcde \n", min_size=12, max_size=300), st.integers(1, 10),
       st.integers(1, 4), st.integers(0, 5))
def test_labels_are_the_features_one_step_ahead_and_windows_tile_the_text(text, length, batch,
                                                                        seed):
    if len(text) <= length:
        return
    vocab = CharacterVocabulary.from_text(text)
    it = CharacterIterator(text, vocab, length, batch, seed=seed)
    windows = []
    for ds in it:
        assert ds.features.shape[1:] == (len(vocab), length)
        np.testing.assert_array_equal(ds.features[:, :, 1:], ds.labels[:, :, :-1])
        for n in range(ds.num_examples()):
            windows.append(vocab.decode(ds.features[n].argmax(axis=0))
                           + vocab.decode(ds.labels[n, :, -1:].argmax(axis=0)))
    count = (len(text) - 1) // length
    assert len(windows) == count
    expected = sorted(text[i * length:(i + 1) * length + 1] for i in range(count))
    assert sorted(windows) == expected


def test_epochs_are_reshuffled_reproducibly():
    text = "".join(chr(97 + i % 26) for i in range(400))
    vocab = CharacterVocabulary.from_text(text)

    def order(it):
        return [ds.features.argmax(axis=1)[:, 0].tolist() for ds in it]

    a = CharacterIterator(text, vocab, 9, 4, seed=3)
    b = CharacterIterator(text, vocab, 9, 4, seed=3)
    first_a, second_a = order(a), order(a)
    assert first_a == order(b) and second_a == order(b)
    assert first_a != second_a


def test_draw_follows_the_probabilities_and_temperature_sharpens_them():
    rng = np.random.default_rng(0)
    p = np.tile([[0.1, 0.6, 0.3]], (20000, 1))
    counts = np.bincount(_draw(p, 1.0, rng), minlength=3) / len(p)
    np.testing.assert_allclose(counts, [0.1, 0.6, 0.3], atol=0.015)
    assert (_draw(p, 0.01, rng) == 1).all()


def test_sampling_from_carried_state_matches_rerunning_output_on_the_whole_text():
    """Greedy sampling (tiny temperature) with rnn_time_step picks, at every step, the
    argmax of output() re-run over prime + everything generated so far."""
    from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
    from seqnet.conf.multilayer import MultiLayerConfiguration
    from seqnet.network import MultiLayerNetwork

    vocab = CharacterVocabulary.from_text("abcdefgh ")
    conf = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=len(vocab), n_out=12), GravesLSTM(n_out=12),
                RnnOutputLayer(n_out=len(vocab), activation="softmax", loss="MCXENT")],
        seed=5)
    net = MultiLayerNetwork(conf)
    net.init()
    prime = "abc "
    generated = sample_characters(net, vocab, prime, 15, temperature=1e-4, seed=0)[0]
    text = prime
    for char in generated:
        out = np.asarray(net.output(vocab.one_hot(vocab.encode(text))[None]))
        assert vocab.chars[int(out[0, :, -1].argmax())] == char
        text += char


def test_sample_checks_its_arguments():
    vocab = CharacterVocabulary.from_text("ab")
    with pytest.raises(ConfigurationError, match="prime"):
        sample_characters(None, vocab, "", 3)
    with pytest.raises(ConfigurationError, match="temperature"):
        sample_characters(None, vocab, "a", 3, temperature=0.0)
