"""No open redirect through the gateway: after login (``next``) and after a token link, the browser stays on
the gateway's origin, whatever WHATWG URL parsing makes of the value (tabs, newlines, backslashes, ``//``,
``/\\``, percent-encoded forms, ``javascript:``). Where a Location lands is decided by Chromium itself."""

from __future__ import annotations

import html
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import async_playwright
from yarl import URL

from pinokiocloud.share import Gateway
from pinokiocloud.share.gateway import GATEWAY_PREFIX, safe_next
from tests.share.conftest import run
from tests.share.origin import Origin

PASSCODE = "maple-river-stone-42"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

HOSTILE = [
    "//evil.com", "///evil.com", "////evil.com/", "/\\evil.com", "\\\\evil.com", "\\/evil.com", "/\\/evil.com",
    "/\t/evil.com", "/\n/evil.com", "/\r\n/evil.com", "\t//evil.com", " //evil.com", "\x00//evil.com",
    "/\x0b/evil.com", "/%09/evil.com", "/%0a/evil.com", "/%0D/evil.com", "%2F%2Fevil.com", "/%2F%2Fevil.com",
    "/%2f/evil.com", "/%5Cevil.com", "/%5c%5cevil.com", "%5C%5Cevil.com", "/%252F%252Fevil.com",
    "/%25252F%25252Fevil.com", "https://evil.com/", "http:evil.com", "https:/evil.com", "//evil.com@good/",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "java%0ascript:alert(1)", "data:text/html,<script>alert(1)</script>", "evil.com", "\u200b//evil.com",
    "//\u0435vil.com",
]
KEPT = {
    "/": "/",
    "/headers?a=1&b=2#part": "/headers?a=1&b=2#part",
    "/tree/notebooks/a%20b.ipynb": "/tree/notebooks/a%20b.ipynb",
    "/caf\u00e9?q=\u2713": "/caf%C3%A9?q=%E2%9C%93",
    "/?next=//evil.com": "/?next=//evil.com",  # a query is not a host
    "/./x": "/./x",
    "/\u3000/evil.com": "/%E3%80%80/evil.com",  # an ideographic space is not stripped: a path on our origin
}


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium (Playwright's own browser download cannot be reached); installed when missing."""
    if not CHROMIUM.exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, env=env, capture_output=True,
                       timeout=600)
    return CHROMIUM


async def _after_login(http: aiohttp.ClientSession, gw: Gateway, next_value: str) -> str:
    async with http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": PASSCODE, "next": next_value},
                         allow_redirects=False) as response:
        assert response.status == 303, next_value
        return response.headers["Location"]


async def _login_page_next(http: aiohttp.ClientSession, gw: Gateway, next_value: str) -> str:
    """The ``next`` the login page puts in its form, for a link ``/_pinokiocloud/login?next=…``."""
    url = URL(gw.url + f"{GATEWAY_PREFIX}/login?next=" + quote(next_value, safe=""), encoded=True)
    async with http.get(url) as response:
        page = await response.text()
    match = re.search(r'name="next" value="([^"]*)"', page)
    assert match, page
    return html.unescape(match.group(1))


def test_hostile_next_values_never_leave_the_gateways_origin(chromium: Path) -> None:
    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw, \
                aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http, async_playwright() as pw:
            locations = {value: await _after_login(http, gw, value) for value in [*HOSTILE, *KEPT]}
            form_values = {value: await _login_page_next(http, gw, value) for value in [*HOSTILE, *KEPT]}
            # token links: the path itself may be the trick (GET //evil.com/?token=…)
            token_locations = {}
            for path in ("//evil.com/", "/%2F%2Fevil.com/", "/%5Cevil.com/", "/%09/evil.com"):
                url = URL(gw.url + path + f"?token={gw.token}", encoded=True)
                async with http.get(url, allow_redirects=False) as response:
                    assert response.status == 303, path
                    token_locations[path] = response.headers["Location"]
            browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                every = [*locations.values(), *form_values.values(), *token_locations.values()]
                resolved = await page.evaluate("([all, base]) => all.map(l => new URL(l, base).origin)",
                                               [every, gw.url])
            finally:
                await browser.close()
            origin_of = dict(zip(every, resolved, strict=True))
            wrong = {v: loc for v, loc in [*locations.items(), *form_values.items(), *token_locations.items()]
                     if origin_of[loc] != gw.url}
            assert not wrong, wrong
            for value in HOSTILE:
                assert locations[value] == "/", (value, locations[value])
            for value, expected in KEPT.items():
                assert locations[value] == expected, (value, locations[value])
                assert form_values[value] == expected

    run(scenario())


def test_the_probes_payload_through_the_real_login_form_lands_on_the_gateway(chromium: Path) -> None:
    """The finding, replayed in a browser: ``login?next=/%09/evil.com``, type the passcode, press Open.

    evil.com is mapped to a local server, so a redirect that escaped would show its page.
    """
    async def evil_page(_: web.Request) -> web.Response:
        return web.Response(text="EVIL")

    async def scenario() -> None:
        evil = web.Application()
        evil.router.add_get("/{tail:.*}", evil_page)
        runner = web.AppRunner(evil)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        evil_port = runner.addresses[0][1]
        try:
            async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE) as gw, async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=str(chromium),
                    args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP evil.com 127.0.0.1:{evil_port}"])
                try:
                    page = await browser.new_page()
                    # the map works: without the gateway's check this is where the browser would end up
                    await page.goto("http://evil.com/")
                    assert await page.text_content("body") == "EVIL"
                    for payload in ("/%09/evil.com", "/%5Cevil.com", "//evil.com", "/%0A/evil.com"):
                        await page.goto(gw.url + f"{GATEWAY_PREFIX}/login?next={payload}")
                        await page.fill("#passcode", PASSCODE)
                        async with page.expect_navigation():
                            await page.click("button[type=submit]")
                        assert page.url.startswith(gw.url + "/"), (payload, page.url)
                        assert "EVIL" not in (await page.content())
                finally:
                    await browser.close()
        finally:
            await runner.cleanup()

    run(scenario())


def test_safe_next_keeps_paths_and_refuses_everything_else() -> None:
    for value in HOSTILE:
        assert safe_next(value) == "/", value
    for value, expected in KEPT.items():
        assert safe_next(value) == expected, value
