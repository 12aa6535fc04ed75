"""What must arrive intact through a share: a page, a WebSocket echo, an SSE stream, a big download."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping

import aiohttp

from pinokiocloud.share.config import resolve_url
from tests.share.origin import PAGE, SSE_EVENTS, big_body_sha256

BIG_BYTES = 50 * 1024 * 1024


def target(url: str, resolve: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, str]]:
    return resolve_url(url, resolve)


async def check_through(base_url: str, auth: Mapping[str, str], *, resolve: tuple[tuple[str, str], ...] = (),
                        big_bytes: int = BIG_BYTES) -> None:
    """Assert each kind of traffic passes ``base_url`` unchanged (``auth``: headers the gateway accepts)."""
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        url, extra = target(base_url + "/", resolve)
        headers = {**auth, **extra}
        async with http.get(url, headers=headers) as response:
            assert response.status == 200, await response.text()
            assert await response.text() == PAGE

        ws_url, extra = target(base_url.replace("http", "ws", 1) + "/ws", resolve)
        async with http.ws_connect(ws_url, headers={**auth, **extra}, protocols=("echo",)) as ws:
            assert ws.protocol == "echo"
            await ws.send_str("ping")
            assert (await ws.receive(timeout=10)).data == "echo:ping"
            await ws.send_bytes(b"\x00\x01\x02")
            assert (await ws.receive(timeout=10)).data == b"\x02\x01\x00"

        url, extra = target(base_url + "/sse?delay=0.2", resolve)
        started = time.monotonic()
        async with http.get(url, headers={**auth, **extra}) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
            first_at = time.monotonic() - started
            assert first == b'id: 0\ndata: {"n": 0}\n\n'
            rest = await response.content.read()
        # streamed, not buffered: the first event came well before the stream's end (5 x 0.2 s)
        assert first_at < 0.2 * (SSE_EVENTS - 1), first_at
        assert rest.count(b"data: ") == SSE_EVENTS - 1

        url, extra = target(base_url + f"/big?size={big_bytes}", resolve)
        digest = hashlib.sha256()
        received = 0
        async with http.get(url, headers={**auth, **extra}) as response:
            assert response.status == 200
            async for chunk in response.content.iter_chunked(1 << 20):
                digest.update(chunk)
                received += len(chunk)
        assert received == big_bytes
        assert digest.hexdigest() == big_body_sha256(big_bytes)
