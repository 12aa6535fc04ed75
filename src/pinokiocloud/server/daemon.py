"""Everything one daemon owns, opened and closed together: the home's lock, sidecar, store, runner, apps, token."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import subprocess
import tarfile
from pathlib import Path

import zstandard

from pinokiocloud.apps import AppManager
from pinokiocloud.apps.catalog import Catalog, load_catalog
from pinokiocloud.config import Settings
from pinokiocloud.downloads import DownloadQueue, install, uninstall
from pinokiocloud.errors import PinokioCloudError
from pinokiocloud.home_lock import HomeLock
from pinokiocloud.kernel import NodeSidecar
from pinokiocloud.kernel.node_packages import keep_node_packages
from pinokiocloud.kernel.runner import RestartPolicy, Runner
from pinokiocloud.platform import detect_system
from pinokiocloud.server.shares import ShareService
from pinokiocloud.server.ui_service import UiService
from pinokiocloud.share import load_probes
from pinokiocloud.store import persist
from pinokiocloud.store.early import EarlyRestore
from pinokiocloud.store.recover import open_store

__all__ = ["Daemon", "read_or_create_token"]

log = logging.getLogger(__name__)


def read_or_create_token(path: Path) -> str:
    """The API token: kept across restarts so clients keep working; created with mode 0600."""
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return token


class Daemon:
    """One PINOKIO_HOME's owner. Its first act is to take the home's lock (``serve`` takes it earlier still and
    passes it in): nothing below, orphan reaping included, may run for a home another daemon owns."""

    def __init__(self, settings: Settings, *, restart_policy: RestartPolicy | None = None,
                 catalog: Catalog | None = None, lock: HomeLock | None = None,
                 early: EarlyRestore | None = None, node: subprocess.Popen[bytes] | None = None) -> None:
        """``early``: the restore ``serve`` began before loading the daemon (its root and restored state);
        ``node``: the sidecar's node process ``serve`` started then (``kernel.bridge.prestart_node``)."""
        self.settings = settings
        self._ui_restore: asyncio.Task[None] | None = None
        self._probes_loading: asyncio.Task[None] | None = None
        self._packages_kept: asyncio.Task[None] | None = None
        self._own_lock = lock is None
        self.lock = lock or HomeLock(settings.home)
        if not self.lock.held:
            self.lock.acquire()
        try:
            self.token = read_or_create_token(settings.token_file)
            self.sidecar = NodeSidecar(settings.node, node_modules=settings.node_modules, environ=settings.environ,
                                       call_timeout_s=settings.call_timeout_s, prestarted=node)
            root = early.root if early is not None else persist.choose_root(settings)
            restored = early.state if early is not None else persist.restore_state(settings.home, root)
            opened = open_store(settings.home / "pinokiocloud.db", settings.api_dir)
            self.store = opened.store
            self.startup_notice = opened.notice
            if opened.notice:
                log.warning("%s", opened.notice)
            self.persistence = persist.Persistence(settings, self.store, root, restored, early=early)
            self.downloads = DownloadQueue.from_environ(settings.environ, setting=self.store.setting)
            install(settings.home, self.downloads)
            self.runner = Runner(self.sidecar, home=settings.home, system=detect_system(), environ=settings.environ,
                                 restart_policy=restart_policy)
            self.catalog = catalog if catalog is not None else load_catalog(settings.home)
            self.apps = AppManager(self.runner, self.store, catalog=self.catalog)
            self.persistence.bind(self.runner, self.apps)
            self.shares = ShareService(settings, self.runner, self.apps)
            self.ui = UiService(home=settings.home, environ=dict(settings.environ), daemon_port=settings.port,
                                ui_port=settings.ui_port, token=self.token, memory=self.store)
        except BaseException:
            if self._own_lock:
                self.lock.release()
            raise

    async def open(self) -> None:
        await self.sidecar.start()
        root = self.persistence.root.path
        if root is not None:  # what npm installed, kept for the next machine (skipped when the root has it)
            self._packages_kept = asyncio.create_task(self._keep_node_packages(root), name="keep the npm packages")
        self.persistence.note_alive_runs()
        restarted = await self.apps.open()
        self.apps.sampler.start()  # app status sampled in the background: a status read is a dictionary read
        self.persistence.open()
        if restarted or (self.persistence.restorer is not None and self.persistence.restorer.apps):
            self._probes_loading = asyncio.create_task(load_probes(), name="load the web-UI probes")
        self.shares.open()
        if self.ui.wanted:  # it was up when the last daemon stopped or died: same passcode, same links
            self._ui_restore = asyncio.create_task(self._restore_ui(), name="restore the dashboard")

    async def _keep_node_packages(self, root: Path) -> None:
        try:
            kept = await asyncio.to_thread(keep_node_packages, self.settings.node_modules, home=self.settings.home,
                                           root=root)
        except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:  # a full or read-only root: npm next time
            log.warning("the sidecar's npm packages could not be kept on the persistent root %s: %s", root, exc)
            return
        if kept:
            log.info("kept the sidecar's npm packages on the persistent root %s", root)

    async def _restore_ui(self) -> None:
        try:
            await self.ui.start()
        except PinokioCloudError as exc:
            log.warning("could not bring the dashboard back: %s", exc)

    async def close(self) -> None:
        for loading in (self._probes_loading, self._packages_kept):
            if loading is not None:
                with contextlib.suppress(Exception):
                    await loading  # each runs in a thread, which cannot be cancelled: wait for it to end
        if self._ui_restore is not None and not self._ui_restore.done():
            self._ui_restore.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ui_restore
        await self.shares.close()
        await self.ui.stop(forget=False)
        await self.persistence.close()  # the last backup, while the registry still says what was running
        await self.downloads.close()
        uninstall(self.settings.home, self.downloads)
        await self.apps.sampler.stop()
        await self.apps.close()
        await self.sidecar.close()
        self.store.close()
        if self._own_lock:
            self.lock.release()

