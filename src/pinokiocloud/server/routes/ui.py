"""``/api/ui``: the dashboard the daemon serves, and ``/api/shutdown`` for `pinokiocloud down`."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import cast

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pinokiocloud.server.deps import AuthDep, DaemonDep
from pinokiocloud.server.models import Shutdown, UiInfo

router = APIRouter(tags=["ui"], dependencies=[AuthDep])


@router.get("/api/ui", response_model=UiInfo)
async def ui_info(daemon: DaemonDep) -> UiInfo:
    return cast(UiInfo, daemon.ui.info())


class UiStartIn(BaseModel):
    new_passcode: bool = Field(False, description="replace the dashboard's passcode (ends every login)")


@router.post("/api/ui", response_model=UiInfo)
async def ui_start(daemon: DaemonDep, body: UiStartIn | None = None) -> UiInfo:
    """Start the dashboard (Streamlit behind the passcode gateway on the UI port); its URLs, and its passcode
    when it was just made (a kept one is known only as a hash: ``passcode`` is null, ``passcode_since`` set)."""
    return cast(UiInfo, await daemon.ui.start(new_passcode=bool(body and body.new_passcode)))


@router.delete("/api/ui", response_model=UiInfo)
async def ui_stop(daemon: DaemonDep) -> UiInfo:
    await daemon.ui.stop()
    return cast(UiInfo, daemon.ui.info())


@router.post("/api/shutdown", response_model=Shutdown)
async def shutdown(daemon: DaemonDep) -> Shutdown:
    """Stop the daemon cleanly (apps and dashboard first), right after answering. The dashboard stays down
    (a daemon that died instead brings it back)."""
    daemon.ui.forget()
    loop = asyncio.get_running_loop()
    loop.call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
    return {"stopping": True}
