"""A loopback "edge" for stand-in tunnels: routes ``Host: p<port>-….<domain>`` to 127.0.0.1:<port>.

The stand-in cloudflared/ngrok name their public host after their relay port; tests point
``PINOKIOCLOUD_SHARE_RESOLVE`` at this edge, so probes of ``https://p1234-ab.trycloudflare.com`` travel
edge → stand-in relay → gateway → app, and a killed stand-in really breaks the public URL.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.share.origin import LoopbackServer

STANDIN = Path(__file__).parent / "standins" / "standin.py"


def make_standin(folder: Path, tool: str) -> Path:
    """An executable named ``tool`` (``cloudflared`` or ``ngrok``) that runs the stand-in."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / tool
    # runpy replaces sys.argv[0], so the tool's name travels in the environment
    path.write_text(f"#!{sys.executable}\nimport os, runpy\nos.environ['STANDIN_TOOL'] = {tool!r}\n"
                    f"runpy.run_path({str(STANDIN)!r}, run_name='__main__')\n")
    path.chmod(0o755)
    return path


class Edge(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self._session: aiohttp.ClientSession | None = None

    @property
    def resolve(self) -> str:
        return f"*.trycloudflare.com=http://127.0.0.1:{self.port},*.ngrok-free.app=http://127.0.0.1:{self.port}"

    async def _route(self, request: web.Request) -> web.Response:
        match = re.match(r"p(\d+)-", request.host)
        if match is None or self._session is None:
            return web.Response(status=404, text="no such tunnel")
        try:
            async with self._session.request(request.method, f"http://127.0.0.1:{match.group(1)}{request.path_qs}",
                                             headers={k: v for k, v in request.headers.items() if k != "Host"},
                                             data=await request.read()) as upstream:
                return web.Response(status=upstream.status, body=await upstream.read(),
                                    headers={"Content-Type": upstream.headers.get("Content-Type", "text/plain")})
        except aiohttp.ClientError:
            return web.Response(status=502, text="tunnel offline")

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._route)
        self._session = aiohttp.ClientSession()
        return app

    async def stop(self) -> None:
        await super().stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
