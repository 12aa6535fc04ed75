"""What several command families share: the daemon's client, ``--answers``/``--param`` parsing, the
``--yes`` confirmation and the sentences that say where a run went."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pinokiocloud.cli import output
from pinokiocloud.errors import BadParamError

if TYPE_CHECKING:  # the client is imported when a command talks to the daemon, not for `--help`
    from pinokiocloud.client import Answers, Client, Params

__all__ = ["answers", "client", "confirm", "params", "run_sentence"]


def client() -> Client:
    from pinokiocloud.client import Client

    return Client()


def answers(path: Path | None) -> Answers | None:
    """The ``--answers`` file: an object, or a list of objects (one per question)."""
    if path is None:
        return None
    try:
        data: object = json.loads(path.read_text())
    except OSError as exc:
        raise BadParamError(f"cannot read the answers file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise BadParamError(f"the answers file {path} is not JSON: {exc}") from exc
    if isinstance(data, dict):
        return data
    if isinstance(data, list) and all(isinstance(d, dict) for d in data):
        return data
    raise BadParamError(f"the answers file {path} must hold an object or a list of objects")


def params(pairs: list[str] | None) -> Params:
    """``--param NAME=VALUE`` pairs; a name given twice becomes a list of its values."""
    out: Params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadParamError(f"--param needs NAME=VALUE, got {pair!r}")
        before = out.get(key)
        out[key] = [*before, value] if isinstance(before, list) else [before, value] if key in out else value
    return out


def run_sentence(name: str, run: Mapping[str, object] | None, what: str) -> str:
    if run is None:
        return f"{name}: nothing to {what} (its launcher has no {what} script)"
    script = str(run.get("path") or "").rsplit("/", 1)[-1] or "the script"
    return (f"{what} of {name} started ({script}, run {run.get('key')}); `pinokiocloud logs {name} -f` follows "
            f"it, `pinokiocloud status {name}` tells when it is done")


def confirm(question: str, action: str, yes: bool) -> None:
    """Ask on a terminal; elsewhere (a script, a notebook cell) refuse unless ``--yes`` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise BadParamError(f"{action} deletes files and there is no terminal to ask at; nothing was done: "
                            "add --yes (-y) to go ahead")
    if not typer.confirm(question):
        output.info("nothing was done")
        raise typer.Exit(1)
