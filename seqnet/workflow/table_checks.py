"""Checks for the tables of TOML run files: required keys, types, choices, ranges.

Each check names the dotted key it failed on (``data.train.range``) and says what it
expected and what it found.

>>> take({"epochs": 2}, {"epochs": (int, REQUIRED, at_least(1)), "seed": (int, 7)}, "run")
{'epochs': 2, 'seed': 7}
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from seqnet.errors import ConfigurationError

#: The default of a key that must be given.
REQUIRED = object()
#: The largest count or index a run file may give (a Java int, as DL4J's sizes).
MAX_INT = 2**31 - 1


def choice(*allowed: str) -> Callable[[str, str], str]:
    def check(value: str, where: str) -> str:
        if value not in allowed:
            raise ConfigurationError(
                f"{where}: expected one of {', '.join(repr(a) for a in allowed)}, found {value!r}")
        return value
    return check


def at_least(low: int | float) -> Callable[[Any, str], Any]:
    def check(value: Any, where: str) -> Any:
        if value < low:
            raise ConfigurationError(f"{where}: expected a value >= {low}, found {value!r}")
        return value
    return check


def fraction(value: float, where: str) -> float:
    if not 0 < value < 1:
        raise ConfigurationError(f"{where}: expected a fraction between 0 and 1 (exclusive), "
                                 f"found {value!r}")
    return value
def between(low: int | float, high: int | float) -> Callable[[Any, str], Any]:
    def check(value: Any, where: str) -> Any:
        if value < low:
            raise ConfigurationError(f"{where}: expected a value >= {low}, found {value!r}")
        if value > high:
            raise ConfigurationError(f"{where}: expected a value <= {high}, found {value!r}")
        return value
    return check


def matches(pattern: str, expected: str) -> Callable[[str, str], str]:
    """A string check: ``pattern`` must match the whole value (``expected`` says it in words)."""
    compiled = re.compile(pattern)

    def check(value: str, where: str) -> str:
        if not compiled.fullmatch(value):
            raise ConfigurationError(f"{where}: expected {expected}, found {value!r}")
        return value
    return check


def range_pair(value: list, where: str) -> tuple[int, int]:
    if len(value) != 2 or not all(is_int(v) for v in value):
        raise ConfigurationError(f"{where}: expected [min, max] (two integers), found {value!r}")
    low, high = value
    if not (0 <= low and high <= MAX_INT):
        raise ConfigurationError(f"{where}: expected indices in [0, {MAX_INT}], found "
                                 f"[{low}, {high}]")
    if low > high:
        raise ConfigurationError(f"{where}: expected min <= max, found [{low}, {high}]")
    return (low, high)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "an array", dict: "a table"}


def typed(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    """``value`` if it is of ``kind`` (ints count as numbers; NaN and inf do not)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is int and is_int(value):
            return value
        if k is float and (is_int(value) or isinstance(value, float)):
            if isinstance(value, float) and not math.isfinite(value):
                break
            return float(value)
        if k is object or (k not in (int, float) and isinstance(value, k)):
            return value
    expected = " or ".join(_TYPE_NAMES[k] for k in kinds)
    raise ConfigurationError(f"{where}: expected {expected}, found {value!r}")


def take(table: Any, schema: Mapping[str, tuple], where: str) -> dict[str, Any]:
    """Check ``table`` against ``schema`` (key -> (type, default[, check])) and fill defaults."""
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where}: expected a table, found {table!r}")
    unknown = sorted(set(table) - set(schema))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigurationError(
            f"{key}: unknown key; expected one of: {', '.join(sorted(schema))}")
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        kind, default = spec[0], spec[1]
        path = f"{where}.{key}" if where else key
        if key not in table:
            if default is REQUIRED:
                raise ConfigurationError(f"{path}: required key is missing")
            out[key] = default
            continue
        value = typed(table[key], kind, path)
        if len(spec) > 2:
            value = spec[2](value, path)
        out[key] = value
    return out
