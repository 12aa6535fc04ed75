"""The daemon's state in one SQLite file (``PINOKIO_HOME/pinokiocloud.db``, WAL mode): apps, runs,
``global`` memory, run events (bounded per run) and settings.

WAL lets the CLI or a test read while the daemon writes, and a ``kill -9`` loses at most the last
unflushed batch of events, never the apps or the runs' states.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pinokiocloud.errors import StoreError

__all__ = ["EVENTS_KEPT_PER_RUN", "AppRecord", "RunRecord", "Store", "StoreError"]

EVENTS_KEPT_PER_RUN = 5000
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS apps (
  name TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  path TEXT NOT NULL,
  installed_at REAL NOT NULL,
  autorestore INTEGER NOT NULL DEFAULT 1,
  meta TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS runs (
  key TEXT PRIMARY KEY,
  id TEXT NOT NULL,
  app TEXT,
  path TEXT NOT NULL,
  uri TEXT NOT NULL,
  action TEXT NOT NULL,
  args TEXT NOT NULL,
  state TEXT NOT NULL,
  daemon INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  exit_code INTEGER,
  caller TEXT,
  started_at REAL NOT NULL,
  ended_at REAL
);
CREATE INDEX IF NOT EXISTS runs_by_app ON runs(app, started_at);
CREATE INDEX IF NOT EXISTS runs_by_id ON runs(id, started_at);
CREATE TABLE IF NOT EXISTS memory (
  scope TEXT NOT NULL,
  id TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (scope, id)
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  type TEXT NOT NULL,
  step INTEGER,
  total INTEGER,
  ts REAL NOT NULL,
  data TEXT
);
CREATE INDEX IF NOT EXISTS events_by_run ON events(run_key, seq);
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class AppRecord:
    name: str
    source: str
    path: str
    installed_at: float
    autorestore: bool
    meta: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunRecord:
    key: str
    id: str
    app: str | None
    path: str
    uri: str
    action: str
    args: Any
    state: str
    daemon: bool
    error: str | None
    exit_code: int | None
    caller: str | None
    started_at: float
    ended_at: float | None


def _dumps(value: object) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


class Store:
    """Thread-safe access to the state file; every write is one short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._event_chars: dict[str, int] = {}
        """Characters of event data stored per run, as far as this process knows (for the byte cap)."""
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO settings(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the state file {path}: {exc}; move it aside to start fresh") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(f"the state file {self.path} could not be written: {exc}") from exc

    def _rows(self, query: str, params: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(query, tuple(params)))
            except sqlite3.Error as exc:
                raise StoreError(f"the state file {self.path} could not be read: {exc}") from exc

    # ---- apps ----

    def put_app(self, name: str, source: str, path: Path, meta: Mapping[str, object] | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO apps(name, source, path, installed_at, meta) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET source=excluded.source, path=excluded.path, meta=excluded.meta",
                       (name, source, str(path), time.time(), _dumps(dict(meta or {}))))

    def set_autorestore(self, name: str, enabled: bool) -> None:
        with self._tx() as db:
            db.execute("UPDATE apps SET autorestore=? WHERE name=?", (int(enabled), name))

    def delete_app(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM apps WHERE name=?", (name,))

    def apps(self) -> list[AppRecord]:
        rows = self._rows("SELECT name, source, path, installed_at, autorestore, meta FROM apps ORDER BY name")
        return [AppRecord(r[0], r[1], r[2], r[3], bool(r[4]), json.loads(r[5])) for r in rows]

    def app(self, name: str) -> AppRecord | None:
        return next((a for a in self.apps() if a.name == name), None)

    # ---- runs ----

    def put_run(self, record: RunRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs(key, id, app, path, uri, action, args, state, daemon, error, exit_code, caller, "
                "started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE "
                "SET state=excluded.state, daemon=excluded.daemon, error=excluded.error, "
                "exit_code=excluded.exit_code, ended_at=excluded.ended_at",
                (record.key, record.id, record.app, record.path, record.uri, record.action, _dumps(record.args),
                 record.state, int(record.daemon), record.error, record.exit_code, record.caller,
                 record.started_at, record.ended_at))

    def runs(self, *, app: str | None = None, states: Iterable[str] | None = None, limit: int = 200) -> list[RunRecord]:
        query = "SELECT key, id, app, path, uri, action, args, state, daemon, error, exit_code, caller, " \
                "started_at, ended_at FROM runs"
        where: list[str] = []
        params: list[object] = []
        if app is not None:
            where.append("app=?")
            params.append(app)
        if states is not None:
            wanted = list(states)
            where.append(f"state IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY started_at DESC LIMIT ?"
        params.append(limit)
        return [RunRecord(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], bool(r[8]), r[9], r[10],
                          r[11], r[12], r[13]) for r in self._rows(query, params)]

    def mark_interrupted(self, states: Iterable[str]) -> list[RunRecord]:
        """Runs a dead daemon left alive: marked ``interrupted`` and returned (to restart some of them)."""
        alive = self.runs(states=states, limit=10_000)
        with self._tx() as db:
            for run in alive:
                db.execute("UPDATE runs SET state='interrupted', ended_at=? WHERE key=?", (time.time(), run.key))
        return alive

    # ---- memory ----

    def put_memory(self, scope: str, id_: str, data: Mapping[str, object] | None) -> None:
        with self._tx() as db:
            if data:
                db.execute("INSERT INTO memory(scope, id, data) VALUES (?, ?, ?) ON CONFLICT(scope, id) "
                           "DO UPDATE SET data=excluded.data", (scope, id_, _dumps(dict(data))))
            else:
                db.execute("DELETE FROM memory WHERE scope=? AND id=?", (scope, id_))

    def memory(self, scope: str) -> dict[str, dict[str, Any]]:
        return {r[0]: json.loads(r[1]) for r in self._rows("SELECT id, data FROM memory WHERE scope=?", (scope,))}

    # ---- events ----

    def add_events(self, events: Iterable[tuple[str, str, str, int | None, int | None, float, object]]) -> None:
        """(run_key, run_id, type, step, total, ts, data) rows, then trim each touched run to the newest
        EVENTS_KEPT_PER_RUN."""
        rows = [(k, i, t, s, n, ts, _dumps(d)) for k, i, t, s, n, ts, d in events]
        if not rows:
            return
        with self._tx() as db:
            db.executemany("INSERT INTO events(run_key, run_id, type, step, total, ts, data) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            for key in {r[0] for r in rows}:
                db.execute("DELETE FROM events WHERE run_key=? AND seq <= (SELECT seq FROM events WHERE run_key=? "
                           "ORDER BY seq DESC LIMIT 1 OFFSET ?)", (key, key, EVENTS_KEPT_PER_RUN))

    def add_numbered_events(self, events: Iterable[tuple[int, str, str, str, int | None, int | None, float, object]],
                            *, max_bytes_per_run: int | None = None) -> None:
        """Like ``add_events``, each row led by the ``seq`` the daemon's event log gave it (seq, run_key,
        run_id, type, step, total, ts, data), so a replay can join stored and in-memory events. A row whose
        seq is already stored is left as it was. With ``max_bytes_per_run`` a run also keeps only its newest
        events whose data adds up to that many characters (an app printing a gigabyte must not leave a
        gigabyte here); the exact sum is taken only once the run has grown by half the cap."""
        rows = [(q, k, i, t, s, n, ts, _dumps(d)) for q, k, i, t, s, n, ts, d in events]
        if not rows:
            return
        added: dict[str, int] = {}
        for row in rows:
            added[row[1]] = added.get(row[1], 0) + len(row[7])
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO events(seq, run_key, run_id, type, step, total, ts, data) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            for key, size in added.items():
                db.execute("DELETE FROM events WHERE run_key=? AND seq <= (SELECT seq FROM events WHERE run_key=? "
                           "ORDER BY seq DESC LIMIT 1 OFFSET ?)", (key, key, EVENTS_KEPT_PER_RUN))
                if max_bytes_per_run is None:
                    continue
                grown = self._event_chars.get(key, 0) + size
                if grown <= max_bytes_per_run * 3 // 2:
                    self._event_chars[key] = grown
                    continue
                db.execute("DELETE FROM events WHERE run_key=:k AND seq <= (SELECT seq FROM (SELECT seq, "
                           "SUM(length(data)) OVER (ORDER BY seq DESC) AS kept FROM events WHERE run_key=:k) "
                           "WHERE kept > :cap ORDER BY seq DESC LIMIT 1)", {"k": key, "cap": max_bytes_per_run})
                left = db.execute("SELECT COALESCE(SUM(length(data)), 0) FROM events WHERE run_key=?", (key,))
                self._event_chars[key] = int(left.fetchone()[0])

    def last_event_seq(self) -> int:
        """The highest event ``seq`` ever given out in this file (deleted rows count: AUTOINCREMENT never
        reuses them), so a new daemon numbers its events above every stored one."""
        rows = self._rows("SELECT seq FROM sqlite_sequence WHERE name='events'", ())
        return int(rows[0][0]) if rows else 0

    def events(self, run_key: str, *, after: int = 0, types: Iterable[str] | None = None,
               limit: int = EVENTS_KEPT_PER_RUN) -> list[dict[str, Any]]:
        query = "SELECT seq, run_key, run_id, type, step, total, ts, data FROM events WHERE run_key=? AND seq>?"
        params: list[object] = [run_key, after]
        if types is not None:
            wanted = list(types)
            query += f" AND type IN ({','.join('?' * len(wanted))})"
            params.extend(wanted)
        query += " ORDER BY seq LIMIT ?"
        params.append(limit)
        return [{"seq": r[0], "attempt": r[1], "run_id": r[2], "type": r[3], "step": r[4], "total": r[5],
                 "ts": r[6], "data": json.loads(r[7]) if r[7] else None} for r in self._rows(query, params)]

    # ---- settings ----

    def setting(self, key: str, default: Any = None) -> Any:
        rows = self._rows("SELECT value FROM settings WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def put_setting(self, key: str, value: object) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                       "SET value=excluded.value", (key, _dumps(value)))
