"""Guessing the passcode through a real gateway on 127.0.0.1 in front of a real app server.

The attack uses every way a secret reaches the gateway (login form, ``?token=``, Bearer, Basic, a
WebSocket handshake) with many requests in flight. Visitors' addresses arrive as a tunnel gives them
(``CF-Connecting-IP`` behind Cloudflare), so one test can be many addresses at once.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from pinokiocloud.share import AccessRecord, Gateway, GuessLimiter
from pinokiocloud.share.gateway import GATEWAY_PREFIX
from tests.share.conftest import run
from tests.share.origin import Origin

PASSCODE = "maple-river-stone-42"
MAX_GUESSES_PER_S = 20.0
ATTACK_S = 4.0
WORKERS = 48


def _guess(http: aiohttp.ClientSession, gw: Gateway, n: int, address: str) -> asyncio.Future[int]:
    """One wrong guess by path ``n % 5``; resolves to the HTTP status the attacker saw."""
    ip = {"CF-Connecting-IP": address}
    wrong = f"guess-{n:08d}"

    async def attempt() -> int:
        path = n % 5
        if path == 0:
            async with http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": wrong}, headers=ip,
                                 allow_redirects=False) as response:
                return response.status
        if path == 1:
            async with http.get(gw.url + f"/?token={wrong}", headers=ip, allow_redirects=False) as response:
                return response.status
        if path == 2:
            async with http.get(gw.url + "/headers", headers={**ip, "Authorization": f"Bearer {wrong}"}) as response:
                return response.status
        if path == 3:
            basic = base64.b64encode(f"admin:{wrong}".encode()).decode()
            async with http.get(gw.url + "/headers", headers={**ip, "Authorization": f"Basic {basic}"}) as response:
                return response.status
        try:
            ws = await http.ws_connect(gw.url.replace("http", "ws") + "/ws",
                                       headers={**ip, "Authorization": f"Bearer {wrong}"})
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101

    return asyncio.ensure_future(attempt())


@dataclass
class Attack:
    statuses: Counter[int] = field(default_factory=Counter)
    checked_at: list[float] = field(default_factory=list)
    """When each 401 came back: a guess the gateway compared (a 429 was refused unchecked)."""
    took: float = 0.0

    @property
    def checked(self) -> int:
        return self.statuses[401]

    @property
    def mean_per_s(self) -> float:
        return self.checked / self.took

    @property
    def peak_per_s(self) -> int:
        """The most checked guesses in any one-second window."""
        times = sorted(self.checked_at)
        return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)

    def __str__(self) -> str:
        return (f"{sum(self.statuses.values())} requests, {self.checked} checked guesses in {self.took:.1f} s: "
                f"mean {self.mean_per_s:.1f}/s, peak {self.peak_per_s} in one second; statuses {dict(self.statuses)}")


async def _attack(gw: Gateway, address: Callable[[int], str], seconds: float) -> Attack:
    """``WORKERS`` attackers guessing without pause for ``seconds``; the statuses they got back."""
    result = Attack()
    statuses = result.statuses
    counter = itertools.count()
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)

    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:
        async def worker() -> None:
            while time.monotonic() < deadline:
                n = next(counter)
                status = await _guess(http, gw, n, address(n))
                statuses[status] += 1
                if status == 401:
                    result.checked_at.append(time.monotonic())

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        result.took = time.monotonic() - started
        return result


async def _owner_logs_in(gw: Gateway, address: str) -> tuple[int, float]:
    started = time.monotonic()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http, \
            http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": PASSCODE, "next": "/headers"},
                      headers={"CF-Connecting-IP": address}, allow_redirects=False) as response:
        cookie = response.cookies.get(gw.cookie_name)
        status = response.status
    if status != 303 or cookie is None:
        return status, time.monotonic() - started
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http, \
            http.get(gw.url + "/headers", headers={"Cookie": f"{gw.cookie_name}={cookie.value}"}) as response:
        return response.status, time.monotonic() - started


def test_without_the_limiter_the_same_attack_checks_hundreds_of_guesses_a_second() -> None:
    """The baseline: what the attack below does to a gateway that does not hold it back."""
    open_door = GuessLimiter(rate_per_s=1e9, burst=10**9, free_failures=10**9)

    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE, limiter=open_door) as gw:
            gw.set_front("cloudflare")
            attack = await _attack(gw, lambda n: "203.0.113.9", 1.0)
            print(f"\nno limiter: {attack}")
            assert attack.mean_per_s > 100, str(attack)

    run(scenario())


def test_guesses_on_every_path_stay_under_20_a_second_and_the_owner_still_gets_in() -> None:
    # the production rates; only the longest wait is cut so the test ends quickly
    limiter = GuessLimiter(max_wait_s=2.0)

    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE, limiter=limiter) as gw:
            gw.set_front("cloudflare")
            attack = asyncio.ensure_future(_attack(gw, lambda n: f"203.0.113.{n % 3}", ATTACK_S))
            await asyncio.sleep(1.5)  # the attack is in full swing
            owner = await _owner_logs_in(gw, "198.51.100.7")
            result = await attack
            print(f"\nattack from 3 addresses: {result}; server-side failures {limiter.stats.failures}; "
                  f"owner in after {owner[1]:.2f} s")
            assert result.peak_per_s <= MAX_GUESSES_PER_S, str(result)
            assert limiter.stats.failures == result.checked  # every 401 was a compared secret, nothing else
            assert set(result.statuses) <= {401, 429}, str(result)  # never a 200, never a 5xx
            assert owner[0] == 200 and owner[1] < 3.0, owner

    run(scenario())


def test_a_new_address_for_every_guess_still_meets_the_global_cap() -> None:
    limiter = GuessLimiter(max_wait_s=2.0)

    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE, limiter=limiter) as gw:
            gw.set_front("cloudflare")
            attack = asyncio.ensure_future(
                _attack(gw, lambda n: f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}", ATTACK_S))
            await asyncio.sleep(1.5)
            owner = await _owner_logs_in(gw, "198.51.100.8")
            result = await attack
            print(f"\nattack from a new address per guess: {result}; owner: {owner[0]} after {owner[1]:.2f} s")
            assert result.peak_per_s <= MAX_GUESSES_PER_S, str(result)
            assert set(result.statuses) <= {401, 429}, str(result)
            # indistinguishable from a fresh attacker, the owner queues with them: delayed, or told to retry
            assert owner[0] in (200, 429), owner
            if owner[0] == 429:
                status, _ = await _owner_logs_in(gw, "198.51.100.8")
                assert status == 200  # once the flood stops, the same visitor is in at once

    run(scenario())


def test_the_owner_behind_the_same_address_as_the_attacker_is_delayed_not_locked_out_for_good() -> None:
    """A tunnel that hides visitors' addresses (bore, ssh): one identity for everyone."""
    limiter = GuessLimiter(max_wait_s=2.0, first_delay_s=0.1, max_delay_s=0.4)

    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE, limiter=limiter) as gw:
            result = await _attack(gw, lambda n: "", 2.0)  # no header: everyone is 127.0.0.1
            assert result.peak_per_s <= MAX_GUESSES_PER_S, str(result)
            started = time.monotonic()
            async with aiohttp.ClientSession() as http, \
                    http.post(gw.url + f"{GATEWAY_PREFIX}/login", data={"passcode": PASSCODE},
                              allow_redirects=False) as response:
                assert response.status == 303
            assert time.monotonic() - started < 1.0  # the delay is capped: 0.4 s here, 30 s by default

    run(scenario())


def test_the_client_address_comes_from_the_tunnels_header_only_for_providers_that_set_it() -> None:
    records: list[AccessRecord] = []

    async def scenario() -> None:
        async with Origin() as origin, Gateway(origin.url, passcode=PASSCODE, on_access=records.append) as gw, \
                aiohttp.ClientSession() as http:
            forged = {"CF-Connecting-IP": "192.0.2.1", "X-Forwarded-For": "192.0.2.2, 198.51.100.20"}
            for front in (None, "bore", "cloudflare", "ngrok"):
                gw.set_front(front, "https://demo.example" if front else None)
                async with http.get(gw.url + "/", headers=forged):
                    pass
            assert [r.client for r in records] == ["127.0.0.1", "127.0.0.1", "192.0.2.1", "198.51.100.20"]
            # a guess from a forged address sent straight to the gateway still counts against 127.0.0.1
            gw.set_front("localtunnel", "https://demo.example")
            async with http.get(gw.url + "/", headers={**forged, "Authorization": "Bearer nope"}) as response:
                assert response.status == 401
            assert gw.limiter.score("127.0.0.1") > 0.99 and gw.limiter.score("192.0.2.1") == 0.0

    run(scenario())
