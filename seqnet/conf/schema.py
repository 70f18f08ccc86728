"""Typed configuration objects: field checking and the JSON form, in one place.

Every configuration class (layers, updaters, preprocessors, the network configuration) is a
dataclass decorated with :func:`config`. Its fields are checked against their type hints when
the object is built, and the same check runs when it is read back from JSON, so an unknown key
or a value of the wrong type is reported once, with the key's path.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import sys
import types
import typing
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:
    from typing_extensions import dataclass_transform

from seqnet.conf.enums import lookup
from seqnet.errors import ConfigurationError

T = TypeVar("T")

_REGISTRY: dict[str, type] = {}
_HINTS: dict[type, dict[str, Any]] = {}


@dataclass_transform(kw_only_default=True)
def config(cls: type[T]) -> type[T]:
    """Make ``cls`` a keyword-only dataclass whose fields are checked on construction.

    The class is registered under its name so that JSON can name it (``"@class"``).
    """
    user_post_init = getattr(cls, "_validate", None)

    def __post_init__(self: Any) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            setattr(self, f.name, coerce(value, field_hints(type(self))[f.name],
                                        f"{type(self).__name__}.{f.name}"))
        if user_post_init is not None:
            user_post_init(self)

    cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
    cls = dataclasses.dataclass(kw_only=True)(cls)
    _REGISTRY[cls.__name__] = cls
    return cls


def field_hints(cls: type) -> dict[str, Any]:
    """The resolved type hints of a configuration class's fields (cached)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against the type hint ``hint`` and return it in its canonical form.

    Enum members may be given by value or name, ints are accepted for floats, lists for
    tuples, and nested configuration objects as their JSON dictionaries.

    >>> coerce(3, float, "l2")
    3.0
    >>> coerce("x", int, "layers[0].n_out")
    Traceback (most recent call last):
    ...
    seqnet.errors.ConfigurationError: layers[0].n_out: expected int, found str 'x'
    """
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        candidates = [a for a in args if a is not type(None)]
        errors = []
        for candidate in candidates:
            try:
                return coerce(value, candidate, where)
            except ConfigurationError as e:
                errors.append(e)
        if len(candidates) == 1:
            raise errors[0]
        raise ConfigurationError(
            f"{where}: expected {_type_name(hint)}, found {type(value).__name__} {value!r}")
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise _mismatch(where, "a list", value)
        return [coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise _mismatch(where, f"a sequence of {len(args)} values", value)
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise _mismatch(where, "a mapping", value)
        return {coerce(_key(k, args[0], where), args[0], f"{where} key"):
                coerce(v, args[1], f"{where}[{k}]") for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _coerce_enum(value, hint, where)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _mismatch(where, "bool", value)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _mismatch(where, "int", value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _mismatch(where, "float", value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise _mismatch(where, "str", value)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if isinstance(value, dict):
            return from_dict(value, hint, where)
        raise _mismatch(where, hint.__name__, value)
    raise TypeError(f"unsupported configuration type hint {hint!r} at {where}")


def positional(*names: str):  # noqa: ANN201 - a class decorator
    """Let the first fields be given positionally, as DL4J's constructors take them
    (``Adam(1e-3)``, ``Nesterovs(0.005, 0.9)``, ``RnnOutputLayer(LossFunction.MCXENT)``).

    The new ``__init__`` carries the real signature (``inspect.signature``, ``help()``):
    ``names`` positional-or-keyword, in that order, then every other field keyword-only.

    >>> import inspect
    >>> from seqnet.conf.updaters import Nesterovs
    >>> str(inspect.signature(Nesterovs))
    '(learning_rate: float = 0.1, momentum: float = 0.9) -> None'
    """

    def wrap(cls: type[T]) -> type[T]:
        init = cls.__init__
        signature = inspect.signature(init)
        params = signature.parameters
        missing = [n for n in names if n not in params]
        if missing:
            raise TypeError(f"positional({', '.join(names)}): {cls.__name__} has no field "
                            f"{missing[0]!r}")
        hints = field_hints(cls)
        first = [params[n].replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
                 for n in names]
        rest = [p for n, p in params.items() if n not in names and n != "self"]
        real = signature.replace(
            parameters=[params["self"], *(p.replace(annotation=hints.get(p.name, p.annotation))
                                          for p in (*first, *rest))],
            return_annotation=None)

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if len(args) > len(names):
                raise ConfigurationError(
                    f"{cls.__name__}: expected at most {len(names)} positional arguments "
                    f"({', '.join(names)}), found {len(args)}")
            for name, value in zip(names, args):
                if name in kwargs:
                    raise ConfigurationError(f"{cls.__name__}: {name} given twice")
                kwargs[name] = value
            init(self, **kwargs)

        __init__.__signature__ = real  # type: ignore[attr-defined]
        cls.__init__ = __init__  # type: ignore[method-assign]
        return cls

    return wrap


def _key(key: Any, hint: Any, where: str) -> Any:
    if hint is int and isinstance(key, str):
        try:
            return int(key)
        except ValueError:
            raise ConfigurationError(
                f"{where}: expected an integer layer index as key, found {key!r}") from None
    return key


def _coerce_enum(value: Any, hint: type[enum.Enum], where: str) -> enum.Enum:
    if isinstance(value, hint):
        return value
    if isinstance(value, str):
        member = lookup(hint, value)
        if member is not None:
            return member
    choices = ", ".join(str(m.value) for m in hint)
    raise ConfigurationError(f"{where}: expected one of {choices}, found {value!r}")


def _mismatch(where: str, expected: str, value: Any) -> ConfigurationError:
    return ConfigurationError(
        f"{where}: expected {expected}, found {type(value).__name__} {value!r}")


def to_dict(obj: Any) -> Any:
    """The JSON-ready form of a configuration value (``"@class"`` names nested objects)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {"@class": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = to_dict(getattr(obj, f.name))
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(data: dict[str, Any], base: type[T], where: str = "configuration") -> T:
    """Rebuild a configuration object of class ``base`` (or a registered subclass) from JSON.

    Unknown keys and unknown classes are errors that name the key's path.
    """
    if not isinstance(data, dict):
        raise _mismatch(where, base.__name__, data)
    if "@class" not in data and base.__name__ not in _REGISTRY:
        raise ConfigurationError(f"{where}: expected a '@class' key (`type` in a run file) "
                                 f"naming a {base.__name__} class, found none")
    name = data.get("@class", base.__name__)
    cls = _REGISTRY.get(name)
    if cls is None or not issubclass(cls, base):
        raise ConfigurationError(
            f"{where}.@class: expected a {base.__name__} class, found {name!r}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known) - {"@class"})
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key {unknown[0]!r} for {cls.__name__} "
            f"(known keys: {', '.join(sorted(known))})")
    hints = field_hints(cls)
    kwargs = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in data.items() if k != "@class"}
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigurationError(f"{where}: {e}") from None
    except ConfigurationError as e:
        # A class's own check names "Class.key"; the reader needs the path in the document.
        message = str(e)
        if message.startswith(f"{cls.__name__}."):
            message = f"{where}.{message[len(cls.__name__) + 1:]}"
        raise ConfigurationError(message) from None
