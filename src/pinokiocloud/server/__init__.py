"""The control plane: one FastAPI daemon that owns all state (DESIGN §1, §7)."""

from __future__ import annotations

from pinokiocloud.server.app import create_app
from pinokiocloud.server.daemon import Daemon

__all__ = ["Daemon", "create_app"]
