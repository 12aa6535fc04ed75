"""``pinokiocloud store ls|du|gc|verify [--json]``: the content-addressed model store, through the daemon."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.units import human_bytes

__all__ = ["EXTRACTING_STATES", "app", "follow_restore"]

EXTRACTING_STATES = frozenset({"waiting", "extracting"})
"""Restore states that end by themselves in seconds to minutes (the archive's part); ``up`` waits for them."""
FOLLOW_INTERVAL_S = 1.0


class _Requests(Protocol):
    def request(self, method: str, path: str) -> dict[str, object]: ...

app = typer.Typer(help="The model store: files kept once by sha256 (on the persistent root when there is one).",
                  no_args_is_help=True)


def _client() -> Any:
    from pinokiocloud.client import Client

    return Client()


def _where(info: dict[str, Any]) -> str:
    if info.get("persist_in_use"):
        return f"{info['store']} (persistent root {info['root']}, from {info['source']})"
    reason = f"; {info['reason']}" if info.get("reason") else ""
    return f"{info['store']} (no persistent root: kept for this session only{reason})"


def follow_restore(client: _Requests, tell: Callable[[str], None], *, timeout_s: float = 1800.0) -> list[str]:
    """For ``up`` and ``launch()``: tell each app's restore line as it changes while archives are extracted
    ("restoring comfyui: 3.1 of 5.2 GB"), then how each ended (restored, or installing instead and why);
    returns the last lines. An install fallback is told once and not waited for (the dashboard follows it)."""
    said: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        restore = client.request("GET", "/api/store").get("restore")
        entries = [e for e in restore.values() if isinstance(e, dict)] if isinstance(restore, dict) else []
        for entry in entries:
            line = str(entry.get("line") or entry.get("name"))
            if said.get(str(entry.get("name"))) != line:
                said[str(entry.get("name"))] = line
                tell(line)
        if not any(str(e.get("state")) in EXTRACTING_STATES for e in entries) or time.monotonic() > deadline:
            return list(said.values())
        time.sleep(FOLLOW_INTERVAL_S)


@app.command("ls")
def ls(as_json: JsonOpt = False) -> None:
    """Every stored file: its hash, size, the apps that use it and where it came from."""
    data = _client().request("GET", "/api/store/blobs")
    if as_json:
        output.result(data, as_json=True)
        return
    if not data["data"]:
        output.info("The store holds no files yet.")
        return
    rows = [[b["sha256"][:12], human_bytes(b["size"]), ", ".join(b["apps"]) or "–", str(len(b["links"])),
             (b["sources"][0] + (f" (+{len(b['sources']) - 1})" if len(b["sources"]) > 1 else "")) if b["sources"]
             else "–"] for b in data["data"]]
    output.table(["SHA256", "SIZE", "APPS", "LINKS", "SOURCE"], rows)


@app.command("du")
def du(as_json: JsonOpt = False) -> None:
    """What the store takes on disk, against what the apps would take without it."""
    info = _client().request("GET", "/api/store")
    if as_json:
        output.result(info, as_json=True)
        return
    usage = info["usage"]
    typer.echo(f"Store      {_where(info)}")
    typer.echo(f"Files      {usage['blobs']} kept once, {human_bytes(usage['stored_bytes'])} on disk")
    typer.echo(f"Linked     {human_bytes(usage['linked_bytes'])} as apps see them; "
               f"{human_bytes(usage['saved_bytes'])} saved")
    typer.echo(f"Free       {human_bytes(usage['free_bytes'])} where the store is")
    for name, archive in sorted(info.get("archives", {}).items()):
        size = human_bytes(archive["bytes"]) if archive["bytes"] is not None else "none"
        typer.echo(f"Archive    {name}: {size}{'' if archive['current'] or archive['bytes'] is None else ' (stale)'}")
    for entry in info.get("restore", {}).values():
        typer.echo(f"Restore    {entry['line']}")
    for notice in info.get("notices", []):
        typer.echo(f"Note       {notice}")


@app.command("gc")
def gc(as_json: JsonOpt = False) -> None:
    """Remove stored files that no installed app uses (a file some app still links is never removed)."""
    result = _client().request("POST", "/api/store/gc")
    if as_json:
        output.result(result, as_json=True)
        return
    typer.echo(f"Removed {len(result['removed'])} file(s), {human_bytes(result['freed_bytes'])} freed; "
               f"{result['kept']} kept (in use).")


@app.command("verify")
def verify(as_json: JsonOpt = False) -> None:
    """Hash every stored file again; a damaged one is moved aside (never deleted) and fetched again later."""
    result = _client().request("POST", "/api/store/verify")
    if as_json:
        output.result(result, as_json=True)
    else:
        typer.echo(f"Checked {result['checked']} file(s): "
                   + ("all match their sha256." if not result["problems"] else f"{len(result['problems'])} damaged."))
        for problem in result["problems"]:
            typer.echo(f"  ! {problem['message']}")
    if result["problems"]:
        raise typer.Exit(1)
