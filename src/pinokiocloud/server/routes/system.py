"""``/health`` (liveness for anyone, identity for the token's holder), ``/api/system`` (the doctor
report), ``/api/search`` and ``/api/settings``."""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import cast

import psutil
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from pinokiocloud import __version__
from pinokiocloud.errors import BadParamError
from pinokiocloud.platform.gpu import probe_gpus
from pinokiocloud.platform.report import to_jsonable
from pinokiocloud.server.daemon import Daemon
from pinokiocloud.server.deps import AuthDep, DaemonDep, has_token
from pinokiocloud.server.models import (
    AppSettings,
    BlobInfo,
    BlobList,
    BundleTool,
    CatalogEntry,
    CatalogList,
    GcResult,
    Health,
    JsonObject,
    LiveReadings,
    MachineReport,
    SearchHit,
    SearchResult,
    StoreInfo,
    StoreUsage,
    VerifyProblem,
    VerifyResult,
)
from pinokiocloud.share.providers import PROVIDERS

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
async def health(request: Request, daemon: DaemonDep, challenge: str = "") -> Health:
    """Liveness for anyone: ``{"ok", "version"}``; ``?challenge=<nonce>`` adds ``proof`` =
    hex(HMAC-SHA256(token, nonce)), so a client can tell its own daemon from a program on the port without
    sending the token. With ``Authorization: Bearer <token>`` it adds ``home`` and ``pid``."""
    answer: Health = {"ok": True, "version": __version__}
    if challenge:
        answer["proof"] = hmac.new(daemon.token.encode(), challenge.encode(), hashlib.sha256).hexdigest()
    if has_token(request, daemon):
        answer["home"] = str(daemon.settings.home)
        answer["pid"] = os.getpid()
    return answer


@router.get("/api/search", dependencies=[AuthDep], response_model=SearchResult)
async def search(daemon: DaemonDep, q: str = "") -> SearchResult:
    """Installed apps and catalog entries ranked by the query's terms (title, tags, description)."""
    hits = cast(list[SearchHit], daemon.apps.search(q))
    return {"query": q, "data": hits, "count": len(hits)}


@router.get("/api/catalog", dependencies=[AuthDep], response_model=CatalogList)
async def catalog(daemon: DaemonDep) -> CatalogList:
    """The app catalog (bundled + the user's PINOKIO_HOME/catalog.json) and any problems with it."""
    from pinokiocloud.envs.tools import BUNDLES, TOOLS

    entries = [cast(CatalogEntry, e.to_json()) for e in daemon.catalog.entries]
    for entry in entries:  # what the entry's bundle holds, so the Library can say what this machine lacks
        tools = BUNDLES.get(str(entry.get("bundle")), ())
        entry["bundle_tools"] = [BundleTool(tool=n, commands=list(TOOLS[n].commands), ours=TOOLS[n].ours)
                                 for n in tools]
    return {"data": entries, "count": len(entries), "problems": [str(p) for p in daemon.catalog.problems]}


class SettingsIn(BaseModel):
    autorestore: bool | None = Field(None, description="restore running apps after a daemon restart (all apps); "
                                                       "read when the daemon starts")
    hf_token: str | None = Field(None, description="Hugging Face token, written to the file `hf` and "
                                                    "huggingface_hub in every app shell read (HF_TOKEN_PATH)")
    ngrok_authtoken: str | None = Field(None, description="ngrok token, given to the ngrok agent of each new share "
                                                          "(never to apps)")
    share_provider: str | None = Field(None, description="the share provider each new share tries first "
                                                         "(empty: the configured order)")
    restart: str | None = Field(None, max_length=20, description="what every app without its own choice does when "
                                                                "its server dies: 'no' or 'on-failure'")
    persist: str | None = Field(None, description="a persistent folder (Drive, a volume) for the model store, state "
                                                  "backups and environment archives; used from the next daemon "
                                                  "start when PINOKIOCLOUD_PERSIST is not set")


def _mask(secret: str | None) -> str | None:
    return None if not secret else secret[:4] + "…" + secret[-2:] if len(secret) > 8 else "…"


@router.get("/api/settings", dependencies=[AuthDep], response_model=AppSettings)
async def get_settings(daemon: DaemonDep) -> AppSettings:
    """Settings; tokens are shown masked."""
    store = daemon.store
    return {"autorestore": bool(store.setting("autorestore", True)),
            "hf_token": _mask(store.setting("hf_token")), "ngrok_authtoken": _mask(store.setting("ngrok_authtoken")),
            "share_provider": store.setting("share_provider") or None,
            "restart": daemon.apps.restart_mode().value,
            "share_order": list(daemon.shares.manager.settings.providers),
            "persist": store.setting("persist") or (str(daemon.settings.persist) if daemon.settings.persist else None),
            "persist_in_use": daemon.persistence.in_use}


