"""The daemon under a realistic load: 20 installed apps, 5 of them running.

Prints, in one run: `GET /api/apps` p50/p99 against `GET /health` (the floor of any request), the idle
daemon's RSS (and its Node sidecar's, separately), the wall time of `pinokiocloud status` against
`pinokiocloud --help` (import cost included in both), and the many-clients case (issue 13): 50 clients,
each polling `GET /api/apps` once a second and following one running app's events (SSE), for 60 s;
requests/s, p50/p99 of `/api/apps` against one client alone (the same run's baseline, as a ratio) and the
daemon's CPU meanwhile.

How the many-clients case runs (changed in issue 13, because the harness made the tail it measured): the
clients are made first, with one SSL context for all of them (httpx otherwise loads the CA bundle per
client, ~60 ms each: 101 clients held this process's loop for ~6 s, every poller's random start expired
in that time, and the 50 polls then came in one burst each second for the whole run, so the p99 was the
wait at the end of a 50-request queue, 400-480 ms, with `/health` as slow). The SSE followers connect
next, spread over one interval, and the measured window starts once all are connected. Each poller keeps
its own schedule from a random point of the first interval. The load itself is the same: 50 pollers at
1/s and 50 followers for the whole window, plus the `/health` probe. The clients' own loop lag is printed
too: if this process wakes late, every latency it times is inflated by as much.
Targets (issue 5): GET /api/apps p99 <= 50 ms, idle daemon RSS <= 150 MB, `status` <= 1 s.
Target (issue 13): GET /api/apps p99 <= 100 ms with 50 clients.
Run: .venv/bin/python benchmarks/bench_daemon.py [--duration 60] [--clients 50] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.npm_cache import ensure_test_packages  # noqa: E402

BIN = Path(sys.executable).parent / "pinokiocloud"
APPS, RUNNING, REQUESTS = 20, 5, 300
SERVER = "import http.server as h, socketserver as s, sys\n" \
         "class H(h.SimpleHTTPRequestHandler):\n    def log_message(self, *a): pass\n" \
         "with s.TCPServer(('127.0.0.1', 0), H) as d:\n" \
         "    print(f'Running on http://127.0.0.1:{d.server_address[1]}', flush=True); d.serve_forever()\n"


def make_app(home: Path, name: str) -> None:
    app = home / "api" / name
    app.mkdir(parents=True)
    (app / "server.py").write_text(SERVER)
    (app / "pinokio.js").write_text(
        "module.exports = { version: '3.7', title: '" + name + "', menu: async (kernel, info) => "
        "info.running('start.js') ? [{ default: true, text: 'Open', href: info.local('start.js').url || 'start.js' }]"
        " : [{ default: true, text: 'Start', href: 'start.js' }] }")
    (app / "start.js").write_text(
        "module.exports = { daemon: true, run: [{ method: 'shell.run', params: { message: 'python3 server.py', "
        "on: [{ event: '/http://[0-9.:]+/', done: true }] } }, "
        "{ method: 'local.set', params: { url: '{{input.event[0]}}' } }] }")


def timed(client: httpx.Client, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.get(path).raise_for_status()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def wall(args: list[str], env: dict[str, str], n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(args, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def _poll(client: httpx.AsyncClient, path: str, *, start: float, interval: float, deadline: float,
                latencies: list[float], errors: list[str]) -> None:
    """One dashboard: ``GET path`` every ``interval`` seconds on its own schedule, which starts at a random
    point of the first interval (a slow answer skips the ticks it overran; it never shifts the schedule into
    the other dashboards' phase)."""
    at = start + random.uniform(0, interval)
    while at < deadline:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        t0 = time.perf_counter()
        try:
            (await client.get(path)).raise_for_status()
            latencies.append((time.perf_counter() - t0) * 1000)
        except httpx.HTTPError as exc:
            errors.append(repr(exc))
        while at <= time.monotonic():
            at += interval


async def _follow(client: httpx.AsyncClient, key: str, *, delay: float, connected: asyncio.Queue[None],
                  seen: list[int], errors: list[str]) -> None:
    """One follower of a run's events (SSE), connecting after ``delay`` seconds, until cancelled."""
    await asyncio.sleep(delay)
    try:
        async with client.stream("GET", f"/api/runs/{key}/events") as response:
            response.raise_for_status()
            connected.put_nowait(None)
            async for chunk in response.aiter_bytes():
                seen[0] += chunk.count(b"event: ")
    except httpx.HTTPError as exc:
        errors.append(repr(exc))
        connected.put_nowait(None)


async def _loop_lag(lags: list[float], period: float = 0.01) -> None:
    """This process's own event-loop lag (how late a 10 ms sleep wakes), until cancelled: what the clients
    themselves add to every latency they time."""
    while True:
        t0 = time.perf_counter()
        await asyncio.sleep(period)
        lags.append((time.perf_counter() - t0 - period) * 1000)


@dataclass
class Load:
    """What the many-clients case measured."""

    latencies: list[float] = field(default_factory=list)
    """``GET /api/apps``, ms."""
    health: list[float] = field(default_factory=list)
    """``GET /health`` under the same load (the floor), ms."""
    errors: list[str] = field(default_factory=list)
    events: int = 0
    """Events the SSE followers got."""
    client_lag: list[float] = field(default_factory=list)
    """The clients' own event-loop lag, ms."""
    client_gc: list[float] = field(default_factory=list)
    """The clients' own full (generation 2) garbage collections, ms each."""
    seconds: float = 0.0
    """The measured window."""
    daemon_cpu: float = 0.0
    """The daemon's CPU over the window, % of one core (its own process; its children not counted)."""
    clients_cpu: float = 0.0
    """This process's CPU over the window (the clients), % of one core."""


class _FullCollections:
    """Times this process's full garbage collections (``gc.callbacks``) while entered."""

    def __init__(self, into: list[float]) -> None:
        self.into = into
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.into.append((time.perf_counter() - self._t0) * 1000)

    def __enter__(self) -> None:
        gc.callbacks.append(self)

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)


