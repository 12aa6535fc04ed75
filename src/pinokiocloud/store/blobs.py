"""The content-addressed store: every downloaded file kept once, by sha256, with an index from its sources.

Layout under the store's root (the persistent root, or ``PINOKIO_HOME`` when there is none)::

    store/blobs/ab/ab12…ef      one file per sha256, read-only
    store/index.db              blobs, sources (URL → sha256 and the file name it gave) and uses (paths)
    store/quarantine/           blobs whose bytes no longer match their hash (kept, never deleted)

Apps see their usual paths as links into the store: a hardlink where the store is on the same filesystem,
a symlink across filesystems (Google Drive, a network volume). A download whose source is already indexed
costs no bytes (:meth:`BlobStore.fetch_from_store`). ``gc`` removes only blobs that no registered app uses and
no live link points to; ``verify`` re-hashes and moves a damaged blob aside.

The index uses SQLite's rollback journal (``journal_mode=DELETE``), not WAL: WAL needs shared memory, which
network filesystems such as Drive's FUSE mount do not give. Every method is synchronous and safe from any
thread; the daemon calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pinokiocloud.errors import StoreError

__all__ = [
    "HOME_PREFIX",
    "Blob",
    "BlobInfo",
    "BlobStore",
    "GcResult",
    "StoreUsage",
    "VerifyProblem",
    "blobs_for",
    "hash_file",
    "install_blobs",
    "source_key",
]

log = logging.getLogger(__name__)

_CHUNK = 4 * 1024 * 1024
HOME_PREFIX = "~/"
"""A use's ``rel`` that starts with this is a path inside ``PINOKIO_HOME``, not inside the app's folder."""
_SECRET_PARAMS = frozenset({"token", "access_token", "api_key", "apikey", "auth", "authorization"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, added_at REAL NOT NULL, verified_at REAL);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, name TEXT NOT NULL, added_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sources_sha256 ON sources(sha256);
CREATE TABLE IF NOT EXISTS uses (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, app TEXT, rel TEXT, linked_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS uses_sha256 ON uses(sha256);
CREATE INDEX IF NOT EXISTS uses_app ON uses(app);
"""


def source_key(url: str) -> str:
    """The form a source is indexed in: lower-case scheme and host, no fragment, no credentials and no
    token-like query parameters (a Civitai ``?token=`` never lands in the index). The same rules as the
    download records' ``normalize_source``, so both agree on what "the same URL" is."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in _SECRET_PARAMS]
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, urlencode(query), ""))


def hash_file(path: Path) -> str:
    """sha256 of a file, read in 4 MiB chunks (call it off the event loop)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Blob:
    """One stored file: its hash, size, where its bytes are, and the file name its source gave."""

    sha256: str
    size: int
    path: Path
    name: str | None = None


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A blob as ``store ls`` shows it."""

    sha256: str
    size: int
    sources: tuple[str, ...]
    apps: tuple[str, ...]
    links: tuple[str, ...]
    """Paths that link to it now."""


@dataclass(frozen=True, slots=True)
class StoreUsage:
    """``store du``: bytes kept once against the bytes apps see."""

    root: str
    blobs: int
    stored_bytes: int
    linked_bytes: int
    """Sum over every live link of its blob's size: what the apps would take without the store."""
    free_bytes: int

    @property
    def saved_bytes(self) -> int:
        return max(0, self.linked_bytes - self.stored_bytes)


@dataclass(frozen=True, slots=True)
class GcResult:
    removed: tuple[str, ...]
    freed_bytes: int
    kept: int


@dataclass(frozen=True, slots=True)
class VerifyProblem:
    sha256: str
    message: str
    """One sentence: what is wrong, what was done, what happens next."""


