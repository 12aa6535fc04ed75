"""``/health`` (no token) and ``/api/system`` (the doctor report) and ``/api/search``."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pinokiocloud import __version__
from pinokiocloud.platform.report import build_report, to_jsonable
from pinokiocloud.server.deps import AuthDep, DaemonDep

router = APIRouter(tags=["system"])


@router.get("/health")
async def health(daemon: DaemonDep) -> dict[str, Any]:
    return {"ok": True, "version": __version__, "home": str(daemon.settings.home)}


@router.get("/api/search", dependencies=[AuthDep])
async def search(daemon: DaemonDep, q: str = "") -> dict[str, Any]:
    """Installed apps and catalog entries ranked by the query's terms (title, tags, description)."""
    hits = daemon.apps.search(q)
    return {"query": q, "data": hits, "count": len(hits)}


@router.get("/api/catalog", dependencies=[AuthDep])
async def catalog(daemon: DaemonDep) -> dict[str, Any]:
    """The app catalog (bundled + the user's PINOKIO_HOME/catalog.json) and any problems with it."""
    entries = [e.to_json() for e in daemon.catalog.entries]
    return {"data": entries, "count": len(entries), "problems": [str(p) for p in daemon.catalog.problems]}


class SettingsIn(BaseModel):
    autorestore: bool | None = Field(None, description="restore running apps after a daemon restart (all apps)")


@router.get("/api/settings", dependencies=[AuthDep])
async def get_settings(daemon: DaemonDep) -> dict[str, Any]:
    return {"autorestore": bool(daemon.store.setting("autorestore", True))}


@router.patch("/api/settings", dependencies=[AuthDep])
async def put_settings(body: SettingsIn, daemon: DaemonDep) -> dict[str, Any]:
    if body.autorestore is not None:
        daemon.store.put_setting("autorestore", body.autorestore)
    return await get_settings(daemon)


@router.get("/api/system", dependencies=[AuthDep])
async def system(daemon: DaemonDep) -> dict[str, Any]:
    """The machine report of `pinokiocloud doctor`: platform, GPUs, disks, tools, warnings."""
    s = daemon.settings
    report = await asyncio.to_thread(build_report, s.environ, home=s.home, is_home_set=s.is_home_set,
                                     platform_override=s.cloud_platform, persist=s.persist)
    data: dict[str, Any] = to_jsonable(report)
    return data
