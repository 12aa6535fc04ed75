"""The control plane: one FastAPI daemon that owns all state (DESIGN §1, §7).

The names load on first use, so ``serve`` can refuse a second daemon or a taken port before it imports
FastAPI and the rest of the daemon (seconds on a busy machine)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinokiocloud.server.app import create_app
    from pinokiocloud.server.daemon import Daemon

__all__ = ["Daemon", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from pinokiocloud.server.app import create_app

        return create_app
    if name == "Daemon":
        from pinokiocloud.server.daemon import Daemon

        return Daemon
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
