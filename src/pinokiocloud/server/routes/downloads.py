"""The download queue: ``GET /api/downloads`` (bytes, rate, ETA of each) and ``POST /api/downloads/{id}/cancel``."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter

from pinokiocloud.server.deps import AuthDep, DaemonDep
from pinokiocloud.server.models import Download, DownloadList

router = APIRouter(tags=["downloads"], dependencies=[AuthDep])


@router.get("/api/downloads", response_model=DownloadList)
async def downloads(daemon: DaemonDep) -> DownloadList:
    """Running downloads, then queued ones in the order they will start, then the ones that ended lately."""
    data = [cast(Download, entry.to_json()) for entry in daemon.downloads.list()]
    return {"data": data, "count": len(data), "concurrency": daemon.downloads.concurrency}


@router.get("/api/downloads/{download_id}", response_model=Download)
async def one_download(download_id: str, daemon: DaemonDep) -> Download:
    return cast(Download, daemon.downloads.get(download_id).to_json())


@router.post("/api/downloads/{download_id}/cancel", response_model=Download)
async def cancel_download(download_id: str, daemon: DaemonDep) -> Download:
    """End a queued or running download; its partial stays for a resume, the step that waited fails."""
    return cast(Download, daemon.downloads.cancel(download_id).to_json())
