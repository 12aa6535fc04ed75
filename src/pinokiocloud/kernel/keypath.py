"""Key paths of the data setters (spec §3.4): ``"a.b.c"`` walks and creates objects, a numeric last
segment on a list sets or removes an index, and a key starting with ``[`` is a bracket path
(``["a.b"]``, ``['x'][0]``) for names that contain dots."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from pinokiocloud.errors import BadParamError

__all__ = ["delete_path", "merge_paths", "set_path", "split_path"]

_BRACKET = re.compile(r"""\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(-?\d+))\s*\]""")


def split_path(key: str) -> list[str | int]:
    """``"a.b"`` → ``["a", "b"]``; ``'["a.b"][0]'`` → ``["a.b", 0]``."""
    if not key.startswith("["):
        return list(key.split("."))
    parts: list[str | int] = []
    pos = 0
    while pos < len(key):
        match = _BRACKET.match(key, pos)
        if not match:
            raise BadParamError(f"cannot read the key path {key!r}: use a.b.c or [\"name.with.dots\"] segments")
        dq, sq, num = match.groups()
        if num is not None:
            parts.append(int(num))
        else:
            parts.append(json.loads(f'"{dq}"') if dq is not None else (sq or "").replace("\\'", "'"))
        pos = match.end()
    return parts


def _index(container: object, part: str | int) -> int | None:
    if isinstance(container, list):
        try:
            return int(part)
        except ValueError:
            return None
    return None


def _child(container: object, part: str | int, create: bool) -> object:
    if isinstance(container, list):
        idx = _index(container, part)
        if idx is None:
            return None
        if -len(container) <= idx < len(container):
            return container[idx]
        if not create:
            return None
        while len(container) <= idx:
            container.append(None)
        container[idx] = {}
        return container[idx]
    if isinstance(container, dict):
        key = str(part)
        if key not in container or (create and not isinstance(container[key], (dict, list))):
            if not create:
                return None
            container[key] = {}
        return container[key]
    return None


def set_path(target: object, key: str, value: object) -> None:
    """Set ``value`` at ``key`` inside ``target`` (an object or a list), creating missing objects on the way."""
    parts = split_path(key)
    node = target
    for part in parts[:-1]:
        node = _child(node, part, create=True)
        if node is None:
            raise BadParamError(f"cannot set {key!r}: {part!r} is not an object")
    last = parts[-1]
    idx = _index(node, last)
    if isinstance(node, list) and idx is not None:
        while len(node) <= idx:
            node.append(None)
        node[idx] = value
    elif isinstance(node, dict):
        node[str(last)] = value
    else:
        raise BadParamError(f"cannot set {key!r}: its parent is not an object")


def delete_path(target: object, key: str) -> None:
    """Remove ``key`` (an index of a list is spliced out); a missing path is not an error."""
    parts = split_path(key)
    node = target
    for part in parts[:-1]:
        node = _child(node, part, create=False)
        if node is None:
            return
    last = parts[-1]
    idx = _index(node, last)
    if isinstance(node, list) and idx is not None:
        if -len(node) <= idx < len(node):
            del node[idx]
    elif isinstance(node, dict):
        node.pop(str(last), None)


def merge_paths(target: dict[str, object], values: Mapping[str, object]) -> dict[str, object]:
    for key, value in values.items():
        set_path(target, key, value)
    return target
