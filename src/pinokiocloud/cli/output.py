"""Every line the CLI prints goes through here: JSON for ``--json``, readable text otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.pretty import Pretty

__all__ = ["error", "result"]

_stdout = Console()
_stderr = Console(stderr=True)


def result(data: Any, *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        _stdout.print(Pretty(data, expand_all=False))


def error(message: str, hint: str = "") -> None:
    _stderr.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    if hint:
        _stderr.print(f"hint: {hint}", highlight=False, soft_wrap=True)
