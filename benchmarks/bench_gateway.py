"""The auth gateway's cost: latency of small requests and throughput of a big download, gateway vs direct.

Three processes on 127.0.0.1, so the gateway never shares an event loop with the client or the app:
the app (tests/share/origin.py, aiohttp), the gateway (pinokiocloud.share.Gateway, bearer auth), and
this client. Both paths are measured in the same run, interleaved, and compared as a difference
(latency) and a ratio (throughput).

Targets (issue 7): p50 added latency <= 2 ms; 200 MB download throughput ratio >= 0.8.
At full loopback speed (GB/s) a proxy in its own process doubles the kernel's socket copies, and on a
2-core machine three busy processes share two cores; so the table also shows a bare asyncio byte relay
(no HTTP, no auth) in the gateway's place: the floor for any proxy here, and the gateway against it.
Run: .venv/bin/python benchmarks/bench_gateway.py
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
SMALL_REQUESTS = 1000
WARMUP_REQUESTS = 100
BIG_BYTES = 200 * 1024 * 1024
BIG_ROUNDS = 3
TARGET_ADDED_P50_MS = 2.0
TARGET_THROUGHPUT_RATIO = 0.8
TOKEN = "bench-token-0123456789abcdef"

GATEWAY_PROCESS = textwrap.dedent("""
    import asyncio, sys
    from pinokiocloud.share import Gateway

    async def main() -> None:
        gateway = Gateway(sys.argv[1], passcode="bench", token=sys.argv[3], port=int(sys.argv[2]))
        await gateway.start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
""")

RELAY_PROCESS = textwrap.dedent("""
    import asyncio, sys

    async def main() -> None:
        async def handle(reader, writer):
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(sys.argv[2]))
            async def pipe(src, dst):
                while data := await src.read(1 << 20):
                    dst.write(data)
                    await dst.drain()
                dst.close()
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
        await asyncio.Event().wait()

    asyncio.run(main())
""")
"""A bare asyncio byte relay, no HTTP: the floor for any proxy in its own process on this machine."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


async def latencies(http: aiohttp.ClientSession, url: str, headers: dict[str, str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        async with http.get(url, headers=headers) as response:
            await response.read()
            assert response.status == 200, response.status
        out.append((time.perf_counter() - started) * 1000)
    return out


async def download(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    """MB/s for one full download of BIG_BYTES."""
    started = time.perf_counter()
    received = 0
    async with http.get(url, headers=headers) as response:
        async for chunk in response.content.iter_chunked(1 << 20):
            received += len(chunk)
    assert received == BIG_BYTES, received
    return received / (time.perf_counter() - started) / 1e6


async def measure(origin: str, gateway: str, relay: str) -> dict[str, float]:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        await latencies(http, origin + "/", {}, WARMUP_REQUESTS)
        await latencies(http, gateway + "/", auth, WARMUP_REQUESTS)
        direct: list[float] = []
        through: list[float] = []
        for _ in range(SMALL_REQUESTS // 100):  # interleaved batches: both paths see the same machine state
            direct += await latencies(http, origin + "/", {}, 100)
            through += await latencies(http, gateway + "/", auth, 100)
        big = f"/big?size={BIG_BYTES}"
        direct_mbs, through_mbs, relay_mbs = [], [], []
        for _ in range(BIG_ROUNDS):
            direct_mbs.append(await download(http, origin + big, {}))
            through_mbs.append(await download(http, gateway + big, auth))
            relay_mbs.append(await download(http, relay + big, {}))
    return {
        "direct_p50": statistics.median(direct), "gateway_p50": statistics.median(through),
        "direct_p90": statistics.quantiles(direct, n=10)[-1], "gateway_p90": statistics.quantiles(through, n=10)[-1],
        "direct_mbs": statistics.median(direct_mbs), "gateway_mbs": statistics.median(through_mbs),
        "relay_mbs": statistics.median(relay_mbs),
    }


def main() -> int:
    origin_port, gateway_port, relay_port = free_port(), free_port(), free_port()
    origin = subprocess.Popen([sys.executable, "-m", "tests.share.origin", str(origin_port)], cwd=REPO)
    gateway = subprocess.Popen([sys.executable, "-c", GATEWAY_PROCESS, f"http://127.0.0.1:{origin_port}",
                                str(gateway_port), TOKEN], cwd=REPO, stdout=subprocess.DEVNULL)
    relay = subprocess.Popen([sys.executable, "-c", RELAY_PROCESS, str(relay_port), str(origin_port)])
    try:
        for port in (origin_port, gateway_port, relay_port):
            wait_for_port(port)
        r = asyncio.run(measure(f"http://127.0.0.1:{origin_port}", f"http://127.0.0.1:{gateway_port}",
                                f"http://127.0.0.1:{relay_port}"))
    finally:
        for proc in (relay, gateway, origin):
            proc.terminate()
            proc.wait(timeout=10)
    added = r["gateway_p50"] - r["direct_p50"]
    ratio = r["gateway_mbs"] / r["direct_mbs"]
    rows = [
        ("small GET p50 (ms)", f"{r['direct_p50']:.3f}", f"{r['gateway_p50']:.3f}",
         f"+{added:.3f} ms", f"<= +{TARGET_ADDED_P50_MS:g} ms", added <= TARGET_ADDED_P50_MS),
        ("small GET p90 (ms)", f"{r['direct_p90']:.3f}", f"{r['gateway_p90']:.3f}",
         f"+{r['gateway_p90'] - r['direct_p90']:.3f} ms", "-", None),
        (f"{BIG_BYTES // 2**20} MB download (MB/s)", f"{r['direct_mbs']:.0f}", f"{r['gateway_mbs']:.0f}",
         f"x{ratio:.2f}", f">= x{TARGET_THROUGHPUT_RATIO:g}", ratio >= TARGET_THROUGHPUT_RATIO),
        ("  bare byte relay instead (MB/s)", f"{r['direct_mbs']:.0f}", f"{r['relay_mbs']:.0f}",
         f"x{r['relay_mbs'] / r['direct_mbs']:.2f}", "(floor)", None),
        ("  gateway / bare relay", f"{r['relay_mbs']:.0f}", f"{r['gateway_mbs']:.0f}",
         f"x{r['gateway_mbs'] / r['relay_mbs']:.2f}", "-", None),
    ]
    header = ("measure", "direct", "gateway", "difference", "target", "ok")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    print(f"gateway vs direct on 127.0.0.1: {SMALL_REQUESTS} small requests, {BIG_ROUNDS} x "
          f"{BIG_BYTES // 2**20} MB (median)")
    print("  ".join(h.ljust(w) for h, w in zip(header, [*widths, 2], strict=True)))
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row[:5], widths, strict=True)]
        print("  ".join([*cells, "-" if row[5] is None else ("yes" if row[5] else "NO")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
