"""The share manager with the cloudflared and ngrok STAND-INS (tests/share/standins/standin.py: their
vendors cannot be reached offline), a real gateway and a real app server. These test our URL parsing,
health logic, racing, failover and persistence; they are not end-to-end tests of the vendors."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import stat
from pathlib import Path

import pytest

from pinokiocloud.errors import BadParamError, TunnelError
from pinokiocloud.share import ShareEvent, ShareManager, ShareSettings, ShareState
from pinokiocloud.share.probe import probe
from pinokiocloud.share.providers import ProviderContext
from pinokiocloud.share.providers.cloudflare import CloudflareProvider, ensure_cloudflared
from tests.helpers.http_server import LocalHTTPServer
from tests.share.conftest import run
from tests.share.edge import STANDIN, Edge, make_standin
from tests.share.origin import PAGE, Origin

CLOUDFLARE_URL = re.compile(r"https://p\d+-[0-9a-f]{8}\.trycloudflare\.com")
NGROK_URL = re.compile(r"https://p\d+-[0-9a-f]{8}\.ngrok-free\.app")


def _settings(home: Path, edge: Edge | None, **env: str) -> ShareSettings:
    bin_dir = home / "standin-bin"
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "PINOKIOCLOUD_PLATFORM": "local",
            "PINOKIOCLOUD_CLOUDFLARED": str(make_standin(bin_dir, "cloudflared")),
            "PINOKIOCLOUD_NGROK": str(make_standin(bin_dir, "ngrok")), "NGROK_AUTHTOKEN": "test-token"}
    if edge is not None:
        base["PINOKIOCLOUD_SHARE_RESOLVE"] = edge.resolve
    return ShareSettings.from_mapping({**base, **env}, home=home, cloud_platform=env.get("PINOKIOCLOUD_PLATFORM",
                                                                                         "local"))


def _manager(settings: ShareSettings, events: list[ShareEvent] | None = None, **timing: float) -> ShareManager:
    options = {"probe_interval_s": 1.0, "tick_s": 0.25, "attempt_timeout_s": 10.0, "preference_grace_s": 3.0,
               "probe_timeout_s": 3.0, **timing}
    return ShareManager(settings, on_event=(events.append if events is not None else None), **options)  # type: ignore[arg-type]


async def _wait_for(events: list[ShareEvent], kind: str, timeout_s: float = 30.0) -> ShareEvent:
    for _ in range(int(timeout_s * 10)):
        for event in events:
            if event.kind == kind:
                return event
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind!r} event; got {events}")


def test_cloudflare_standin_share_goes_online_with_the_quicktunnel_hostname(tmp_path: Path) -> None:
    events: list[ShareEvent] = []

    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            manager = _manager(_settings(tmp_path, edge), events)
            try:
                info = await manager.share("demo", origin.url, providers=["cloudflare"], passcode="pass-1-strong-enough")
                assert info.state is ShareState.ONLINE and info.is_healthy
                assert info.public_url is not None and CLOUDFLARE_URL.fullmatch(info.public_url)
                assert (info.provider, info.passcode, info.url) == ("cloudflare", "pass-1-strong-enough", info.public_url)
                assert info.token_url == f"{info.public_url}/?token={info.token}"
                assert info.local_url.startswith("http://127.0.0.1:") and info.client_pid is not None
                # the public URL leads through the gateway to the app
                page = await probe(info.public_url + "/", headers={"Authorization": f"Bearer {info.token}"},
                                   resolve=manager.settings.resolve)
                assert page.status == 200 and page.text == PAGE
                assert (await probe(info.public_url + "/", resolve=manager.settings.resolve)).status == 401
            finally:
                await manager.close()
        assert [(e.kind, e.provider, e.url) for e in events] == [("online", "cloudflare", info.public_url)]

    run(scenario())


def test_ngrok_standin_url_from_its_log_and_bypass_header(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            manager = _manager(_settings(tmp_path, edge))
            try:
                info = await manager.share("demo", origin.url, providers=["ngrok"])
                assert info.state is ShareState.ONLINE, info.reasons
                assert info.public_url is not None and NGROK_URL.fullmatch(info.public_url)
            finally:
                await manager.close()

    run(scenario())


def test_ngrok_without_token_or_with_a_bad_one_reports_why(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin:
            manager = _manager(_settings(tmp_path, None, NGROK_AUTHTOKEN=""))
            info = await manager.share("a", origin.url, providers=["ngrok"])
            assert info.reasons == {"ngrok": "NGROK_AUTHTOKEN is not set (ngrok needs a free account's authtoken)"}
            await manager.close()
            manager = _manager(_settings(tmp_path, None, NGROK_AUTHTOKEN="bad"))
            info = await manager.share("b", origin.url, providers=["ngrok"])
            assert info.state is ShareState.LOCAL_ONLY
            assert info.reasons["ngrok"].startswith("authentication failed: The authtoken you specified is invalid")
            await manager.close()

    run(scenario())


def test_preferred_provider_wins_and_a_broken_one_falls_through(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            manager = _manager(_settings(tmp_path, edge, PINOKIOCLOUD_SHARE_PROVIDERS="ngrok,cloudflare"))
            info = await manager.share("first", origin.url)
            assert info.provider == "ngrok" and info.reasons == {"cloudflare": "another provider won the race"}
            await manager.close()
            manager = _manager(_settings(tmp_path, edge, PINOKIOCLOUD_SHARE_PROVIDERS="ngrok,cloudflare",
                                         NGROK_AUTHTOKEN="bad"))
            info = await manager.share("second", origin.url)
            assert info.provider == "cloudflare" and set(info.reasons) == {"ngrok"}
            await manager.close()

    run(scenario())


def test_killed_client_is_restarted_with_a_url_changed_event(tmp_path: Path) -> None:
    events: list[ShareEvent] = []

    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            manager = _manager(_settings(tmp_path, edge), events)
            try:
                before = await manager.share("demo", origin.url, providers=["cloudflare"])
                assert before.client_pid is not None
                os.kill(before.client_pid, 9)
                changed = await _wait_for(events, "url-changed")
                after = manager.get("demo")
                assert after is not None and after.state is ShareState.ONLINE
                assert changed.previous_url == before.public_url and changed.url == after.public_url
                assert after.public_url != before.public_url
            finally:
                await manager.close()
        assert [e.kind for e in events] == ["online", "unhealthy", "url-changed"]
        assert events[1].reason == "the cloudflare client stopped"

    run(scenario())


def test_unready_cloudflared_counts_as_unhealthy(tmp_path: Path) -> None:
    async def scenario() -> None:
        ctx = ProviderContext("demo", _settings(tmp_path, None, STANDIN_MODE="unready"))
        provider = CloudflareProvider(ctx)
        async with Origin() as origin:
            try:
                url = await provider.start(origin.url)
                assert CLOUDFLARE_URL.fullmatch(url)
                assert provider.is_running() and not await provider.health()  # /ready says 503
            finally:
                await provider.stop()
            assert not provider.is_running()
        ok = CloudflareProvider(ProviderContext("demo", _settings(tmp_path, None)))
        async with Origin() as origin:
            try:
                await ok.start(origin.url)
                assert await ok.health()
            finally:
                await ok.stop()

    run(scenario())


def test_cloudflared_that_exits_or_never_reports_a_url(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin:
            manager = _manager(_settings(tmp_path, None, STANDIN_MODE="exit"))
            info = await manager.share("a", origin.url, providers=["cloudflare"])
            assert "lookup api.trycloudflare.com: no such host" in info.reasons["cloudflare"]
            await manager.close()
            manager = _manager(_settings(tmp_path, None, STANDIN_MODE="never-ready"), attempt_timeout_s=2.0)
            info = await manager.share("b", origin.url, providers=["cloudflare"])
            assert info.state is ShareState.LOCAL_ONLY and "within" in info.reasons["cloudflare"]
            await manager.close()

    run(scenario())


def test_no_provider_available_reports_each_reason_and_falls_back_to_the_local_url(tmp_path: Path) -> None:
    events: list[ShareEvent] = []

    async def scenario() -> None:
        async with Origin() as origin:
            settings = _settings(tmp_path, None, NGROK_AUTHTOKEN="", PINOKIOCLOUD_CLOUDFLARED=str(tmp_path / "none"),
                                 PINOKIOCLOUD_SHARE_PROVIDERS="platform,cloudflare,ngrok,bore",
                                 PINOKIOCLOUD_BORE_SERVER="127.0.0.1:9")
            manager = _manager(settings, events)
            try:
                info = await manager.share("demo", origin.url)
                assert info.state is ShareState.LOCAL_ONLY and info.public_url is None
                assert info.url == info.local_url and info.is_protected
                assert set(info.reasons) == {"platform", "cloudflare", "ngrok", "bore"}
                assert info.reasons["platform"] == "Linux has no native way to reach a port from outside"
                assert "does not exist" in info.reasons["cloudflare"]
                assert "cannot reach the bore server" in info.reasons["bore"]
                # the local URL works, behind the passcode
                page = await probe(info.local_url + "/", headers={"Authorization": f"Bearer {info.passcode}"})
                assert page.text == PAGE
            finally:
                await manager.close()
        assert events[0].kind == "local-only" and "NGROK_AUTHTOKEN" in (events[0].reason or "")

    run(scenario())


def test_an_app_that_does_not_answer_cannot_be_shared(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin:
            dead = origin.url
        manager = _manager(_settings(tmp_path, None))
        with pytest.raises(BadParamError, match=r"nothing answers at .*start the app first"):
            await manager.share("demo", dead)
        with pytest.raises(BadParamError, match="did you mean 'cloudflare'"):
            async with Origin() as origin:
                await manager.share("demo", origin.url, providers=["cloudflair"])
        assert manager.shares() == []

    run(scenario())


def test_shares_are_remembered_and_restored_after_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            settings = _settings(tmp_path, edge)
            first = _manager(settings)
            before = await first.share("demo", origin.url, providers=["cloudflare"], passcode="keep-me-strong-enough")
            await first.close()  # the daemon stops; the share is remembered
            state = settings.state_dir / "shares.json"
            assert stat.S_IMODE(state.stat().st_mode) == 0o600
            saved = json.loads(state.read_text())["shares"]["demo"]
            assert saved["passcode"] == "keep-me-strong-enough" and saved["token"] == before.token
            second = _manager(settings)
            try:
                assert [r.app for r in second.remembered()] == ["demo"]
                restored = await second.restore()
                assert [r.app for r in restored] == ["demo"]
                after = second.get("demo")
                assert after is not None and after.state is ShareState.ONLINE
                assert (after.passcode, after.token) == ("keep-me-strong-enough", before.token)
                assert await second.unshare("demo")
                assert second.remembered() == [] and second.get("demo") is None
                assert not await second.unshare("demo")
            finally:
                await second.close()

    run(scenario())


def test_restore_skips_apps_that_are_not_running_yet(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            settings = _settings(tmp_path, edge)
            first = _manager(settings)
            await first.share("demo", origin.url, providers=["cloudflare"])
            await first.close()
        second = _manager(settings)
        assert await second.restore() == []
        assert [r.app for r in second.remembered()] == ["demo"]

    run(scenario())


def test_platforms_that_forbid_tunnels_rule_them_out_unless_named(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            settings = _settings(tmp_path, edge, PINOKIOCLOUD_PLATFORM="kaggle",
                                 PINOKIOCLOUD_SHARE_PROVIDERS="cloudflare")
            manager = _manager(settings)
            info = await manager.share("a", origin.url)
            assert info.state is ShareState.LOCAL_ONLY
            assert info.reasons["cloudflare"].startswith("Kaggle does not allow public tunnels")
            info = await manager.share("b", origin.url, providers=["cloudflare"])
            assert info.state is ShareState.ONLINE
            await manager.close()

    run(scenario())


def test_platform_exposure_from_a_port_map(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin:
            from tests.share.tunnels import free_port

            port = free_port()
            settings = _settings(tmp_path, None, PINOKIOCLOUD_PLATFORM="vast", PUBLIC_IPADDR="127.0.0.1",
                                 **{f"VAST_TCP_PORT_{port}": str(port)})
            manager = _manager(settings)
            try:
                info = await manager.share("demo", origin.url, providers=["platform"], gateway_port=port)
                assert info.provider == "platform" and info.public_url == f"http://127.0.0.1:{port}"
                assert info.state is ShareState.ONLINE
            finally:
                await manager.close()

    run(scenario())


def test_gradio_share_link_is_used_only_when_named_and_is_unprotected(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin:
            output = ("Running on local URL:  http://127.0.0.1:7860\n"
                      "Running on public URL: https://0123abcd4567ef.gradio.live\n")
            settings = _settings(tmp_path, None, PINOKIOCLOUD_SHARE_RESOLVE=f"*.gradio.live=http://127.0.0.1:{origin.port}",
                                 PINOKIOCLOUD_SHARE_PROVIDERS="gradio")
            manager = _manager(settings)
            try:
                info = await manager.share("a", origin.url, app_output=lambda: output)
                assert info.state is ShareState.LOCAL_ONLY and "without the passcode gateway" in info.reasons["gradio"]
                info = await manager.share("b", origin.url, providers=["gradio"], app_output=lambda: output)
                assert info.public_url == "https://0123abcd4567ef.gradio.live"
                assert info.state is ShareState.ONLINE and not info.is_protected and info.token_url is None
            finally:
                await manager.close()

    run(scenario())


def test_cloudflared_is_downloaded_once_and_checked_against_its_pinned_sha256(tmp_path: Path) -> None:
    server = LocalHTTPServer().start()
    try:
        body = STANDIN.read_bytes()
        url = server.add("/cloudflared-linux-amd64", body)
        good = hashlib.sha256(body).hexdigest()

        async def scenario() -> None:
            binary = await ensure_cloudflared(tmp_path / "bin", url, good)
            assert binary.read_bytes() == body and os.access(binary, os.X_OK)
            again = await ensure_cloudflared(tmp_path / "bin", url, good)
            assert again == binary
            assert len(server.requests_for("/cloudflared-linux-amd64")) == 1
            with pytest.raises(TunnelError, match=r"expected 0{64}; it was deleted"):
                await ensure_cloudflared(tmp_path / "other", url, "0" * 64)
            assert list((tmp_path / "other").iterdir()) == []
            with pytest.raises(TunnelError, match="set PINOKIOCLOUD_CLOUDFLARED"):
                await ensure_cloudflared(tmp_path / "third", server.url("/missing"), good)

        run(scenario())
    finally:
        server.stop()


def test_probe_interval_above_30_s_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadParamError, match="probe_interval_s"):
        ShareManager(_settings(tmp_path, None), probe_interval_s=45)
