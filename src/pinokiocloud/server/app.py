"""``create_app(settings)``: the daemon's FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pinokiocloud import __version__
from pinokiocloud.config import Settings
from pinokiocloud.server.daemon import Daemon
from pinokiocloud.server.errors import install_error_handlers
from pinokiocloud.server.routes import apps, runs, shares, system, ui

__all__ = ["create_app"]


def create_app(settings: Settings, daemon: Daemon | None = None) -> FastAPI:
    the_daemon = daemon or Daemon(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await the_daemon.open()
        try:
            yield
        finally:
            await the_daemon.close()

    app = FastAPI(title="PinokioCloud", version=__version__, lifespan=lifespan,
                  description="The PinokioCloud control plane. Every route but /health needs the token from "
                              "PINOKIO_HOME/daemon.token as `Authorization: Bearer <token>`.")
    app.state.daemon = the_daemon
    install_error_handlers(app)
    app.include_router(system.router)
    app.include_router(apps.router)
    app.include_router(runs.router)
    app.include_router(ui.router)
    app.include_router(shares.router)
    return app
