"""Persistent state: SQLite (WAL) under PINOKIO_HOME (DESIGN §5)."""

from __future__ import annotations

from pinokiocloud.store.db import EVENTS_KEPT_PER_RUN, AppRecord, RunRecord, Store

__all__ = ["EVENTS_KEPT_PER_RUN", "AppRecord", "RunRecord", "Store"]