@router.patch("/api/settings", dependencies=[AuthDep], response_model=AppSettings)
async def put_settings(body: SettingsIn, daemon: DaemonDep) -> AppSettings:
    store = daemon.store
    changes = body.model_dump(exclude_none=True)
    if "persist" in changes and changes["persist"] and not Path(changes["persist"]).is_dir():
        raise BadParamError(f"{changes['persist']} is not a folder; create it (or mount the drive) first")
    provider = (body.share_provider or "").strip().lower()
    if provider and provider not in PROVIDERS:
        close = difflib.get_close_matches(provider, PROVIDERS, n=1)
        raise BadParamError(f"unknown share provider {provider!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                            + f" (one of {', '.join(sorted(PROVIDERS))})")
    if body.share_provider is not None:
        changes["share_provider"] = provider
    if body.restart is not None:
        daemon.apps.set_restart(None, body.restart)
        changes.pop("restart")
    for key, value in changes.items():
        store.put_setting(key, value)
    if body.hf_token is not None:
        # where `hf` and huggingface_hub in every app shell look (HF_TOKEN_PATH, spec §3.1.4)
        await asyncio.to_thread(_write_private, daemon.settings.home / "cache" / "HF_AUTH" / "token", body.hf_token)
    if body.share_provider is not None or body.ngrok_authtoken is not None:
        daemon.shares.apply_settings(provider=store.setting("share_provider"),
                                     ngrok_authtoken=store.setting("ngrok_authtoken"))
    return await get_settings(daemon)


def _write_private(path: Path, text: str) -> None:
    """A secret file, mode 0600 from its creation (no moment where others can read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


@router.get("/api/system/live", dependencies=[AuthDep], response_model=LiveReadings)
async def live(daemon: DaemonDep) -> LiveReadings:
    """Readings for the dashboard's charts: CPU, memory, disk of PINOKIO_HOME, and each GPU."""
    probe = await asyncio.to_thread(probe_gpus, daemon.settings.environ.get("PATH"))
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(daemon.settings.home))
    return {"time": time.time(), "cpu_percent": psutil.cpu_percent(interval=None),
            "memory": {"total": memory.total, "used": memory.total - memory.available, "percent": memory.percent},
            "disk": {"path": str(daemon.settings.home), "total": disk.total, "free": disk.free},
            "gpus": cast(list[JsonObject], to_jsonable(probe.readings))}


@router.get("/api/system", dependencies=[AuthDep], response_model=MachineReport)
async def system(daemon: DaemonDep) -> MachineReport:
    """The machine report of `pinokiocloud doctor`: platform, GPUs, disks, tools, warnings."""
    from pinokiocloud.apps.machine import machine_report

    s = daemon.settings
    report, root = await asyncio.to_thread(machine_report, s)  # the same report `doctor` prints
    data = cast(MachineReport, to_jsonable(report))
    data.setdefault("paths", {})["persistent_root"] = root
    return data


# ---- the content-addressed model store and the persistent root (issue 16) ----

def _usage(daemon: Daemon) -> StoreInfo:
    info = cast(StoreInfo, daemon.persistence.info())
    du = daemon.persistence.blobs.du()
    info["usage"] = cast(StoreUsage, {**to_jsonable(du), "saved_bytes": du.saved_bytes})
    return info


@router.get("/api/store", dependencies=[AuthDep], response_model=StoreInfo)
async def store_info(daemon: DaemonDep) -> StoreInfo:
    """The persistent root (or why there is none), the store's totals, backups, archives, restore progress."""
    return await asyncio.to_thread(_usage, daemon)


@router.get("/api/store/blobs", dependencies=[AuthDep], response_model=BlobList)
async def store_blobs(daemon: DaemonDep) -> BlobList:
    """Every blob: sha256, size, sources, the apps that recorded a use and the links alive now."""
    infos = await asyncio.to_thread(daemon.persistence.blobs.ls)
    return {"data": cast(list[BlobInfo], to_jsonable(infos)), "count": len(infos)}


@router.post("/api/store/gc", dependencies=[AuthDep], response_model=GcResult)
async def store_gc(daemon: DaemonDep) -> GcResult:
    """Remove the blobs no installed app uses and no link points to."""
    keep = [a.name for a in daemon.store.apps()]
    result = await asyncio.to_thread(daemon.persistence.blobs.gc, keep)
    return cast(GcResult, to_jsonable(result))


@router.post("/api/store/verify", dependencies=[AuthDep], response_model=VerifyResult)
async def store_verify(daemon: DaemonDep) -> VerifyResult:
    """Re-hash every blob; damaged ones are moved to the store's quarantine folder, never deleted."""
    checked, problems = await asyncio.to_thread(daemon.persistence.blobs.verify)
    return {"checked": checked, "problems": cast(list[VerifyProblem], to_jsonable(problems))}
