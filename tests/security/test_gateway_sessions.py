"""Sessions of the gateway end when they should: logout, expiry, a new passcode, a stopped gateway; and a
passcode kept only as a hash (with the same session key) brings the same logins back after a restart."""

from __future__ import annotations

import asyncio
import base64

import aiohttp

from pinokiocloud.share import Gateway, hash_passcode, verify_passcode
from pinokiocloud.share.gateway import GATEWAY_PREFIX
from tests.share.conftest import run
from tests.share.origin import Origin

PASSCODE = "maple-river-stone-42"


async def _login(gw: Gateway, passcode: str = PASSCODE) -> str | None:
    """The session cookie's value after a form login, ``None`` when refused."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http, \
            http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": passcode},
                      allow_redirects=False) as response:
        cookie = response.cookies.get(gw.cookie_name)
        return cookie.value if response.status == 303 and cookie is not None else None


async def _status(gw: Gateway, cookie: str, path: str = "/headers") -> int:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http, \
            http.get(gw.url + path, headers={"Cookie": f"{gw.cookie_name}={cookie}"}) as response:
        return response.status


def test_logout_revokes_the_session_and_closes_its_websockets() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw:
            cookie = await _login(gw)
            other = await _login(gw)
            assert cookie and other and await _status(gw, cookie) == 200
            async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
                ws = await http.ws_connect(gw.url.replace("http", "ws") + "/ws",
                                           headers={"Cookie": f"{gw.cookie_name}={cookie}"})
                await ws.send_str("ping")
                assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT
                async with http.get(gw.url + f"{GATEWAY_PREFIX}/logout", allow_redirects=False,
                                    headers={"Cookie": f"{gw.cookie_name}={cookie}"}) as response:
                    assert response.status == 303
                    assert response.cookies[gw.cookie_name].value == ""  # the browser drops it
                # the open WebSocket of that session is closed by the gateway
                message = await ws.receive(timeout=5)
                assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
                await ws.close()
            # a copy of the cookie no longer opens anything; another browser's session is untouched
            assert await _status(gw, cookie) == 401
            assert await _status(gw, other) == 200

    run(scenario())


def test_sessions_expire() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE, session_ttl_s=1.5) as gw:
            cookie = await _login(gw)
            assert cookie and await _status(gw, cookie) == 200
            await asyncio.sleep(1.6)
            assert await _status(gw, cookie) == 401

    run(scenario())


def test_a_new_passcode_ends_every_session_and_the_old_passcode() -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw:
            cookie = await _login(gw)
            assert cookie and await _status(gw, cookie) == 200
            await gw.set_passcode("a-brand-new-passcode-7")
            assert await _status(gw, cookie) == 401
            assert await _login(gw) is None
            fresh = await _login(gw, "a-brand-new-passcode-7")
            assert fresh and await _status(gw, fresh) == 200

    run(scenario())


def test_a_stopped_gateway_takes_its_sessions_with_it() -> None:
    """Unsharing stops the gateway; sharing again makes a new one, where the old cookie means nothing."""
    async def scenario() -> None:
        async with Origin() as origin:
            async with Gateway(origin.url, passcode=PASSCODE) as first:
                cookie = await _login(first)
                assert cookie
                port = first.port
            async with Gateway(origin.url, passcode=PASSCODE, port=port) as second, \
                    aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http, \
                    http.get(second.url + "/", headers={"Cookie": f"{first.cookie_name}={cookie}"}) as response:
                assert response.status == 401

    run(scenario())


def test_a_hashed_passcode_unlocks_and_sessions_survive_a_restart_with_the_same_key() -> None:
    async def scenario() -> None:
        async with Origin() as origin:
            async with Gateway(origin.url, passcode=PASSCODE) as first:
                stored = first.passcode_hashes
                key = first.session_key
                cookie = await _login(first)
                assert cookie
                port = first.port
            assert all(PASSCODE not in h for h in stored)
            assert verify_passcode(stored[0], PASSCODE) and not verify_passcode(stored[0], PASSCODE + "x")
            # the daemon restarts with only the hash and the key
            async with Gateway(origin.url, passcode_hash=stored, session_key=key, port=port) as second:
                assert second.passcode is None
                assert await _status(second, cookie) == 200  # still logged in
                assert await _login(second) is not None
                assert await _login(second, "not-the-passcode-1") is None
                basic = base64.b64encode(f"me:{PASSCODE}".encode()).decode()
                async with aiohttp.ClientSession() as http:
                    for header in (f"Bearer {PASSCODE}", f"Basic {basic}"):
                        async with http.get(second.url + "/headers", headers={"Authorization": header}) as response:
                            assert response.status == 200, header
            # the same key with another passcode: old sessions are void
            other = await asyncio.to_thread(hash_passcode, "another-passcode-99")
            async with Gateway(origin.url, passcode_hash=other, session_key=key, port=port) as third:
                assert await _status(third, cookie) == 401

    run(scenario())
