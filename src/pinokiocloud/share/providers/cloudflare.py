"""Cloudflare quick tunnels (``*.trycloudflare.com``), no account needed.

``cloudflared`` comes from ``PINOKIOCLOUD_CLOUDFLARED``, else it is downloaded once into
``PINOKIO_HOME/bin`` from the pinned release and checked against its pinned sha256. The public URL is
read from the metrics server's ``/quicktunnel`` (its ``hostname``), which is steadier than scraping
the banner; the banner is the fallback. Health is the metrics server's ``/ready`` (200 with
``readyConnections >= 1``; 503 while no edge connection is up).
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
from pathlib import Path

from pinokiocloud.downloads import download
from pinokiocloud.errors import DownloadError, TunnelError
from pinokiocloud.share.providers.base import (
    ProcessProvider,
    ProviderContext,
    register,
)
from pinokiocloud.store.blobs import hash_file

__all__ = ["CLOUDFLARED_RELEASES", "CLOUDFLARED_VERSION", "CloudflareProvider", "ensure_cloudflared"]

CLOUDFLARED_VERSION = "2024.12.2"
# sha256 of the release assets, as pinned by cashapp/hermit-packages cloudflared.hcl.
CLOUDFLARED_RELEASES: dict[str, tuple[str, str]] = {
    "x86_64": (
        f"https://github.com/cloudflare/cloudflared/releases/download/{CLOUDFLARED_VERSION}/cloudflared-linux-amd64",
        "5237675a5e806120729acc78c5be02f9db5f406717699587abfa72b49b39fe40",
    ),
}
START_TIMEOUT_S = 45.0
METRICS_TIMEOUT_S = 3.0
POLL_INTERVAL_S = 0.25
_BANNER_URL = re.compile(r"https://(?!api\.)[a-z0-9-]+\.trycloudflare\.com")  # not the API host in errors


async def ensure_cloudflared(bin_dir: Path, url: str, sha256: str) -> Path:
    """The verified binary at ``bin_dir/cloudflared-<sha256 prefix>``, downloading it when missing.

    A file whose checksum does not match is deleted and reported, never run.
    """
    target = bin_dir / f"cloudflared-{sha256[:12]}"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    bin_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".download")
    partial.unlink(missing_ok=True)
    try:
        await download(url, path=partial, retries=2)
    except DownloadError as exc:
        partial.unlink(missing_ok=True)
        raise _fail(f"cannot download cloudflared ({exc.reason}); set PINOKIOCLOUD_CLOUDFLARED to a "
                    "cloudflared executable") from exc
    digest = await asyncio.to_thread(hash_file, partial)
    if digest != sha256:
        partial.unlink(missing_ok=True)
        raise _fail(f"the downloaded cloudflared has sha256 {digest}, expected {sha256}; it was deleted")
    partial.chmod(0o755)
    partial.replace(target)
    return target


def _fail(reason: str) -> TunnelError:
    return TunnelError("cloudflare", reason)


@register
class CloudflareProvider(ProcessProvider):
    name = "cloudflare"

    def __init__(self, ctx: ProviderContext, *, release: tuple[str, str] | None = None) -> None:
        super().__init__(ctx)
        self.release = release or CLOUDFLARED_RELEASES.get(platform.machine())
        self._metrics: str | None = None

    @property
    def reason(self) -> str | None:
        override = self.settings.cloudflared
        if override is not None:
            return None if override.is_file() else f"PINOKIOCLOUD_CLOUDFLARED={override} does not exist"
        if self.release is None:
            return (f"no pinned cloudflared for {platform.machine()}; set PINOKIOCLOUD_CLOUDFLARED to a "
                    "cloudflared executable")
        return None

    async def _binary(self) -> Path:
        if self.settings.cloudflared is not None:
            return self.settings.cloudflared
        assert self.release is not None
        return await ensure_cloudflared(self.settings.bin_dir, *self.release)

    async def start(self, target_url: str) -> str:
        if (why := self.reason) is not None:
            raise self.fail(why)
        binary = await self._binary()

        async def launch(address: str) -> None:
            self._metrics = address
            await self.spawn([str(binary), "tunnel", "--no-autoupdate", "--url", target_url, "--metrics", address])

        self.public_url = await self.start_on_free_port(launch, self._wait_for_url)
        return self.public_url

    async def _wait_for_url(self) -> str:
        import httpx  # here, not at the top: the daemon starts without it (tests/server/test_import_cost.py)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=METRICS_TIMEOUT_S, trust_env=False) as http:
            while True:
                try:
                    response = await http.get(f"http://{self._metrics}/quicktunnel")
                    hostname = response.json().get("hostname") if response.status_code == 200 else None
                    if isinstance(hostname, str) and hostname:
                        return f"https://{hostname}"
                except (httpx.HTTPError, ValueError, AttributeError):
                    pass
                if match := self.search(_BANNER_URL):
                    return match.group(0)
                if not self.is_running():
                    raise self.fail(f"cloudflared exited with code {self.exit_code}: {self.output_tail()}")
                if loop.time() > deadline:
                    raise self.fail(f"no quick-tunnel hostname within {START_TIMEOUT_S:g} s: {self.output_tail()}")
                await asyncio.sleep(POLL_INTERVAL_S)

    async def health(self) -> bool:
        import httpx

        if not self.is_running():
            return False
        try:
            async with httpx.AsyncClient(timeout=METRICS_TIMEOUT_S, trust_env=False) as http:
                response = await http.get(f"http://{self._metrics}/ready")
            return response.status_code == 200 and int(response.json().get("readyConnections", 0)) >= 1
        except (httpx.HTTPError, ValueError, AttributeError, TypeError):
            return False

