"""Options and arguments shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["AnswersOpt", "AppArg", "DetachOpt", "JsonOpt", "ParamOpt", "YesOpt"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
AppArg = Annotated[str, typer.Argument(help="An installed app's name (see `pinokiocloud ls`).", show_default=False)]
AnswersOpt = Annotated[Path | None, typer.Option(
    "--answers", help="A JSON file with answers to the run's questions: an object, or a list of objects "
    "(one per question, in order).")]
DetachOpt = Annotated[bool, typer.Option("--detach", help="Start and return; do not follow the output.")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", metavar="NAME=VALUE",
                                                   help="Passed as the script's args (repeatable).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (needed when not at a terminal).")]
