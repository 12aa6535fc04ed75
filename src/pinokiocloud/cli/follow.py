"""Following a run the daemon started: its output (raw on a terminal, plain lines otherwise), its download
bars, answers to its questions, and exit 1 when it fails. Ctrl-C stops following, never the run."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import typer

from pinokiocloud.cli import output

if TYPE_CHECKING:
    from pinokiocloud.cli.downloads import ProgressBars
    from pinokiocloud.client import Client
    from pinokiocloud.server.models import AppStatus, RunEvent, RunSummary

__all__ = ["FINISHED_BAD", "FINISHED_OK", "follow", "follow_what_it_started"]

DOWNLOAD_LINE_S = 5.0
FINISHED_OK = frozenset({"done", "idle"})
FINISHED_BAD = frozenset({"failed", "crashed", "stopped", "interrupted"})


def follow(client: Client, run: RunSummary, *, name: str, what: str, as_json: bool) -> None:
    """Print the run's output until it finishes (a daemon: until it is up); exit 1 when it fails.
    Ctrl-C stops following, not the run: the daemon owns it, and the user is told how to find it again."""
    try:
        _follow_events(client, run, as_json=as_json)
    except KeyboardInterrupt:
        output.info(f"\nthe {what} of {name} goes on in the background: `pinokiocloud logs {name} -f` follows it, "
                    f"`pinokiocloud stop {name}` stops it")
        raise typer.Exit(130) from None


def _follow_events(client: Client, run: RunSummary, *, as_json: bool) -> None:
    """Print the run's output (raw on a terminal, plain lines otherwise) and answer its questions."""
    interactive = sys.stdin.isatty()
    plain = None if output.is_terminal() else output.PlainLines()
    state: str | None = run.get("state")
    # a run that is already up (a second `start`) or over has nothing more to follow
    events: Iterable[RunEvent] = client.events(run["key"]) if state not in FINISHED_OK | FINISHED_BAD else ()
    downloads = _DownloadProgress(live=plain is None) if not as_json else None
    try:
        state = _follow_loop(client, run, events, state, plain, downloads, interactive=interactive, as_json=as_json)
    finally:
        if downloads is not None:
            downloads.close()
    if plain is not None:
        for line in plain.flush():
            sys.stdout.write(line + "\n")
    final: RunSummary = (client.run_info(run["key"]) if state not in FINISHED_OK | FINISHED_BAD
                         else {**run, "state": str(state)})
    if as_json:
        output.result(final, as_json=True)
    if final.get("state") in FINISHED_BAD:
        raise typer.Exit(1)


def _follow_loop(client: Client, run: RunSummary, events: Iterable[RunEvent], state: str | None,
                 plain: output.PlainLines | None, downloads: _DownloadProgress | None, *, interactive: bool,
                 as_json: bool) -> str | None:
    """The events of one run until it finishes; returns its last state."""
    for event in events:
        kind, data = event["type"], event.get("data") or {}
        if not isinstance(data, dict):
            continue
        if kind == "stream" and not as_json:
            output.write_stream(str(data.get("raw", "")), plain)
        elif kind == "download" and downloads is not None:
            downloads.show(event)
        elif kind == "input" and interactive and isinstance(fields := data.get("fields"), list) and fields:
            request = data.get("request")
            title = request.get("title") if isinstance(request, dict) else None
            output.info(str(title or "The script asks:"))
            values: dict[str, object] = {str(f): typer.prompt(str(f)) for f in fields}
            client.answer(run["key"], values)
        elif kind == "error" and not as_json:
            output.error(str(data.get("message", "")))
        elif kind == "state":
            new = data.get("state")
            state = str(new) if new is not None else None
            if state in FINISHED_OK | FINISHED_BAD:
                break
    return state


class _DownloadProgress:
    """Download events of a run: live bars on a terminal, else a plain line per download when its state
    changes and at most every ``DOWNLOAD_LINE_S`` while it runs (pinokiocloud.cli.downloads renders them)."""

    def __init__(self, *, live: bool) -> None:
        self.live = live
        self.bars: ProgressBars | None = None
        self.said: dict[str, tuple[str, float]] = {}

    def show(self, event: RunEvent) -> None:
        from pinokiocloud.cli import downloads

        if self.live:
            if self.bars is None:
                self.bars = downloads.ProgressBars().__enter__()
            self.bars.update(event)
            return
        line = downloads.render_progress(event)
        entry = event.get("data")
        entry = entry if isinstance(entry, dict) else {}
        key, entry_state = str(entry.get("id")), str(entry.get("state"))
        last = self.said.get(key)
        now = time.monotonic()
        if line and (last is None or last[0] != entry_state or now - last[1] >= DOWNLOAD_LINE_S):
            self.said[key] = (entry_state, now)
            output.info(line)

    def close(self) -> None:
        if self.bars is not None:
            self.bars.__exit__(None, None, None)


def follow_what_it_started(client: Client, name: str, *, as_json: bool) -> AppStatus:
    """Follow the scripts a finished install started (``script.start``: a model download, a sub-install) until
    none of the app's non-daemon runs is alive; the app's status then."""
    seen: set[str] = set()
    while True:
        status = client.status(name)
        alive = [r for r in status.get("runs") or [] if r.get("state") in ("starting", "running")
                 and not r.get("daemon") and r.get("key") not in seen]
        if status["state"] != "installing" or not alive:
            return status
        for run in alive:
            seen.add(str(run["key"]))
            with contextlib.suppress(typer.Exit):  # its failure is reported once, from the app's state
                follow(client, run, name=name, what="install", as_json=as_json)

