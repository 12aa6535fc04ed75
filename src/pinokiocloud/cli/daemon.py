"""The daemon's life: ``serve`` (in the foreground), ``up`` (daemon and dashboard, their link and passcode)
and ``down`` (everything off, returning once it is gone)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.errors import DaemonUnavailableError

__all__ = ["down", "serve", "up"]

DOWN_TIMEOUT_S = 60.0


def serve(port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default 42000).")] = None) -> None:
    """Run the daemon in the foreground (one per PINOKIO_HOME: a second one refuses)."""
    from pinokiocloud.server.serve import main as serve_main

    code = serve_main(port)
    if code:
        raise typer.Exit(code)


def up(share: Annotated[bool, typer.Option("--share", help="Also publish the dashboard on a public URL "
                                                            "(behind its passcode).")] = False,
       new_passcode: Annotated[bool, typer.Option("--new-passcode", help="Replace the dashboard's passcode "
                                                  "(it is kept across restarts; this ends every login).")]
       = False,
       as_json: JsonOpt = False) -> None:
    """Start the daemon and the dashboard; print the dashboard's link and passcode (on stdout)."""
    import dataclasses

    from pinokiocloud.launch import launch

    launched = launch(share=share, show=False, new_passcode=new_passcode,
                      progress=(lambda _: None) if as_json else output.info)
    if as_json:
        output.result({**dataclasses.asdict(launched), "best_url": launched.best_url}, as_json=True)
    else:
        lines = [f"dashboard: {launched.best_url}", f"passcode:  {launched.passcode_text}"]
        if launched.best_url != launched.token_url:
            lines.append(f"on this machine: {launched.token_url}")
        lines.append(f"daemon:    {launched.daemon_url} (API docs at /docs)")
        output.result("\n".join(lines), as_json=False)
    if share and launched.public_url is None:
        if not as_json:
            output.error(launched.share_failure or "no public URL")
        raise typer.Exit(1)


def down(as_json: JsonOpt = False) -> None:
    """Stop the apps, the dashboard and the daemon (and its watchdog); returns once they are gone."""
    from pinokiocloud.client import Client
    from pinokiocloud.home_lock import lock_holder

    client = Client(autostart=False)
    if not client.is_up():
        output.result({"stopped": False, "reason": "not running"} if as_json else "the daemon is not running",
                      as_json=as_json)
        return
    client.shutdown()
    deadline = time.monotonic() + DOWN_TIMEOUT_S
    while lock_holder(client.settings.home) is not None:
        if time.monotonic() > deadline:
            raise DaemonUnavailableError(client.url, f"it was asked to stop and is still running after "
                                                     f"{DOWN_TIMEOUT_S:g} s; see PINOKIO_HOME/logs/daemon.log")
        time.sleep(0.1)
    output.result({"stopped": True} if as_json else "stopped the apps, the dashboard and the daemon",
                  as_json=as_json)
