"""Sampling text from a character model with ``rnn_time_step``, as DL4J's example does.

The prime text is fed through the network in one ``rnn_time_step`` call (which leaves the
recurrent state at its last character); then each sampled character is fed back one step at a
time, so generating N characters costs N single steps instead of N growing re-runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.errors import ConfigurationError
from seqnet.text import CharacterVocabulary


def _draw(probabilities: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``[N, V]`` probabilities, sharpened or flattened by temperature."""
    logits = np.log(np.clip(probabilities.astype(np.float64), 1e-30, None)) / temperature
    # Subtracting the row maximum keeps exp() finite however small the temperature.
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(p, axis=1)
    u = rng.random((p.shape[0], 1))
    return np.minimum((cumulative < u).sum(axis=1), p.shape[1] - 1)


def sample_characters(net: Any, vocabulary: CharacterVocabulary, prime: str, length: int,
                      num_samples: int = 1, temperature: float = 1.0,
                      seed: int | None = None) -> list[str]:
    """``num_samples`` continuations of ``prime``, ``length`` characters each (prime excluded).

    The network's stored RNN state is cleared first and left at the last sampled character.
    """
    if length < 0 or num_samples < 1:
        raise ConfigurationError(f"sample: expected length >= 0 and num_samples >= 1, found "
                                 f"{length} and {num_samples}")
    if not temperature > 0:
        raise ConfigurationError(f"sample: expected temperature > 0, found {temperature}")
    if not prime:
        raise ConfigurationError("sample: expected a non-empty prime text (the model needs a "
                                 "first character to continue from)")
    codes = vocabulary.encode(prime)
    rng = np.random.default_rng(seed)
    net.rnn_clear_previous_state()
    features = np.repeat(vocabulary.one_hot(codes)[None], num_samples, axis=0)
    out = np.asarray(net.rnn_time_step(features))
    probabilities = out[:, :, -1]
    drawn = np.empty((num_samples, length), dtype=np.int64)
    eye = np.eye(len(vocabulary), dtype=np.float32)
    for t in range(length):
        drawn[:, t] = _draw(probabilities, temperature, rng)
        if t + 1 < length:
            probabilities = np.asarray(net.rnn_time_step(eye[drawn[:, t]]))
    return [vocabulary.decode(row) for row in drawn]
