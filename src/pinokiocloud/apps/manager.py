"""Apps: launchers installed under ``PINOKIO_HOME/api/<name>``, their menus, runs and states (DESIGN §7).

The manager turns "install this", "start it", "is it up?" into runs of the launcher's scripts, keeps the
store in step with the runner (runs, events, ``global`` memory), and after a daemon restart marks what
was alive as interrupted and starts the daemon scripts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import time
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psutil

from pinokiocloud.apps.search import SearchItem, rank
from pinokiocloud.errors import (
    AppExistsError,
    AppNotFoundError,
    BadParamError,
    InstallError,
    LauncherNotFoundError,
    PinokioCloudError,
)
from pinokiocloud.kernel import load_launcher
from pinokiocloud.kernel.environment import merged_env
from pinokiocloud.kernel.events import RunEvent
from pinokiocloud.kernel.launcher import find_launcher_root
from pinokiocloud.kernel.ports import answers
from pinokiocloud.kernel.runner import ALIVE, Run, Runner, RunState
from pinokiocloud.procs.captured import run_captured
from pinokiocloud.procs.logfiles import log_max_bytes
from pinokiocloud.procs.restart import RestartMode
from pinokiocloud.procs.text import strip_ansi
from pinokiocloud.procs.tree import tagged_under
from pinokiocloud.share.detect import WebUI, detect_web_ui
from pinokiocloud.store import RunRecord, Store

__all__ = ["AppExistsError", "AppManager", "AppNotFoundError", "AppState", "InstallError"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.3
ORPHAN_GRACE_S = 5.0
WEB_UI_CACHE_S = 60.0
GIT_CLONE_TIMEOUT_S = 1800
# \Z, not $: `$` also matches before a trailing newline, and "app\n" is no folder name anyone meant
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_INSTALL_SCRIPTS = ("install.js", "install.json")
_URL = re.compile(r"https?://[^\s{}<>\"']+")
PORT_CHECK_TIMEOUT_S = 0.5


class AppState(str, Enum):
    OFFLINE = "offline"
    INSTALLING = "installing"  # a non-daemon script (install, update, reset …) is running
    STARTING = "starting"  # a daemon script is still running its steps
    ONLINE = "online"  # a daemon script reached its idle state
    FAILED = "failed"
    CRASHED = "crashed"


def _stringify(value: Any) -> Any:
    """Menu params reach scripts through a query string in the original: every value is a string."""
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def parse_restart_mode(text: str) -> RestartMode:
    """``no`` / ``on-failure`` (``never`` and ``off`` are read as ``no``), or a one-sentence error."""
    value = text.strip().lower()
    value = RestartMode.NO.value if value in ("never", "off", "none", "false") else value
    try:
        return RestartMode(value)
    except ValueError:
        raise BadParamError(f"restart must be 'no' or 'on-failure', got {text!r}") from None


def split_href(href: str) -> tuple[str, dict[str, Any]]:
    """``start.js?mode=fast&x=1&x=2&_=a`` → (``start.js``, {mode: "fast", x: ["1", "2"], _: ["a"]})."""
    parts = urlsplit(href)
    params: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "_":
            params.setdefault("_", []).append(value)
        elif key in params:
            params[key] = [*params[key], value] if isinstance(params[key], list) else [params[key], value]
        else:
            params[key] = value
    return parts.path, params


def _recorded_summary(record: RunRecord) -> dict[str, Any]:
    """A run an earlier daemon ran, in the shape of ``Run.summary`` (what is not recorded is left out)."""
    return {"id": record.id, "key": record.key, "path": record.path, "uri": record.uri, "state": record.state,
            "daemon": record.daemon, "error": record.error, "exit_code": record.exit_code, "caller": record.caller,
            "started_at": record.started_at, "ended_at": record.ended_at, "restarts": 0}


async def _port_answers(url: str) -> bool:
    """Whether something accepts a TCP connection at the URL's host and port (0.0.0.0 means this machine)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    return await answers(host, port, PORT_CHECK_TIMEOUT_S)


