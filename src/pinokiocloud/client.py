"""``Client``: the one way the CLI, the UI and notebooks talk to the daemon (DESIGN §1 rule 1).

It finds the daemon through the home's lock (which process owns the home, and its port), checks that
process is the one listening before it sends the token, starts a daemon (under the watchdog) only when no
process owns the home, and raises the daemon's errors again as the same classes.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from http.client import HTTPResponse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from pinokiocloud.config import Settings
from pinokiocloud.daemon_start import spawn, take_early
from pinokiocloud.errors import DaemonUnavailableError, PinokioCloudError, UserError, rebuild
from pinokiocloud.home_lock import LockHolder, lock_holder

if TYPE_CHECKING:  # names for the type checker only: the CLI must not import Pydantic or FastAPI to start
    from pydantic import JsonValue

    from pinokiocloud.server.models import (
        AppList,
        BlobList,
        DownloadList,
        GcResult,
        Installed,
        LiveReadings,
        Logs,
        Reinstalled,
        Removed,
        RunList,
        SearchResult,
        ShareList,
        Shutdown,
        Stopped,
        StoreInfo,
        UiInfo,
        Unshared,
        Updated,
        VerifyResult,
    )

    # re-exported (``X as X``) for the dashboard, which names the API's shapes through its client and never
    # imports the daemon's package (tests/ui/test_views_source.py)
    from pinokiocloud.server.models import AppSettings as AppSettings
    from pinokiocloud.server.models import AppStatus as AppStatus
    from pinokiocloud.server.models import CatalogEntry as CatalogEntry
    from pinokiocloud.server.models import CatalogList as CatalogList
    from pinokiocloud.server.models import Download as Download
    from pinokiocloud.server.models import MachineReport as MachineReport
    from pinokiocloud.server.models import Menu as Menu
    from pinokiocloud.server.models import MenuItem as MenuItem
    from pinokiocloud.server.models import RunEvent as RunEvent
    from pinokiocloud.server.models import RunSummary as RunSummary
    from pinokiocloud.server.models import RunUsage as RunUsage
    from pinokiocloud.server.models import SearchHit as SearchHit
    from pinokiocloud.server.models import ShareInfo as ShareInfo

__all__ = ["START_TIMEOUT_S", "Answers", "Client", "Params"]

Params: TypeAlias = "dict[str, JsonValue]"
"""A script's ``args`` (``--param``, a menu item's query)."""
Answers: TypeAlias = "dict[str, JsonValue] | list[dict[str, JsonValue]]"
"""Answers to a run's ``input`` questions: one object, or one per question in order."""

START_TIMEOUT_S = 120.0
"""How long a daemon that owns the home may stay silent before the client gives up (it is never duplicated)."""
SLOW_NOTICE_S = 5.0
HEALTH_TIMEOUT_S = 2.0
REQUEST_TIMEOUT_S = 120.0


