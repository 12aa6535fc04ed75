"""A real app server on 127.0.0.1 for share tests: a page, a WebSocket echo, an SSE stream, a large
download with a known hash, an upload sink that hashes what it received, and a headers echo."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import TypeVar

from aiohttp import WSMsgType, web

PAGE = "<!doctype html><html><head><title>origin</title></head><body><h1>hello from the origin</h1></body></html>"
SSE_EVENTS = 5
CHUNK = bytes(range(256)) * 4096  # 1 MiB, not compressible to nothing, cheap to make


def big_body_sha256(size: int) -> str:
    digest = hashlib.sha256()
    full, rest = divmod(size, len(CHUNK))
    for _ in range(full):
        digest.update(CHUNK)
    digest.update(CHUNK[:rest])
    return digest.hexdigest()


async def _page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def _headers(request: web.Request) -> web.Response:
    return web.json_response({"headers": dict(request.headers), "query": dict(request.query),
                              "path": request.path})


async def _ws(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("echo",))
    await ws.prepare(request)
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str("echo:" + message.data)
        elif message.type == WSMsgType.BINARY:
            await ws.send_bytes(message.data[::-1])
    return ws


async def _sse(request: web.Request) -> web.StreamResponse:
    delay = float(request.query.get("delay", "0.05"))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    for i in range(SSE_EVENTS):
        await response.write(f"id: {i}\ndata: {json.dumps({'n': i})}\n\n".encode())
        await asyncio.sleep(delay)
    await response.write_eof()
    return response


async def _big(request: web.Request) -> web.StreamResponse:
    size = int(request.query.get("size", str(50 * 1024 * 1024)))
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = size
    await response.prepare(request)
    full, rest = divmod(size, len(CHUNK))
    for _ in range(full):
        await response.write(CHUNK)
    if rest:
        await response.write(CHUNK[:rest])
    await response.write_eof()
    return response


async def _upload(request: web.Request) -> web.Response:
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return web.json_response({"size": size, "sha256": digest.hexdigest(),
                              "content_length": request.content_length})


async def _redirect(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": f"http://{request.host}/target"})


def make_app() -> web.Application:
    app = web.Application(client_max_size=0)
    app.router.add_get("/", _page)
    app.router.add_get("/headers", _headers)
    app.router.add_get("/ws", _ws)
    app.router.add_get("/sse", _sse)
    app.router.add_get("/big", _big)
    app.router.add_post("/upload", _upload)
    app.router.add_put("/upload", _upload)
    app.router.add_get("/redirect", _redirect)
    return app


S = TypeVar("S", bound="LoopbackServer")


class LoopbackServer:
    """An aiohttp app on 127.0.0.1 (``port`` 0: any free one) for the length of an ``async with``; subclasses
    say which app in :meth:`make_app`. ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self: S) -> S:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self: S) -> S:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class Origin(LoopbackServer):
    """``async with Origin() as origin``: the app above at ``origin.url``."""

    def make_app(self) -> web.Application:
        return make_app()


def main() -> None:
    """Run as a separate process (``python -m tests.share.origin PORT``) for benchmarks."""
    import sys

    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
