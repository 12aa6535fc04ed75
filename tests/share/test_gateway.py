"""The auth gateway against a real app server on 127.0.0.1 (tests/share/origin.py)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from pinokiocloud.share.gateway import GATEWAY_PREFIX, SESSION_COOKIE, AccessRecord, Gateway, generate_passcode
from pinokiocloud.share.limiter import GuessLimiter
from tests.share.checks import check_through
from tests.share.conftest import run
from tests.share.origin import PAGE, Origin

PASSCODE = "open-sesame"


def _session() -> aiohttp.ClientSession:
    # no cookie jar unless a test wants one; never follow redirects by default
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


def test_generated_passcode_is_readable_and_random() -> None:
    codes = {generate_passcode() for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", code)  # 31^16: ~79 bits
        assert not set(code) & set("01lio")


def test_gateway_without_passcode_generates_one() -> None:
    gateway = Gateway("http://127.0.0.1:9")
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", gateway.passcode or "")
    assert len(base64.urlsafe_b64decode(gateway.token)) * 8 >= 128  # the link token
    assert gateway.cookie_name.startswith(SESSION_COOKIE) and gateway.cookie_name != Gateway("http://x:9").cookie_name


def test_wrong_passcode_gets_401_page_without_details() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE, name="demo") as gw, _session() as http:
            async with http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": "nope", "next": "/"},
                                 allow_redirects=False) as response:
                body = await response.text()
                assert response.status == 401
                assert not response.cookies
            assert "Wrong passcode." in body
            for secret in (PASSCODE, gw.token, origin.url, str(origin.port), "Traceback"):
                assert secret not in body
            # a browser without credentials gets the login page, an API client a Basic challenge
            async with http.get(gw.url + "/", headers={"Accept": "text/html"}) as response:
                assert response.status == 401
                assert 'name="passcode"' in await response.text()
            async with http.get(gw.url + "/headers") as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"].startswith("Basic")
                assert "origin" not in (await response.text()).lower()

    run(scenario())


def test_login_sets_a_session_cookie_that_opens_the_app() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw, _session() as http:
            async with http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": PASSCODE, "next": "/headers"},
                                 allow_redirects=False) as response:
                assert response.status == 303
                assert response.headers["Location"] == "/headers"
                cookie = response.cookies[gw.cookie_name]
                assert cookie["httponly"] and cookie["samesite"] == "Lax"
            # another gateway's session on the same host is not passed on either
            jar = {gw.cookie_name: cookie.value, "app_cookie": "kept", f"{SESSION_COOKIE}_other": "x"}
            async with http.get(gw.url + "/headers", headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}) as response:
                assert response.status == 200
                seen = (await response.json())["headers"]
            # the app sees its own cookies, never the gateway's session
            assert seen["Cookie"] == "app_cookie=kept"
            assert seen["Host"] == f"127.0.0.1:{origin.port}"
            # a forged or tampered cookie is refused
            tampered = cookie.value[:-1] + ("0" if cookie.value[-1] != "0" else "1")
            async with http.get(gw.url + "/", headers={"Cookie": f"{gw.cookie_name}={tampered}"}) as response:
                assert response.status == 401
            # an open redirect through ?next= is not possible
            async with http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": PASSCODE,
                                 "next": "//evil.example/"}, allow_redirects=False) as response:
                assert response.headers["Location"] == "/"

    run(scenario())


def test_any_of_several_passcodes_unlocks() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode="alpha, beta") as gw, _session() as http:
            for code in ("alpha", "beta"):
                async with http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": code},
                                     allow_redirects=False) as response:
                    assert response.status == 303

    run(scenario())


def test_token_link_logs_in_and_drops_the_token_from_the_url() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw:
            link = gw.token_link()
            assert link == f"{gw.url}/?token={gw.token}"
            async with _session() as http:
                async with http.get(gw.url + f"/headers?a=1&token={gw.token}", allow_redirects=False) as response:
                    assert response.status == 303
                    assert response.headers["Location"] == "/headers?a=1"
                    cookie = response.cookies[gw.cookie_name].value
                async with http.get(gw.url + "/headers?a=1", headers={"Cookie": f"{gw.cookie_name}={cookie}"}) as response:
                    assert response.status == 200
            # with a cookie jar, as a browser does, one click lands on the page (unsafe=True: cookies for an IP)
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser, \
                    browser.get(link) as response:
                assert response.status == 200
                assert await response.text() == PAGE
                assert str(response.url) == gw.url + "/"
            # a token that is not ours is the app's business (Jupyter uses ?token=): passed on, not consumed
            async with _session() as http, http.get(gw.url + "/headers?token=apps-own",
                                                    headers={"Authorization": f"Bearer {gw.token}"}) as response:
                assert (await response.json())["query"] == {"token": "apps-own"}

    run(scenario())


def test_bearer_and_basic_auth_for_api_clients() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw, _session() as http:
            basic = base64.b64encode(f"anyone:{PASSCODE}".encode()).decode()
            for header in (f"Bearer {gw.token}", f"Bearer {PASSCODE}", f"Basic {basic}"):
                async with http.get(gw.url + "/headers", headers={"Authorization": header}) as response:
                    assert response.status == 200, header
                    # the gateway's credentials are not passed on to the app
                    assert "Authorization" not in (await response.json())["headers"]
            wrong = base64.b64encode(b"anyone:wrong").decode()
            for header in ("Bearer wrong", f"Basic {wrong}", "Basic !!notbase64"):
                async with http.get(gw.url + "/headers", headers={"Authorization": header}) as response:
                    assert response.status == 401, header

    run(scenario())


def test_repeated_failures_are_delayed_then_refused_with_retry_after() -> None:
    # small numbers so the test is quick: 2 free misses, then 0.2 s, 0.4 s, 0.8 s...; nothing waits over 0.5 s
    limiter = GuessLimiter(free_failures=2, first_delay_s=0.2, max_delay_s=5, max_wait_s=0.5)

    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE, limiter=limiter) as gw, \
                _session() as http:
            seen: list[tuple[int, float]] = []
            for _ in range(6):
                started = time.monotonic()
                async with http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": "guess"},
                                     allow_redirects=False) as response:
                    seen.append((response.status, time.monotonic() - started))
                    retry_after = response.headers.get("Retry-After")
            statuses = [s for s, _ in seen]
            # misses 1-3 answer at once, 4 waits 0.2 s, 5 waits 0.4 s; the 6th would wait 0.8 s: refused
            assert statuses == [401, 401, 401, 401, 401, 429], seen
            assert all(took < 0.15 for _, took in seen[:3]), seen
            assert 0.15 < seen[3][1] < 0.5 and 0.35 < seen[4][1] < 0.8, seen
            assert retry_after is not None and int(retry_after) >= 1
            # the right passcode is delayed like any check from this address, never refused for good
            await asyncio.sleep(0.9)
            async with http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": PASSCODE},
                                 allow_redirects=False) as response:
                assert response.status == 303

    run(scenario())


def test_websocket_sse_and_large_download_pass_through() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw:
            await check_through(gw.url, {"Authorization": f"Bearer {gw.token}"}, big_bytes=20 * 1024 * 1024)
            async with _session() as http:
                # without credentials the WebSocket is refused before it reaches the app
                try:
                    await http.ws_connect(gw.url.replace("http", "ws") + "/ws")
                    raise AssertionError("the WebSocket opened without auth")
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 401

    run(scenario())


def test_large_upload_streams_to_the_app() -> None:
    size = 64 * 1024 * 1024
    block = os.urandom(1 << 20)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    expected = hashlib.sha256(block * (size // len(block))).hexdigest()

    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw, _session() as http:
            auth = {"Authorization": f"Bearer {gw.token}"}
            async with http.post(gw.url + "/upload", data=body(), headers=auth) as response:
                assert response.status == 200
                got = await response.json()
            assert got["size"] == size and got["sha256"] == expected
            async with http.put(gw.url + "/upload", data=block * 8,
                                headers={**auth, "Content-Length": str(8 * len(block))}) as response:
                got = await response.json()
            assert got["size"] == 8 * len(block)
            assert got["content_length"] == 8 * len(block)  # a known length is kept, not turned into chunks

    run(scenario())


def test_redirects_to_the_app_origin_are_rewritten_and_origin_checks_pass() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw, _session() as http:
            auth = {"Authorization": f"Bearer {gw.token}"}
            async with http.get(gw.url + "/redirect", headers=auth, allow_redirects=False) as response:
                assert response.status == 302
                assert response.headers["Location"] == "/target"
            # the page's own origin (as the browser reached the gateway) becomes the app's origin, so apps
            # that compare Origin with Host (Jupyter, Gradio) accept it ...
            async with http.get(gw.url + "/headers", headers={**auth, "Origin": "https://x.trycloudflare.com",
                                                              "Host": "x.trycloudflare.com"}) as response:
                seen = (await response.json())["headers"]
            assert seen["Origin"] == origin.url
            assert seen["X-Forwarded-Host"] == "x.trycloudflare.com"
            async with http.get(gw.url + "/headers", headers={**auth, "Origin": gw.url}) as response:
                assert (await response.json())["headers"]["Origin"] == origin.url
            # ... and a foreign page's Origin reaches the app as it came, so the app's CSRF check still works
            for foreign in ("https://evil.example", "null", f"http://127.0.0.1:{gw.port + 1}"):
                async with http.post(gw.url + "/upload", data=b"x", headers={**auth, "Origin": foreign}) as response:
                    assert response.status == 200
                async with http.get(gw.url + "/headers", headers={**auth, "Origin": foreign}) as response:
                    assert (await response.json())["headers"]["Origin"] == foreign

    run(scenario())


def test_app_down_is_a_502_and_health_answers_without_auth() -> None:
    async def scenario() -> None:
        async with Origin() as origin:
            dead = origin.url
        async with Gateway(dead, passcode=PASSCODE) as gw, _session() as http:
            async with http.get(gw.url + "/", headers={"Authorization": f"Bearer {gw.token}"}) as response:
                assert response.status == 502
                assert dead not in await response.text()
            async with http.get(gw.url + f"{GATEWAY_PREFIX}/health") as response:
                assert (await response.json()) == {"gateway": gw.gateway_id}

    run(scenario())


def test_access_log_records_requests_and_masks_tokens(tmp_path: Path) -> None:
    records: list[AccessRecord] = []
    log_file = tmp_path / "logs" / "demo.access.log"

    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE, access_log=log_file,
                                                on_access=records.append) as gw, _session() as http:
            async with http.get(gw.url + "/", headers={"User-Agent": "probe/1"}):
                pass
            async with http.get(gw.url + f"/?token={gw.token}", allow_redirects=False):
                pass
            async with http.get(gw.url + "/", headers={"Authorization": f"Bearer {gw.token}"}):
                pass
            assert gw.token not in log_file.read_text()

    run(scenario())
    assert [(r.status, r.auth) for r in records] == [(401, "denied"), (303, "token"), (200, "bearer")]
    lines = log_file.read_text().splitlines()
    assert len(lines) == 3
    assert '"GET /" 401' in lines[0] and '"probe/1"' in lines[0]
    assert "token=%2A%2A%2A" in lines[1]
