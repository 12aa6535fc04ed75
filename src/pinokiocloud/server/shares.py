"""Sharing as the daemon does it: an app's web UI (its ``ready_url``) behind the passcode gateway and a
tunnel, Pinokio's share-on-``local.set``, the dashboard itself, and shares brought back after a restart.

Share work that run events cause (a ``local.set`` that shares, a stop that unshares) goes to one lane per
app (:class:`~pinokiocloud.share.lanes.AppLanes`): the watcher only hands it over, so one app's slow race of
tunnels never holds up another app's share or unshare, while one app's work stays in order."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import importlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from pinokiocloud.apps import AppManager
from pinokiocloud.config import Settings
from pinokiocloud.errors import BadParamError, NotSharedError, PinokioCloudError
from pinokiocloud.kernel.events import RunEvent
from pinokiocloud.kernel.runner import Runner
from pinokiocloud.share import ShareSettings
from pinokiocloud.share.lanes import AppLanes
from pinokiocloud.share.localset import local_share_value, share_request_for_local_set
from pinokiocloud.share.manager import ShareEvent, ShareInfo, ShareManager

__all__ = ["DASHBOARD", "MASK", "NotSharedError", "ShareService", "mask_secrets"]

log = logging.getLogger(__name__)

DASHBOARD = "pinokiocloud-dashboard"
"""The share name of the dashboard (not an app name: apps cannot contain this and run under api/)."""
EVENTS_KEPT = 200
RESTORE_WAIT_S = 180.0
MASK = "***"
SECRET_FIELDS = ("passcode", "token", "token_url")
"""What a share listing or an app's status shows as ``***``: only the share's own endpoint shows them."""

SharePayload = dict[str, object]
"""A share as the API answers it: :meth:`ShareInfo.to_dict` plus ``qr_png_base64`` (the shape is
``server.models.ShareInfo``)."""
ShareEventPayload = dict[str, object]
"""One entry of ``/api/shares/events`` (``server.models.ShareEvent``)."""


def mask_secrets(share: Mapping[str, object]) -> SharePayload:
    """A share as status listings show it: passcode, token and token link masked, so a pasted ``status
    --json`` gives nobody the way in (``GET /api/apps/{name}/share`` still shows them to the owner)."""
    hidden = (*SECRET_FIELDS, "target_url") if share.get("app") == DASHBOARD else SECRET_FIELDS  # its secret path
    return {k: (MASK if k in hidden and v else v) for k, v in share.items()}


class ShareService:
    def __init__(self, settings: Settings, runner: Runner, apps: AppManager) -> None:
        self.runner = runner
        self.apps = apps
        self.events: deque[ShareEventPayload] = deque(maxlen=EVENTS_KEPT)
        self._watch: asyncio.Task[None] | None = None
        self._restore: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[RunEvent] | None = None
        self._lanes = AppLanes(name="share watcher")
        """Share work from run events, one lane per app (see the module docstring)."""
        # the daemon-only secrets (NGROK_AUTHTOKEN …) are parsed into their fields, while the environment
        # every tunnel client inherits stays without them: ngrok's provider adds its token for its agent only
        parsed = ShareSettings.from_mapping(settings.process_environ, home=settings.home, node=settings.node,
                                            cloud_platform=settings.cloud_platform)
        self._base = dataclasses.replace(parsed, environ=dict(settings.environ))
        self.manager = ShareManager(self._base, on_event=self._on_event, state_file=settings.home / "shares.json")
        self.apply_settings(provider=apps.store.setting("share_provider"),
                            ngrok_authtoken=apps.store.setting("ngrok_authtoken"))

    def apply_settings(self, *, provider: str | None, ngrok_authtoken: str | None) -> None:
        """The dashboard's settings, in force for every share started from now on: ``provider`` is tried
        first (the others keep their order), a saved ngrok token replaces ``NGROK_AUTHTOKEN``."""
        order = list(self._base.providers)
        if provider:
            order = [provider, *(n for n in order if n != provider)]
        self.manager.settings = dataclasses.replace(self._base, providers=tuple(order),
                                                    ngrok_authtoken=ngrok_authtoken or self._base.ngrok_authtoken)

    async def _on_event(self, event: ShareEvent) -> None:
        self.events.append({"kind": event.kind, "app": event.app, "url": event.url,
                            "previous_url": event.previous_url, "provider": event.provider, "reason": event.reason,
                            "at": event.at})

    def open(self) -> None:
        self._queue = self.runner.events.subscribe(None)
        self._watch = asyncio.create_task(self._watch_runs(), name="share watcher")
        self._restore = asyncio.create_task(self._restore_remembered(), name="share restore")

    async def close(self) -> None:
        for task in (self._watch, self._restore):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._lanes.close()
        if self._queue is not None:
            self.runner.events.unsubscribe(self._queue)
        await self.manager.close()

    # ---- apps ----

    def info(self, name: str) -> SharePayload:
        found = self.manager.get(name)
        if found is None:
            raise NotSharedError(name)
        return self._payload(found)

    def all(self) -> list[SharePayload]:
        """Every share, with passcodes and tokens masked (see :func:`mask_secrets`)."""
        return [mask_secrets(self._payload(i)) for i in self.manager.shares()]

    def summary(self, name: str) -> SharePayload | None:
        """The share of ``name`` as an app's status shows it (secrets masked), or ``None``."""
        found = self.manager.get(name)
        return mask_secrets(found.to_dict()) if found is not None else None

    @staticmethod
    async def _load_qr() -> None:
        """Import the QR code (qrcode and its imaging stack, ~30 ms) off the loop before a share's first payload;
        the daemon starts without it."""
        await asyncio.to_thread(importlib.import_module, "pinokiocloud.share.qr")

    @staticmethod
    def _payload(info: ShareInfo) -> SharePayload:
        from pinokiocloud.share.qr import qr_png  # loaded by _load_qr before any share exists

        data = info.to_dict()
        data["qr_png_base64"] = base64.b64encode(qr_png(info.url)).decode()
        return data

    async def share(self, name: str, *, provider: str | None = None, passcode: str | None = None) -> SharePayload:
        self.apps.app_dir(name)
        target = self.apps.ready_url(name)
        if not target and any(r.is_alive for r in self.apps.runs_of(name)):
            found = await self.apps.web_ui(name)  # a launcher that never set local.url
            target = found.url if found else None
        if not target:
            raise BadParamError(f"{name} is not running (it has no web UI URL yet); start it first with "
                                f"`pinokiocloud start {name}`")
        await self._load_qr()
        info = await self.manager.share(name, target, providers=[provider] if provider else None, passcode=passcode,
                                        app_output=lambda: "\n".join(self.apps.logs(name, tail=200)))
        return self._payload(info)

    async def unshare(self, name: str) -> bool:
        return await self.manager.unshare(name)

    # ---- the dashboard ----

    async def share_dashboard(self, target: str, passcode: str, token: str) -> SharePayload:
        await self._load_qr()
        return self._payload(await self.manager.share(DASHBOARD, target, passcode=passcode, token=token))

    # ---- Pinokio's share-on-local.set, and unsharing apps that stopped ----

    async def _watch_runs(self) -> None:
        """Hand each share-related run event to its app's lane; never wait for the work itself."""
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            work: Callable[[RunEvent, str], Awaitable[None]] | None = None
            if event.type == "local.url" and isinstance(event.data, dict):
                work = self._local_set
            elif event.type == "stop":
                work = self._maybe_unshare
            name = self.apps.app_of(Path(event.run_id.split("?", 1)[0])) if work is not None else None
            if work is not None and name is not None:
                self._lanes.submit(name, self._guarded(work, event, name))

    def _guarded(self, work: Callable[[RunEvent, str], Awaitable[None]], event: RunEvent,
                 name: str) -> Callable[[], Awaitable[None]]:
        """``work`` for the lane: a sharing error becomes an ``error`` event of the run that caused it."""
        async def job() -> None:
            try:
                await work(event, name)
            except PinokioCloudError as exc:
                self.runner.events.publish(RunEvent(event.run_id, "error", {"message": f"sharing failed: {exc}"},
                                                    attempt=event.attempt))
            except Exception:  # sharing must never take the daemon down
                log.exception("share work for %s", name)

        return job

    async def _local_set(self, event: RunEvent, name: str) -> None:
        run = self.runner.runs.get(event.run_id)
        data = event.data
        key = data.get("key") if isinstance(data, dict) else None
        if run is None or not isinstance(key, str):
            return
        env = self.runner.env_for(run.path)
        request = share_request_for_local_set(env, {key: data.get("value")}, providers=self.manager.settings.providers)
        if request is None:
            return
        await self._load_qr()
        info = await self.manager.share(name, request.target_url, providers=list(request.providers) or None,
                                        passcode=request.passcode)
        local = self.runner.memory_local.setdefault(run.id, {})
        local["$share"] = local_share_value(request, public_url=info.public_url, provider=info.provider,
                                            lan_url=info.local_url if request.is_local else None,
                                            previous=local.get("$share"))

    async def _maybe_unshare(self, event: RunEvent, name: str) -> None:
        if self.manager.get(name) is None:
            return
        if not any(r.is_alive for r in self.apps.runs_of(name)):
            await self.manager.unshare(name)

    async def _restore_remembered(self) -> None:
        """Shares of apps that are online again after a restart come back with their old settings."""
        remembered = {r.app for r in self.manager.remembered()}
        if not remembered:
            return
        await self._load_qr()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESTORE_WAIT_S
        pending = set(remembered) - {DASHBOARD}
        while pending and loop.time() < deadline:
            ready = {n: url for n in pending if (url := self.apps.ready_url(n))}
            if ready:
                with contextlib.suppress(PinokioCloudError):
                    await self.manager.restore(ready)
                pending -= set(ready)
            await asyncio.sleep(1.0)