class BlobStore:
    """The store under ``root/store``. ``persistent`` says whether ``root`` outlives the session."""

    def __init__(self, root: Path, *, persistent: bool = False) -> None:
        self.root = Path(root)
        self.folder = self.root / "store"
        self.persistent = persistent
        self._lock = threading.Lock()
        self._ready = False

    # ---- plumbing ----

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._lock:
                if not self._ready:
                    (self.folder / "blobs").mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.folder / "index.db", timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"the model store at {self.folder} cannot be opened ({exc}); check that the folder "
                             "exists and is writable") from exc
        try:
            if not self._ready:
                db.execute("PRAGMA journal_mode=DELETE")
                db.executescript(_SCHEMA)
                self._ready = True
            with db:
                yield db
        except sqlite3.Error as exc:
            raise StoreError(f"the model store index {self.folder / 'index.db'} could not be used: {exc}") from exc
        finally:
            db.close()

    def blob_path(self, sha256: str) -> Path:
        digest = sha256.lower()
        return self.folder / "blobs" / digest[:2] / digest

    def _same_fs(self, target_dir: Path) -> bool:
        try:
            return os.stat(self.folder / "blobs").st_dev == os.stat(target_dir).st_dev
        except OSError:
            return False

    def _tmp(self, near: Path) -> Path:
        return near.with_name(f".{near.name}.{uuid.uuid4().hex[:8]}.tmp")

    # ---- lookups ----

    def lookup_source(self, url: str) -> Blob | None:
        """The blob ``url`` gave before, or None; a row whose blob file is gone or has the wrong size is
        dropped (so the caller downloads it again)."""
        key = source_key(url)
        with self._db() as db:
            row = db.execute("SELECT s.sha256, s.name, b.size FROM sources s JOIN blobs b ON b.sha256 = s.sha256 "
                             "WHERE s.source=?", (key,)).fetchone()
        if row is None:
            return None
        blob = self._present(row[0], int(row[2]), row[1])
        if blob is None:
            with self._db() as db:
                db.execute("DELETE FROM sources WHERE source=?", (key,))
        return blob

    def lookup_hash(self, sha256: str) -> Blob | None:
        digest = sha256.lower()
        with self._db() as db:
            row = db.execute("SELECT size FROM blobs WHERE sha256=?", (digest,)).fetchone()
        return self._present(digest, int(row[0]), None) if row is not None else None

    def _present(self, sha256: str, size: int, name: str | None) -> Blob | None:
        path = self.blob_path(sha256)
        try:
            if path.stat().st_size != size:
                return None
        except OSError:
            return None
        return Blob(sha256, size, path, name)

    # ---- bringing files in ----

    def adopt(self, path: Path, sha256: str, sources: Iterable[str] = (), *, app: str | None = None,
              home: Path | None = None, name: str | None = None) -> Blob:
        """Take a file that was just downloaded (its ``sha256`` already known) into the store and leave a link
        to the blob at ``path``. Identical content already stored: the copy at ``path`` is replaced by a link
        to the existing blob, so two apps or two URLs giving the same bytes take the space once."""
        path = Path(path).absolute()
        digest = sha256.lower()
        size = path.stat().st_size
        blob_file = self.blob_path(digest)
        existing = self._present(digest, size, None)
        try:
            if existing is None:
                blob_file.parent.mkdir(parents=True, exist_ok=True)
                tmp = self._tmp(blob_file)
                try:
                    if self._same_fs(path.parent):
                        os.link(path, tmp)
                    else:
                        _copy_synced(path, tmp)
                    os.chmod(tmp, 0o444)
                    os.replace(tmp, blob_file)
                finally:
                    tmp.unlink(missing_ok=True)
            if not _links_to(path, blob_file):
                self._place_link(blob_file, path)
        except OSError as exc:
            raise StoreError(f"could not keep {path.name} in the model store at {self.folder} ({exc}); the file "
                             "stays where it was downloaded") from exc
        name = name or path.name
        with self._db() as db:
            now = time.time()
            db.execute("INSERT INTO blobs(sha256, size, added_at) VALUES (?, ?, ?) ON CONFLICT(sha256) DO NOTHING",
                       (digest, size, now))
            for url in dict.fromkeys(source_key(u) for u in sources):
                db.execute("INSERT INTO sources(source, sha256, name, added_at) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT(source) DO UPDATE SET sha256=excluded.sha256, name=excluded.name, "
                           "added_at=excluded.added_at", (url, digest, name, now))
            self._record_use(db, path, digest, app, home)
        return Blob(digest, size, blob_file, name)

    def link_into(self, blob: Blob, target: Path, *, app: str | None = None, home: Path | None = None) -> Path:
        """Put a link to ``blob`` at ``target`` (a hardlink on the same filesystem, else a symlink) and
        remember the use. An existing file at ``target`` is left alone unless it already is this blob."""
        target = Path(target).absolute()
        try:
            # the parent may be a link to a folder not made yet (an app's models/ into a drive folder)
            os.makedirs(os.path.realpath(target.parent), exist_ok=True)
            if not (target.exists() or target.is_symlink()):
                self._place_link(blob.path, target)
        except OSError as exc:
            raise StoreError(f"could not link {target} to the model store ({exc})") from exc
        if _links_to(target, blob.path):
            with self._db() as db:
                self._record_use(db, target, blob.sha256, app, home)
        return target

    def _place_link(self, blob_file: Path, target: Path) -> None:
        tmp = self._tmp(target)
        try:
            if self._same_fs(target.parent):
                os.link(blob_file, tmp)
            else:
                tmp.symlink_to(blob_file)
            os.replace(tmp, target)
        finally:
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()

    @staticmethod
    def _record_use(db: sqlite3.Connection, path: Path, sha256: str, app: str | None, home: Path | None) -> None:
        """``rel`` is the path inside the app's folder, or ``~/…`` inside the home (the hub cache, the shared
        drive folders): what a restore links again in a new ``PINOKIO_HOME``."""
        rel = None
        if home is not None:
            home_dir = Path(home).absolute()
            if app is not None:
                with contextlib.suppress(ValueError):
                    rel = str(path.relative_to(home_dir / "api" / app))
            if rel is None:
                with contextlib.suppress(ValueError):
                    rel = HOME_PREFIX + str(path.relative_to(home_dir))
        db.execute("INSERT INTO uses(path, sha256, app, rel, linked_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) "
                   "DO UPDATE SET sha256=excluded.sha256, app=excluded.app, rel=excluded.rel, "
                   "linked_at=excluded.linked_at", (str(path), sha256, app, rel, time.time()))

    def fetch_from_store(self, url: str, *, path: Path | None = None, dir: Path | None = None,
                         sha256: str | None = None, app: str | None = None, home: Path | None = None) -> Path | None:
        """Check before fetch: link what ``url`` (or ``sha256``) gave before to ``path`` (or into ``dir`` under
        the name it had) and return that path, or None when the store does not hold it (download it).

        A known ``sha256`` that differs from the indexed blob of the URL wins: the URL now gives other bytes."""
        blob = self.lookup_source(url)
        if sha256 is not None and (blob is None or blob.sha256 != sha256.lower()):
            by_hash = self.lookup_hash(sha256)
            blob = Blob(by_hash.sha256, by_hash.size, by_hash.path, blob.name if blob else None) if by_hash else None
        if blob is None:
            return None
        if path is None:
            if dir is None or not blob.name:
                return None
            path = Path(dir) / blob.name
        if path.exists() or path.is_symlink():
            return None  # the downloader's own rule (skip an existing file) decides
        return self.link_into(blob, path, app=app, home=home)

    def uses_of_app(self, app: str) -> list[tuple[str, str]]:
        """(path inside the app's folder, sha256) of each file linked for ``app``: what a restore links again
        in a new ``PINOKIO_HOME``. Every home it was restored into recorded its own use of the same path;
        the newest one says what the path holds now."""
        with self._db() as db:
            rows = db.execute("SELECT rel, sha256 FROM uses WHERE app=? AND rel IS NOT NULL ORDER BY linked_at",
                              (app,)).fetchall()
        return _newest(rows, lambda rel: None if rel.startswith(HOME_PREFIX) else rel)

    def uses_in_home(self) -> list[tuple[str, str]]:
        """(path inside ``PINOKIO_HOME``, sha256) of each file linked outside an app's folder (hub-cache
        blobs of ``hf.download``, files of the shared drive folders), the newest use of each path."""
        with self._db() as db:
            rows = db.execute("SELECT rel, sha256 FROM uses WHERE rel LIKE ? ORDER BY linked_at",
                              (HOME_PREFIX + "%",)).fetchall()
        return _newest(rows, lambda rel: rel[len(HOME_PREFIX):])

    def relink_home(self, home: Path) -> tuple[int, int]:
        """Link every file recorded inside a (previous) home into ``home`` again; (linked, bytes). Run once
        at the start of a restore, so the hub cache and the drive folders are whole before apps start."""
        linked = total = 0
        home = Path(home).absolute()
        with self._db() as db:
            owners = dict(db.execute("SELECT rel, app FROM uses WHERE rel LIKE ? ORDER BY linked_at",  # newest wins
                                     (HOME_PREFIX + "%",)).fetchall())
        for rel, digest in self.uses_in_home():
            blob = self.lookup_hash(digest)
            if blob is None:
                continue
            target = home / rel
            if (target.exists() or target.is_symlink()) and not _links_to(target, blob.path):
                continue
            owner = owners.get(HOME_PREFIX + rel)
            self.link_into(blob, target, app=str(owner) if owner else None, home=home)
            linked += 1
            total += blob.size
        return linked, total

    def sources_under(self, prefix: str) -> list[tuple[str, Blob]]:
        """(source, blob) of every indexed source that starts with ``prefix`` and whose blob is here, e.g. all
        files of one Hugging Face repo at one revision."""
        key = source_key(prefix)
        with self._db() as db:
            rows = db.execute("SELECT s.source, s.sha256, s.name, b.size FROM sources s JOIN blobs b ON "
                              "b.sha256 = s.sha256 WHERE substr(s.source, 1, ?) = ? ORDER BY s.source",
                              (len(key), key)).fetchall()
        found: list[tuple[str, Blob]] = []
        for source, digest, name, size in rows:
            blob = self._present(str(digest), int(size), str(name))
            if blob is not None:
                found.append((str(source), blob))
        return found

    def use_of(self, path: Path) -> Blob | None:
        """The blob ``path`` is recorded as, when it still is a link to it (a file adopted before)."""
        path = Path(path).absolute()
        with self._db() as db:
            row = db.execute("SELECT sha256 FROM uses WHERE path=?", (str(path),)).fetchone()
        if row is None:
            return None
        blob = self.lookup_hash(str(row[0]))
        return blob if blob is not None and _links_to(path, blob.path) else None

    def adopt_tree(self, folder: Path, source_prefix: str, *, app: str | None = None, home: Path | None = None,
                   min_bytes: int = 0, skip: Callable[[Path], bool] | None = None,
                   settle_s: float = 0.0) -> tuple[int, int]:
        """Adopt every regular file under ``folder`` (at least ``min_bytes``) that is not a link into the store
        yet, each with the source ``source_prefix + its path inside folder``; (adopted, bytes). A file changed
        less than ``settle_s`` ago is left for a later sweep. Hashing runs here: call it off the event loop."""
        adopted = total = 0
        folder = Path(folder)
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                path = Path(dirpath) / name
                if name.startswith(".") or (skip is not None and skip(path)):
                    continue
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if not stat.S_ISREG(info.st_mode) or info.st_size < min_bytes or self.use_of(path) is not None:
                    continue
                if settle_s and time.time() - info.st_mtime < settle_s:
                    continue  # perhaps still being written: a later sweep takes it
                rel = path.relative_to(folder).as_posix()
                try:
                    self.adopt(path, hash_file(path), [source_prefix + rel], app=app, home=home)
                except OSError as exc:  # a file being written, or gone: the next sweep takes it
                    log.debug("not adopted %s: %s", path, exc)
                    continue
                adopted += 1
                total += info.st_size
        return adopted, total

    def relink_app(self, app: str, app_dir: Path, *, home: Path | None = None) -> tuple[int, int]:
        """Link every recorded file of ``app`` into ``app_dir`` again; (linked, bytes). A use whose blob is
        gone is skipped: the app's own download step fetches it again."""
        linked = total = 0
        for rel, digest in self.uses_of_app(app):
            blob = self.lookup_hash(digest)
            if blob is None:
                continue
            target = app_dir / rel
            if target.exists() and not _links_to(target, blob.path):
                continue
            self.link_into(blob, target, app=app, home=home)
            linked += 1
            total += blob.size
        return linked, total

    # ---- what it holds ----

    def ls(self) -> list[BlobInfo]:
        with self._db() as db:
            blobs = db.execute("SELECT sha256, size FROM blobs ORDER BY size DESC, sha256").fetchall()
            sources: dict[str, list[str]] = {}
            for src, digest in db.execute("SELECT source, sha256 FROM sources ORDER BY source"):
                sources.setdefault(digest, []).append(src)
            uses: dict[str, list[tuple[str, str | None]]] = {}
            for path, digest, app in db.execute("SELECT path, sha256, app FROM uses ORDER BY path"):
                uses.setdefault(digest, []).append((path, app))
        infos: list[BlobInfo] = []
        for digest, size in blobs:
            blob_file = self.blob_path(digest)
            live = [(p, a) for p, a in uses.get(digest, []) if _links_to(Path(p), blob_file)]
            infos.append(BlobInfo(digest, int(size), tuple(sources.get(digest, [])),
                                  tuple(sorted({a for _, a in uses.get(digest, []) if a})), tuple(p for p, _ in live)))
        return infos

    def du(self) -> StoreUsage:
        infos = self.ls()
        stored = sum(i.size for i in infos if self.blob_path(i.sha256).exists())
        linked = sum(i.size * len(i.links) for i in infos)
        try:
            free = shutil.disk_usage(self.folder).free
        except OSError:
            free = 0
        return StoreUsage(str(self.folder), len(infos), stored, linked, free)

    def gc(self, keep_apps: Iterable[str] = ()) -> GcResult:
        """Remove blobs no app uses: a blob stays while a live link points to it, or while any app in
        ``keep_apps`` (the registry, including apps still to be restored) recorded a use of it."""
        keep = set(keep_apps)
        removed: list[str] = []
        freed = kept = 0
        with self._db() as db:
            blobs = db.execute("SELECT sha256, size FROM blobs").fetchall()
            uses: dict[str, list[tuple[str, str | None]]] = {}
            for path, digest, app in db.execute("SELECT path, sha256, app FROM uses"):
                uses.setdefault(digest, []).append((path, app))
        for digest, size in blobs:
            blob_file = self.blob_path(digest)
            entries = uses.get(digest, [])
            live = [(p, a) for p, a in entries if _links_to(Path(p), blob_file)]
            if live or any(a in keep for _, a in entries if a):
                kept += 1
                continue
            with contextlib.suppress(FileNotFoundError):
                blob_file.unlink()
            with self._db() as db:
                db.execute("DELETE FROM blobs WHERE sha256=?", (digest,))
                db.execute("DELETE FROM sources WHERE sha256=?", (digest,))
                db.execute("DELETE FROM uses WHERE sha256=?", (digest,))
            removed.append(digest)
            freed += int(size)
        return GcResult(tuple(removed), freed, kept)

    def verify(self) -> tuple[int, list[VerifyProblem]]:
        """Re-hash every blob; (checked, problems). A blob whose bytes no longer match is moved to
        ``store/quarantine/`` (not deleted) and its sources forgotten, so the next download fetches it again."""
        with self._db() as db:
            blobs = db.execute("SELECT sha256, size FROM blobs ORDER BY sha256").fetchall()
        problems: list[VerifyProblem] = []
        for digest, size in blobs:
            blob_file = self.blob_path(digest)
            try:
                actual = hash_file(blob_file)
            except FileNotFoundError:
                problems.append(VerifyProblem(digest, f"blob {digest[:12]} is missing from {blob_file.parent}; the "
                                                      "next download of its source fetches it again"))
                with self._db() as db:
                    db.execute("DELETE FROM blobs WHERE sha256=?", (digest,))
                    db.execute("DELETE FROM sources WHERE sha256=?", (digest,))
                continue
            if actual == digest:
                with self._db() as db:
                    db.execute("UPDATE blobs SET verified_at=? WHERE sha256=?", (time.time(), digest))
                continue
            aside = self.folder / "quarantine" / f"{digest}.{time.strftime('%Y%m%d-%H%M%S')}"
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(blob_file, aside)
            with self._db() as db:
                db.execute("DELETE FROM blobs WHERE sha256=?", (digest,))
                db.execute("DELETE FROM sources WHERE sha256=?", (digest,))
            problems.append(VerifyProblem(digest, f"blob {digest[:12]} ({int(size)} bytes) no longer matches its "
                                                  f"sha256 (it hashes to {actual[:12]}); it was moved to {aside} and "
                                                  "the next download of its source fetches it again"))
        return len(blobs), problems


