"""DL4J's input preprocessors: reshapes between recurrent, feed-forward and conv activations.

Rows of a feed-forward view of a sequence batch are example-major: row ``n * T + t`` is step
``t`` of example ``n`` (the natural torch order; DL4J uses time-major rows internally, which
only matters to code that looks at those intermediate rows).

>>> import torch
>>> x = torch.arange(12.).reshape(2, 3, 2)          # [N=2, C=3, T=2]
>>> rows = RnnToFeedForwardPreProcessor().pre_process(x, 2)
>>> rows.shape, rows[1].tolist()
(torch.Size([4, 3]), [1.0, 3.0, 5.0])
>>> bool((FeedForwardToRnnPreProcessor().pre_process(rows, 2) == x).all())
True
"""

from __future__ import annotations

import torch

from seqnet.conf.input_type import InputType
from seqnet.conf.schema import config
from seqnet.errors import ConfigurationError, SeqNetError


class InputPreProcessor:
    """Base class: ``pre_process(x, minibatch)`` and ``output_type(input_type)``."""

    def pre_process(self, x: torch.Tensor, minibatch: int) -> torch.Tensor:
        """Reshape ``x``; ``minibatch`` is the number of sequences N."""
        raise NotImplementedError

    def output_type(self, input_type: InputType | None) -> InputType | None:
        """What the next layer receives."""
        raise NotImplementedError

    def input_channels(self) -> int | None:
        """Size of dimension 1 of the input, when this preprocessor fixes it."""
        return None


@config
class RnnToFeedForwardPreProcessor(InputPreProcessor):
    """``[N, C, T]`` -> ``[N*T, C]`` (a 2-D input passes through)."""

    def pre_process(self, x: torch.Tensor, minibatch: int) -> torch.Tensor:
        if x.dim() == 2:
            return x
        _expect_dims(self, x, 3)
        return x.permute(0, 2, 1).reshape(-1, x.shape[1])

    def output_type(self, input_type: InputType | None) -> InputType | None:
        return None if input_type is None else InputType(kind="ff", size=input_type.size)


@config
class FeedForwardToRnnPreProcessor(InputPreProcessor):
    """``[N*T, C]`` -> ``[N, C, T]`` (a 3-D input passes through)."""

    def pre_process(self, x: torch.Tensor, minibatch: int) -> torch.Tensor:
        if x.dim() == 3:
            return x
        _expect_dims(self, x, 2)
        if x.shape[0] % minibatch:
            raise SeqNetError(f"{type(self).__name__}: expected a multiple of the minibatch size "
                              f"{minibatch} rows, found {x.shape[0]}")
        return x.reshape(minibatch, -1, x.shape[1]).permute(0, 2, 1)

    def output_type(self, input_type: InputType | None) -> InputType | None:
        return None if input_type is None else InputType(kind="rnn", size=input_type.size)


@config
class _Cnn(InputPreProcessor):
    input_height: int
    input_width: int
    num_channels: int

    def _validate(self) -> None:
        for key in ("input_height", "input_width", "num_channels"):
            if getattr(self, key) < 1:
                raise ConfigurationError(
                    f"{type(self).__name__}.{key}: expected >= 1, found {getattr(self, key)}")

    @property
    def _size(self) -> int:
        return self.input_height * self.input_width * self.num_channels

    def _image_shape(self) -> tuple[int, int, int]:
        return self.num_channels, self.input_height, self.input_width

    def input_channels(self) -> int | None:
        return self.num_channels


@config
class CnnToFeedForwardPreProcessor(_Cnn):
    """``[N, C, H, W]`` -> ``[N, C*H*W]`` (a 2-D input passes through)."""

    def pre_process(self, x: torch.Tensor, minibatch: int) -> torch.Tensor:
        if x.dim() == 2:
            return x
        _expect_dims(self, x, 4)
        return x.reshape(x.shape[0], -1)

    def output_type(self, input_type: InputType | None) -> InputType | None:
        return InputType.feed_forward(self._size)


@config
class CnnToRnnPreProcessor(_Cnn):
    """``[N*T, C, H, W]`` -> ``[N, C*H*W, T]``."""

    def pre_process(self, x: torch.Tensor, minibatch: int) -> torch.Tensor:
        _expect_dims(self, x, 4)
        flat = x.reshape(x.shape[0], -1)
        return FeedForwardToRnnPreProcessor().pre_process(flat, minibatch)

    def output_type(self, input_type: InputType | None) -> InputType | None:
        return InputType.recurrent(self._size)


@config
class RnnToCnnPreProcessor(_Cnn):
    """``[N, C*H*W, T]`` -> ``[N*T, C, H, W]``."""

    def pre_process(self, x: torch.Tensor, minibatch: int) -> torch.Tensor:
        _expect_dims(self, x, 3)
        if x.shape[1] != self._size:
            raise SeqNetError(f"{type(self).__name__}: expected {self._size} channels "
                              f"({self.num_channels}x{self.input_height}x{self.input_width}), "
                              f"found {x.shape[1]}")
        rows = RnnToFeedForwardPreProcessor().pre_process(x, minibatch)
        return rows.reshape(-1, *self._image_shape())

    def output_type(self, input_type: InputType | None) -> InputType | None:
        return InputType.convolutional(self.input_height, self.input_width, self.num_channels)

    def input_channels(self) -> int | None:
        return self._size


def _expect_dims(p: InputPreProcessor, x: torch.Tensor, dims: int) -> None:
    if x.dim() != dims:
        raise SeqNetError(f"{type(p).__name__}: expected a {dims}-D input, "
                          f"found shape {list(x.shape)}")
