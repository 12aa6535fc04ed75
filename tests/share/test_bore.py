"""Our bore client against a bore-protocol server on 127.0.0.1 (tests/share/bore_server.py)."""

from __future__ import annotations

import os
from pathlib import Path

from pinokiocloud.share import ShareManager, ShareSettings, ShareState
from pinokiocloud.share.probe import probe
from tests.share.bore_server import BoreServer
from tests.share.checks import check_through
from tests.share.conftest import run
from tests.share.origin import Origin


def _settings(home: Path, server: BoreServer, secret: str | None) -> ShareSettings:
    env = {"PATH": os.environ.get("PATH", ""), "PINOKIOCLOUD_BORE_SERVER": f"127.0.0.1:{server.port}"}
    if secret is not None:
        env["PINOKIOCLOUD_BORE_SECRET"] = secret
    return ShareSettings.from_mapping(env, home=home, cloud_platform="local")


def test_bore_share_with_a_secret_carries_page_websocket_sse_and_download(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin, BoreServer(secret="s3cret") as server:
            manager = ShareManager(_settings(tmp_path, server, "s3cret"), probe_interval_s=1.0)
            try:
                info = await manager.share("demo", origin.url, providers=["bore"])
                assert info.state is ShareState.ONLINE, info.reasons
                assert info.public_url is not None and info.public_url.startswith("http://127.0.0.1:")
                await check_through(info.public_url, {"Authorization": f"Bearer {info.token}"},
                                    big_bytes=8 * 1024 * 1024)
            finally:
                await manager.close()

    run(scenario())


def test_bore_with_a_wrong_or_missing_secret_says_so(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin, BoreServer(secret="right") as server:
            manager = ShareManager(_settings(tmp_path, server, None))
            info = await manager.share("a", origin.url, providers=["bore"])
            assert info.reasons == {"bore": "the bore server needs a secret: set PINOKIOCLOUD_BORE_SECRET"}
            await manager.close()
            manager = ShareManager(_settings(tmp_path, server, "wrong"))
            info = await manager.share("b", origin.url, providers=["bore"])
            assert info.reasons == {"bore": "the bore server refused the tunnel: invalid secret"}
            assert server.refused == 2  # the missing secret, then the wrong one
            assert (await probe(info.local_url + "/")).status == 401
            await manager.close()

    run(scenario())
