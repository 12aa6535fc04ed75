"""Session survival for one daemon: the persistent root, the blob store downloads go through, state backups,
an environment archive after each successful install or update, and the restore of a fresh home.

The daemon builds one :class:`Persistence` before it opens its state file (so a fresh home gets the backup),
binds it to its runner and app manager, opens it after the apps and closes it before stopping them (the last
backup records what was running, so a new machine starts it again). The runner and the app manager are seen
through small protocols: this module stays in the store layer and imports nothing above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pinokiocloud.config import Settings
from pinokiocloud.errors import StoreError
from pinokiocloud.platform.cloud import detect_cloud, persistent_root
from pinokiocloud.store.appdata import MODEL_SETTLE_S, backup_drive_registry, sync_app_data
from pinokiocloud.store.backup import StateBackup
from pinokiocloud.store.blobs import BlobStore, install_blobs
from pinokiocloud.store.db import RunRecord, Store
from pinokiocloud.store.envarchive import archive_paths, save_archive
from pinokiocloud.store.restore import AppRestorer, RestoredState, archive_setting
from pinokiocloud.store.restore import restore_state as _restore_state
from pinokiocloud.store.root import RootChoice, check_root

if TYPE_CHECKING:
    from pinokiocloud.store.early import EarlyRestore

__all__ = ["Persistence", "choose_root", "describe_root", "restore_state"]

log = logging.getLogger(__name__)

_ALIVE_STATES = ("starting", "running", "idle")
_ARCHIVED_SCRIPTS = frozenset({"install", "update"})
"""A run of one of these scripts (``install.js``, ``update.json`` …) that ends ``done`` refreshes the archive."""
APPDATA_SYNC_S = 60.0
"""How often the files apps make (outputs, configs, models) are kept on the persistent root; once more on ``down``."""

Manifest = dict[str, object]
"""An environment archive's manifest (``envarchive.save_archive``), or ``{"error": sentence}``."""


