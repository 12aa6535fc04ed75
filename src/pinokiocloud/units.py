"""Sizes in words, the one way every message, table and progress line prints them."""

from __future__ import annotations

__all__ = ["human_bytes"]


def human_bytes(n: float) -> str:
    """Decimal units as download tools print them, one decimal, no trailing ``.0``: ``1.2 GB``, ``10 GB``,
    ``512 B``."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 999.95 or unit == "TB":
            text = f"{size:.0f}" if unit == "B" else f"{size:.1f}".removesuffix(".0")
            return f"{text} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
