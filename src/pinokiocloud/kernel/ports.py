"""Free TCP ports, searched upward from the original's starting point (spec §2.5 ``port``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Container, Iterable
from pathlib import Path

__all__ = ["ORIGINAL_PORT_START", "PORT_HOLD_S", "PORT_POOL_SIZE", "PORT_START", "PortPool", "answers",
           "find_free_port", "is_free", "port_start"]

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


PORT_POOL_SIZE = 4
PORT_HOLD_S = 60.0
"""How long a port handed to a script stays off-limits for others: time for its server to bind it."""


class PortPool:
    """The ports handed to runs (``{{port}}``, ``kernel.port()``), so two runs never get the same one.

    Decided on the daemon's one event loop, so no lock is needed. A port stays held for ``PORT_HOLD_S`` after
    it was handed out, and as long as its owner (a run's key) is alive: its server may be between a stop and
    a restart, or not listening yet.
    """

    def __init__(self, owner_alive: Callable[[str], bool], *, start: int = PORT_START,
                 hold_s: float = PORT_HOLD_S) -> None:
        self._owner_alive = owner_alive
        self._start = start
        self._hold_s = hold_s
        self._held: dict[int, tuple[float, str]] = {}
        """port -> (held until, on the monotonic clock; owner)."""

    def reserve(self, ports: Iterable[int], owner: str = "") -> None:
        until = time.monotonic() + self._hold_s
        for port in ports:
            self._held[int(port)] = (until, owner)

    def reserved(self, *, except_owner: str | None = None) -> set[int]:
        """Ports held now (by anyone, or by anyone but ``except_owner``)."""
        now = time.monotonic()
        self._held = {p: (until, owner) for p, (until, owner) in self._held.items()
                      if until > now or (owner and self._owner_alive(owner))}
        return {p for p, (_, owner) in self._held.items() if owner != except_owner or not owner}

    def pool(self, owner: str, size: int = PORT_POOL_SIZE) -> list[int]:
        """``size`` free ports for one run: ``{{port}}`` is the first, ``kernel.port()`` takes from the same
        list. A run keeps its ports while they stay free, as the original's search from 42003 would give
        them again."""
        others = self.reserved(except_owner=owner)
        pool: list[int] = []
        for port in sorted(p for p, (_, o) in self._held.items() if o == owner):
            if len(pool) < size and port not in others and is_free(port):
                pool.append(port)
        while len(pool) < size:
            pool.append(find_free_port(start=(pool[-1] + 1) if pool else self._start, reserved=others | set(pool)))
        pool.sort()
        self.reserve(pool, owner)
        return pool

    def take(self, owner: str) -> int:
        """One more free port for ``owner``, held like the pool's (a method that needs a port of its own)."""
        port = find_free_port(start=self._start, reserved=self.reserved())
        self.reserve([port], owner)
        return port
