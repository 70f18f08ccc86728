"""The converter registry: one converter per seqnet configuration class (layers and input
preprocessors), registered by the module of its family.

>>> from seqnet.conf.layers import GravesLSTM
>>> import seqnet.onnx  # registers the converters
>>> converter_for(GravesLSTM(n_in=2, n_out=3)).__name__
'convert_graves_lstm'

A converter takes the export context, the layer index, the configuration object and the
incoming :class:`~seqnet.onnx.graph.Value`, and returns the outgoing value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from seqnet.errors import SeqNetError

Converter = Callable[..., Any]
F = TypeVar("F", bound=Converter)

_CONVERTERS: dict[type, Converter] = {}


class UnsupportedError(SeqNetError):
    """A layer, preprocessor or activation that has no ONNX converter."""


def register(*config_types: type) -> Callable[[F], F]:
    """Register the decorated function as the converter of ``config_types``.

    Keyed by the exact class (a subclass may compute something else, so it never inherits a
    converter silently); registering a class twice is an error.
    """

    def decorate(converter: F) -> F:
        for config_type in config_types:
            if config_type in _CONVERTERS:
                raise ValueError(f"an ONNX converter for {config_type.__name__} is already "
                                 f"registered ({_CONVERTERS[config_type].__qualname__})")
            _CONVERTERS[config_type] = converter
        return converter

    return decorate


def converter_for(config: object) -> Converter:
    """The converter registered for ``type(config)``, or an :class:`UnsupportedError`."""
    try:
        return _CONVERTERS[type(config)]
    except KeyError:
        raise UnsupportedError(
            f"export_onnx: no ONNX converter for {type(config).__name__}; supported: "
            f"{', '.join(sorted(t.__name__ for t in _CONVERTERS))}") from None
