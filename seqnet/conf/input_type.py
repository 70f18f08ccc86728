"""What a layer receives: recurrent ``[N, C, T]``, feed-forward ``[N, C]`` or conv ``[N, C, H, W]``.

>>> InputType.recurrent(12)
InputType(kind='rnn', size=12, height=None, width=None, channels=None)
>>> InputType.convolutional(28, 28, 1).size
784
"""

from __future__ import annotations

from seqnet.conf.schema import config
from seqnet.errors import ConfigurationError

_KINDS = ("rnn", "ff", "cnn")
_MAX_SIZE = 2**31 - 1        # a Java int, as for layer sizes


@config
class InputType:
    """DL4J's ``InputType``: the kind of activation plus its size (``size = C*H*W`` for conv)."""

    kind: str
    size: int | None = None
    height: int | None = None
    width: int | None = None
    channels: int | None = None

    def _validate(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigurationError(
                f"InputType.kind: expected one of {', '.join(_KINDS)}, found {self.kind!r}")
        for key in ("size", "height", "width", "channels"):
            value = getattr(self, key)
            if value is not None and not 1 <= value <= _MAX_SIZE:
                raise ConfigurationError(
                    f"InputType.{key}: expected in [1, {_MAX_SIZE}], found {value}")
        if self.kind == "cnn" and None not in (self.height, self.width, self.channels):
            self.size = self.height * self.width * self.channels  # type: ignore[operator]

    @staticmethod
    def recurrent(size: int) -> InputType:
        """``[N, size, T]`` sequences."""
        return InputType(kind="rnn", size=size)

    @staticmethod
    def feed_forward(size: int) -> InputType:
        """``[N, size]`` rows."""
        return InputType(kind="ff", size=size)

    @staticmethod
    def convolutional(height: int, width: int, channels: int) -> InputType:
        """``[N, channels, height, width]`` images."""
        return InputType(kind="cnn", height=height, width=width, channels=channels)
