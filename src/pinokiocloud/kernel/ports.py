"""Free TCP ports, searched upward from the original's starting point (spec §2.5 ``port``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Container
from pathlib import Path

__all__ = ["ORIGINAL_PORT_START", "PORT_START", "answers", "find_free_port", "is_free", "port_start"]

ORIGINAL_PORT_START = 42003
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_ROOM_ABOVE = 2000
"""Ports wanted above the ephemeral range before moving the search there."""


def port_start(range_file: Path = _EPHEMERAL_RANGE) -> int:
    """Where the search for free ports begins: the original's 42003, unless that lies in the kernel's
    range for outgoing connections (32768-60999 on Linux). There a port found free can be taken a moment
    later as the local end of a download's connection, and the app's server then fails to start; so the
    search starts just above that range while it leaves enough room (docs/compat.md)."""
    try:
        low, high = (int(v) for v in range_file.read_text().split()[:2])
    except (OSError, ValueError):
        return ORIGINAL_PORT_START
    if low <= ORIGINAL_PORT_START <= high and high + 1 + _ROOM_ABOVE <= 65535:
        return high + 1
    return ORIGINAL_PORT_START


PORT_START = port_start()


def is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. Like a server, the probe sets SO_REUSEADDR and
    listens: that also catches a port in use as the local end of an outgoing connection (42003+ lies in
    Linux's ephemeral range), which a bare bind would miss."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
            sock.listen(1)
        except OSError:
            return False
    return True


def find_free_port(start: int = PORT_START, reserved: Container[int] = ()) -> int:
    for port in range(start, 65536):
        if port not in reserved and is_free(port):
            return port
    raise OSError(f"no free TCP port at or above {start}")


async def answers(host: str, port: int, timeout: float) -> bool:
    """Whether something accepts a TCP connection at ``host:port`` within ``timeout`` seconds."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
