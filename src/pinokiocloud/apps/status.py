"""App status: one state per app (the same for ``ls``, ``status``, the dashboard and the API) and the
frozen record the API serves, with the JSON keys clients have always read."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from pinokiocloud.kernel.ports import answers
from pinokiocloud.kernel.runner import Run, RunState
from pinokiocloud.share.detect import WebUI
from pinokiocloud.store import RunRecord

__all__ = ["AppState", "AppStatus", "AppUsage", "app_state", "port_answers", "ready_url", "recorded_summary"]

PORT_CHECK_TIMEOUT_S = 0.5
_URL = re.compile(r"https?://[^\s{}<>\"']+")

RunSummary = Mapping[str, object]
"""``Run.summary()``: one run as JSON."""


class AppState(str, Enum):
    OFFLINE = "offline"
    INSTALLING = "installing"  # a non-daemon script (install, update, reset …) is running
    STARTING = "starting"  # a daemon script is still running its steps
    ONLINE = "online"  # a daemon script reached its idle state
    FAILED = "failed"
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class AppUsage:
    """What an app's live processes use, summed over its running scripts."""

    pids: tuple[int, ...] = ()
    ports: tuple[int, ...] = ()
    cpu_percent: float = 0.0
    rss_bytes: int = 0
    gpu_memory_mb: int | None = None

    @classmethod
    def total(cls, readings: Iterable[Mapping[str, object]]) -> AppUsage:
        """The sum of ``Runner.usage`` readings (one per running script)."""
        pids: list[int] = []
        ports: set[int] = set()
        cpu, rss, gpu = 0.0, 0, None
        for reading in readings:
            pids += [p for p in _seq(reading.get("pids")) if isinstance(p, int)]
            ports |= {p for p in _seq(reading.get("ports")) if isinstance(p, int)}
            cpu += _number(reading.get("cpu_percent"))
            rss += int(_number(reading.get("rss_bytes")))
            mb = reading.get("gpu_memory_mb")
            if isinstance(mb, int):
                gpu = (gpu or 0) + mb
        return cls(tuple(pids), tuple(sorted(ports)), cpu, rss, gpu)


def _seq(value: object) -> Sequence[object]:
    return value if isinstance(value, (list, tuple)) else ()


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


@dataclass(frozen=True, slots=True)
class AppStatus:
    """One app as ``GET /api/apps`` and ``GET /api/apps/NAME`` give it (``to_json``)."""

    name: str
    path: str
    source: str | None
    state: AppState
    ready_url: str | None
    web_ui: WebUI | None
    runs: tuple[RunSummary, ...]
    """Its running scripts, else its last run (from the store when this daemon has run none)."""
    error: str | None
    autorestore: bool
    restart: str
    usage: AppUsage = field(default_factory=AppUsage)

    def to_json(self) -> dict[str, object]:
        web_ui = self.web_ui
        return {
            "name": self.name, "path": self.path, "source": self.source, "state": self.state.value,
            "ready_url": self.ready_url,
            "web_ui": None if web_ui is None else {"url": web_ui.url, "kind": web_ui.kind, "source": web_ui.source,
                                                   "title": web_ui.title},
            "runs": [dict(r) for r in self.runs], "error": self.error, "autorestore": self.autorestore,
            "restart": self.restart, "pids": list(self.usage.pids), "ports": list(self.usage.ports),
            "cpu_percent": self.usage.cpu_percent, "rss_bytes": self.usage.rss_bytes,
            "gpu_memory_mb": self.usage.gpu_memory_mb,
        }


def app_state(runs: Sequence[Run], live: Mapping[str, bool], last_recorded: str | None) -> AppState:
    """The state rule. ``online`` needs an idle daemon run with a live process (``live``: run id → whether
    it has one); with no run in memory (a restarted daemon) the last recorded run's state decides, so a
    failed install still reads ``failed``. The port check comes on top (``port_answers``)."""
    alive = [r for r in runs if r.is_alive]
    if any(r.daemon and r.state is RunState.IDLE and live.get(r.id, False) for r in alive):
        return AppState.ONLINE
    # a script the user started that is still loading may be a daemon: a Start click never reads "installing"
    # (one that ``script.start`` started belongs to its caller's flow, an install's sub-script as a rule)
    if any((r.state is RunState.STARTING and r.caller is None) or (r.daemon and r.state is not RunState.IDLE)
           for r in alive):
        return AppState.STARTING
    if any(not r.daemon for r in alive):
        return AppState.INSTALLING
    if alive:  # an idle daemon whose processes have all ended serves nothing
        return AppState.CRASHED
    last_state = runs[-1].state.value if runs else last_recorded
    if last_state == RunState.FAILED.value:
        return AppState.FAILED
    if last_state in (RunState.CRASHED.value, "interrupted"):
        return AppState.CRASHED
    return AppState.OFFLINE


def ready_url(runs: Sequence[Run], memory_local: Mapping[str, Mapping[str, object]]) -> str | None:
    """The first running script's ``local.url``, as the original's ``pterm status``: only a rendered
    http(s) URL (``{{input.event[1]}}`` left by a server that died early is no URL)."""
    for run in runs:
        if run.is_alive:
            url = memory_local.get(run.id, {}).get("url")
            if isinstance(url, str) and _URL.fullmatch(url):
                return url
    return None


async def port_answers(url: str) -> bool:
    """Whether something accepts a TCP connection at the URL's host and port (0.0.0.0 means this machine)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    return await answers(host, port, PORT_CHECK_TIMEOUT_S)


def recorded_summary(record: RunRecord) -> dict[str, object]:
    """A run an earlier daemon ran, in the shape of ``Run.summary`` (what is not recorded is left out)."""
    return {"id": record.id, "key": record.key, "path": record.path, "uri": record.uri, "state": record.state,
            "daemon": record.daemon, "error": record.error, "exit_code": record.exit_code, "caller": record.caller,
            "started_at": record.started_at, "ended_at": record.ended_at, "restarts": 0}
