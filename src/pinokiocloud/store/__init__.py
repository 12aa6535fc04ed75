"""Persistent state: SQLite (WAL) under PINOKIO_HOME (DESIGN §5).

The names load on first use (PEP 562): the restore's worker imports modules of this package (the archive's
reader) and needs neither SQLite nor the event loop the store's modules bring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinokiocloud.lazy import lazy_exports

if TYPE_CHECKING:
    from pinokiocloud.store.db import EVENTS_KEPT_PER_RUN, AppRecord, RunRecord, Store

__all__ = ["EVENTS_KEPT_PER_RUN", "AppRecord", "RunRecord", "Store"]

_HOMES = {"db": ("EVENTS_KEPT_PER_RUN", "AppRecord", "RunRecord", "Store")}
"""Each submodule and the names it exports (what ``__getattr__`` imports on first use)."""

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
