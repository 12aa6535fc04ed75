"""The download queue: ``GET /api/downloads`` (bytes, rate, ETA of each) and ``POST /api/downloads/{id}/cancel``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pinokiocloud.server.deps import AuthDep, DaemonDep

router = APIRouter(tags=["downloads"], dependencies=[AuthDep])


@router.get("/api/downloads")
async def downloads(daemon: DaemonDep) -> dict[str, Any]:
    """Running downloads, then queued ones in the order they will start, then the ones that ended lately."""
    data = [entry.to_json() for entry in daemon.downloads.list()]
    return {"data": data, "count": len(data), "concurrency": daemon.downloads.concurrency}


@router.get("/api/downloads/{download_id}")
async def one_download(download_id: str, daemon: DaemonDep) -> dict[str, Any]:
    return daemon.downloads.get(download_id).to_json()


@router.post("/api/downloads/{download_id}/cancel")
async def cancel_download(download_id: str, daemon: DaemonDep) -> dict[str, Any]:
    """End a queued or running download; its partial stays for a resume, the step that waited fails."""
    return daemon.downloads.cancel(download_id).to_json()
