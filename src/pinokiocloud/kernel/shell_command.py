"""Turning a ``shell.run`` ``message`` into bash command lines (spec §3.1.2).

A message is a string, an array (one shell per item unless ``chain``), or a structured argv object
``{_: [positional...], flag: value}`` converted like the original's yargs-unparser and quoted for bash.
Multi-line values in structured messages travel as ``PINOKIO_ARG_n`` environment variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = ["CHAIN_JOINERS", "BuiltCommand", "build_commands", "js_string", "quote_bash", "unparse"]

CHAIN_JOINERS = {"&": " && ", "|": " || ", "*": " ; "}
_PURE_TEMPLATE = re.compile(r"^\{\{[\s\S]*\}\}$")
_MARKER = re.compile(r"__PINOKIO_ENVARG_(\d+)__")


def js_string(value: object) -> str:
    """``String(value)`` as JavaScript writes it for JSON-born values."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def quote_bash(value: str) -> str:
    """Single-quote for bash; ``PINOKIO_ARG_n`` markers become ``"$PINOKIO_ARG_n"``."""
    parts: list[str] = []
    last = 0
    for m in _MARKER.finditer(value):
        literal = value[last:m.start()]
        if literal:
            parts.append("'" + literal.replace("'", "'\"'\"'") + "'")
        parts.append(f'"$PINOKIO_ARG_{m.group(1)}"')
        last = m.end()
    tail = value[last:]
    if tail:
        parts.append("'" + tail.replace("'", "'\"'\"'") + "'")
    return "".join(parts) if parts else "''"


def _flag(key: str) -> str:
    if key.startswith("-"):
        return key
    return f"-{key}" if len(key) == 1 else f"--{key}"


def _flatten(value: Mapping[str, object], prefix: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for k, v in value.items():
        key = f"{prefix}.{k}"
        if isinstance(v, Mapping) and v:
            out.extend(_flatten(v, key))
        else:
            out.append((key, v))
    return out


def _is_camel(key: str, argv: Mapping[str, object]) -> bool:
    """yargs drops a camelCase key when its dashed twin is present too."""
    if not re.search(r"[A-Z]", key):
        return False
    dashed = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", key).lower()
    return dashed != key and argv.get(dashed) is not None


def _option(key: str, value: object, out: list[object]) -> None:
    if isinstance(value, str):
        out.extend([_flag(key), value])
    elif value is True:
        out.append(_flag(key))
    elif value is False:
        out.append(f"--no-{key}")
    elif isinstance(value, list):
        for item in value:
            _option(key, item, out)
    elif isinstance(value, Mapping):
        for sub, item in _flatten(value, key):
            _option(sub, item, out)
    elif value is not None:
        out.extend([_flag(key), js_string(value)])


def unparse(argv: Mapping[str, object]) -> list[object]:
    """``{_: [a, b], "local-dir": "x", v: true}`` → ``[a, b, "--local-dir", "x", "-v"]``."""
    positional = argv.get("_")
    out: list[object] = list(positional) if isinstance(positional, list) else []
    for key, value in argv.items():
        if key in ("_", "--", "$0") or _is_camel(key, argv):
            continue
        _option(key, value, out)
    rest = argv.get("--")
    if rest:
        out.extend(["--", *(rest if isinstance(rest, list) else [rest])])
    return out


def _is_structured(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("_"), list)


def _drop_unrendered(value: object) -> object:
    """Leaves that are still a whole ``{{...}}`` template are omitted (spec §3.1.2)."""
    if isinstance(value, list):
        return [v for v in (_drop_unrendered(x) for x in value) if v is not _OMIT]
    if isinstance(value, dict):
        return {k: v for k, v in ((k, _drop_unrendered(x)) for k, x in value.items()) if v is not _OMIT}
    if isinstance(value, str) and _PURE_TEMPLATE.match(value):
        return _OMIT
    return value


_OMIT: Final = object()


@dataclass
class BuiltCommand:
    commands: list[str]
    """Command lines to run, each in a fresh shell (one when chained or a single message)."""
    env_args: dict[str, str] = field(default_factory=dict)
    """PINOKIO_ARG_n values for multi-line structured arguments."""


def _protect(value: object, env_args: dict[str, str]) -> object:
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        name = f"PINOKIO_ARG_{len(env_args)}"
        env_args[name] = value
        return f"__PINOKIO_ENVARG_{len(env_args) - 1}__"
    if isinstance(value, list):
        return [_protect(v, env_args) for v in value]
    if isinstance(value, dict):
        return {k: _protect(v, env_args) for k, v in value.items()}
    return value


def _structured(value: dict[str, object], env_args: dict[str, str]) -> str:
    argv = _drop_unrendered(_protect(value, env_args))
    if not argv or not isinstance(argv, dict):
        return ""
    return " ".join(quote_bash(js_string(item)) for item in unparse(argv) if item is not None)


def _one(item: object, env_args: dict[str, str]) -> str:
    if isinstance(item, dict) and _is_structured(item):
        return _structured(item, env_args)
    if isinstance(item, str):
        return item
    return "" if item is None or item is False else js_string(item)


def build_commands(message: object, chain: object) -> BuiltCommand:
    """The command lines for a message (empty items skipped; a falsy message is an empty command)."""
    env_args: dict[str, str] = {}
    if isinstance(message, list):
        items = [_one(m, env_args) for m in message if m]
        if chain:
            joiner = CHAIN_JOINERS.get(chain, " && ") if isinstance(chain, str) else " && "
            kept = [i for i in items if i.strip()]
            return BuiltCommand([joiner.join(kept)] if kept else [], env_args)
        return BuiltCommand([i for i in items if i], env_args)
    if not message:
        return BuiltCommand([""], env_args)
    return BuiltCommand([_one(message, env_args)], env_args)
