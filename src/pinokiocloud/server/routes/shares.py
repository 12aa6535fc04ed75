"""Public URLs: ``/api/apps/{name}/share``, ``/api/shares`` and ``/api/ui/share`` (the dashboard)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from pinokiocloud.server.deps import AuthDep, DaemonDep

router = APIRouter(tags=["shares"], dependencies=[AuthDep])


class ShareIn(BaseModel):
    provider: str | None = None
    passcode: str | None = None


@router.get("/api/shares")
async def shares(daemon: DaemonDep) -> dict[str, Any]:
    data = daemon.shares.all()
    return {"data": data, "count": len(data)}


@router.get("/api/shares/events")
async def share_events(daemon: DaemonDep) -> dict[str, Any]:
    """What happened to shares lately: online, url-changed, unhealthy, local-only, stopped."""
    return {"data": list(daemon.shares.events)}


@router.get("/api/apps/{name}/share")
async def get_share(name: str, daemon: DaemonDep) -> dict[str, Any]:
    return daemon.shares.info(name)


@router.post("/api/apps/{name}/share")
async def share(name: str, body: ShareIn, daemon: DaemonDep) -> dict[str, Any]:
    """Publish the app's web UI behind the passcode gateway; falls back to the local URL when no tunnel works."""
    return await daemon.shares.share(name, provider=body.provider, passcode=body.passcode)


@router.delete("/api/apps/{name}/share")
async def unshare(name: str, daemon: DaemonDep) -> dict[str, Any]:
    return {"name": name, "unshared": await daemon.shares.unshare(name)}


@router.post("/api/ui/share")
async def share_dashboard(daemon: DaemonDep) -> dict[str, Any]:
    """Publish the dashboard itself, behind the same passcode and link token as its local gateway (never the
    daemon's API token)."""
    ui = await daemon.ui.start()
    assert daemon.ui.internal_url is not None
    return await daemon.shares.share_dashboard(daemon.ui.internal_url, passcode=ui["passcode"],
                                               token=daemon.ui.link_token)
