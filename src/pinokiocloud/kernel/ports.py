"""Free TCP ports, searched upward from the original's starting point (spec §2.5 ``port``)."""

from __future__ import annotations

import socket
from collections.abc import Container

__all__ = ["PORT_START", "find_free_port", "is_free"]

PORT_START = 42003


def is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def find_free_port(start: int = PORT_START, reserved: Container[int] = ()) -> int:
    for port in range(start, 65536):
        if port not in reserved and is_free(port):
            return port
    raise OSError(f"no free TCP port at or above {start}")
