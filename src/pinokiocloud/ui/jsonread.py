"""Reading JSON whose inner shape is not ours to fix (a launcher's menu items and ``input`` forms, the
machine report's facts, event payloads): each value narrowed by what it is, so a value of an unexpected kind
reads as "absent" instead of breaking the page."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["number", "obj", "objs", "text"]


def obj(value: object) -> Mapping[str, object]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def objs(value: object) -> list[Mapping[str, object]]:
    """The objects of ``value`` when it is a JSON array (other items skipped), else none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def number(value: object) -> float | None:
    """``value`` when it is a JSON number (``true``/``false`` are not), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def text(value: object) -> str | None:
    """``value`` when it is a JSON string, else ``None``."""
    return value if isinstance(value, str) else None
