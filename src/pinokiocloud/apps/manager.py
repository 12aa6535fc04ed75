"""Apps: launchers installed under ``PINOKIO_HOME/api/<name>``, their menus, runs and states (DESIGN §7).

``AppManager`` is the front door the routes, the share service and persistence call. It turns "install
this", "start it", "is it up?" into runs of the launcher's scripts and leaves each job to its module:
``sources`` (what an install source is), ``install`` (clone, copy, update, reset), ``menus`` (menu items
made uniform), ``run_events`` (events saved to the store), ``status`` and ``sampler`` (one state per app,
sampled in the background), ``webui`` (what serves an app's UI) and ``orphans`` (processes a dead
daemon left). After a daemon restart it marks what was alive as interrupted and starts the daemon
scripts again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from pinokiocloud.apps import install as files
from pinokiocloud.apps.catalog import Catalog
from pinokiocloud.apps.menus import MenuItem, Params, normalize_item, script_path
from pinokiocloud.apps.orphans import reap_orphans
from pinokiocloud.apps.run_events import EventSink
from pinokiocloud.apps.sampler import StatusSampler
from pinokiocloud.apps.search import SearchItem, rank
from pinokiocloud.apps.sources import INSTALL_SCRIPTS, check_name, default_name, has_launcher, resolve_source
from pinokiocloud.apps.status import AppState, AppStatus
from pinokiocloud.apps.status import ready_url as _ready_url
from pinokiocloud.apps.webui import WebUICache
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
from pinokiocloud.kernel.launcher import find_launcher_root
from pinokiocloud.kernel.runner import ALIVE, Run, Runner
from pinokiocloud.procs.restart import RestartMode
from pinokiocloud.procs.text import strip_ansi
from pinokiocloud.share.detect import WebUI, detect_web_ui
from pinokiocloud.store import RunRecord, Store

__all__ = ["AppExistsError", "AppManager", "AppNotFoundError", "AppState", "AppStatus", "InstallError",
           "parse_restart_mode"]

log = logging.getLogger(__name__)

JSONObject = dict[str, object]
Answers = Sequence[Mapping[str, object]] | Mapping[str, object] | None
"""Answers to a script's prompts: a list in order, or one set reused for every prompt."""


def _answers(given: Answers) -> list[dict[str, object]] | dict[str, object] | None:
    if given is None:
        return None
    if isinstance(given, Mapping):
        return dict(given)
    return [dict(a) for a in given]


def parse_restart_mode(text: str) -> RestartMode:
    """``no`` / ``on-failure`` (``never`` and ``off`` are read as ``no``), or a one-sentence error."""
    value = text.strip().lower()
    value = RestartMode.NO.value if value in ("never", "off", "none", "false") else value
    try:
        return RestartMode(value)
    except ValueError:
        raise BadParamError(f"restart must be 'no' or 'on-failure', got {text!r}") from None


