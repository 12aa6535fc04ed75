"""Every line the CLI prints goes through here: JSON for ``--json``, readable text otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.pretty import Pretty

__all__ = ["error", "info", "result", "table"]

_stdout = Console()
_stderr = Console(stderr=True)


def result(data: Any, *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif isinstance(data, str):
        _stdout.print(data, highlight=False, markup=False, soft_wrap=True)
    else:
        _stdout.print(Pretty(data, expand_all=False))


def error(message: str, hint: str = "") -> None:
    _stderr.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    if hint:
        _stderr.print(f"hint: {hint}", highlight=False, soft_wrap=True)


def info(message: str) -> None:
    """A progress line for people (stderr, so `--json` output on stdout stays clean)."""
    _stderr.print(message, highlight=False, markup=False, soft_wrap=True)


def table(headers: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    t = Table(*headers, box=None, pad_edge=False, header_style="bold")
    for row in rows:
        t.add_row(*row)
    _stdout.print(t)
