"""What the task's ``run`` step does on the cloud machine (``pinokiocloud cloud serve-task``).

It is an ordinary client of the local daemon: start the daemon (under its watchdog), start the app and wait
for it the way ``pinokiocloud start`` does (its run reaches its idle state, then the status says online),
put the passcode gateway on the task's port (all interfaces; tunnels only with ``--share``), print one
``PINOKIOCLOUD-READY {json}`` line that the launching machine waits for, then watch for visitors.

SkyPilot's autostop counts a machine idle only once its job has ended, and an app server never ends, so the
job ends itself: after ``idle_minutes`` with no request through the gateway and no new app output, it stops
the app and the daemon and exits 0; SkyPilot then stops the machine a minute later (running the backup hook).
An app that crashes ends the job with exit 1, so a broken app does not keep a GPU running either.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from typing_extensions import NotRequired, TypedDict

from pinokiocloud.client import Client
from pinokiocloud.cloud.errors import CloudLaunchError

if TYPE_CHECKING:
    from pinokiocloud.server.models import AppStatus

__all__ = ["READY_MARKER", "Ready", "last_activity", "serve_task"]

READY_MARKER = "PINOKIOCLOUD-READY"
FAILED_MARKER = "PINOKIOCLOUD-FAILED"
CHECK_EVERY_S = 30.0
START_TIMEOUT_S = 3600.0
_FINISHED_OK = frozenset({"done", "idle"})
_FINISHED_BAD = frozenset({"failed", "crashed", "stopped", "interrupted"})
_ALIVE = frozenset({"online", "starting", "running"})


class Ready(TypedDict):
    """The ``PINOKIOCLOUD-READY`` line's JSON: where the app is, for the launching machine."""

    app: str
    port: int
    app_url: str | None
    public_url: str | None
    provider: str | None
    passcode: NotRequired[str | None]
    """Only when the task made it up (no ``PINOKIOCLOUD_SHARE_PASSCODE`` given)."""


def _safe(name: str) -> str:
    """The share manager's file name for an app's access log."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "app"


def last_activity(home: Path, app: str) -> float:
    """When someone last used the app: the newest write to its gateway's access log or to its output logs."""
    newest = 0.0
    candidates = [home / "logs" / "share" / f"{_safe(app)}.access.log"]
    shell = home / "logs" / "shell" / app
    if shell.is_dir():
        candidates += [p for p in shell.rglob("*") if p.is_file()]
    for path in candidates:
        try:
            newest = max(newest, path.stat().st_mtime)
        except OSError:
            continue
    return newest


def _say(line: str) -> None:
    print(line, flush=True)


def _start(client: Client, app: str) -> AppStatus:
    run = client.start(app)
    if run["state"] not in _FINISHED_OK | _FINISHED_BAD:
        for event in client.events(run["key"]):
            kind, data = event["type"], event.get("data")
            if not isinstance(data, dict):
                continue
            if kind == "stream":
                sys.stdout.write(str(data.get("raw", "")))
                sys.stdout.flush()
            elif kind == "state" and data.get("state") in _FINISHED_OK | _FINISHED_BAD:
                break
    status = client.status(app)
    deadline = time.monotonic() + START_TIMEOUT_S
    while status["state"] == "starting" and time.monotonic() < deadline:
        time.sleep(1)
        status = client.status(app)
    if status["state"] != "online" or not status.get("ready_url"):
        lines = "\n".join(client.logs(app, 20))
        raise CloudLaunchError(app, f"the app is {status['state']}, not online" + (f":\n{lines}" if lines else ""))
    return status


def serve_task(app: str, *, port: int, idle_minutes: int, share: bool, client: Client | None = None,
               clock: Callable[[], float] = time.time, check_every_s: float = CHECK_EVERY_S) -> int:
    """Run the app for the task; returns the job's exit code (0: ended for idleness, 1: the app went down)."""
    client = client or Client()
    home = client.settings.home
    try:
        status = _start(client, app)
        passcode = os.environ.get("PINOKIOCLOUD_SHARE_PASSCODE") or None
        shared = client.start_share(app, provider=None if share else "lan", passcode=passcode)
    except CloudLaunchError as exc:
        _say(f"{FAILED_MARKER} {json.dumps({'app': app, 'reason': exc.reason})}")
        raise
    gateway_port = int(shared["local_url"].rsplit(":", 1)[-1].split("/", 1)[0] or 0)
    if gateway_port != port:
        reason = f"the gateway listens on port {gateway_port}, not on the task's port {port}"
        _say(f"{FAILED_MARKER} {json.dumps({'app': app, 'reason': reason})}")
        raise CloudLaunchError(app, reason)
    ready: Ready = {"app": app, "port": port, "app_url": status["ready_url"], "public_url": shared["public_url"],
             "provider": shared["provider"]}
    if passcode is None:
        ready["passcode"] = shared["passcode"]  # generated here: the only way for the user to learn it
    _say(f"{READY_MARKER} {json.dumps(ready)}")
    if idle_minutes <= 0:
        _say(f"{app} runs until `pinokiocloud cloud down` (no autostop)")
    else:
        _say(f"{app} stops after {idle_minutes} minute(s) without visitors")
    started = clock()
    while True:
        time.sleep(check_every_s)
        state = client.status(app)["state"]
        if state not in _ALIVE:
            _say(f"{app} is {state}; ending the job (the machine stops a minute later)")
            return 1
        if idle_minutes > 0:
            idle_s = clock() - max(started, last_activity(home, app))
            if idle_s >= idle_minutes * 60:
                _say(f"nobody used {app} for {idle_minutes} minute(s); stopping it (the machine stops a minute "
                     "later)")
                client.stop(app)
                client.shutdown()
                return 0