def reap_orphans(home: Path, grace_s: float = ORPHAN_GRACE_S) -> int:
    """Stop processes a dead daemon of this PINOKIO_HOME left behind (tagged by the supervisor, working
    under the home): their runs are restarted fresh, and duplicates would hold ports and GPU memory."""
    mine = {p.pid for p in psutil.Process().children(recursive=True)}
    found = [proc for proc in tagged_under(home) if proc.pid not in mine]
    for proc in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(found, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    return len(found)


class AppManager:
    def __init__(self, runner: Runner, store: Store, *, catalog: Any = None) -> None:
        self.runner = runner
        self.store = store
        self.home = runner.home
        self.catalog = catalog
        self._queue: asyncio.Queue[RunEvent] | None = None
        self._persist_task: asyncio.Task[None] | None = None
        self._install_lock = asyncio.Lock()
        self._pending: list[RunEvent] = []
        self._web_uis: dict[str, tuple[tuple[str | None, tuple[int, ...]], float, WebUI | None]] = {}
        self._stored_bytes_per_run = log_max_bytes()
        """A run that floods its output keeps its newest events in the store up to the log cap."""

    # ---- lifecycle ----

    # ---- restart policies (one policy, procs/restart.py; set per app and as a default) ----

    def restart_mode(self, name: str | None = None) -> RestartMode:
        """The app's own choice, else the default setting (``no`` unless the user changed it)."""
        value = self.store.setting(f"restart:{name}") if name else None
        value = value or self.store.setting("restart") or RestartMode.NO.value
        return RestartMode(value)

    def set_restart(self, name: str | None, mode: str | None) -> None:
        """Set an app's restart mode (``None`` for name: the default of every app; ``None`` for mode on an app:
        follow the default again). Takes effect for the app's next crash."""
        if mode is not None:
            mode = parse_restart_mode(mode).value
        if name is None:
            self.store.put_setting("restart", mode or RestartMode.NO.value)
        else:
            self.app_dir(name)
            self.store.put_setting(f"restart:{name}", mode)
        self._apply_restart_policies()

    def _apply_restart_policies(self) -> None:
        self.runner.restart_policy = dataclasses.replace(self.runner.restart_policy, mode=self.restart_mode())
        self.runner.app_restart = {
            name: dataclasses.replace(self.runner.restart_policy, mode=self.restart_mode(name))
            for name in self.names() if self.store.setting(f"restart:{name}")}

    async def open(self) -> list[Run]:
        """Load `global` memory, mark runs a dead daemon left alive as interrupted, restart daemon
        scripts of apps that allow it, and start persisting."""
        self._apply_restart_policies()
        reaped = await asyncio.to_thread(reap_orphans, self.home)
        if reaped:
            log.warning("stopped %d process(es) a previous daemon left running", reaped)
        self.runner.memory_global.update(self.store.memory("global"))
        # events the log no longer holds in memory are read back from the store, under the same numbers
        self.runner.events.attach(self.store, last_seq=self.store.last_event_seq())
        self._queue = self.runner.events.subscribe(None, limit=0)  # the store keeps every event: unbounded
        self._persist_task = asyncio.create_task(self._persist(), name="persist events")
        interrupted = self.store.mark_interrupted([s.value for s in ALIVE])
        restarted: list[Run] = []
        if not self.store.setting("autorestore", True):
            return restarted
        apps = {a.name: a for a in self.store.apps()}
        for record in reversed(interrupted):  # oldest first, as they were started
            app = apps.get(record.app or "")
            if not record.daemon or app is None or not app.autorestore or not Path(record.path).is_file():
                continue
            try:
                restarted.append(await self.runner.start(Path(record.path), args=record.args, uri=record.uri,
                                                         action=record.action))
            except PinokioCloudError as exc:
                log.warning("could not restore %s: %s", record.path, exc)
        return restarted

    async def close(self) -> None:
        await self.runner.close()
        await asyncio.sleep(0)
        if self._persist_task is not None:
            self._persist_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._persist_task
        self._flush_now()

    async def _persist(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            self._pending.append(first)
            await asyncio.sleep(FLUSH_INTERVAL_S)
            while not self._queue.empty():
                self._pending.append(self._queue.get_nowait())
            self._flush_now()

    def _flush_now(self) -> None:
        events, self._pending = self._pending, []
        if self._queue is not None:
            while not self._queue.empty():
                events.append(self._queue.get_nowait())
        if not events:
            return
        try:
            self.store.add_numbered_events(
                ((e.seq, e.attempt, e.run_id, e.type, e.step, e.total, e.ts, e.data) for e in events),
                max_bytes_per_run=self._stored_bytes_per_run)
            touched = {e.attempt for e in events if e.type in ("state", "start", "stop", "error")}
            for key in touched:  # by key: an older run of a script restarted meanwhile gets its end state too
                run = self.runner.by_key.get(key)
                if run is not None:
                    self.store.put_run(self._record(run))
            for run_id in {e.run_id for e in events}:
                self.store.put_memory("global", run_id, self.runner.memory_global.get(run_id))
        except PinokioCloudError:
            log.exception("could not persist %d events", len(events))

    def _record(self, run: Run) -> RunRecord:
        return RunRecord(run.key, run.id, self.app_of(run.path), str(run.path), run.uri, run.action, run.args,
                         run.state.value, run.daemon, run.error, run.exit_code, run.caller, run.started_at,
                         run.ended_at)

    # ---- lookups ----

    def app_dir(self, name: str) -> Path:
        if not _NAME.match(name):
            raise BadParamError(f"{name!r} is not an app name (letters, digits, '.', '_' and '-')")
        folder = self.home / "api" / name
        if not folder.is_dir():
            raise AppNotFoundError(name)
        return folder

    def app_of(self, path: Path) -> str | None:
        try:
            rel = path.resolve().relative_to((self.home / "api").resolve())
        except ValueError:
            return None
        return rel.parts[0] if rel.parts else None

    def names(self) -> list[str]:
        api = self.home / "api"
        return sorted(p.name for p in api.iterdir() if p.is_dir() and find_launcher_root(p)) if api.is_dir() else []

    def runs_of(self, name: str) -> list[Run]:
        return sorted((r for r in self.runner.runs.values() if self.app_of(r.path) == name),
                      key=lambda r: r.started_at)

    # ---- install and remove ----

    def search(self, query: str) -> list[dict[str, Any]]:
        """Installed apps and catalog entries ranked by matched terms (installed first on ties)."""
        installed = []
        for name in self.names():
            meta = self._meta(name)
            installed.append(SearchItem(id=name, title=str(meta.get("title") or name),
                                        description=str(meta.get("description") or ""),
                                        tags=tuple(str(t) for t in meta.get("tags") or ()), source="installed"))
        items = installed + (self.catalog.search_items() if self.catalog is not None else [])
        return [{"id": h.item.id, "title": h.item.title, "description": h.item.description,
                 "tags": list(h.item.tags), "source": h.item.source, "score": h.score, "matched": list(h.matched)}
                for h in rank(query, items)]

    def _meta(self, name: str) -> dict[str, Any]:
        """pinokio.json / pinokio_meta.json of an installed app (no JavaScript needed for search)."""
        root = find_launcher_root(self.home / "api" / name) or self.home / "api" / name
        merged: dict[str, Any] = {}
        for file in ("pinokio_meta.json", "pinokio.json"):
            try:
                data = json.loads((root / file).read_text())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                merged.update(data)
        record = self.store.app(name)
        if record is not None and not merged.get("title"):
            merged.update({k: v for k, v in record.meta.items() if k in ("title", "description", "tags")})
        return merged

    def _source(self, src: str) -> tuple[str, str]:
        """("git", url) | ("folder", path) | ("catalog", url), decided before anything is copied.

        A folder must be given as an absolute path (the daemon's working folder means nothing to its
        caller; the CLI resolves folders itself), must hold a launcher, and must not be the home, one of its
        parents or anything under ``api/``: copying the home into its own ``api/`` once filled a disk.
        """
        if not src.strip():
            raise InstallError("the install source is empty; give a git URL, the absolute path of a launcher "
                               "folder, or a catalog id")
        if any(ord(c) < 0x20 for c in src):
            raise InstallError("the install source contains a control character (a newline or NUL); give a git "
                               "URL, the absolute path of a launcher folder, or a catalog id")
        if re.match(r"(https?|git|ssh|file)://", src) or src.startswith("git@"):
            return "git", src
        if self.catalog is not None:
            entry = self.catalog.get(src)
            if entry is not None:
                return "catalog", str(entry.url)
        given = Path(src).expanduser()
        if not given.is_absolute():
            raise InstallError(f"{src!r} is not a git URL, a catalog id or an absolute folder path; give a "
                               "launcher folder as an absolute path (see `pinokiocloud search` for catalog ids)")
        try:
            folder = given.resolve()
            is_dir = folder.is_dir()
        except (OSError, ValueError) as exc:  # a NUL byte, a name longer than the system allows
            raise InstallError(f"{src[:200]!r} is not a usable folder path ({exc})") from exc
        if not is_dir:
            raise InstallError(f"{src} is not a folder on the daemon's machine; give a git URL, an existing "
                               "launcher folder or a catalog id")
        home = self.home.resolve()
        if folder == home or folder in home.parents:
            raise InstallError(f"{src} holds PINOKIO_HOME ({home}) and cannot be installed into it; give the "
                               "launcher's own folder")
        if folder.is_relative_to(home / "api"):
            raise InstallError(f"{src} is inside {home / 'api'}, where installed apps live; give a launcher "
                               "folder outside it")
        if find_launcher_root(folder) is None and not any((folder / s).is_file() for s in _INSTALL_SCRIPTS):
            raise InstallError(f"{src} is not a Pinokio launcher: it has no pinokio.js and no install script")
        return "folder", str(folder)

    @staticmethod
    def default_name(location: str) -> str:
        """The last part of a URL or path, cut to a valid app name (``_NAME``)."""
        base = location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        base = re.sub(r"\.git\Z", "", base)
        base = re.sub(r"[^A-Za-z0-9._-]", "-", base).strip("-._") or "app"
        return base[:100]

    async def _clone(self, url: str, target: Path, timeout_s: float = GIT_CLONE_TIMEOUT_S) -> None:
        """``git clone --depth 1``; a clone that fails, times out or is cancelled leaves no folder behind.

        git runs in a session of its own: its helpers (``git-remote-https``) hold the output pipe, so a stop
        kills the whole group, and waits for it, before the folder is removed.
        """
        try:
            done = await run_captured(["git", "clone", "--depth", "1", "--", url, str(target)], timeout_s=timeout_s)
        except asyncio.CancelledError:
            await asyncio.to_thread(shutil.rmtree, target, ignore_errors=True)  # git is gone: nothing writes
            raise
        if done.code != 0:
            await asyncio.to_thread(shutil.rmtree, target, ignore_errors=True)
        if done.timed_out:
            raise InstallError(f"cloning {url} took longer than {timeout_s:g} s; check the URL and the "
                               "network, then install again")
        if done.code != 0:
            raise InstallError(f"git could not clone {url}: {done.last_line or 'unknown error'}")

    async def install(self, src: str, *, name: str | None = None, script: str | None = None,
                      params: dict[str, Any] | None = None, answers: Any = None,
                      interactive: bool = False) -> tuple[str, Run | None]:
        """Put the launcher in place, then start its install flow. Returns (name, install run)."""
        kind, location = self._source(src)
        name = name or (src if kind == "catalog" else self.default_name(location))
        if not _NAME.match(name):
            raise BadParamError(f"{name!r} is not an app name (letters, digits, '.', '_' and '-')")
        async with self._install_lock:
            target = self.home / "api" / name
            if target.exists():
                raise AppExistsError(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if kind == "folder":  # off the event loop: a launcher folder can hold a venv's worth of files
                await asyncio.to_thread(shutil.copytree, location, target, symlinks=True)
            else:
                await self._clone(location, target)
            root = find_launcher_root(target)
            if root is None and not any((target / s).is_file() for s in _INSTALL_SCRIPTS):
                await asyncio.to_thread(shutil.rmtree, target, ignore_errors=True)
                raise InstallError(f"{src} is not a Pinokio launcher: it has no pinokio.js and no install script")
            meta: dict[str, Any] = {"kind": kind}
            with contextlib.suppress(PinokioCloudError):
                launcher = await load_launcher(self.runner.sidecar, target, self.runner.context())
                meta.update({k: launcher.meta[k] for k in ("title", "description", "icon") if k in launcher.meta})
            self.store.put_app(name, src, target, meta)
        item = await self._install_item(name, script)
        if item is None:
            return name, None
        path, item_params = item
        run = await self.runner.start(path, args={**item_params, **(params or {})}, answers=answers,
                                      interactive=interactive)
        return name, run

    async def _install_item(self, name: str, script: str | None) -> tuple[Path, dict[str, Any]] | None:
        folder = self.app_dir(name)
        if script:
            return self._script_path(folder, script)
        found = await self.default_item(name)
        if found is not None and found.get("kind") == "script":
            return Path(found["script"]), dict(found.get("params") or {})
        for candidate in _INSTALL_SCRIPTS:
            root = find_launcher_root(folder) or folder
            for base in (root, folder):
                if (base / candidate).is_file():
                    return base / candidate, {}
        return None

    async def remove(self, name: str) -> None:
        folder = self.app_dir(name)
        await self.stop(name)
        await asyncio.to_thread(shutil.rmtree, folder)
        self.store.delete_app(name)

    # ---- menus ----

    def _script_path(self, folder: Path, href: str) -> tuple[Path, dict[str, Any]]:
        rel, params = split_href(href)
        root = find_launcher_root(folder) or folder
        path = (root / rel).resolve()
        if not path.is_file():
            raise BadParamError(f"{href!r} is not a script of {folder.name} (looked for {path})")
        return path, params

    def _normalize(self, item: Any, root: Path) -> dict[str, Any] | None:
        if not isinstance(item, dict) or item.get("type") == "label":
            return None
        out = dict(item)
        if isinstance(item.get("menu"), list):
            out["menu"] = [n for n in (self._normalize(i, root) for i in item["menu"]) if n is not None]
        href = item.get("href")
        if isinstance(href, str) and href:
            params = {k: _stringify(v) for k, v in (item.get("params") or {}).items()} \
                if isinstance(item.get("params"), dict) else {}
            if re.match(r"^https?://", href):
                out["kind"] = "url"
            elif href.startswith("/"):
                out["kind"] = "route"
            else:
                rel, query = split_href(href)
                target = (root / rel).resolve()
                out["params"] = {**query, **params}
                if target.is_file() and target.suffix in (".js", ".json"):
                    out["kind"] = "script"
                    out["script"] = str(target)
                    out["running"] = self.runner.is_running(str(target))
                else:
                    out["kind"] = "file"
                    out["path"] = str(target)
        if not (out.get("html") or out.get("text")):
            return None
        if not any(out.get(k) for k in ("href", "shell", "run", "action", "menu", "html")):
            return None
        return out

    async def menu(self, name: str) -> dict[str, Any]:
        folder = self.app_dir(name)
        launcher = await load_launcher(self.runner.sidecar, folder, self.runner.context())
        items = [n for n in (self._normalize(i, launcher.root) for i in launcher.menu or []) if n is not None]
        return {"name": name, "root": str(launcher.root), "meta": launcher.meta, "menu": items}

    async def default_item(self, name: str) -> dict[str, Any] | None:
        """The first top-level ``default: true`` item (spec §1.6), unless PINOKIO_SCRIPT_DEFAULT=false."""
        folder = self.app_dir(name)
        env = merged_env(folder / "pinokio.js", self.home, self.runner.environ)
        if env.get("PINOKIO_SCRIPT_DEFAULT", "true").strip().lower() == "false":
            return None
        try:
            items = (await self.menu(name))["menu"]
        except LauncherNotFoundError:
            return None
        return next((i for i in items if i.get("default")), None)

    # ---- running ----

    async def run(self, name: str, script: str | None = None, *, params: dict[str, Any] | None = None,
                  answers: Any = None, interactive: bool = False) -> Run:
        """Run a script of the app (default: the menu's default item); params become `args` and the first input."""
        folder = self.app_dir(name)
        if script:
            path, query = self._script_path(folder, script)
        else:
            item = await self.default_item(name)
            if item is None or item.get("kind") != "script":
                what = f"its default item opens {item.get('href')}" if item else "its menu has no default item"
                raise BadParamError(f"{name} has nothing to run by default ({what}); name a script, "
                                    f"e.g. `pinokiocloud run {name} start.js`")
            path, query = Path(item["script"]), dict(item.get("params") or {})
        return await self.runner.start(path, args={**query, **(params or {})}, answers=answers,
                                       interactive=interactive)

    async def start(self, name: str) -> Run:
        """The menu's default item, unless a daemon script of the app is already up or coming up (then
        that run: once online, the default item is the web UI link, not a script)."""
        alive = [r for r in self.runs_of(name) if r.is_alive and r.daemon]
        if alive:
            return alive[-1]
        return await self.run(name)

    async def stop(self, name: str, script: str | None = None) -> list[Run]:
        folder = self.app_dir(name)
        targets = [r for r in self.runs_of(name) if r.is_alive]
        if script:
            path, _ = self._script_path(folder, script)
            targets = [r for r in targets if r.path == path]
        for run in targets:
            await self.runner.stop(run.id)
        return targets

    # ---- state ----

    def state(self, name: str) -> AppState:
        """One state per app, the same for ``ls``, ``status``, the dashboard and the API. ``online`` needs an
        idle daemon run with a live process; with no run in memory (a restarted daemon) the last recorded
        run decides, so a failed install still reads ``failed``."""
        runs = self.runs_of(name)
        alive = [r for r in runs if r.is_alive]
        if any(r.daemon and r.state is RunState.IDLE and self.runner.has_live_process(r) for r in alive):
            return AppState.ONLINE
        if any(r.daemon and r.state is not RunState.IDLE for r in alive):
            return AppState.STARTING
        if any(not r.daemon for r in alive):
            return AppState.INSTALLING
        if alive:  # an idle daemon whose processes have all ended serves nothing
            return AppState.CRASHED
        last_state = runs[-1].state.value if runs else None
        if last_state is None:
            records = self.store.runs(app=name, limit=1)
            last_state = records[0].state if records else None
        if last_state == RunState.FAILED.value:
            return AppState.FAILED
        if last_state in (RunState.CRASHED.value, "interrupted"):
            return AppState.CRASHED
        return AppState.OFFLINE

    def ready_url(self, name: str) -> str | None:
        """The first running script's ``local.url``, as the original's ``pterm status``: only a rendered
        http(s) URL (``{{input.event[1]}}`` left by a server that died early is no URL)."""
        for run in self.runs_of(name):
            if run.is_alive:
                url = self.runner.memory_local.get(run.id, {}).get("url")
                if isinstance(url, str) and _URL.fullmatch(url):
                    return url
        return None

    async def checked_state(self, name: str) -> AppState:
        """``state`` plus the one check that needs the network: an online app whose URL is known must
        answer on its port (a server that stopped listening is starting again, or hung: not online)."""
        state = self.state(name)
        url = self.ready_url(name) if state is AppState.ONLINE else None
        if url is not None and not await _port_answers(url):
            return AppState.STARTING
        return state

    async def status(self, name: str, *, usage: bool = True) -> dict[str, Any]:
        folder = self.app_dir(name)
        record = self.store.app(name)
        runs = self.runs_of(name)
        alive = [r for r in runs if r.is_alive]
        totals: dict[str, Any] = {"pids": [], "ports": [], "cpu_percent": 0.0, "rss_bytes": 0, "gpu_memory_mb": None}
        if usage:
            for run in alive:
                u = await self.runner.usage(run.id)
                totals["pids"] += u["pids"]
                totals["ports"] = sorted({*totals["ports"], *u["ports"]})
                totals["cpu_percent"] += u["cpu_percent"]
                totals["rss_bytes"] += u["rss_bytes"]
                if u["gpu_memory_mb"] is not None:
                    totals["gpu_memory_mb"] = (totals["gpu_memory_mb"] or 0) + u["gpu_memory_mb"]
        web_ui = await self._cached_web_ui(name, totals["ports"]) if usage and alive else None
        # a restarted daemon holds no run of the app in memory: its last recorded run still says what happened
        recorded = [] if runs else self.store.runs(app=name, limit=1)
        return {
            "name": name, "path": str(folder), "source": record.source if record else None,
            "state": (await self.checked_state(name)).value, "ready_url": self.ready_url(name),
            "web_ui": None if web_ui is None else {"url": web_ui.url, "kind": web_ui.kind, "source": web_ui.source,
                                                   "title": web_ui.title},
            "runs": [r.summary() for r in (alive or runs[-1:])] or [_recorded_summary(r) for r in recorded],
            "error": runs[-1].error if runs else (recorded[0].error if recorded else None),
            "autorestore": record.autorestore if record else True, "restart": self.restart_mode(name).value,
            **totals,
        }

    async def all_status(self) -> list[dict[str, Any]]:
        return [await self.status(n, usage=False) for n in self.names()]

    async def _cached_web_ui(self, name: str, ports: list[int]) -> WebUI | None:
        """Detection probes the server (up to a second): its answer is kept while the URL and ports stay."""
        key = (self.ready_url(name), tuple(ports))
        cached = self._web_uis.get(name)
        now = time.monotonic()
        if cached is not None and cached[0] == key and now - cached[1] < WEB_UI_CACHE_S:
            return cached[2]
        found = await self.web_ui(name, ports=ports)
        self._web_uis[name] = (key, now, found)
        return found

    async def web_ui(self, name: str, *, ports: list[int] | None = None) -> WebUI | None:
        """The app's web UI and what serves it (Gradio, ComfyUI, …), from ``local.url``, its output or the
        ports its processes listen on."""
        if ports is None:
            ports = []
            for run in (r for r in self.runs_of(name) if r.is_alive):
                ports += (await self.runner.usage(run.id))["ports"]
        return await detect_web_ui(local_url=self.ready_url(name), output="\n".join(self.logs(name, tail=300)),
                                   ports=ports)

    def logs(self, name: str, *, tail: int = 200) -> list[str]:
        """The last ``tail`` lines of the app's most recent run (a live one first), ANSI removed."""
        runs = self.runs_of(name)
        keys = [r.key for r in runs][-1:] or [r.key for r in self.store.runs(app=name, limit=1)]
        if not keys:
            self.app_dir(name)
            return []
        text = "".join(str((e["data"] or {}).get("raw", "")) for e in self._events(keys[0], types={"stream"}))
        lines = strip_ansi(text).splitlines()
        return lines[-tail:] if tail > 0 else lines

    def _events(self, key: str, *, types: set[str] | None = None) -> list[dict[str, Any]]:
        """A run's events: the ones not yet flushed are read from memory."""
        self._flush_now()
        return self.store.events(key, types=types)

    # ---- update and reinstall (issue 17; docs/guide.md "Update and reinstall") ----

    async def _git(self, folder: Path, *args: str, timeout_s: float = GIT_CLONE_TIMEOUT_S) -> str:
        """``git -C folder ARGS`` off the event loop; its output, or an InstallError with git's last line."""
        done = await run_captured(["git", "-C", str(folder), *args], timeout_s=timeout_s,
                                  env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        if done.timed_out:
            raise InstallError(f"`git {args[0]}` in {folder.name} took longer than {timeout_s:g} s; check the "
                               "network, then try again")
        if done.code != 0:
            raise InstallError(f"`git {args[0]}` failed in {folder.name}: {done.last_line or 'unknown error'}")
        return done.output.strip()

    def _idle_or_refuse(self, name: str, what: str) -> Path:
        folder = self.app_dir(name)
        if any(r.is_alive for r in self.runs_of(name)):
            raise BadParamError(f"{name} is running; stop it first (`pinokiocloud stop {name}`), then {what} it")
        return folder

    def _copy_source(self, name: str) -> Path | None:
        """The launcher folder an app was copied from (``install FOLDER``), when that is how it came."""
        record = self.store.app(name)
        if record is None or (record.meta or {}).get("kind") != "folder":
            return None
        source = Path(record.source)
        if not source.is_dir():
            raise InstallError(f"{name} was copied from {source}, which is no longer a folder; install it "
                               "again from where the launcher is now")
        return source

    async def update(self, name: str) -> dict[str, Any]:
        """Bring the launcher up to date, then run its own update script when it has one.

        A git install gets ``git pull --ff-only``; a launcher copied from a folder gets that folder's files
        copied over it again (nothing is deleted). The app must not be running. Returns ``{name, changed,
        before, after, run}``: ``run`` is the update script's run, ``None`` when the launcher has none.
        """
        async with self._install_lock:
            folder = self._idle_or_refuse(name, "update")
            source = self._copy_source(name)
            if source is not None:
                await asyncio.to_thread(shutil.copytree, source, folder, symlinks=True, dirs_exist_ok=True)
                before = after = None
                changed = True
            elif (folder / ".git").exists():
                before = await self._git(folder, "rev-parse", "HEAD")
                await self._git(folder, "pull", "--ff-only", "-q")
                after = await self._git(folder, "rev-parse", "HEAD")
                changed = before != after
            else:
                raise InstallError(f"{name} is neither a git checkout nor a copy of a folder PinokioCloud knows; "
                                   "there is nothing to update it from")
        self._web_uis.pop(name, None)
        root = find_launcher_root(folder) or folder
        script = next((root / s for s in ("update.js", "update.json") if (root / s).is_file()), None)
        run = await self.runner.start(script) if script is not None else None
        return {"name": name, "changed": changed, "before": before, "after": after,
                "run": run.summary() if run is not None else None}

    async def reinstall(self, name: str) -> dict[str, Any]:
        """Put the launcher folder back as it was right after install, then run the install flow again.

        Everything the install made inside the app's folder goes (its venvs, the cloned app, models saved
        there); shared caches under ``PINOKIO_HOME/cache`` stay. A git install: ``git reset --hard`` and
        ``git clean -ffdx`` (no network needed). A copied folder: a fresh copy of the source replaces it
        (made next to it first, so a failed copy leaves the app as it was). Returns ``{name, run}``.
        """
        async with self._install_lock:
            folder = self._idle_or_refuse(name, "reinstall")
            source = self._copy_source(name)
            if source is not None:
                fresh = folder.with_name(f".{name}.reinstall")
                await asyncio.to_thread(shutil.rmtree, fresh, ignore_errors=True)
                try:
                    await asyncio.to_thread(shutil.copytree, source, fresh, symlinks=True)
                except OSError as exc:
                    await asyncio.to_thread(shutil.rmtree, fresh, ignore_errors=True)
                    raise InstallError(f"could not copy {source} again: {exc}") from exc
                await asyncio.to_thread(shutil.rmtree, folder)
                await asyncio.to_thread(fresh.rename, folder)
            elif (folder / ".git").exists():
                await self._git(folder, "reset", "--hard", "-q", "HEAD")
                await self._git(folder, "clean", "-ffdxq")
            else:
                raise InstallError(f"{name} is neither a git checkout nor a copy of a folder PinokioCloud knows; "
                                   "install it again with `pinokiocloud rm` and `pinokiocloud install`")
        self._web_uis.pop(name, None)
        item = await self._install_item(name, None)
        run = await self.runner.start(item[0], args=item[1]) if item is not None else None
        return {"name": name, "run": run.summary() if run is not None else None}

    async def reload_catalog(self) -> Any:
        """Read the catalog again (bundled + ``PINOKIO_HOME/catalog.json``), so a user file edited while the
        daemon runs counts without a restart. Returns the new catalog."""
        from pinokiocloud.apps.catalog import load_catalog

        self.catalog = await asyncio.to_thread(load_catalog, self.home)
        return self.catalog

    # ---- session survival (issue 16): put back an app the registry knows but this home lacks ----

    async def restore_install(self, name: str) -> Run | None:
        """Bring a registered app's launcher back from its recorded source (git URL, catalog entry or folder)
        and start its install flow; the fallback when its environment archive cannot be used. Returns the
        install run (None: the launcher has no install script)."""
        record = self.store.app(name)
        if record is None:
            raise AppNotFoundError(name)
        async with self._install_lock:
            target = self.home / "api" / name
            if target.exists():
                raise AppExistsError(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            kind, location = self._source(record.source)
            if kind == "folder":
                await asyncio.to_thread(shutil.copytree, location, target, symlinks=True)
            else:
                await self._clone(location, target)
            self.store.put_app(name, record.source, target, record.meta)
        item = await self._install_item(name, None)
        if item is None:
            return None
        return await self.runner.start(item[0], args=item[1])

    async def start_interrupted(self, name: str, records: list[RunRecord]) -> int:
        """Start again the daemon scripts of ``name`` among ``records`` (runs that were alive when the last
        machine's state was backed up), when autorestore allows it; how many were started."""
        app = self.store.app(name)
        if app is None or not app.autorestore or not self.store.setting("autorestore", True):
            return 0
        started = 0
        for record in reversed(records):  # oldest first, as they were started
            if record.app != name or not record.daemon or not Path(record.path).is_file():
                continue
            await self.runner.start(Path(record.path), args=record.args, uri=record.uri, action=record.action)
            started += 1
        return started
