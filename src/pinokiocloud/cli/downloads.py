"""``pinokiocloud downloads [--json]`` and ``downloads cancel ID``; and the renderers of download events.

:func:`render_progress` turns one ``download`` event of a run's stream (its ``data`` is a queue entry, see
``QueuedDownload.to_json``) into one plain line, and :class:`ProgressBars` shows them as live Rich bars on a
terminal: the CLI's run follower can call either.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Annotated, cast

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.units import human_bytes

if TYPE_CHECKING:
    from rich.progress import TaskID

    from pinokiocloud.server.models import Download, RunEvent

__all__ = ["ProgressBars", "app", "describe", "render_progress"]

app = typer.Typer(help="The download queue: what is downloading, how fast, how long is left.",
                  invoke_without_command=True, no_args_is_help=False)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    whole = round(seconds)
    if whole >= 3600:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    if whole >= 60:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole} s"


def _name(entry: Download) -> str:
    path = str(entry.get("path") or "")
    return path.rsplit("/", 1)[-1] if path else str(entry.get("url") or "").rsplit("/", 1)[-1].split("?")[0]


def describe(entry: Download) -> str:
    """One line for a queue entry: ``d3 model.safetensors running 45.1% 1.2 GB/2.7 GB 105 MB/s ETA 14 s``."""
    state = str(entry.get("state") or "")
    done = human_bytes(float(entry.get("bytes") or 0))
    total = entry.get("total")
    size = f"{done}/{human_bytes(float(total))}" if total else done
    percent = entry.get("percent")
    parts = [str(entry.get("id") or "?"), _name(entry), state]
    if percent is not None:
        parts.append(f"{float(percent):.1f}%")
    parts.append(size)
    if state == "running":
        parts.append(f"{human_bytes(float(entry.get('rate_bps') or 0))}/s")
        parts.append(f"ETA {_duration(entry.get('eta_s'))}")
        if int(entry.get("connections") or 0) > 1:
            parts.append(f"({entry['connections']} connections)")
    elif state == "done" and entry.get("sha256"):
        parts.append(f"sha256 {str(entry['sha256'])[:12]}…")
    elif state in ("failed", "cancelled") and entry.get("error"):
        parts.append(f"– {entry['error']}")
    return " ".join(parts)


def _download_of(event: RunEvent) -> Download | None:
    """The queue entry a ``download`` event carries (``QueuedDownload.to_json``); None for any other event."""
    data = event.get("data")
    if event.get("type") != "download" or not isinstance(data, dict):
        return None
    return cast("Download", data)


def render_progress(event: RunEvent) -> str | None:
    """The plain line for a run event of type ``download`` (None for any other event)."""
    entry = _download_of(event)
    return None if entry is None else describe(entry)


class ProgressBars:
    """Live Rich bars, one per download, fed with run events (``with ProgressBars() as bars: bars.update(e)``)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn(), transient=False)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBars:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()

    def update(self, event: RunEvent) -> bool:
        """Show a ``download`` event; False for any other event (the caller prints it as usual)."""
        entry = _download_of(event)
        if entry is None:
            return False
        key = str(entry.get("id"))
        total = entry.get("total")
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(_name(entry), total=total)
        self.progress.update(self.tasks[key], completed=int(entry.get("bytes") or 0), total=total,
                             description=f"{_name(entry)} [{entry.get('state')}]")
        return True


@app.callback()
def downloads(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the downloads: running, queued, then the ones that ended lately."""
    if ctx.invoked_subcommand is not None:
        return
    from pinokiocloud.client import Client

    entries = Client().downloads()
    if as_json:
        output.result(entries, as_json=True)
        return
    if not entries:
        output.result("no downloads yet", as_json=False)
        return
    rows = []
    for e in entries:
        total, percent = e.get("total"), e.get("percent")
        rows.append([str(e.get("id")), _name(e), str(e.get("state")),
                     f"{float(percent):.1f}%" if percent is not None else "–",
                     f"{human_bytes(float(e.get('bytes') or 0))}" + (f"/{human_bytes(float(total))}" if total else ""),
                     f"{human_bytes(float(e.get('rate_bps') or 0))}/s" if e.get("state") == "running" else "–",
                     _duration(e.get("eta_s")) if e.get("state") == "running" else "–",
                     str(e.get("app") or "–")])
    output.table(["id", "file", "state", "%", "bytes", "rate", "ETA", "app"], rows)


@app.command("cancel")
def cancel(download_id: Annotated[str, typer.Argument(help="The id `pinokiocloud downloads` shows (d1, d2 …).")],
           as_json: JsonOpt = False) -> None:
    """Cancel a queued or running download; its partial is kept, the step that waited for it fails."""
    from pinokiocloud.client import Client

    entry = Client().cancel_download(download_id)
    output.result(entry if as_json else f"cancelled {describe(entry)}", as_json=as_json)