def _newest(rows: Iterable[tuple[str, str]], key: Callable[[str], str | None]) -> list[tuple[str, str]]:
    """(path, sha256) once per path, from rows oldest first (the last one wins), sorted by path; a row whose
    ``key`` is ``None`` is left out."""
    newest: dict[str, str] = {}
    for rel, digest in rows:
        path = key(str(rel))
        if path is not None:
            newest[path] = str(digest)
    return sorted(newest.items())


def _links_to(path: Path, blob_file: Path) -> bool:
    """Whether ``path`` is ``blob_file``: a symlink to it, or a hardlink of it."""
    try:
        if path.is_symlink():
            return Path(os.path.realpath(path)) == Path(os.path.realpath(blob_file))
        return os.path.samefile(path, blob_file)
    except OSError:
        return False


def _copy_synced(src: Path, dest: Path) -> None:
    """Copy and fsync: a blob on a network volume must be whole before it is renamed into place."""
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout, _CHUNK)
        fout.flush()
        os.fsync(fout.fileno())


_BY_HOME: dict[Path, BlobStore] = {}
_BY_HOME_LOCK = threading.Lock()


def install_blobs(home: Path, store: BlobStore | None) -> None:
    """Make ``store`` the blob store of ``home`` in this process (the daemon does, with its persistent
    root); ``None`` goes back to the default under the home."""
    key = Path(home).absolute()
    with _BY_HOME_LOCK:
        if store is None:
            _BY_HOME.pop(key, None)
        else:
            _BY_HOME[key] = store


def blobs_for(home: Path) -> BlobStore:
    """The blob store downloads of ``home`` go through: the installed one, else one under the home itself
    (no persistent root: it still deduplicates within the session)."""
    key = Path(home).absolute()
    with _BY_HOME_LOCK:
        found = _BY_HOME.get(key)
        if found is None:
            found = _BY_HOME[key] = BlobStore(key)
        return found
