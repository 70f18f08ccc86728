"""Reading and writing the TOML of run files (``tomllib`` reads; writing is ours, since the
standard library has no TOML writer and the resolved run file needs only plain values)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqnet.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published as tomli before it joined the standard library
    import tomli as tomllib


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes are all valid TOML escapes; TOML also forbids a raw DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ConfigurationError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def dump_toml(table: Mapping[str, Any]) -> str:
    """Write the resolved run configuration back as TOML (tables two levels deep, arrays of
    tables for lists of tables, inline tables below that).

    >>> print(dump_toml({"run": {"epochs": 2}, "network": {"layers": [{"type": "LSTM"}]}}))
    [run]
    epochs = 2
    <BLANKLINE>
    [[network.layers]]
    type = "LSTM"
    <BLANKLINE>
    """
    lines: list[str] = []

    def emit(prefix: str, body: Mapping[str, Any], header: str) -> None:
        scalars = {k: v for k, v in body.items() if not _is_table_like(v)}
        if scalars or not body:
            lines.append(header)
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
            lines.append("")
        for key, value in body.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                emit(name, value, f"[{name}]")
            elif _is_table_like(value):
                for item in value:
                    lines.append(f"[[{name}]]")
                    lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
                    lines.append("")

    for key, value in table.items():
        emit(key, value, f"[{key}]")
    return "\n".join(lines)


def _is_table_like(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file; unreadable files and syntax errors name the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot read the file ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"{path}: not valid TOML: {e}") from None
