"""Character-level data for text models: a vocabulary and next-character minibatches.

As in DL4J's character modelling example, features are the one-hot characters
``c_0 .. c_{L-1}`` of a window and labels the one-hot characters ``c_1 .. c_L`` one step
ahead, ``[N, V, L]`` each, with V the vocabulary size.

>>> vocab = CharacterVocabulary.from_text("abracadabra")
>>> vocab.chars, vocab.decode(vocab.encode("cab"))
('abcdr', 'cab')
>>> it = CharacterIterator("abracadabra", vocab, sequence_length=4, batch_size=2, seed=0)
>>> len(it), next(iter(it)).features.shape      # (11 - 1) // 4 = 2 windows, one batch
(1, (2, 5, 4))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from seqdata.dataset import DataSet
from seqdata.dataset_iterator import DataSetIterator
from seqnet.errors import ConfigurationError


class CharacterVocabulary:
    """The characters a model knows, in a fixed order (sorted, so it is reproducible)."""

    def __init__(self, chars: str) -> None:
        if not chars:
            raise ConfigurationError("character vocabulary: expected at least one character, "
                                     "found none")
        if len(set(chars)) != len(chars):
            raise ConfigurationError("character vocabulary: expected distinct characters")
        self.chars = chars
        self._index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharacterVocabulary:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def encode(self, text: str) -> np.ndarray:
        """Character indices of ``text``; characters outside the vocabulary are an error."""
        unknown = sorted(set(text) - set(self._index))
        if unknown:
            raise ConfigurationError(
                f"text: expected characters of the model's vocabulary, found "
                f"{len(unknown)} unknown: {''.join(unknown[:20])!r}")
        return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, indices: Any) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(indices).reshape(-1))

    def one_hot(self, indices: np.ndarray) -> np.ndarray:
        """``[..., T]`` indices -> ``[..., V, T]`` float32 one-hot."""
        eye = np.eye(len(self), dtype=np.float32)
        return np.moveaxis(eye[np.asarray(indices)], -1, -2)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "CharacterVocabulary", "chars": self.chars}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CharacterVocabulary:
        if data.get("type") != "CharacterVocabulary" or not isinstance(data.get("chars"), str):
            raise ConfigurationError("character vocabulary: expected {'type': "
                                     "'CharacterVocabulary', 'chars': '...'}, found "
                                     f"{dict(data)!r:.80}")
        return cls(data["chars"])


class CharacterIterator(DataSetIterator):
    """Next-character minibatches over a text, in windows of ``sequence_length`` characters
    (DL4J's ``CharacterIterator`` example, a :class:`~seqdata.DataSetIterator`).

    The text is cut into consecutive, non-overlapping windows; each epoch visits all of them
    in an order shuffled with ``seed + epoch`` (so epochs are reproducible, as seqdata's
    iterator does). ``for ds in it`` runs one whole epoch; ``has_next`` / ``next`` /
    ``reset`` behave as DL4J's (a ``reset`` after a minibatch starts the next epoch).
    """

    def __init__(self, text: str, vocabulary: CharacterVocabulary, sequence_length: int,
                 batch_size: int, seed: int = 0, shuffle: bool = True) -> None:
        super().__init__()
        if sequence_length < 1 or batch_size < 1:
            raise ConfigurationError(f"CharacterIterator: expected sequence_length and "
                                     f"batch_size >= 1, found {sequence_length}, {batch_size}")
        self.vocabulary = vocabulary
        self._codes = vocabulary.encode(text)
        windows = (len(self._codes) - 1) // sequence_length
        if windows < 1:
            raise ConfigurationError(
                f"CharacterIterator: the text has {len(text)} characters, expected more than "
                f"sequence_length = {sequence_length}")
        self._length = sequence_length
        self._starts = np.arange(windows, dtype=np.int64) * sequence_length
        self._batch = batch_size
        self._seed = seed
        self._shuffle = shuffle
        self._order: np.ndarray | None = None
        self._position = 0

    def __len__(self) -> int:
        return -(-len(self._starts) // self._batch)

    def batch(self) -> int:
        return self._batch

    def input_columns(self) -> int:
        return len(self.vocabulary)

    def total_outcomes(self) -> int:
        return len(self.vocabulary)

    def _epoch_order(self) -> np.ndarray:
        if self._order is None:
            self._order = (np.random.default_rng(self._seed + self.epoch)
                           .permutation(self._starts) if self._shuffle else self._starts)
        return self._order

    def has_next(self) -> bool:
        return self._position < len(self._starts)

    def next(self, num: int | None = None) -> DataSet:
        if not self.has_next():
            raise ConfigurationError("CharacterIterator: no more minibatches; call reset()")
        starts = self._epoch_order()[self._position:self._position + (num or self._batch)]
        self._position += len(starts)
        codes = self._codes[starts[:, None] + np.arange(self._length + 1)]
        onehot = self.vocabulary.one_hot(codes)
        return DataSet(onehot[:, :, :-1], onehot[:, :, 1:])

    def reset(self) -> None:
        self._order = None
        self._position = 0
