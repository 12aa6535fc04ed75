"""``create_app(settings)``: the daemon's FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from pinokiocloud import __version__
from pinokiocloud.config import Settings
from pinokiocloud.server.daemon import Daemon
from pinokiocloud.server.deps import AuthDep
from pinokiocloud.server.errors import install_error_handlers
from pinokiocloud.server.routes import apps, downloads, runs, shares, system, ui

__all__ = ["WARM_AFTER_READY", "HostCheck", "create_app"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
WARM_AFTER_READY = ("httpx",)
"""Imported in a worker thread once the daemon answers, not before: what app runs, downloads and web-UI probes
reach for first (httpx, ~0.3 s with what it pulls in), so that first use does not hold the event loop."""
WARM_DELAY_S = 1.0
"""How long after "ready" that import waits: it holds the GIL much of its time, and the client that started the
daemon is asking its first questions then (`status` took ~0.1 s longer with no wait)."""

log = logging.getLogger(__name__)


async def _warm_imports() -> None:
    await asyncio.sleep(WARM_DELAY_S)
    await asyncio.to_thread(_import_ahead)


def _import_ahead() -> None:
    for name in WARM_AFTER_READY:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the code that needs it will say so when it runs
            log.warning("could not import %s ahead of use: %s", name, exc)


class HostCheck:
    """Answers only requests addressed to the daemon by a loopback name (``127.0.0.1:<port>``,
    ``localhost:<port>``), so a web page on a rebinding DNS name (``evil.com`` resolving to 127.0.0.1)
    reaches nothing, not even ``/health``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._is_allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        host = self._host(scope)
        body = {"error": {"type": "BadParamError", "message": f"unexpected Host header {host!r}",
                          "hint": "the daemon answers only at 127.0.0.1:<port> or localhost:<port>"}}
        await JSONResponse(body, status_code=421)(scope, receive, send)

    @staticmethod
    def _host(scope: Scope) -> str:
        for key, value in scope.get("headers", ()):
            if key == b"host":
                return bytes(value).decode("latin-1")
        return ""

    def _is_allowed(self, scope: Scope) -> bool:
        server = scope.get("server") or (None, None)
        port = server[1]
        allowed = {f"{name}:{port}" for name in LOOPBACK_NAMES} if port else set(LOOPBACK_NAMES)
        return self._host(scope).lower() in allowed


def create_app(settings: Settings, daemon: Daemon | None = None, *,
               on_ready: Callable[[], None] | None = None) -> FastAPI:
    """The API over one daemon; ``on_ready`` runs once the daemon is open (apps restored), and an error
    while opening is kept in ``app.state.startup_error`` for ``serve`` to report."""
    the_daemon = daemon or Daemon(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await the_daemon.open()
        except Exception as exc:
            app.state.startup_error = exc
            raise
        if on_ready is not None:
            on_ready()
        warming = asyncio.create_task(_warm_imports(), name="imports after ready")
        try:
            yield
        finally:
            warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warming
            await the_daemon.close()

    app = FastAPI(title="PinokioCloud", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None,
                  description="The PinokioCloud control plane. Every route but /health needs the token from "
                              "PINOKIO_HOME/daemon.token as `Authorization: Bearer <token>` (or `?token=`, "
                              "as /docs?token=… in a browser).")
    app.state.daemon = the_daemon
    app.add_middleware(HostCheck)
    _add_docs(app)
    app.state.startup_error = None
    install_error_handlers(app)
    app.include_router(system.router)
    app.include_router(apps.router)
    app.include_router(runs.router)
    app.include_router(ui.router)
    app.include_router(shares.router)
    app.include_router(downloads.router)
    return app


def _add_docs(app: FastAPI) -> None:
    """The API's schema and its two documentation pages, for the token's holder only (they list every
    route a caller could try)."""

    def schema_url(request: Request) -> str:
        token = request.query_params.get("token")
        return "/openapi.json" + (f"?token={token}" if token else "")

    @app.get("/openapi.json", include_in_schema=False, dependencies=[AuthDep])
    async def openapi() -> dict[str, object]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False, dependencies=[AuthDep])
    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=schema_url(request), title="PinokioCloud API")

    @app.get("/redoc", include_in_schema=False, dependencies=[AuthDep])
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url=schema_url(request), title="PinokioCloud API")
