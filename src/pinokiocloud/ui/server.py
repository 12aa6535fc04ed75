"""The dashboard's web server: Streamlit's own ASGI app (``st.App``) behind a guard, served by uvicorn.

Why not ``streamlit run``: its port answers anyone who can reach it, and the daemon's gateway on the UI
port is the only door the dashboard may have. Here every request must start with a per-start secret
path (``/<secret>/…``; the gateway's target URL carries it, the guard strips it, so Streamlit sees the
paths the browser uses), and a WebSocket from another origin is refused. The server listens on a Unix
socket (``--uds``, in a folder only the owner can open) or on a loopback port.

Run by the daemon as ``python -m pinokiocloud.ui.server (--uds PATH | --port N)``; the secret comes in
the environment (``PINOKIOCLOUD_UI_SECRET``), never on the command line, where ``ps`` shows it.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["SECRET_ENV", "STREAMLIT_OPTIONS", "UpstreamGuard", "build_app", "main"]

SECRET_ENV = "PINOKIOCLOUD_UI_SECRET"
UI_APP = Path(__file__).resolve().parent / "app.py"
STREAMLIT_OPTIONS: dict[str, str] = {
    "STREAMLIT_SERVER_HEADLESS": "true",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
    "STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION": "true",
    "STREAMLIT_SERVER_ENABLE_CORS": "true",
    "STREAMLIT_CLIENT_TOOLBAR_MODE": "minimal",  # for users: no "Deploy", no developer items in the ⋮ menu
}
"""Streamlit's settings for the dashboard, as the environment variables Streamlit reads."""
_SAME_ORIGIN_FETCHES = frozenset({"same-origin", "none"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class UpstreamGuard:
    """Lets through only requests under ``/<secret>`` (then strips it) and same-origin WebSockets.

    A WebSocket is the dashboard's remote control (every button is a message on it), so it must come from a
    page of the dashboard itself: a browser's ``Sec-Fetch-Site`` must say ``same-origin``, and an ``Origin``
    must name the host the browser addressed (``Host``, or the gateway's ``X-Forwarded-Host``).
    """

    def __init__(self, app: ASGIApp, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the dashboard's upstream secret must have at least 16 characters")
        self.app = app
        self.prefix = "/" + secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            await self._refuse(scope, send, 404, b"not found\n")
            return
        if scope["type"] == "websocket" and not self._is_same_origin(scope):
            await self._refuse(scope, send, 403, b"cross-origin WebSocket refused\n")
            return
        inner = path[len(self.prefix):] or "/"
        raw = scope.get("raw_path")
        scope = {**scope, "path": inner,
                 "raw_path": raw[len(self.prefix):] or b"/" if isinstance(raw, bytes) else inner.encode()}
        await self.app(scope, receive, send)

    @staticmethod
    def _is_same_origin(scope: Scope) -> bool:
        site = _header(scope, b"sec-fetch-site")
        if site is not None and site.lower() not in _SAME_ORIGIN_FETCHES:
            return False
        origin = _header(scope, b"origin")
        if origin is None or origin == "null":
            return origin is None  # a client without a page (no Origin) is not a cross-site page
        netloc = urlsplit(origin).netloc.lower()
        addressed: Iterable[str | None] = (_header(scope, b"host"), _header(scope, b"x-forwarded-host"))
        return any(netloc == (a or "").split(",")[0].strip().lower() for a in addressed if a)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, body: bytes) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accepting: the server answers 403
            return
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})


def build_app(secret: str, script: Path = UI_APP) -> ASGIApp:
    """Streamlit's ASGI app for ``script`` behind :class:`UpstreamGuard`."""
    for key, value in STREAMLIT_OPTIONS.items():
        os.environ[key] = value  # this process is the dashboard's own: its Streamlit reads these
    import streamlit as st

    return UpstreamGuard(st.App(str(script)), secret)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pinokiocloud.ui.server", description=__doc__)
    listen = parser.add_mutually_exclusive_group(required=True)
    listen.add_argument("--uds", type=Path, help="listen on this Unix socket")
    listen.add_argument("--port", type=int, help="listen on this port of 127.0.0.1")
    args = parser.parse_args(argv)
    secret = os.environ.pop(SECRET_ENV, "")
    if not secret:
        parser.error(f"{SECRET_ENV} must hold the upstream secret")
    import uvicorn

    app = build_app(secret)
    # no access log: every path it would write starts with the secret (Streamlit re-attaches its handlers
    # to uvicorn's loggers, so the logger itself is switched off)
    logging.getLogger("uvicorn.access").disabled = True
    # loop="asyncio": uvloop (which SkyPilot installs) would become the loop otherwise (see server/serve.py)
    run = functools.partial(uvicorn.run, app, log_config=None, log_level="warning", access_log=False, lifespan="on",
                            loop="asyncio")
    if args.uds is not None:
        run(uds=str(args.uds))
    else:
        run(host="127.0.0.1", port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
