"""Every line the CLI prints goes through here: JSON for ``--json``, readable text otherwise.

Data goes to stdout, progress and diagnostics to stderr. Nothing is printed as a Python repr: mappings
become indented ``key: value`` lines, lists of rows become tables. When stdout is not a terminal (a pipe,
a notebook ``!`` cell) there are no colours, and app output (``PlainLines``) loses its escape codes and
progress-bar redraws.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.markup import escape

from pinokiocloud.procs.text import strip_ansi

__all__ = ["PlainLines", "error", "info", "is_terminal", "readable", "result", "table", "write_stream"]

_stdout = Console(soft_wrap=True)
_stderr = Console(stderr=True, soft_wrap=True)
INDENT = "  "


def is_terminal() -> bool:
    """Whether stdout is a terminal (then raw app output, colours and progress bars are fine)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _scalar(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _lines(data: object, depth: int) -> list[str]:
    pad = INDENT * depth
    if isinstance(data, Mapping):
        out: list[str] = []
        for key, value in data.items():
            if isinstance(value, (Mapping, list, tuple)) and value:
                out.append(f"{pad}{key}:")
                out.extend(_lines(value, depth + 1))
            else:
                out.append(f"{pad}{key}: {_scalar(value) if not isinstance(value, (Mapping, list, tuple)) else '–'}")
        return out
    if isinstance(data, (list, tuple)):
        out = []
        for item in data:
            if isinstance(item, (Mapping, list, tuple)) and item:
                nested = _lines(item, depth + 1)
                out.append(f"{pad}- {nested[0].lstrip()}")
                out.extend(nested[1:])
            else:
                out.append(f"{pad}- {_scalar(item)}")
        return out
    return [f"{pad}{_scalar(data)}"]


def readable(data: object) -> str:
    """``data`` as people read it: indented ``key: value`` lines and ``- item`` lists, no reprs."""
    return "\n".join(_lines(data, 0))


def result(data: object, *, as_json: bool) -> None:
    """The command's data, on stdout."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write((data if isinstance(data, str) else readable(data)).rstrip("\n") + "\n")
    sys.stdout.flush()


def error(message: str, hint: str = "") -> None:
    _stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    if hint:
        _stderr.print(f"hint: {hint}", highlight=False, markup=False)


def info(message: str) -> None:
    """A progress line for people (stderr, so the data on stdout stays clean)."""
    _stderr.print(message, highlight=False, markup=False)


def table(headers: list[str], rows: Sequence[Sequence[str]]) -> None:
    """Rows as aligned columns on stdout (plain spaces when stdout is not a terminal)."""
    from rich.table import Table

    t = Table(*headers, box=None, pad_edge=False, header_style="bold" if is_terminal() else None)
    for row in rows:
        t.add_row(*row)
    _stdout.print(t, highlight=False)


class PlainLines:
    """App output (PTY bytes decoded: colours, ``\\r`` redraws, cursor moves) as plain lines, for a stdout
    that is not a terminal: each line as it ended up on screen (the last redraw), escape codes removed,
    a redrawn line that did not change printed once."""

    __slots__ = ("_last", "_pending")

    def __init__(self) -> None:
        self._pending = ""
        self._last: str | None = None

    def feed(self, raw: str) -> list[str]:
        text = self._pending + raw
        *complete, self._pending = text.split("\n")
        return [line for line in (self._finish(part) for part in complete) if line is not None]

    def flush(self) -> list[str]:
        rest, self._pending = self._pending, ""
        line = self._finish(rest) if rest else None
        return [line] if line is not None else []

    def _finish(self, line: str) -> str | None:
        shown = [s for s in (strip_ansi(p).rstrip() for p in line.rstrip("\r").split("\r")) if s.strip()]
        text = shown[-1] if shown else ""
        if text and text == self._last:
            return None
        self._last = text
        return text


def write_stream(raw: str, plain: PlainLines | None) -> None:
    """Write a piece of app output: as it came on a terminal, as plain lines (``plain``) otherwise."""
    if plain is None:
        sys.stdout.write(raw)
    else:
        for line in plain.feed(raw):
            sys.stdout.write(line + "\n")
    sys.stdout.flush()