class _Event(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def data(self) -> object: ...
    @property
    def attempt(self) -> str: ...


class _Run(Protocol):
    @property
    def path(self) -> Path: ...


class _Runner(Protocol):
    """The kernel's runner, seen from the store layer. Its event log and runs are kernel types (``EventLog``,
    ``Run``) this layer may not import; their shape is read through ``_Event``/``_Run`` where used."""

    events: Any  # EventLog: subscribe(None) -> asyncio.Queue[RunEvent], unsubscribe(queue)
    by_key: Any  # dict[str, Run]

    async def wait(self, run: Any) -> object: ...


class _Apps(Protocol):
    def app_of(self, path: Path) -> str | None: ...
    def names(self) -> list[str]: ...
    async def restore_install(self, name: str) -> object: ...
    async def start_interrupted(self, name: str, records: list[RunRecord]) -> int: ...


def choose_root(settings: Settings, setting: str | None = None) -> RootChoice:
    """``PINOKIOCLOUD_PERSIST``, else the ``persist`` setting, else the platform's obvious volume; checked."""
    if settings.persist is not None:
        return check_root(settings.persist, "PINOKIOCLOUD_PERSIST")
    if setting:
        return check_root(Path(setting).expanduser(), "setting")
    cloud = detect_cloud(settings.environ, override=settings.cloud_platform)
    path, why = persistent_root(cloud)
    if path is None:
        return RootChoice(None, "none", why if cloud.persist.path is not None else None)
    choice = check_root(path, "platform", must_exist=False)
    if choice.in_use:
        log.info("persistent root: %s (%s)", path, why)
    return choice


def restore_state(home: Path, root: RootChoice) -> RestoredState:
    """The backup of the state into a home that has none (see ``store.restore``)."""
    if root.path is None:
        return RestoredState(False, None)
    state = _restore_state(home / "pinokiocloud.db", root.path, home=home)
    if state.notice:
        (log.info if state.restored else log.warning)("%s", state.notice)
    return state


@dataclass
class _Pending:
    name: str
    state_id: str


class Persistence:
    def __init__(self, settings: Settings, store: Store, root: RootChoice, restored: RestoredState, *,
                 early: EarlyRestore | None = None) -> None:
        self.settings = settings
        self.early = early
        """What ``serve`` began restoring before the daemon loaded (``store.early``)."""
        self.store = store
        self.home = settings.home
        if root.path is None and (wanted := store.setting("persist")):
            root = choose_root(settings, str(wanted))
        self.root = root
        self.restored = restored
        self.blobs = BlobStore(root.path or self.home, persistent=root.in_use)
        install_blobs(self.home, self.blobs)
        self.backup = StateBackup(store, root.path, home=self.home) if root.path is not None else None
        self.restorer: AppRestorer | None = None
        self.notices: list[str] = [n for n in (root.reason, restored.notice) if n]
        self.archives: dict[str, Manifest] = {}
        """The last archive made per app in this session (manifest), or its error."""
        self.sync_error: str | None = None
        """Why the last keeping of apps' files on the root failed (one sentence), or None."""
        self._runner: _Runner | None = None
        self._apps: _Apps | None = None
        self._alive: list[RunRecord] = []
        self._tasks: list[asyncio.Task[object]] = []
        self._queue: asyncio.Queue[_Event] | None = None
        """The runner's event queue (of ``RunEvent``s, read as ``_Event``)."""
        self._archive_lock = asyncio.Lock()
        if restored.restored:
            self._write_hf_token()

    def bind(self, runner: _Runner, apps: _Apps) -> None:
        self._runner, self._apps = runner, apps

    @property
    def in_use(self) -> bool:
        return self.root.in_use

    def _write_hf_token(self) -> None:
        """A restored ``hf_token`` setting is written where app shells read it, as the settings route does."""
        token = self.store.setting("hf_token")
        if not isinstance(token, str) or not token:
            return
        path = self.home / "cache" / "HF_AUTH" / "token"
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(token)

    def note_alive_runs(self) -> None:
        """Remember what the state says was running before the app manager marks it interrupted: apps
        restored from the root start these again."""
        self._alive = self.store.runs(states=_ALIVE_STATES, limit=10_000)

    def open(self) -> None:
        """Start backups, the archive watcher and, with apps to put back, the restore."""
        assert self._runner is not None and self._apps is not None
        if self.backup is not None:
            self.backup.start()
        if self.root.path is None:
            return
        self._queue = self._runner.events.subscribe(None)
        self._tasks.append(asyncio.create_task(self._watch(), name="environment archives"))
        self.restorer = AppRestorer(self.store, self.blobs, self.root.path, self.home, self._install,
                                    self._start_runs,
                                    allow_python_download=self.settings.environ.get("UV_PYTHON_DOWNLOADS") != "never",
                                    early=self.early)
        self.restorer.prepare()
        self._tasks.append(asyncio.create_task(self.restorer.run(), name="restore apps"))
        self._tasks.append(asyncio.create_task(self._sync_loop(), name="keep apps' files"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.early is not None:
            await asyncio.to_thread(self.early.close)
        if self._queue is not None and self._runner is not None:
            self._runner.events.unsubscribe(self._queue)
            self._queue = None
        if self.root.path is not None and self._apps is not None:
            await self.sync_files()  # what the apps made since the last sync, before this machine ends
        if self.backup is not None:
            await self.backup.close()
        install_blobs(self.home, None)

    # ---- the files apps make: models, outputs, configs (store.appdata) ----

    def _syncable(self) -> list[str]:
        """Apps whose folder is here and whole (not being restored or installed by the restore)."""
        busy = {n for n, a in (self.restorer.apps.items() if self.restorer else ()) if a.state in
                ("waiting", "extracting", "installing")}
        names = self._apps.names() if self._apps is not None else []
        return [n for n in names if n not in busy and (self.home / "api" / n).is_dir()]

    def _sync_now(self, names: list[str]) -> None:
        assert self.root.path is not None
        root = self.root.path
        for name in names:
            archived = self.archives.get(name, {}).get("created")
            try:
                manifest = json.loads((root / "envs" / f"{name}.json").read_text()) if archived is None else {}
            except (OSError, ValueError):
                manifest = {}
            after = float(archived if isinstance(archived, int | float) else manifest.get("created") or 0.0)
            result = sync_app_data(self.home / "api" / name, root, name, self.blobs, home=self.home,
                                   settings_after=after)
            if result.copied or result.adopted:
                log.info("kept %s's files: %d copied (%d bytes), %d model file(s) into the store (%d bytes)", name,
                         result.copied, result.copied_bytes, result.adopted, result.adopted_bytes)
        drives = self.home / "drive" / "drives"
        if drives.is_dir():
            self.blobs.adopt_tree(drives, "drive://", home=self.home, settle_s=MODEL_SETTLE_S)
        backup_drive_registry(self.home, root)

    async def sync_files(self, names: list[str] | None = None) -> bool:
        """Keep the apps' own files on the root now (off the loop); False, with ``sync_error`` set, on failure."""
        if self.root.path is None:
            return False
        try:
            await asyncio.to_thread(self._sync_now, self._syncable() if names is None else names)
        except (OSError, StoreError) as exc:
            if str(exc) != self.sync_error:
                log.warning("%s", exc)
            self.sync_error = str(exc)
            return False
        self.sync_error = None
        return True

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(APPDATA_SYNC_S)
            await self.sync_files()

    # ---- restore callbacks ----

    async def _install(self, name: str) -> bool:
        """The launcher's install flow (the restore's fallback); True when it ended ``done``."""
        assert self._apps is not None and self._runner is not None
        run = await self._apps.restore_install(name)
        if run is None:
            return False
        await self._runner.wait(run)
        state = getattr(run, "state", None)
        return state is not None and str(getattr(state, "value", state)) == "done"

    async def _start_runs(self, name: str) -> int:
        assert self._apps is not None
        return await self._apps.start_interrupted(name, [r for r in self._alive if r.app == name])

    # ---- archives ----

    async def _watch(self) -> None:
        assert self._queue is not None and self._runner is not None and self._apps is not None
        while True:
            event = await self._queue.get()
            if event.type != "state" or not isinstance(event.data, dict):
                continue
            run: _Run | None = self._runner.by_key.get(event.attempt)
            if run is None or Path(run.path).stem not in _ARCHIVED_SCRIPTS:
                continue
            name = self._apps.app_of(Path(run.path))
            if name is None:
                continue
            state = event.data.get("state")
            if state == "running":  # an install or update began: the archive no longer matches the app
                self.store.put_setting(archive_setting(name), None)
            elif state == "done":
                self._tasks.append(asyncio.create_task(self.archive(name), name=f"archive {name}"))

    async def archive(self, name: str) -> Manifest:
        """Save ``name``'s archive now (after a successful install or update); the manifest, or ``error``.
        The app's model files go into the blob store first, so the archive leaves them out."""
        if self.root.path is None:
            return {"error": "no persistent root"}
        root = self.root.path
        async with self._archive_lock:
            app_dir = self.home / "api" / name
            state_id = uuid.uuid4().hex
            await self.sync_files([name])
            exclude = [rel for rel, _ in await asyncio.to_thread(self.blobs.uses_of_app, name)]
            try:
                manifest = await asyncio.to_thread(save_archive, app_dir, root, name, exclude=exclude,
                                                   state_id=state_id)
            except OSError as exc:
                reason = "the persistent root is full" if exc.errno == 28 else str(exc.strerror or exc)
                message = (f"the environment of {name} could not be archived ({reason}); a new machine installs it "
                           "again instead")
                result: Manifest = {"error": message}
                log.warning("%s", message)
                self.archives[name] = result
                return result
            self.store.put_setting(archive_setting(name), state_id)
            self.archives[name] = manifest
            log.info("archived %s: %d files, %d bytes in %.1f s", name, manifest["files"], manifest["size"],
                     manifest["seconds"])
            return manifest

    # ---- what the API shows ----

    def info(self) -> dict[str, object]:
        """The root, its free space, what it holds, and the restore's progress (the ``/api/store`` answer)."""
        root = self.root
        archives: dict[str, dict[str, object]] = {}
        data: dict[str, object] = {
            "persist_in_use": root.in_use, "root": str(root.path) if root.path else None,
            "wanted": str(root.wanted) if root.wanted else None, "source": root.source, "reason": root.reason,
            "store": str(self.blobs.folder), "notices": list(self.notices),
            "backup": None, "archives": archives, "restore": {}, "sync_error": self.sync_error,
        }
        if root.path is not None:
            with contextlib.suppress(OSError):
                data["free_bytes"] = shutil.disk_usage(root.path).free
            if self.backup is not None:
                data["backup"] = {"path": str(self.backup.state_dir), "last_at": self.backup.last_at,
                                  "error": self.backup.last_error}
            for name in sorted(set(self._apps.names() if self._apps else []) | set(self.archives)):
                archive, _ = archive_paths(root.path, name)
                archives[name] = {"path": str(archive), "bytes": archive.stat().st_size
                                          if archive.is_file() else None,
                                          "current": bool(self.store.setting(archive_setting(name)))}
        if self.restorer is not None:
            data["restore"] = {n: a.to_json() for n, a in self.restorer.apps.items()}
        return data


def describe_root(settings: Settings) -> dict[str, object]:
    """What ``doctor`` says of the persistent root, without creating or writing anything: where it is and why,
    its free space, and what it holds (model files, the state backup, app archives)."""
    setting = None
    state = settings.home / "pinokiocloud.db"
    with contextlib.suppress(sqlite3.Error, ValueError, TypeError):  # the daemon's file, read-only, one setting
        if state.is_file():
            db = sqlite3.connect(f"{state.as_uri()}?mode=ro", uri=True)
            try:
                row = db.execute("SELECT value FROM settings WHERE key='persist'").fetchone()
            finally:
                db.close()
            setting = json.loads(row[0]) if row else None
    if settings.persist is not None:
        path: Path | None = settings.persist
        why = "PINOKIOCLOUD_PERSIST"
    elif setting:
        path, why = Path(str(setting)).expanduser(), "the persist setting"
    else:
        path, why = persistent_root(detect_cloud(settings.environ, override=settings.cloud_platform))
    data: dict[str, object] = {"path": str(path) if path else None, "why": why,
                               "exists": bool(path and path.is_dir()), "free_bytes": None, "blobs": 0,
                               "blob_bytes": 0, "backup_at": None, "archives": {}}
    if path is None or not path.is_dir():
        return data
    with contextlib.suppress(OSError):
        data["free_bytes"] = shutil.disk_usage(path).free
    blobs = blob_bytes = 0
    blobs_dir = path / "store" / "blobs"
    if blobs_dir.is_dir():
        for sub in blobs_dir.iterdir():
            for blob in sub.iterdir() if sub.is_dir() else ():
                with contextlib.suppress(OSError):
                    blob_bytes += blob.stat().st_size
                    blobs += 1
    data["blobs"], data["blob_bytes"] = blobs, blob_bytes
    backup = path / "state" / "pinokiocloud.db"
    if backup.is_file():
        data["backup_at"] = backup.stat().st_mtime
    envs = path / "envs"
    if envs.is_dir():
        data["archives"] = {a.name.removesuffix(".tar.zst"): a.stat().st_size for a in sorted(envs.glob("*.tar.zst"))}
    return data
