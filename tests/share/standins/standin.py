"""STAND-IN for the cloudflared and ngrok executables (their vendors cannot be reached offline).

It accepts the command line our providers use, prints what the real tool prints (cloudflared's banner
on stderr; ngrok's JSON log on stdout), serves the local API the provider reads (cloudflared's metrics
``/ready`` and ``/quicktunnel``; ngrok's agent ``/api/tunnels``), and relays TCP from a loopback "edge"
port to the target. Its public hostname is ``p<relay port>-<random>.<vendor domain>``, which the
test's edge (tests/share/edge.py) routes to that relay port. Nothing here is a real tunnel: it only
lets tests drive our URL parsing, health and failover logic. Stdlib only.

Environment knobs for tests: STANDIN_MODE = ok | exit (exit at once with an error) | never-ready
(never report a URL) | unready (cloudflared /ready answers 503). STANDIN_DELAY_S: cloudflared reports
its URL only after this many seconds (a slow tunnel); with STANDIN_SLOW_ONCE=<path> only the first
stand-in, the one that creates that file, is slow. STANDIN_HELPER_PID_FILE=<path>: cloudflared first
starts a helper that leaves its process group (``setsid``, as some clients' helpers do) and writes the
helper's PID there.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
from urllib.parse import urlsplit


async def _relay(target_host: str, target_port: int) -> tuple[asyncio.base_events.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _json_api(host: str, port: int, routes: dict[str, object]) -> asyncio.base_events.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        path = request.split(b" ", 2)[1].decode()
        answer = routes.get(path)
        status, body = (answer if isinstance(answer, tuple) else (200, answer)) if answer is not None else (404, {})
        data = json.dumps(body).encode()
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     "Connection: close\r\n\r\n".encode() + data)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port)


def _arg(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def _is_slow() -> bool:
    if not os.environ.get("STANDIN_DELAY_S"):
        return False
    marker = os.environ.get("STANDIN_SLOW_ONCE")
    if not marker:
        return True
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


async def cloudflared(argv: list[str]) -> int:
    mode = os.environ.get("STANDIN_MODE", "ok")
    if mode == "exit":
        print("ERR failed to request quick Tunnel: Post \"https://api.trycloudflare.com/tunnel\": dial tcp: "
              "lookup api.trycloudflare.com: no such host", file=sys.stderr, flush=True)
        return 1
    if helper_pid_file := os.environ.get("STANDIN_HELPER_PID_FILE"):
        helper = subprocess.Popen(["sleep", "600"], start_new_session=True)
        with open(helper_pid_file, "w") as fh:
            fh.write(str(helper.pid))
    if _is_slow():
        print("INF waiting for the edge (slow stand-in)", file=sys.stderr, flush=True)
        await asyncio.sleep(float(os.environ["STANDIN_DELAY_S"]))
    target = urlsplit(_arg(argv, "--url"))
    metrics_host, metrics_port = _arg(argv, "--metrics").rsplit(":", 1)
    _, relay_port = await _relay(target.hostname or "127.0.0.1", target.port or 80)
    hostname = f"p{relay_port}-{secrets.token_hex(4)}.trycloudflare.com"
    ready = (503, {"status": 503, "readyConnections": 0}) if mode == "unready" else \
        {"status": 200, "readyConnections": 4, "connectorId": "standin"}
    routes: dict[str, object] = {"/ready": ready}
    if mode != "never-ready":
        routes["/quicktunnel"] = {"hostname": hostname}
    await _json_api(metrics_host, int(metrics_port), routes)
    print("INF Requesting new quick Tunnel on trycloudflare.com...", file=sys.stderr, flush=True)
    if mode != "never-ready":
        print("INF +--------------------------------------------------------------------------------------------+\n"
              "INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |\n"
              f"INF |  https://{hostname}{' ' * max(1, 80 - len(hostname))}|\n"
              "INF +--------------------------------------------------------------------------------------------+",
              file=sys.stderr, flush=True)
    await asyncio.Event().wait()
    return 0


async def ngrok(argv: list[str]) -> int:
    token = os.environ.get("NGROK_AUTHTOKEN", "")
    if token == "bad" or os.environ.get("STANDIN_MODE") == "exit":
        print(json.dumps({"lvl": "eror", "msg": "session closing", "obj": "tunnels.session",
                          "err": "authentication failed: The authtoken you specified is invalid.\n\nERR_NGROK_107"}),
              flush=True)
        return 1
    with open(_arg(argv, "--config")) as fh:
        config = fh.read()
    web_addr = re.search(r"web_addr:\s*(\S+)", config)
    assert web_addr, config
    api_host, api_port = web_addr.group(1).rsplit(":", 1)
    target = urlsplit(argv[argv.index("http") + 1])
    _, relay_port = await _relay(target.hostname or "127.0.0.1", target.port or 80)
    url = f"https://p{relay_port}-{secrets.token_hex(4)}.ngrok-free.app"
    await _json_api(api_host, int(api_port), {"/api/tunnels": {"tunnels": [
        {"name": "command_line", "public_url": url, "proto": "https",
         "config": {"addr": target.geturl()}}], "uri": "/api/tunnels"}})
    print(json.dumps({"lvl": "info", "msg": "client session established", "obj": "tunnels.session"}), flush=True)
    print(json.dumps({"lvl": "info", "msg": "started tunnel", "obj": "tunnels", "name": "command_line",
                      "addr": target.geturl(), "url": url}), flush=True)
    await asyncio.Event().wait()
    return 0


def main() -> int:
    tool = os.environ.get("STANDIN_TOOL") or os.path.basename(sys.argv[0])
    runner = cloudflared if "cloudflared" in tool else ngrok
    return asyncio.run(runner(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
