"""Options shared by several commands, defined once."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["JsonOpt"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
