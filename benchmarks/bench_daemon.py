"""The daemon under a realistic load: 20 installed apps, 5 of them running.

Prints, in one run: `GET /api/apps` p50/p99 against `GET /health` (the floor of any request), the idle
daemon's RSS (and its Node sidecar's, separately), and the wall time of `pinokiocloud status` against
`pinokiocloud --help` (import cost included in both).
Targets (issue 5): GET /api/apps p99 <= 50 ms, idle daemon RSS <= 150 MB, `status` <= 1 s.
Run: .venv/bin/python benchmarks/bench_daemon.py
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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


def main() -> int:
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
                for i in range(RUNNING):
                    client.post(f"/api/apps/app{i:02d}/start").raise_for_status()
                while sum(a["state"] == "online" for a in client.get("/api/apps").json()["data"]) < RUNNING:
                    assert time.monotonic() < deadline + 60, "apps did not come online"
                    time.sleep(0.2)
                time.sleep(1.0)  # let the daemon go idle
                proc = psutil.Process(daemon.pid)
                daemon_rss = proc.memory_info().rss / 1e6
                node = [c for c in proc.children() if "node" in c.name()]
                sidecar_rss = sum(c.memory_info().rss for c in node) / 1e6
                health = timed(client, "/health", REQUESTS)
                apps = timed(client, "/api/apps", REQUESTS)
            status_s = wall([str(BIN), "status"], env)
            help_s = wall([str(BIN), "--help"], env)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
    q_apps = statistics.quantiles(apps, n=100)
    q_health = statistics.quantiles(health, n=100)
    ok_apps, ok_rss, ok_status = q_apps[98] <= 50, daemon_rss <= 150, status_s <= 1.0
    rows = [
        (f"GET /api/apps ({APPS} apps, {RUNNING} running) p50", f"{q_apps[49]:.1f} ms", ""),
        ("GET /api/apps p99", f"{q_apps[98]:.1f} ms", f"target <= 50 ms: {'yes' if ok_apps else 'NO'}"),
        ("GET /health p50 / p99 (baseline)", f"{q_health[49]:.1f} / {q_health[98]:.1f} ms", ""),
        ("idle daemon RSS", f"{daemon_rss:.0f} MB", f"target <= 150 MB: {'yes' if ok_rss else 'NO'}"),
        ("its Node sidecar RSS (separate process)", f"{sidecar_rss:.0f} MB", ""),
        ("`pinokiocloud status` wall time", f"{status_s:.2f} s", f"target <= 1 s: {'yes' if ok_status else 'NO'}"),
        ("`pinokiocloud --help` wall time (baseline)", f"{help_s:.2f} s", f"status / help = {status_s / help_s:.2f}x"),
    ]
    print(f"{'measure':<48} {'value':>16}  compare")
    print("-" * 96)
    for name, value, compare in rows:
        print(f"{name:<48} {value:>16}  {compare}")
    return 0 if ok_apps and ok_rss and ok_status else 1


if __name__ == "__main__":
    raise SystemExit(main())
