"""``/api/ui``: the dashboard the daemon serves, and ``/api/shutdown`` for `pinokiocloud down`."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from fastapi import APIRouter

from pinokiocloud.server.deps import AuthDep, DaemonDep

router = APIRouter(tags=["ui"], dependencies=[AuthDep])


@router.get("/api/ui")
async def ui_info(daemon: DaemonDep) -> dict[str, Any]:
    return daemon.ui.info()


@router.post("/api/ui")
async def ui_start(daemon: DaemonDep) -> dict[str, Any]:
    """Start the dashboard (Streamlit behind the passcode gateway on the UI port); its URLs and passcode."""
    return await daemon.ui.start()


@router.delete("/api/ui")
async def ui_stop(daemon: DaemonDep) -> dict[str, Any]:
    await daemon.ui.stop()
    return daemon.ui.info()


@router.post("/api/shutdown")
async def shutdown() -> dict[str, Any]:
    """Stop the daemon cleanly (apps and dashboard first), right after answering."""
    loop = asyncio.get_running_loop()
    loop.call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
    return {"stopping": True}
