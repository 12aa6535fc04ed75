"""Public URLs: ``/api/apps/{name}/share``, ``/api/shares`` and ``/api/ui/share`` (the dashboard)."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter
from pydantic import BaseModel

from pinokiocloud.server.deps import AuthDep, DaemonDep
from pinokiocloud.server.models import ShareEvent, ShareEvents, ShareInfo, ShareList, Unshared
from pinokiocloud.server.shares import DASHBOARD

router = APIRouter(tags=["shares"], dependencies=[AuthDep])


class ShareIn(BaseModel):
    provider: str | None = None
    passcode: str | None = None


@router.get("/api/shares", response_model=ShareList)
async def shares(daemon: DaemonDep) -> ShareList:
    data = cast(list[ShareInfo], daemon.shares.all())
    return {"data": data, "count": len(data)}


@router.get("/api/shares/events", response_model=ShareEvents)
async def share_events(daemon: DaemonDep) -> ShareEvents:
    """What happened to shares lately: online, url-changed, unhealthy, local-only, stopped."""
    return {"data": cast(list[ShareEvent], list(daemon.shares.events))}


@router.get("/api/apps/{name}/share", response_model=ShareInfo)
async def get_share(name: str, daemon: DaemonDep) -> ShareInfo:
    return cast(ShareInfo, daemon.shares.info(name))


@router.post("/api/apps/{name}/share", response_model=ShareInfo)
async def share(name: str, body: ShareIn, daemon: DaemonDep) -> ShareInfo:
    """Publish the app's web UI behind the passcode gateway; falls back to the local URL when no tunnel works."""
    return cast(ShareInfo, await daemon.shares.share(name, provider=body.provider, passcode=body.passcode))


@router.delete("/api/apps/{name}/share", response_model=Unshared)
async def unshare(name: str, daemon: DaemonDep) -> Unshared:
    """End the app's share (``unshared``: whether there was one); an app that is not installed is a 404."""
    if name != DASHBOARD:
        daemon.apps.app_dir(name)
    return {"name": name, "unshared": await daemon.shares.unshare(name)}


@router.post("/api/ui/share", response_model=ShareInfo)
async def share_dashboard(daemon: DaemonDep) -> ShareInfo:
    """Publish the dashboard itself, behind the same passcode and link token as its local gateway (never the
    daemon's API token)."""
    ui = await daemon.ui.start()
    assert daemon.ui.internal_url is not None
    return cast(ShareInfo, await daemon.shares.share_dashboard(daemon.ui.internal_url, passcode=ui["passcode"],
                                                               token=daemon.ui.link_token))
