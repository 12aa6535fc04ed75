"""``/health`` (no token) and ``/api/system`` (the doctor report) and ``/api/search``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psutil
from fastapi import APIRouter
from pydantic import BaseModel, Field

from pinokiocloud import __version__
from pinokiocloud.errors import BadParamError
from pinokiocloud.platform.gpu import probe_gpus
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
    hf_token: str | None = Field(None, description="Hugging Face token, written where app shells read it")
    ngrok_authtoken: str | None = Field(None, description="ngrok token for the ngrok share provider")
    share_provider: str | None = Field(None, description="the share provider to try first")
    persist: str | None = Field(None, description="a persistent folder (Drive, a volume) for models and backups")


def _mask(secret: str | None) -> str | None:
    return None if not secret else secret[:4] + "…" + secret[-2:] if len(secret) > 8 else "…"


@router.get("/api/settings", dependencies=[AuthDep])
async def get_settings(daemon: DaemonDep) -> dict[str, Any]:
    """Settings; tokens are shown masked."""
    store = daemon.store
    return {"autorestore": bool(store.setting("autorestore", True)),
            "hf_token": _mask(store.setting("hf_token")), "ngrok_authtoken": _mask(store.setting("ngrok_authtoken")),
            "share_provider": store.setting("share_provider"),
            "persist": store.setting("persist") or (str(daemon.settings.persist) if daemon.settings.persist else None)}


@router.patch("/api/settings", dependencies=[AuthDep])
async def put_settings(body: SettingsIn, daemon: DaemonDep) -> dict[str, Any]:
    store = daemon.store
    changes = body.model_dump(exclude_none=True)
    if "persist" in changes and changes["persist"] and not Path(changes["persist"]).is_dir():
        raise BadParamError(f"{changes['persist']} is not a folder; create it (or mount the drive) first")
    for key, value in changes.items():
        store.put_setting(key, value)
    if body.hf_token is not None:
        # where `hf` and huggingface_hub in every app shell look (HF_TOKEN_PATH, spec §3.1.4)
        token_file = daemon.settings.home / "cache" / "HF_AUTH" / "token"
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(body.hf_token)
        token_file.chmod(0o600)
    if body.ngrok_authtoken is not None:
        daemon.runner.environ["NGROK_AUTHTOKEN"] = body.ngrok_authtoken
    return await get_settings(daemon)


@router.get("/api/system/live", dependencies=[AuthDep])
async def live(daemon: DaemonDep) -> dict[str, Any]:
    """Readings for the dashboard's charts: CPU, memory, disk of PINOKIO_HOME, and each GPU."""
    probe = await asyncio.to_thread(probe_gpus, daemon.settings.environ.get("PATH"))
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(daemon.settings.home))
    return {"time": time.time(), "cpu_percent": psutil.cpu_percent(interval=None),
            "memory": {"total": memory.total, "used": memory.total - memory.available, "percent": memory.percent},
            "disk": {"path": str(daemon.settings.home), "total": disk.total, "free": disk.free},
            "gpus": to_jsonable(probe.readings)}


@router.get("/api/system", dependencies=[AuthDep])
async def system(daemon: DaemonDep) -> dict[str, Any]:
    """The machine report of `pinokiocloud doctor`: platform, GPUs, disks, tools, warnings."""
    s = daemon.settings
    report = await asyncio.to_thread(build_report, s.environ, home=s.home, is_home_set=s.is_home_set,
                                     platform_override=s.cloud_platform, persist=s.persist)
    data: dict[str, Any] = to_jsonable(report)
    return data
