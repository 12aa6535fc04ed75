"""The sha256 of every file a download completed, and where it came from: the base of the model store.

Stored in its own SQLite file, ``PINOKIO_HOME/downloads.db`` (WAL, mode 0600), not in the daemon's
``pinokiocloud.db``: downloads also run where no daemon does (``script`` commands, tests, a notebook using the
engine), the file is written once per completed file from worker threads while the daemon's store takes a
stream of run events, and the persistence layer (issue 16) can ``ATTACH`` it or copy it as one file.

Two tables:

- ``files(path PRIMARY KEY, sha256, size, recorded_at)``: what is at a path now, as far as we know.
- ``sources(url PRIMARY KEY, sha256, size, path, validator, recorded_at)``: what a URL gave the last time
  (``validator``: its ETag or Last-Modified), so a later download of the same URL can be checked.

URLs are normalised by :func:`normalize_source` (lower-case scheme and host, no fragment, no token-like
query parameters: a Civitai ``?token=`` never lands on disk). Every method is synchronous and opens its own
connection, so it is safe from any thread; async code calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["RECORDS_FILE", "FileRecord", "Records", "normalize_source", "records_for"]

RECORDS_FILE = "downloads.db"
_SECRET_PARAMS = frozenset({"token", "access_token", "api_key", "apikey", "auth", "authorization"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, recorded_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
CREATE TABLE IF NOT EXISTS sources (
    url TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, path TEXT NOT NULL,
    validator TEXT, recorded_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sources_sha256 ON sources(sha256);
"""


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One completed file: its hash and size, where it was written, and every URL known to give it."""

    path: Path
    sha256: str
    size: int
    sources: tuple[str, ...]
    recorded_at: float
    validator: str | None = None
    """The ETag / Last-Modified the looked-up source came with (``lookup_by_source`` only)."""


def normalize_source(url: str) -> str:
    """The form a source URL is stored and looked up in (token-like query parameters removed)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in _SECRET_PARAMS]
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()  # never user:password@
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, urlencode(query), ""))


class Records:
    """The records of one ``PINOKIO_HOME``."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / RECORDS_FILE
        self._ready = False
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                os.close(fd)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            if not self._ready:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                self._ready = True
            with db:
                yield db
        finally:
            db.close()

    def record(self, path: Path, sha256: str, size: int, sources: Iterable[str], *,
               validator: str | None = None) -> FileRecord:
        """Remember that ``path`` holds ``size`` bytes hashing to ``sha256``, fetched from ``sources``."""
        now = time.time()
        where = str(Path(path).absolute())
        digest = sha256.lower()
        urls = tuple(dict.fromkeys(normalize_source(u) for u in sources))
        with self._db() as db:
            db.execute("INSERT INTO files(path, sha256, size, recorded_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(path) DO UPDATE SET sha256=excluded.sha256, size=excluded.size, "
                       "recorded_at=excluded.recorded_at", (where, digest, size, now))
            for url in urls:
                db.execute("INSERT INTO sources(url, sha256, size, path, validator, recorded_at) "
                           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET sha256=excluded.sha256, "
                           "size=excluded.size, path=excluded.path, validator=excluded.validator, "
                           "recorded_at=excluded.recorded_at", (url, digest, size, where, validator, now))
        return FileRecord(Path(where), digest, size, urls, now, validator)

    def lookup_by_source(self, url: str) -> FileRecord | None:
        """What ``url`` gave the last time it was downloaded, or None."""
        with self._db() as db:
            row = db.execute("SELECT sha256, size, path, validator, recorded_at FROM sources WHERE url=?",
                             (normalize_source(url),)).fetchone()
            if row is None:
                return None
            sha, size, path, validator, at = row
            urls = [u for (u,) in db.execute("SELECT url FROM sources WHERE sha256=? ORDER BY url", (sha,))]
        return FileRecord(Path(path), sha, int(size), tuple(urls), float(at), validator)

    def lookup_by_hash(self, sha256: str) -> list[FileRecord]:
        """Every recorded path holding this content, newest first (the file may have moved since)."""
        digest = sha256.lower()
        with self._db() as db:
            rows = db.execute("SELECT path, size, recorded_at FROM files WHERE sha256=? ORDER BY recorded_at DESC",
                              (digest,)).fetchall()
            urls = tuple(u for (u,) in db.execute("SELECT url FROM sources WHERE sha256=? ORDER BY url", (digest,)))
        return [FileRecord(Path(p), digest, int(s), urls, float(at)) for p, s, at in rows]

    def forget(self, path: Path) -> None:
        """Drop the record of a path whose file was removed (its sources keep what they gave)."""
        with self._db() as db:
            db.execute("DELETE FROM files WHERE path=?", (str(Path(path).absolute()),))


_BY_HOME: dict[Path, Records] = {}
_BY_HOME_LOCK = threading.Lock()


def records_for(home: Path) -> Records:
    """The one :class:`Records` of a home in this process."""
    key = Path(home).absolute()
    with _BY_HOME_LOCK:
        found = _BY_HOME.get(key)
        if found is None:
            found = _BY_HOME[key] = Records(key)
        return found