async def _all(connected: asyncio.Queue[None], count: int) -> None:
    for _ in range(count):
        await connected.get()


def _cpu_s(proc: psutil.Process) -> float:
    return float(sum(proc.cpu_times()[:2]))


async def many_clients(base: str, token: str, keys: list[str], daemon: psutil.Process, *, clients: int,
                       interval: float, duration: float) -> Load:
    """``clients`` dashboards, each polling ``GET /api/apps`` and following one run's events (SSE), plus one
    probe of ``GET /health`` (the floor of any request under the same load: what the machine and the clients
    add). The followers connect first, spread over one interval; the ``duration`` measured after that."""
    headers = {"Authorization": f"Bearer {token}"}
    tls = ssl.create_default_context()  # one for all: httpx loads the CA bundle per client otherwise (~60 ms)
    load = Load()
    pollers = [httpx.AsyncClient(base_url=base, headers=headers, timeout=30, verify=tls) for _ in range(clients + 1)]
    followers = [httpx.AsyncClient(base_url=base, headers=headers, timeout=30, verify=tls) for _ in range(clients)]
    connected: asyncio.Queue[None] = asyncio.Queue()
    seen = [[0] for _ in followers]
    lag = asyncio.create_task(_loop_lag(load.client_lag))
    following = [asyncio.create_task(_follow(c, keys[i % len(keys)], delay=random.uniform(0, interval),
                                             connected=connected, seen=seen[i], errors=load.errors))
                 for i, c in enumerate(followers)]
    try:
        await asyncio.wait_for(_all(connected, len(following)), 30)
        load.client_lag.clear()
        cpu = (_cpu_s(daemon), _cpu_s(psutil.Process()))
        start = time.monotonic()
        deadline = start + duration
        with _FullCollections(load.client_gc):
            await asyncio.gather(
                *(_poll(c, "/api/apps", start=start, interval=interval, deadline=deadline,
                        latencies=load.latencies, errors=load.errors) for c in pollers[:-1]),
                _poll(pollers[-1], "/health", start=start, interval=interval, deadline=deadline,
                      latencies=load.health, errors=load.errors))
        load.seconds = time.monotonic() - start
        load.daemon_cpu = (_cpu_s(daemon) - cpu[0]) / load.seconds * 100
        load.clients_cpu = (_cpu_s(psutil.Process()) - cpu[1]) / load.seconds * 100
    finally:
        for task in (*following, lag):
            task.cancel()
        await asyncio.gather(*following, lag, return_exceptions=True)
        for c in (*pollers, *followers):
            await c.aclose()
    load.events = sum(s[0] for s in seen)
    return load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the many-clients case (60)")
    parser.add_argument("--clients", type=int, default=50, help="clients polling and following SSE (50)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between one client's polls (1)")
    args = parser.parse_args()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "pinokio"
        for i in range(APPS):
            make_app(home, f"app{i:02d}")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "PINOKIO_HOME": str(home), "PINOKIOCLOUD_PORT": str(port),
               "PINOKIOCLOUD_NODE_MODULES": str(ensure_test_packages())}
        daemon = subprocess.Popen([str(BIN), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the daemon did not start"
                time.sleep(0.1)
            token = (home / "daemon.token").read_text().strip()
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
                keys = []
                for i in range(RUNNING):  # one after the other: each online before the next starts
                    started = client.post(f"/api/apps/app{i:02d}/start")
                    started.raise_for_status()
                    keys.append(started.json()["key"])
                    while (state := client.get(f"/api/apps/app{i:02d}").json()["state"]) != "online":
                        assert state in ("starting", "offline"), f"app{i:02d} is {state}, not coming online"
                        assert time.monotonic() < deadline + 60, "apps did not come online"
                        time.sleep(0.2)
                time.sleep(1.0)  # let the daemon go idle
                proc = psutil.Process(daemon.pid)
                daemon_rss = proc.memory_info().rss / 1e6
                node = [c for c in proc.children() if "node" in c.name()]
                sidecar_rss = sum(c.memory_info().rss for c in node) / 1e6
                health = timed(client, "/health", REQUESTS)
                apps = timed(client, "/api/apps", REQUESTS)
            load = asyncio.run(many_clients(url, token, keys, proc, clients=args.clients, interval=args.interval,
                                            duration=args.duration))
            status_s = wall([str(BIN), "status"], env)
            help_s = wall([str(BIN), "--help"], env)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
    q_apps = statistics.quantiles(apps, n=100)
    q_health = statistics.quantiles(health, n=100)
    if len(load.latencies) < 2:
        print(f"the many-clients case got {len(load.latencies)} answers; errors: {load.errors[:5]}")
        return 1
    q_load = statistics.quantiles(load.latencies, n=100)
    q_floor = statistics.quantiles(load.health, n=100) if len(load.health) >= 2 else [float("nan")] * 99
    q_lag = statistics.quantiles(load.client_lag, n=100) if len(load.client_lag) >= 2 else [float("nan")] * 99
    ok_apps, ok_rss, ok_status = q_apps[98] <= 50, daemon_rss <= 150, status_s <= 1.0
    ok_load = q_load[98] <= 100 and not load.errors
    rows = [
        (f"GET /api/apps ({APPS} apps, {RUNNING} running) p50", f"{q_apps[49]:.1f} ms", ""),
        ("GET /api/apps p99", f"{q_apps[98]:.1f} ms", f"target <= 50 ms: {'yes' if ok_apps else 'NO'}"),
        ("GET /health p50 / p99 (baseline)", f"{q_health[49]:.1f} / {q_health[98]:.1f} ms", ""),
        ("idle daemon RSS", f"{daemon_rss:.0f} MB", f"target <= 150 MB: {'yes' if ok_rss else 'NO'}"),
        ("its Node sidecar RSS (separate process)", f"{sidecar_rss:.0f} MB", ""),
        ("`pinokiocloud status` wall time", f"{status_s:.2f} s", f"target <= 1 s: {'yes' if ok_status else 'NO'}"),
        ("`pinokiocloud --help` wall time (baseline)", f"{help_s:.2f} s", f"status / help = {status_s / help_s:.2f}x"),
        (f"{args.clients} clients, {args.duration:g} s: GET /api/apps served",
         f"{len(load.latencies) / load.seconds:.1f} req/s",
         f"{len(load.errors)} errors; SSE followers got {load.events} events"),
        (f"{args.clients} clients: GET /api/apps p50", f"{q_load[49]:.1f} ms",
         f"one client alone {q_apps[49]:.1f} ms: {q_load[49] / q_apps[49]:.2f}x"),
        (f"{args.clients} clients: GET /api/apps p99", f"{q_load[98]:.1f} ms",
         f"one client alone {q_apps[98]:.1f} ms: {q_load[98] / q_apps[98]:.2f}x; "
         f"target <= 100 ms: {'yes' if ok_load else 'NO'}"),
        (f"{args.clients} clients: GET /health p50 / p99 (floor)", f"{q_floor[49]:.1f} / {q_floor[98]:.1f} ms",
         f"the same load, the cheapest request: what the machine and the clients add ({len(load.health)} "
         "samples: the p99 is about the slowest one)"),
        (f"{args.clients} clients: the clients' own loop lag p99", f"{q_lag[98]:.1f} ms",
         f"max {max(load.client_lag, default=float('nan')):.1f} ms: how late this process wakes (it times "
         f"everything); its full GCs: {len(load.client_gc)}, longest {max(load.client_gc, default=0):.0f} ms"),
        (f"{args.clients} clients: daemon CPU", f"{load.daemon_cpu:.0f} %",
         f"100 % = one core; the clients themselves (this process): {load.clients_cpu:.0f} %"),
    ]
    print(f"load average before the run: {load_before}")
    print(f"{'measure':<48} {'value':>16}  compare")
    print("-" * 96)
    for name, value, compare in rows:
        print(f"{name:<48} {value:>16}  {compare}")
    for line in load.errors[:5]:
        print("error:", line)
    return 0 if ok_apps and ok_rss and ok_status and ok_load else 1


if __name__ == "__main__":
    raise SystemExit(main())