class AppManager:
    def __init__(self, runner: Runner, store: Store, *, catalog: Catalog | None = None) -> None:
        self.runner = runner
        self.store = store
        self.home = runner.home
        self.catalog = catalog
        self._install_lock = asyncio.Lock()
        self._app_of: dict[Path, str | None] = {}
        self.events = EventSink(runner, store, self.app_of)
        self.web_uis = WebUICache()
        self.sampler = StatusSampler(runner, store, self.home, names=self.names, app_of=self.app_of,
                                     restart_mode=lambda name: self.restart_mode(name).value,
                                     output=self._recent_output, web_uis=self.web_uis)
        """Started and stopped by the daemon (``Daemon.open``/``close``); without it every read checks afresh."""

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
        for app in [name] if name is not None else self.names():
            self.sampler.touch(app)

    def set_autorestore(self, name: str, on: bool) -> None:
        """Whether the app's daemon scripts start again after a daemon restart (recorded for a launcher
        put in ``api/`` by hand first)."""
        folder = self.app_dir(name)
        if self.store.app(name) is None:
            self.store.put_app(name, str(folder), folder, {"kind": "folder"})
        self.store.set_autorestore(name, on)
        self.sampler.touch(name)

    def _apply_restart_policies(self) -> None:
        self.runner.restart_policy = dataclasses.replace(self.runner.restart_policy, mode=self.restart_mode())
        self.runner.app_restart = {
            name: dataclasses.replace(self.runner.restart_policy, mode=self.restart_mode(name))
            for name in self.names() if self.store.setting(f"restart:{name}")}

    # ---- lifecycle ----

    async def open(self) -> list[Run]:
        """Load `global` memory, mark runs a dead daemon left alive as interrupted, restart daemon
        scripts of apps that allow it, and start persisting."""
        self._apply_restart_policies()
        reaped = await asyncio.to_thread(reap_orphans, self.home)
        if reaped:
            log.warning("stopped %d process(es) a previous daemon left running", reaped)
        self.runner.memory_global.update(self.store.memory("global"))
        # events the log no longer holds in memory are read back from the store, under the same numbers
        self.events.open()
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
        await self.sampler.stop()
        await self.runner.close()
        await self.events.close()

    # ---- lookups ----

    def app_dir(self, name: str) -> Path:
        check_name(name)
        folder = self.home / "api" / name
        if not folder.is_dir():
            raise AppNotFoundError(name)
        return folder

    def app_of(self, path: Path) -> str | None:
        """The app a script belongs to (its first folder under ``api/``), or ``None``."""
        if path not in self._app_of:
            try:
                rel = path.resolve().relative_to((self.home / "api").resolve())
            except ValueError:
                rel = None
            self._app_of[path] = rel.parts[0] if rel is not None and rel.parts else None
        return self._app_of[path]

    def names(self) -> list[str]:
        """Installed apps: folders under ``api/`` that hold a launcher (reads the disk)."""
        api = self.home / "api"
        return sorted(p.name for p in api.iterdir() if p.is_dir() and find_launcher_root(p)) if api.is_dir() else []

    def runs_of(self, name: str) -> list[Run]:
        return sorted((r for r in self.runner.runs.values() if self.app_of(r.path) == name),
                      key=lambda r: r.started_at)

    # ---- search ----

    def search(self, query: str) -> list[JSONObject]:
        """Installed apps and catalog entries ranked by matched terms (installed first on ties)."""
        installed = []
        for name in self.names():
            meta = self._meta(name)
            tags = meta.get("tags")
            installed.append(SearchItem(id=name, title=str(meta.get("title") or name),
                                        description=str(meta.get("description") or ""),
                                        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
                                        source="installed"))
        items = installed + (self.catalog.search_items() if self.catalog is not None else [])
        return [{"id": h.item.id, "title": h.item.title, "description": h.item.description,
                 "tags": list(h.item.tags), "source": h.item.source, "score": h.score, "matched": list(h.matched)}
                for h in rank(query, items)]

    def _meta(self, name: str) -> JSONObject:
        """pinokio.json / pinokio_meta.json of an installed app (no JavaScript needed for search)."""
        root = find_launcher_root(self.home / "api" / name) or self.home / "api" / name
        merged: JSONObject = {}
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

    # ---- install and remove ----

    @staticmethod
    def default_name(location: str) -> str:
        """The last part of a URL or path, cut to a valid app name."""
        return default_name(location)

    async def install(self, src: str, *, name: str | None = None, script: str | None = None,
                      params: Mapping[str, object] | None = None, answers: Answers = None,
                      interactive: bool = False) -> tuple[str, Run | None]:
        """Put the launcher in place, then start its install flow. Returns (name, install run)."""
        source = resolve_source(src, self.home, self.catalog)
        name = check_name(name or (src if source.kind == "catalog" else default_name(source.location)))
        async with self._install_lock:
            target = self.home / "api" / name
            if target.exists():
                raise AppExistsError(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            await files.fetch(source, target)
            if not has_launcher(target):
                await asyncio.to_thread(shutil.rmtree, target, ignore_errors=True)
                raise InstallError(f"{src} is not a Pinokio launcher: it has no pinokio.js and no install script")
            meta: JSONObject = {"kind": source.kind}
            try:
                launcher = await load_launcher(self.runner.sidecar, target, self.runner.context())
                meta.update({k: launcher.meta[k] for k in ("title", "description", "icon") if k in launcher.meta})
            except PinokioCloudError:
                pass  # a launcher whose pinokio.js fails to load still installs; its menu says why later
            self.store.put_app(name, src, target, meta)
        self.sampler.touch(None)
        item = await self._install_item(name, script)
        if item is None:
            return name, None
        path, item_params = item
        run = await self.runner.start(path, args={**item_params, **(params or {})}, answers=_answers(answers),
                                      interactive=interactive)
        return name, run

    async def _install_item(self, name: str, script: str | None) -> tuple[Path, Params] | None:
        folder = self.app_dir(name)
        if script:
            return script_path(folder, script)
        found = await self.default_item(name)
        if found is not None and found.get("kind") == "script":
            given = found.get("params")
            return Path(str(found["script"])), dict(given) if isinstance(given, dict) else {}
        for candidate in INSTALL_SCRIPTS:
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
        self.web_uis.forget(name)
        self.sampler.touch(None)

    # ---- menus ----

    async def menu(self, name: str) -> JSONObject:
        folder = self.app_dir(name)
        launcher = await load_launcher(self.runner.sidecar, folder, self.runner.context())
        items = [n for n in (normalize_item(i, launcher.root, self.runner.is_running) for i in launcher.menu or [])
                 if n is not None]
        return {"name": name, "root": str(launcher.root), "meta": launcher.meta, "menu": items}

    async def default_item(self, name: str) -> MenuItem | None:
        """The first top-level ``default: true`` item (spec §1.6), unless PINOKIO_SCRIPT_DEFAULT=false."""
        folder = self.app_dir(name)
        env = merged_env(folder / "pinokio.js", self.home, self.runner.environ)
        if env.get("PINOKIO_SCRIPT_DEFAULT", "true").strip().lower() == "false":
            return None
        try:
            items = (await self.menu(name))["menu"]
        except LauncherNotFoundError:
            return None
        listed = items if isinstance(items, list) else []
        return next((i for i in listed if isinstance(i, dict) and i.get("default")), None)

    # ---- running ----

    async def run(self, name: str, script: str | None = None, *, params: Mapping[str, object] | None = None,
                  answers: Answers = None, interactive: bool = False) -> Run:
        """Run a script of the app (default: the menu's default item); params become `args` and the first input."""
        folder = self.app_dir(name)
        if script:
            path, query = script_path(folder, script)
        else:
            item = await self.default_item(name)
            if item is None or item.get("kind") != "script":
                what = f"its default item opens {item.get('href')}" if item else "its menu has no default item"
                raise BadParamError(f"{name} has nothing to run by default ({what}); name a script, "
                                    f"e.g. `pinokiocloud run {name} start.js`")
            given = item.get("params")
            path, query = Path(str(item["script"])), dict(given) if isinstance(given, dict) else {}
        return await self.runner.start(path, args={**query, **(params or {})}, answers=_answers(answers),
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
            path, _ = script_path(folder, script)
            targets = [r for r in targets if r.path == path]
        for run in targets:
            await self.runner.stop(run.id)
        return targets

    # ---- status (read from the sampler: see apps/sampler.py for why a read is current) ----

    def ready_url(self, name: str) -> str | None:
        """The first running script's rendered ``local.url`` (see ``status.ready_url``)."""
        return _ready_url(self.runs_of(name), self.runner.memory_local)

    async def app_status(self, name: str) -> AppStatus:
        """One app's current status, its settings read now (a route may have just changed them)."""
        self.app_dir(name)
        status = await self.sampler.read(name)
        record = await asyncio.to_thread(self.store.app, name)
        restart = await asyncio.to_thread(self.restart_mode, name)
        fresh = dataclasses.replace(status, source=record.source if record else None,
                                    autorestore=record.autorestore if record else True, restart=restart.value)
        if fresh != status:  # changed in the store behind our back: the list reads it again too
            self.sampler.touch(name)
        return fresh

    async def status(self, name: str, *, usage: bool = True) -> JSONObject:
        """``app_status`` as JSON. ``usage`` is accepted for older callers: usage is sampled in the
        background now and is always included."""
        return (await self.app_status(name)).to_json()

    async def all_status(self) -> list[JSONObject]:
        """Every installed app's status as JSON (``GET /api/apps``)."""
        return [s.to_json() for s in await self.sampler.read_all()]

    async def web_ui(self, name: str, *, ports: list[int] | None = None) -> WebUI | None:
        """The app's web UI and what serves it (Gradio, ComfyUI, …), from ``local.url``, its output or the
        ports its processes listen on; probed now."""
        if ports is None:
            ports = []
            for run in (r for r in self.runs_of(name) if r.is_alive):
                ports += (await self.runner.usage(run.id))["ports"]
        return await detect_web_ui(local_url=self.ready_url(name), output=await self._recent_output(name),
                                   ports=ports)

    def _last_run_key(self, name: str) -> str | None:
        keys = [r.key for r in self.runs_of(name)][-1:] or [r.key for r in self.store.runs(app=name, limit=1)]
        return keys[0] if keys else None

    def logs(self, name: str, *, tail: int = 200) -> list[str]:
        """The last ``tail`` lines of the app's most recent run (a live one first), ANSI removed."""
        key = self._last_run_key(name)
        if key is None:
            self.app_dir(name)
            return []
        return _tail(self.events.stored_events(key, types={"stream"}), tail)

    async def _recent_output(self, name: str) -> str:
        """The last 300 lines of the app's output, read from the store off the loop (web-UI detection)."""
        key = self._last_run_key(name)
        if key is None:
            return ""
        self.events.flush()
        rows = await asyncio.to_thread(self.store.events, key, types={"stream"})
        return "\n".join(_tail(rows, 300))

    # ---- update and reinstall (issue 17; docs/guide.md "Update and reinstall") ----

    def _idle_or_refuse(self, name: str, what: str) -> Path:
        folder = self.app_dir(name)
        if any(r.is_alive for r in self.runs_of(name)):
            raise BadParamError(f"{name} is running; stop it first (`pinokiocloud stop {name}`), then {what} it")
        return folder

    async def update(self, name: str) -> JSONObject:
        """Bring the launcher up to date, then run its own update script when it has one.

        A git install gets ``git pull --ff-only``; a launcher copied from a folder gets that folder's files
        copied over it again (nothing is deleted). The app must not be running. Returns ``{name, changed,
        before, after, run}``: ``run`` is the update script's run, ``None`` when the launcher has none.
        """
        async with self._install_lock:
            folder = self._idle_or_refuse(name, "update")
            before, after, changed = await files.refresh(name, folder, files.copied_from(name, self.store.app(name)))
        self.web_uis.forget(name)
        self.sampler.touch(name)
        root = find_launcher_root(folder) or folder
        script = next((root / s for s in ("update.js", "update.json") if (root / s).is_file()), None)
        run = await self.runner.start(script) if script is not None else None
        return {"name": name, "changed": changed, "before": before, "after": after,
                "run": run.summary() if run is not None else None}

    async def reinstall(self, name: str) -> JSONObject:
        """Put the launcher folder back as it was right after install, then run the install flow again.

        Everything the install made inside the app's folder goes (its venvs, the cloned app, models saved
        there); shared caches under ``PINOKIO_HOME/cache`` stay. Returns ``{name, run}``.
        """
        async with self._install_lock:
            folder = self._idle_or_refuse(name, "reinstall")
            await files.reset(name, folder, files.copied_from(name, self.store.app(name)))
        self.web_uis.forget(name)
        self.sampler.touch(name)
        item = await self._install_item(name, None)
        run = await self.runner.start(item[0], args=item[1]) if item is not None else None
        return {"name": name, "run": run.summary() if run is not None else None}

    async def reload_catalog(self) -> Catalog:
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
            await files.fetch(resolve_source(record.source, self.home, self.catalog), target)
            self.store.put_app(name, record.source, target, record.meta)
        self.sampler.touch(None)
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


def _tail(rows: list[dict[str, object]], tail: int) -> list[str]:
    """The last ``tail`` lines (all: 0) of stored ``stream`` events, ANSI removed."""
    parts = []
    for row in rows:
        data = row.get("data")
        parts.append(str(data.get("raw", "")) if isinstance(data, dict) else "")
    lines = strip_ansi("".join(parts)).splitlines()
    return lines[-tail:] if tail > 0 else lines