def _rebuild(status: int, body: object) -> PinokioCloudError:
    """The daemon's error as the same class here, with its fields (``errors.rebuild``)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        detail = body.get("detail") if isinstance(body, dict) else None
        message = str(detail or body or f"HTTP {status}")
        return UserError(message) if 400 <= status < 500 else PinokioCloudError(message)
    fields = error.get("fields")
    return rebuild(str(error.get("type")), str(error.get("message") or ""), str(error.get("hint") or ""),
                   fields if isinstance(fields, dict) else None, user_error=400 <= status < 500)


class Client:
    """Talks JSON over HTTP with the standard library: the CLI has to answer within a second, and the
    HTTP client the daemon uses (httpx) alone takes a third of that to import."""

    def __init__(self, settings: Settings | None = None, *, autostart: bool = True) -> None:
        self.settings = settings or Settings.from_env()
        self.url = self.settings.daemon_url
        self.autostart = autostart
        self._token: str | None = None

    def close(self) -> None:
        """Nothing to release (connections are not pooled); kept for ``with Client() as client``."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the daemon ----

    def _open(self, method: str, path: str, *, body: object = None, params: Mapping[str, object] | None = None,
              headers: dict[str, str] | None = None, timeout: float | None = REQUEST_TIMEOUT_S) -> HTTPResponse:
        query = f"?{urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})}" if params else ""
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path + query, data=data, headers=all_headers, method=method)
        response: HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
        return response

    def is_up(self) -> bool:
        """Whether a daemon owns this home. Decided by the home's lock, never by a timeout: a daemon that is
        slow to answer (a busy machine, a stopped process) is up, and must not get a twin."""
        return lock_holder(self.settings.home) is not None

    def ensure_daemon(self) -> None:
        """Wait until the home's daemon answers; start one (under the watchdog) when no process owns the home."""
        proc: subprocess.Popen[bytes] | None = None
        report: Path | None = None
        early = take_early(self.settings)
        if early is not None:
            proc, report = early  # ours: its failure to start is this command's to report
        elif lock_holder(self.settings.home) is None:
            if not self.autostart:
                raise DaemonUnavailableError(self.url, "it is not running; start it with `pinokiocloud up`")
            proc, report = self._spawn()
        try:
            self._wait_until_answering(proc, report)
        finally:
            if report is not None:
                report.unlink(missing_ok=True)

    def _spawn(self) -> tuple[subprocess.Popen[bytes], Path]:
        return spawn(self.settings)

    def _wait_until_answering(self, proc: subprocess.Popen[bytes] | None, report: Path | None) -> None:
        started = time.monotonic()
        told = False
        while True:
            holder = lock_holder(self.settings.home)
            if holder is None:
                if proc is not None and proc.poll() is not None:
                    raise self._start_failure(proc, report)
                if proc is None:  # the daemon we waited for has ended meanwhile
                    if not self.autostart:
                        raise DaemonUnavailableError(self.url, "it stopped")
                    proc, report = self._spawn()
            elif holder.ready and holder.port is not None:
                url = holder.url or self.url
                if not self._listens(holder):
                    raise DaemonUnavailableError(url, f"port {holder.port} is not held by the daemon (pid "
                                                      f"{holder.pid}) that owns {self.settings.home}; the token "
                                                      "is not sent to it")
                if self._answers(url):
                    self.url = url
                    return
            waited = time.monotonic() - started
            if not told and waited > SLOW_NOTICE_S and holder is not None:
                print(f"waiting for the PinokioCloud daemon (pid {holder.pid}) to answer …", file=sys.stderr)
                told = True
            if waited > START_TIMEOUT_S:
                who = f"pid {holder.pid}" if holder is not None else "the one just started"
                raise DaemonUnavailableError(self.url, f"the daemon ({who}) has not answered for "
                                                       f"{START_TIMEOUT_S:g} s; it may be stuck")
            time.sleep(0.05)

    @staticmethod
    def _listens(holder: LockHolder) -> bool:
        """The lock's holder is the process listening on its port (so the token goes to our own daemon, not
        to a program that took the port while the daemon was down)."""
        import psutil

        if holder.pid is None or holder.port is None:
            return False
        try:
            connections = psutil.Process(holder.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == holder.port for c in connections)

    def _answers(self, url: str) -> bool:
        request = urllib.request.Request(url + "/health", headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=HEALTH_TIMEOUT_S) as response:
                return bool(response.status == 200)
        except (OSError, ValueError):
            return False

    def _start_failure(self, proc: subprocess.Popen[bytes], report: Path | None) -> PinokioCloudError:
        """The daemon's own reason for not starting (its report), else the end of its log."""
        data: object = None
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(report.read_text()) if report is not None else None
        if isinstance(data, dict) and data.get("message"):
            fields = data.get("fields")
            return rebuild(str(data.get("type")), str(data["message"]), str(data.get("hint") or ""),
                           fields if isinstance(fields, dict) else None, user_error=bool(data.get("user_error")))
        tail = ""
        with contextlib.suppress(OSError):
            lines = (self.settings.home / "logs" / "daemon.log").read_text(errors="replace").strip().splitlines()
            tail = lines[-1] if lines else ""
        free = shutil.disk_usage(self.settings.home).free
        if free < 32 * 1024 * 1024:
            return DaemonUnavailableError(self.url, f"it could not start: the disk holding {self.settings.home} "
                                                    f"is full ({free // (1024 * 1024)} MB free)")
        return DaemonUnavailableError(self.url, f"it exited with code {proc.returncode} before answering"
                                                + (f": {tail}" if tail else ""))

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            try:
                self._token = self.settings.token_file.read_text().strip()
            except OSError as exc:
                raise DaemonUnavailableError(self.url, f"cannot read the token file {self.settings.token_file}: "
                                                       f"{exc.strerror}") from exc
        return {"Authorization": f"Bearer {self._token}"}

    def _call(self, method: str, path: str, *, body: object = None, params: Mapping[str, object] | None = None,
              timeout: float | None = REQUEST_TIMEOUT_S) -> HTTPResponse:
        """Open a route; the daemon's error answers come back as the same error classes."""
        self.ensure_daemon()
        try:
            return self._open(method, path, body=body, params=params, headers=self._headers(), timeout=timeout)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                answer: object = json.loads(raw)
            except ValueError:
                answer = raw.decode(errors="replace")
            raise _rebuild(exc.code, answer) from None
        except OSError as exc:
            raise DaemonUnavailableError(self.url, str(getattr(exc, "reason", exc))) from exc

    def request(self, method: str, path: str, *, json_body: object = None,
                params: Mapping[str, object] | None = None) -> Any:
        """A route's JSON as it came, unchecked (the typed methods below name each answer's shape)."""
        with self._call(method, path, body=json_body, params=params) as response:
            try:
                return json.loads(response.read())
            except (OSError, ValueError) as exc:  # a read that timed out or broke off
                raise DaemonUnavailableError(self.url, f"the answer to {method} {path} broke off: {exc}") from exc

    def events(self, key: str, *, after: int = 0) -> Iterator[RunEvent]:
        """A run's events, replayed then followed live until the run ends (server-sent events)."""
        with self._call("GET", f"/api/runs/{key}/events", params={"after": after}, timeout=None) as response:
            data: list[str] = []
            for raw in response:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    yield cast("RunEvent", json.loads("\n".join(data)))
                    data = []

    # ---- the API, one method per route (answers are the shapes of server.models, unchecked here) ----

    def apps(self) -> list[AppStatus]:
        return cast("AppList", self.request("GET", "/api/apps"))["data"]

    def install(self, src: str, *, name: str | None = None, script: str | None = None, params: Params | None = None,
                answers: Answers | None = None, interactive: bool = False) -> Installed:
        body = {"src": src, "name": name, "script": script, "answers": answers, "interactive": interactive}
        if params:
            body["params"] = params
        return cast("Installed", self.request("POST", "/api/apps", json_body=body))

    def status(self, name: str) -> AppStatus:
        """One app, with its share (secrets masked)."""
        return cast("AppStatus", self.request("GET", f"/api/apps/{name}"))

    def menu(self, name: str) -> Menu:
        return cast("Menu", self.request("GET", f"/api/apps/{name}/menu"))

    def run(self, name: str, *, script: str | None = None, params: Params | None = None,
            answers: Answers | None = None, interactive: bool = False) -> RunSummary:
        body = {"script": script, "params": params or {}, "answers": answers, "interactive": interactive}
        return cast("RunSummary", self.request("POST", f"/api/apps/{name}/run", json_body=body))

    def stop(self, name: str, script: str | None = None) -> Stopped:
        return cast("Stopped", self.request("POST", f"/api/apps/{name}/stop", json_body={"script": script}))

    def remove(self, name: str) -> Removed:
        return cast("Removed", self.request("DELETE", f"/api/apps/{name}"))

    def logs(self, name: str, tail: int = 200) -> list[str]:
        return cast("Logs", self.request("GET", f"/api/apps/{name}/logs", params={"tail": tail}))["lines"]

    def search(self, query: str) -> SearchResult:
        return cast("SearchResult", self.request("GET", "/api/search", params={"q": query}))

    def answer(self, key: str, values: Mapping[str, object]) -> None:
        self.request("POST", f"/api/runs/{key}/input", json_body={"values": values})

    def run_info(self, key: str) -> RunSummary:
        return cast("RunSummary", self.request("GET", f"/api/runs/{key}"))

    def update(self, name: str) -> Updated:
        """Update the launcher (and run its update script, when it has one)."""
        return cast("Updated", self.request("POST", f"/api/apps/{name}/update"))

    def reinstall(self, name: str) -> Reinstalled:
        return cast("Reinstalled", self.request("POST", f"/api/apps/{name}/reinstall"))

    def shutdown(self) -> Shutdown:
        """Ask the daemon to stop (apps and dashboard first); it answers before it goes."""
        return cast("Shutdown", self.request("POST", "/api/shutdown"))

    # ---- routes the dashboard uses (thin wrappers over request()) ----

    def get(self, path: str, **params: object) -> object:
        """A GET route's JSON as it came, any JSON value (narrow it with ``isinstance``; see ``request``)."""
        return self.request("GET", path, params=params or None)

    def catalog(self) -> CatalogList:
        return cast("CatalogList", self.request("GET", "/api/catalog"))

    def reload_catalog(self) -> CatalogList:
        """Read the catalog again (a ``catalog.json`` edited meanwhile counts without a restart)."""
        return cast("CatalogList", self.request("POST", "/api/apps/catalog/reload"))

    def system(self) -> MachineReport:
        """The ``doctor`` report (slow: it probes tools and the network)."""
        return cast("MachineReport", self.request("GET", "/api/system"))

    def system_live(self) -> LiveReadings:
        return cast("LiveReadings", self.request("GET", "/api/system/live"))

    def get_settings(self) -> AppSettings:
        return cast("AppSettings", self.request("GET", "/api/settings"))

    def update_settings(self, **changes: object) -> AppSettings:
        return cast("AppSettings", self.request("PATCH", "/api/settings", json_body=changes))

    def set_autorestore(self, name: str, autorestore: bool) -> AppStatus:
        return cast("AppStatus", self.request("PATCH", f"/api/apps/{name}", json_body={"autorestore": autorestore}))

    def set_restart(self, name: str, restart: str) -> AppStatus:
        """The app's own restart policy (``on-failure`` or ``no``), used from its next crash."""
        return cast("AppStatus", self.request("PATCH", f"/api/apps/{name}", json_body={"restart": restart}))

    def start(self, name: str, *, restart: str | None = None) -> RunSummary:
        """The app's default item (or its run that is already up); ``restart`` is kept for the app."""
        body = {"restart": restart} if restart else None
        return cast("RunSummary", self.request("POST", f"/api/apps/{name}/start", json_body=body))

    def runs(self) -> list[RunSummary]:
        return cast("RunList", self.request("GET", "/api/runs"))["data"]

    def run_usage(self, key: str) -> RunUsage:
        return cast("RunUsage", self.request("GET", f"/api/runs/{key}/usage"))

    def stop_run(self, key: str) -> RunSummary:
        return cast("RunSummary", self.request("POST", f"/api/runs/{key}/stop"))

    def run_events(self, key: str, *, after: int = 0) -> list[RunEvent]:
        """A run's events after ``after`` so far, without following (events() follows until the run ends)."""
        with self._call("GET", f"/api/runs/{key}/events", params={"after": after, "follow": "false"}) as response:
            text = response.read().decode("utf-8", "replace")
        return [cast("RunEvent", json.loads(line[5:])) for line in text.splitlines() if line.startswith("data:")]

    def share_info(self, name: str) -> ShareInfo:
        """The app's share with its passcode, token and QR code (the owner's view)."""
        return cast("ShareInfo", self.request("GET", f"/api/apps/{name}/share"))

    def start_share(self, name: str, *, provider: str | None = None, passcode: str | None = None) -> ShareInfo:
        """Publish the app's web UI (up to half a minute while providers are tried)."""
        body = {"provider": provider, "passcode": passcode}
        return cast("ShareInfo", self.request("POST", f"/api/apps/{name}/share", json_body=body))

    def shares(self) -> list[ShareInfo]:
        """Every share (secrets masked), the dashboard's too."""
        return cast("ShareList", self.request("GET", "/api/shares"))["data"]

    def share_ui(self) -> ShareInfo:
        """Publish the dashboard (behind its passcode), as ``start_share`` does for an app."""
        return cast("ShareInfo", self.request("POST", "/api/ui/share"))

    def start_ui(self, *, new_passcode: bool = False) -> UiInfo:
        """Start the dashboard (or keep the running one); ``new_passcode`` makes a new passcode, ending every
        login."""
        return cast("UiInfo", self.request("POST", "/api/ui", json_body={"new_passcode": new_passcode}))

    def stop_share(self, name: str) -> Unshared:
        return cast("Unshared", self.request("DELETE", f"/api/apps/{name}/share"))

    def store_info(self) -> StoreInfo:
        """The persistent root, the model store's totals, backups, archives and restore progress."""
        return cast("StoreInfo", self.request("GET", "/api/store"))

    def store_blobs(self) -> BlobList:
        return cast("BlobList", self.request("GET", "/api/store/blobs"))

    def store_gc(self) -> GcResult:
        return cast("GcResult", self.request("POST", "/api/store/gc"))

    def store_verify(self) -> VerifyResult:
        return cast("VerifyResult", self.request("POST", "/api/store/verify"))

    def downloads(self) -> list[Download]:
        """The daemon's download queue: running, queued, then lately ended (bytes, rate, ETA of each)."""
        return cast("DownloadList", self.request("GET", "/api/downloads"))["data"]

    def cancel_download(self, download_id: str) -> Download:
        return cast("Download", self.request("POST", f"/api/downloads/{download_id}/cancel"))
