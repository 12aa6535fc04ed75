"""Resumable, verified, parallel HTTP downloads: the engine behind ``fs.download`` (spec §3.3).

A CDN caps each connection (one Hugging Face stream tops out near 40 MB/s), so a big file whose server does
ranges comes over several connections at once, added while throughput grows (up to ``MAX_CONNECTIONS``);
the done ranges live in ``<target>.partial.state`` (:mod:`.ranges`), every resume carries ``If-Range``, so
content that changed on the server starts the file over instead of splicing two versions, and the sha256 is
computed while the bytes arrive and checked before the file gets its name.

Model files are gigabytes and cloud links drop, so a download must survive a reset without starting
over. :func:`download` writes ``<target>.partial``, resumes it with an HTTP ``Range`` request (after a
dropped connection, a stall or a crash of the whole process), starts again from zero when a server
ignores the range, checks free disk space before the first byte, verifies the size, and only then moves
the file into place with ``os.replace``: a file at the target name is always complete. That is also why
"the target exists" means "skip it", as in the original.

Errors from httpx never leave this module: they become a retry, or a :class:`DownloadError` that says
what happened and what to do (STYLE §1.3, §6 "Downloads").

Not every failure is worth ten retries. A dropped connection, a stall, a 5xx, 408 or 429 usually passes,
so they get the full policy (and a server's ``Retry-After`` or Hugging Face's ``RateLimit`` wait is
honoured). A host that was never reached at all (its name does not resolve, nothing listens on the port,
there is no route, or a proxy refuses or cannot reach it) is how "offline" looks: that gets one quick
second try and then an :class:`UnreachableError` that names the host, in seconds instead of minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import mmap
import os
import random
import re
import shutil
import socket
import ssl
import threading
import time
import urllib.request
import weakref
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypedDict, TypeVar, cast
from urllib.parse import unquote, urlsplit

from typing_extensions import Unpack

from pinokiocloud.downloads.auth import Tokens, headers_for
from pinokiocloud.downloads.ranges import RangeSet, RangeState
from pinokiocloud.downloads.records import Records
from pinokiocloud.errors import DOWNLOAD_RETRY_HINT, BadParamError, DiskFullError, DownloadError, UnreachableError
from pinokiocloud.units import human_bytes

if TYPE_CHECKING:  # httpx is imported where a download starts: the daemon starts without it
    import httpx

__all__ = [
    "BACKOFF_MAX_S",
    "MAX_CONNECTIONS",
    "MAX_RETRIES",
    "MIN_SPLIT_BYTES",
    "PARTIAL_SUFFIX",
    "PROGRESS_INTERVAL_S",
    "RETRY_AFTER_MAX_S",
    "STALL_TIMEOUT_S",
    "UNREACHABLE_BUDGET_S",
    "UNREACHABLE_RETRIES",
    "DownloadOptions",
    "DownloadProgress",
    "DownloadResult",
    "UnreachableError",
    "download",
    "download_many",
    "human_bytes",
    "random_user_agent",
]

MAX_RETRIES = 10
"""Retries after the first attempt of one URL, as the original (spec §3.3)."""
STALL_TIMEOUT_S = 60.0
"""An attempt that receives no byte for this long is aborted and retried (the original's watchdog)."""
BACKOFF_FACTOR = 2
BACKOFF_MAX_S = 60.0
"""Cap on one backoff sleep, so ten retries wait minutes, not the 17 minutes that 2**n would take."""
RETRY_AFTER_MAX_S = 300.0
"""Longest wait a server's ``Retry-After`` / ``RateLimit`` can ask for (Hugging Face's windows are 5 minutes)."""
UNREACHABLE_RETRIES = 1
"""Retries of a host that was never reached (DNS failure, refused connection, a proxy's refusal)."""
UNREACHABLE_BUDGET_S = 15.0
"""Time within which a never-reached host has failed for good; the second try is skipped if it cannot fit."""
CONNECT_TIMEOUT_S = 30.0
PROGRESS_INTERVAL_S = 0.5
"""At most one progress event per this many seconds (plus a final one), so a UI is not flooded."""
WRITE_BUFFER_BYTES = 1 << 20
"""Received bytes are written in blocks of this size: few system calls, and little lost to a crash."""
WRITES_IN_FLIGHT = 4
"""Blocks of one connection being written while it goes on reading."""
PARTIAL_SUFFIX = ".partial"
MAX_CONNECTIONS = 16
"""Most connections one file is fetched over (what ``aria2c -x16`` uses)."""
INITIAL_CONNECTIONS = 8
"""Connections a parallel download starts with; doubled while throughput grows, up to the cap."""
ADAPT_INTERVAL_S = 0.1
"""How often throughput is measured; a measure counts once every connection has brought its first byte."""
ADAPT_GAIN = 1.1
"""Throughput must grow by this factor over the best so far for more connections to be added."""
MIN_SPLIT_BYTES = 4 * 1024 * 1024
"""A file needs twice this left to go parallel."""
TAIL_SPLIT_BYTES = 1 << 20
"""Near the end, a connection with nothing left takes the back half of another's piece while that piece
has twice this left (``aria2c -k1M``), so the last seconds are not one slow connection."""
MIN_PIECE_BYTES = 4 * 1024 * 1024
MAX_PIECE_BYTES = 16 * 1024 * 1024
PIECE_SECONDS = 0.25
"""Connections take the file front to back in pieces of about this long a fetch (and at least
``PIECE_LATENCY_FACTOR`` times the time a request takes to answer): the done bytes stay one prefix with about
one piece per connection past it, and the sha256, which can only go front to back, keeps up with the
download instead of reading most of the file again at the end."""
PIECE_LATENCY_FACTOR = 10
"""A piece takes at least this many times a request's wait for its answer (the wait costs under 10 %)."""
MAX_WORKER_FAILURES = 8
"""Connection failures in a row, with no byte arriving meanwhile, that end a parallel round."""
STATE_SAVE_INTERVAL_S = 0.5
"""How often a parallel download writes its done ranges down (what a kill -9 can cost again)."""
HASH_WINDOW_BYTES = 32 << 20
"""How much of the partial the hash thread maps and hashes in one go."""
_MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
"""Linux: fault the window's pages in with the mmap call, not one by one while hashing."""
MAX_REDIRECTS = 20
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_NAME_BYTES = 240
"""A file name from a server is cut to this many UTF-8 bytes: NAME_MAX (255) less room for ``.partial``."""
FALLBACK_NAME = "download"
"""Used when neither Content-Disposition nor the URL path gives a usable name (``https://host/``)."""

_RETRY_STATUSES = frozenset({408, 429})
READ_BYTES = 1 << 20
"""httpcore reads a body 64 KiB at a time; at a few hundred MB/s that per-read Python cost is the limit,
so reads may take up to 1 MiB (set process-wide when the first download starts, :func:`_big_reads`; a larger
read only returns what is there)."""
_T = TypeVar("_T")
_CHROME_VERSIONS = tuple(range(120, 132))
_PLATFORMS = (
    "Windows NT 10.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
)


# --- the error of a host that cannot be reached ------------------------------------------------------------


# --- values -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What :func:`download` did: ``bytes`` is the size of the file at ``path``; ``resumed_from`` is how
    much a ``.partial`` left by an earlier call already held (0 for a fresh download or a skip);
    ``sha256`` is the file's hash (None for a skip, or when hashing was turned off)."""

    path: Path
    skipped: bool
    bytes: int
    resumed_from: int
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """One throttled progress event; ``total`` is None when the server sends no size. ``done`` marks the
    final event of a successful download, whose ``speed_bps`` is the average over the whole call."""

    url: str
    path: Path
    bytes_done: int
    total: int | None
    speed_bps: float
    done: bool = False
    connections: int = 1
    sha256: str | None = None
    """The file's sha256, on the final event."""

    @property
    def percent(self) -> float | None:
        if not self.total:
            return None
        return 100.0 * self.bytes_done / self.total

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current speed; None without a size or a speed."""
        if self.total is None or self.done:
            return 0.0 if self.done else None
        if self.speed_bps <= 0:
            return None
        return max(0.0, (self.total - self.bytes_done) / self.speed_bps)

    def line(self) -> str:
        """The original's progress line: ``[12.3%] 1.2 GB/10 GB (20 MB/s)``."""
        speed = f"({human_bytes(self.speed_bps)}/s)"
        pct = self.percent
        if pct is None or self.total is None:
            return f"{human_bytes(self.bytes_done)} {speed}"
        return f"[{pct:.1f}%] {human_bytes(self.bytes_done)}/{human_bytes(self.total)} {speed}"


def random_user_agent() -> str:
    """A desktop Chrome User-Agent; like the original, some hosts refuse obvious scripts."""
    platform = random.choice(_PLATFORMS)
    version = random.choice(_CHROME_VERSIONS)
    return (
        f"Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{version}.0.0.0 Safari/537.36"
    )


# --- public entry points --------------------------------------------------------------------------------------


async def download(
    url: str,
    *,
    dir: Path | None = None,
    path: Path | None = None,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    retries: int = MAX_RETRIES,
    backoff_s: float = 1.0,
    stall_timeout_s: float = STALL_TIMEOUT_S,
    headers: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
    sha256: str | None = None,
    tokens: Tokens | None = None,
    records: Records | None = None,
    connections: int = MAX_CONNECTIONS,
    hash_files: bool = True,
) -> DownloadResult:
    """Download ``url`` to ``path`` (that exact file) or into ``dir`` (name from the server or the URL).

    An existing target is skipped. With ``path`` that costs no request. With ``dir`` the name may come
    from the response's Content-Disposition, so one GET is sent and closed unread once the name is known
    (the original decides the same way, from the response). A failed attempt (connection error, timeout,
    stall, 5xx, 408, 429) is retried ``retries`` times, sleeping ``backoff_s * 2**n`` (at most
    ``BACKOFF_MAX_S``) and resuming from the bytes already written, or as long as a 5xx/429's
    ``Retry-After`` or ``RateLimit`` header asks (at most ``RETRY_AFTER_MAX_S``); other 4xx fail at once.
    A host that was never reached (DNS failure, refused connection, no route, a proxy's refusal) is tried
    at most ``UNREACHABLE_RETRIES`` more time, within ``UNREACHABLE_BUDGET_S``, then :class:`UnreachableError`.
    Raises :class:`DownloadError` (``DiskFullError`` when the known size does not fit), or
    :class:`BadParamError` for a call that names neither or both of ``dir`` and ``path``.

    With ranges, a big file comes over up to ``connections`` connections at once. Its sha256 is computed
    as it arrives and checked against ``sha256`` (or Hugging Face's hash, or what ``records`` remember of
    this URL); the hash of every completed file is written to ``records``. ``tokens`` go only to their
    own hosts. ``hash_files=False`` skips the hash (for benchmarks that measure what it costs).
    """
    _check_args(url, dir, path, retries, stall_timeout_s)
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256.strip()):
        raise BadParamError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    log = on_log if on_log is not None else _ignore
    if path is not None:
        target = Path(path)
        if target.is_dir():
            raise BadParamError(f"download path {target} is a folder; pass it as dir= to download into it")
        if target.exists():
            return _skip(target, log)
    async with _client_or(client, stall_timeout_s) as http:
        job = _Job(url, http, log, on_progress, retries, backoff_s, stall_timeout_s, headers,
                   sha256=sha256.strip() if sha256 else None, tokens=tokens, records=records,
                   connections=connections, hash_files=hash_files)
        if path is not None:
            return await job.run_to(Path(path), first=None)
        assert dir is not None
        first, name = await job.retrying(job.open_for_name)
        try:
            return await job.run_to(Path(dir) / name, first=first)
        finally:
            await first.aclose()


class DownloadOptions(TypedDict, total=False):
    """The keyword arguments :func:`download_many` passes to each :func:`download` (same meaning, same defaults)."""

    on_progress: Callable[[DownloadProgress], None] | None
    on_log: Callable[[str], None] | None
    retries: int
    backoff_s: float
    stall_timeout_s: float
    headers: Mapping[str, str] | None
    tokens: Tokens | None
    records: Records | None
    connections: int


async def download_many(
    urls: Sequence[str],
    *,
    dir: Path,
    client: httpx.AsyncClient | None = None,
    **options: Unpack[DownloadOptions],
) -> list[DownloadResult]:
    """Download each URL into ``dir``, one after the other (the original's array form); the first
    failure raises and the remaining URLs are not tried, so a step fails as it does in Pinokio."""
    async with _client_or(client, options.get("stall_timeout_s", STALL_TIMEOUT_S)) as http:
        return [await download(url, dir=dir, client=http, **options) for url in urls]


# --- the job: one URL, its attempts and their shared state -------------------------------------------------


class _AttemptFailed(Exception):
    """Why one attempt ended; ``retryable`` decides between another attempt and a DownloadError.

    ``unreachable`` marks a host (or proxy) that could not be reached at all: retried only
    ``UNREACHABLE_RETRIES`` times while the job has not yet reached the host, and raised as
    :class:`UnreachableError`.
    """

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        hint: str | None = None,
        retry_after_s: float | None = None,
        unreachable: bool = False,
        where: _Route | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        """The HTTP status that ended it, when a server answered."""
        self.reason = reason
        self.retryable = retryable
        self.hint = hint
        self.retry_after_s = retry_after_s
        self.unreachable = unreachable
        self.where = where
        """The host that failed: after a redirect it is not the one in the URL asked for."""


class _ContentChanged(Exception):
    """A range answered with other content than the bytes on disk (a new ETag, or a 200 to If-Range)."""


class _Segment:
    """One connection's share of the file: bytes ``[pos, end)`` still to fetch; ``end`` may shrink when
    another connection takes the back half, or grow to take the next piece (``received`` is where the bytes
    in memory end; ``limit`` is where the body of the open response ends)."""

    __slots__ = ("end", "limit", "pos", "received", "start")

    def __init__(self, pos: int, end: int | None) -> None:
        self.start = pos
        self.pos = pos
        self.received = pos
        self.end = end
        self.limit = end

    def remaining(self) -> int:
        return 0 if self.end is None else max(0, self.end - self.received)


class _Lane:
    """One connection of a transfer and the segment it is on (None between two pieces)."""

    __slots__ = ("first_byte", "original", "segment")

    def __init__(self, segment: _Segment | None, *, original: bool = False) -> None:
        self.segment = segment
        self.original = original
        """Whether it still reads the response the transfer started with (a failure there is not a refusal
        of extra connections)."""
        self.first_byte = False


class _Job:
    """State shared by the attempts of one download: the file, its done ranges, hash, retries, progress."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        log: Callable[[str], None],
        on_progress: Callable[[DownloadProgress], None] | None,
        retries: int,
        backoff_s: float,
        stall_timeout_s: float,
        headers: Mapping[str, str] | None,
        *,
        sha256: str | None = None,
        tokens: Tokens | None = None,
        records: Records | None = None,
        connections: int = MAX_CONNECTIONS,
        hash_files: bool = True,
    ) -> None:
        self.url = url
        self.http = http
        self.log = log
        self.on_progress = on_progress
        self.retries = retries
        self.backoff_s = backoff_s
        self.stall_timeout_s = stall_timeout_s
        import httpx

        self.headers = httpx.Headers(headers or {})
        if "user-agent" not in self.headers:
            self.headers["User-Agent"] = random_user_agent()
        # Range offsets count bytes on the wire; a compressed body would make them meaningless.
        self.headers.setdefault("Accept-Encoding", "identity")
        self.tokens = tokens or Tokens()
        self.expected = sha256.lower() if sha256 else None
        self.records = records
        self.max_connections = max(1, connections)
        self.hash_files = hash_files
        self.route = _Route.of(url, trust_env=http.trust_env)
        self.failures = 0
        self.attempts = 0
        self.furthest = 0
        """The most bytes the partial has held: an attempt that does not pass it made no progress."""
        self.reached = False
        """True once the host (not a proxy in between) has answered: after that, "unreachable" is a blip."""
        self.announced = False
        self.target = Path()
        self.partial = Path()
        self.state = RangeState(url)
        self.file: _PartialFile | None = None
        self.hasher: _Hasher | None = None
        self.linked_sha256: str | None = None
        """Hugging Face's LFS hash of the file (``X-Linked-ETag`` of a ``resolve`` URL's redirect)."""
        self.resolved_url = url
        """Where the redirects of the first request led: extra connections go there directly."""
        self.ranges_ok = False
        self.parallel = False
        self.unassigned: list[tuple[int, int]] = []
        """Gaps of the file no connection fetches yet, sorted."""
        self.active: set[_Segment] = set()
        """The segments connections are on: at the end, the biggest gives its back half to a free one."""
        self.piece_bytes = MIN_PIECE_BYTES
        self.connections = 0
        self.inflight = 0
        """Bytes received but not yet written: part of the progress, not yet of the done ranges."""
        self.started_at = time.monotonic()
        self.received = 0
        self.last_emit_at = self.started_at
        self.last_emit_bytes = 0
        self.state_dirty = False
        self.state_saved_at = 0.0
        self._ended_cleanly = False
        """Whether the last body that had no size ended with chunked framing's own end mark."""

    @property
    def total(self) -> int | None:
        return self.state.total

    @property
    def bytes_done(self) -> int:
        return self.state.done.done() + self.inflight

    # retries ----------------------------------------------------------------------------------------------

    async def retrying(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``attempt`` until it succeeds, sleeping with backoff between failures; raise at the end.

        The budget counts attempts in a row that kept no new byte: a long download over a flaky link that
        advances on every connection never runs out, while a server whose every try ends at the same place
        (and whose bytes are thrown away, as when it ignores ranges) does. A host never reached gets
        ``UNREACHABLE_RETRIES`` retries, and only while they fit in ``UNREACHABLE_BUDGET_S`` (a resolver that
        takes 10 s to fail is not asked twice); everything else gets ``retries``.
        """
        first_at = time.monotonic()
        while True:
            began = time.monotonic()
            furthest_before = self.furthest
            self.attempts += 1
            try:
                return await attempt()
            except _AttemptFailed as exc:
                if not exc.retryable:
                    self._fail(exc.reason, exc, hint=exc.hint)
                self.furthest = max(self.furthest, self.state.done.done())
                if self.furthest > furthest_before:
                    self.failures = 0  # this attempt got further than any before: the budget starts again
                self.failures += 1
                delay = min(self.backoff_s * BACKOFF_FACTOR ** (self.failures - 1), BACKOFF_MAX_S)
                if exc.retry_after_s is not None:
                    delay = max(delay, min(exc.retry_after_s, RETRY_AFTER_MAX_S))
                limit = self.retries
                if exc.unreachable and not self.reached:
                    limit = min(self.retries, UNREACHABLE_RETRIES)
                    now = time.monotonic()
                    if (now - first_at) + delay + (now - began) > UNREACHABLE_BUDGET_S:
                        limit = self.failures - 1  # another try would end past the budget
                if self.failures > limit:
                    tries = self.failures
                    said = f"gave up after {tries} attempt{'s' if tries > 1 else ''}"
                    if self.attempts > tries:
                        said += f" in a row without progress, {self.attempts} in all"
                    self._fail(f"{exc.reason} ({said})", exc, hint=exc.hint)
                self.log(f"[Retrying] {self.failures}/{limit} in {delay:g} s: {exc.reason}")
                await asyncio.sleep(delay)

    def _fail(self, reason: str, cause: _AttemptFailed, *, hint: str | None = None) -> NoReturn:
        """The one place that turns a failed attempt into the error the user sees (hf 2.4)."""
        kept = self.state.done.done() if self.partial != Path() else 0
        origin = cause.__cause__ or cause
        if cause.unreachable:
            where = cause.where or self.route
            raise UnreachableError(
                self.url, kept, reason, host=where.host, proxy=where.proxy, hint=hint or DOWNLOAD_RETRY_HINT
            ) from origin
        if hint is None:
            raise DownloadError(self.url, kept, reason) from origin
        raise DownloadError(self.url, kept, reason, hint=hint) from origin

    # the dir form: learn the name ------------------------------------------------------------------------------

    async def open_for_name(self) -> tuple[httpx.Response, str]:
        """Send the GET whose headers name the file; the caller keeps the open response for the body."""
        response = await self._open(0)
        try:
            self._raise_for_status(response, 0)
        except BaseException:
            await response.aclose()
            raise
        name = _name_from_disposition(response.headers.get("content-disposition", ""))
        return response, name or _name_from_url(self.url)

    # the path form (and the dir form once named) -------------------------------------------------------------

    async def run_to(self, target: Path, *, first: httpx.Response | None) -> DownloadResult:
        """Download to ``target`` under its lock; ``first`` is the dir form's already-open response.

        The file is hashed while it arrives and checked against the first hash known (the caller's, Hugging
        Face's, or what an earlier download of this URL gave). A mismatch throws the bytes away and downloads
        once more; a second mismatch fails with both hashes. Only a checked file reaches ``target``.
        """
        self.target = target
        self.partial = target.with_name(target.name + PARTIAL_SUFFIX)
        async with _lock_for(target):
            if target.exists():
                if first is not None:
                    await first.aclose()
                return _skip(target, self.log)
            pending = [first] if first is not None else []
            resumed_from = 0
            try:
                for round_ in (1, 2):
                    await self._load()
                    self.furthest = max(self.furthest, self.state.done.done())
                    if round_ == 1:
                        resumed_from = self.state.done.done()
                        if resumed_from:
                            self.log(f"[Download Resumed] {target.name}: {human_bytes(resumed_from)} already here")

                    async def attempt() -> None:
                        await self._attempt(pending.pop() if pending else None)

                    await self.retrying(attempt)
                    digest = await self._digest()
                    expected, said = await self._expected_hash()
                    if digest is not None and expected is not None and digest != expected:
                        await self._discard()
                        if round_ == 1:
                            self.log(f"[Download Corrupt] {target.name}: sha256 {digest}, but {said} says "
                                     f"{expected}; downloading it again")
                            continue
                        raise DownloadError(
                            self.url, 0,
                            f"the file's sha256 is {digest}, but {said} says {expected} (downloaded twice, "
                            "both times different)",
                            hint="the file on the server may be damaged or replaced; check the hash in the script",
                        )
                    size = await self._move_into_place()
                    if digest is not None and self.records is not None:
                        await asyncio.to_thread(self.records.record, target, digest, size,
                                                [self.url], validator=self.state.validator)
                    self._emit(final=True, sha256=digest)
                    check = " sha256 verified" if expected is not None and digest is not None else ""
                    self.log(f"[Download Complete] {target} ({human_bytes(size)}){check}")
                    return DownloadResult(path=target, skipped=False, bytes=size, resumed_from=resumed_from,
                                          sha256=digest)
                raise AssertionError("unreachable")
            finally:
                for leftover in pending:
                    await leftover.aclose()
                await self._close_file()
                if self.hasher is not None:
                    self.hasher.close()
                    self.hasher = None

    async def _load(self) -> None:
        """Read the partial's state and start the hash over the bytes already there."""
        self.state = await asyncio.to_thread(RangeState.load, self.partial, self.url)
        if self.hasher is not None:
            self.hasher.close()
            self.hasher = None
        if self.hash_files:
            self.hasher = _Hasher(self.partial)
            self.hasher.advance(self.state.done.prefix())

    async def _attempt(self, first: httpx.Response | None) -> None:
        """One round of connections: resume the first gap, add connections, fill every gap."""
        gaps = self.state.done.gaps(self.total) if self.total is not None else [(self.state.done.prefix(), None)]
        if not gaps:
            return  # every byte is here (an earlier run stopped before the move)
        offset = gaps[0][0]
        if first is not None and offset == 0 and not self.state.done.done():
            response = first
        else:
            if first is not None:
                await first.aclose()  # it was a plain GET, but there is a .partial to resume
            # A parallel partial's first gap is asked for exactly: bytes past it are done already.
            end = gaps[0][1] if not self.state.sequential else None
            response = await self._open(offset, end, validator=self.state.validator)
        try:
            start = await self._accept(response, offset)
        except BaseException:
            await response.aclose()
            raise
        if start is None:
            await response.aclose()
            return
        await self._transfer(response, start)

    async def _open(self, offset: int, end: int | None = None, *, validator: str | None = None,
                    url: str | None = None) -> httpx.Response:
        """Send the GET (``Range`` and ``If-Range`` when resuming) and wait, under the watchdog, for its headers.

        Redirects are followed here, one hop at a time, so each hop gets the headers of its own host: a
        token is never carried to another service.
        """
        import httpx

        base = httpx.Headers(self.headers)
        if offset or end is not None:
            base["Range"] = f"bytes={offset}-{end - 1 if end is not None else ''}"
            if validator:
                base["If-Range"] = validator
        where = url or self.url
        with _httpx_errors(self.stall_timeout_s, self.route):
            for _hop in range(MAX_REDIRECTS + 1):
                request = self.http.build_request(
                    "GET", where, headers=headers_for(where, base, self.tokens, origin=self.url),
                    timeout=_timeout(self.stall_timeout_s),
                )
                response = await asyncio.wait_for(
                    self.http.send(request, stream=True, follow_redirects=False), self.stall_timeout_s
                )
                linked = response.headers.get("x-linked-etag", "").strip().strip('"').removeprefix("W/").strip('"')
                if re.fullmatch(r"[0-9a-fA-F]{64}", linked):
                    self.linked_sha256 = linked.lower()
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    await response.aclose()
                    where = str(response.url.join(location))
                    continue
                if url is None:
                    self.resolved_url = str(response.url)
                _read_in_big_blocks(response)
                return response
        raise _AttemptFailed("too many redirects", retryable=False, hint="check the URL in a browser")

    async def _accept(self, response: httpx.Response, offset: int) -> int | None:
        """Decide where this response's body starts in the file; None when the file is already complete."""
        self._raise_for_status(response, offset)
        status = response.status_code
        if status == 416:
            whole = _parse_content_range(response.headers.get("content-range", ""))
            if whole is not None and whole[2] == offset and self.state.done.covers(0, offset):
                self.state.total = offset
                return None  # an earlier run got every byte but stopped before the move
            await self._discard()
            raise _AttemptFailed("the server refused to resume (HTTP 416); starting over", retryable=True)
        validator = _validator(response)
        total: int | None
        if status == 206:
            content_range = _parse_content_range(response.headers.get("content-range", ""))
            if content_range is None or content_range[0] != offset:
                await self._discard()
                raise _AttemptFailed("the server sent a different range than asked; starting over", retryable=True)
            if self.state.validator and validator and validator != self.state.validator:
                await self._discard()  # a server that ignores If-Range but says it is another file
                raise _AttemptFailed("the file changed on the server; starting over", retryable=True)
            total = content_range[2]
            self.ranges_ok = True
        else:  # 200: the whole file, whatever we asked for
            if offset or self.state.done.done():
                if self.state.validator and response.headers.get("accept-ranges", "").lower() == "bytes":
                    why = "the file changed on the server since the partial was written"
                else:
                    why = "the server ignored the Range request"
                self.log(f"[Download Restarted] {why}; {self.target.name} starts over")
                await self._discard()
                offset = 0
            total = _int_header(response, "content-length")
            self.ranges_ok = response.headers.get("accept-ranges", "").lower() == "bytes"
        if self.total is not None and total is not None and total != self.total:
            before = self.total
            await self._discard()
            raise _AttemptFailed(
                f"the file changed on the server ({human_bytes(before)}, now {human_bytes(total)}); starting over",
                retryable=True,
            )
        _refuse_a_web_page(response, self.target)
        if total is not None:
            self._check_disk(total - self.state.done.done())
        if not self.announced:
            self.announced = True
            size = f" ({human_bytes(total)})" if total is not None else ""
            self.log(f"[Download Started] {self.url} -> {self.target}{size}")
        self.state.total = total
        self.state.validator = validator or self.state.validator
        return offset

    def _raise_for_status(self, response: httpx.Response, offset: int) -> None:
        status = response.status_code
        reason = f"HTTP {status} {response.reason_phrase}".rstrip()
        if status >= 400:
            refusal = _proxy_refusal(response, self.route.to(str(response.url)), reason)
            if refusal is not None:
                raise refusal  # the proxy answered, not the host: it was not reached
        self.reached = True
        if status in (200, 206) or (status == 416 and offset):
            return
        if status in _RETRY_STATUSES or status >= 500:
            wait = _retry_after_s(response)
            if wait is not None:
                reason = f"{reason} (the server asked to wait {wait:g} s)"
            raise _AttemptFailed(reason, retryable=True, retry_after_s=wait, status=status)
        raise _AttemptFailed(reason, retryable=False, hint=_hint_for_status(status), status=status)

    # the transfer: one connection or several ------------------------------------------------------------------

    async def _transfer(self, response: httpx.Response, start: int) -> None:
        """Fill every gap of the file, starting with ``response`` (whose body begins at ``start``).

        With ranges and a known size of at least ``2 * MIN_SPLIT_BYTES`` left, the file is fetched front to
        back in pieces over several connections, added while throughput grows (``INITIAL_CONNECTIONS``, then
        doubled up to the cap); each connection takes the next piece when it is done with one, and at the end
        the back half of the biggest piece left. A host that answers an extra connection with 403 or 429 keeps
        the connections it has. Without ranges: one connection, front to back.
        """
        total = self.total
        remaining = (total - self.state.done.done()) if total is not None else 0
        self.parallel = (self.ranges_ok and total is not None and self.max_connections > 1
                         and remaining >= 2 * MIN_SPLIT_BYTES)
        if not self.parallel and self.state.sequential:
            end: int | None = total
            if self.state.done.done() != start:  # a sequential partial is a prefix: cut what is past it
                await asyncio.to_thread(_truncate, self.partial, start)
                self.state.done = RangeSet([(0, start)])
        else:
            end = next(e for s, e in self.state.done.gaps(total or 0) if s == start)
            self.state.sequential = False
        file = await self._open_file()
        try:
            await asyncio.to_thread(self.state.save, self.partial)
        except OSError as exc:
            raise self._write_failed(exc) from exc
        self.unassigned = [(s, e) for s, e in self.state.done.gaps(total) if s != start] if total is not None else []
        first = _Segment(start, end)
        if self.parallel and end is not None:
            first.end = min(end, start + self.piece_bytes)
            self._give_back(first.end, end)
        self.active = {first}
        lanes: dict[asyncio.Task[None], _Lane] = {}

        def spawn(lane: _Lane, opened: httpx.Response | None) -> None:
            lanes[asyncio.create_task(self._worker(lane, opened, file))] = lane

        spawn(_Lane(first, original=True), response)
        cap = self.max_connections if self.parallel else 1
        target = min(INITIAL_CONNECTIONS, cap)
        best_rate = 0.0
        grew = True
        tick_at, tick_bytes = time.monotonic(), self.received
        worker_failures = 0
        failures_mark = self.received
        last_error: _AttemptFailed | None = None
        refused = False
        try:
            while lanes or self.unassigned:
                while len(lanes) < target:
                    piece = self._next_piece()
                    if piece is None:
                        break
                    spawn(_Lane(piece), None)
                self.connections = len(lanes)
                if not lanes:
                    if last_error is not None:
                        raise last_error
                    break
                finished, _ = await asyncio.wait(lanes, timeout=ADAPT_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    lane = lanes.pop(task)
                    error = task.exception()
                    segment = lane.segment
                    if segment is not None:
                        self.active.discard(segment)
                        if segment.end is not None and segment.pos < segment.end:
                            self._give_back(segment.pos, segment.end)
                    if error is None:
                        continue
                    if isinstance(error, _ContentChanged):
                        await self._discard()
                        raise _AttemptFailed("the file changed on the server while downloading; starting over",
                                             retryable=True) from error
                    if not isinstance(error, _AttemptFailed):
                        raise error
                    if lanes and error.status in (403, 429) and not lane.original:
                        cap = target = max(1, len(lanes))
                        if not refused:
                            refused = True
                            self.log(f"[Download] {self.route.host} refuses more connections "
                                     f"(HTTP {error.status}); going on with {cap}")
                        continue
                    if not error.retryable or not lanes or error.status in (403, 429):
                        raise error
                    if self.received > failures_mark:
                        failures_mark, worker_failures = self.received, 0
                    worker_failures += 1
                    last_error = error
                    if worker_failures > MAX_WORKER_FAILURES:
                        raise error
                    target = max(1, min(target, len(lanes)))  # come back on the next tick, not at once
                now = time.monotonic()
                if now - tick_at >= ADAPT_INTERVAL_S:
                    rate = (self.received - tick_bytes) / (now - tick_at)
                    settled = all(lane.first_byte for lane in lanes.values())
                    if self.parallel and target < cap and len(lanes) >= target and settled:
                        if grew or rate > best_rate * ADAPT_GAIN:
                            target = min(cap, target * 2)
                            grew = False
                    elif self.parallel and target < cap and last_error is not None:
                        target = min(cap, target + 1)
                    if settled:
                        best_rate = max(best_rate, rate)
                    tick_at, tick_bytes = now, self.received
                    await self._save_state(file, now)
                self._emit(final=False)
        finally:
            for task in lanes:
                task.cancel()
            if lanes:
                await asyncio.gather(*lanes, return_exceptions=True)
            self.connections = 0
            self.active = set()
            if self.file is file:
                await self._save_state(file, time.monotonic(), force=True)
        if total is None and not self._ended_cleanly:
            await self._confirm_end(file)

    def _give_back(self, start: int, end: int) -> None:
        """Put ``[start, end)`` back among the bytes no connection fetches (kept sorted, neighbours merged)."""
        if end <= start:
            return
        merged = RangeSet([*self.unassigned, (start, end)])
        self.unassigned = merged.ranges()

    def _next_piece(self) -> _Segment | None:
        """The next piece for a connection: the back half of a slow piece that holds the done prefix back;
        else the front of the bytes nobody fetches, at most ``piece_bytes`` (never leaving a sliver behind);
        else, in a parallel transfer, the back half of the biggest piece."""
        lagging = self._lagging()
        if lagging is not None:
            return self._split(lagging)
        if self.unassigned:
            start, end = self.unassigned[0]
            cut = end
            if self.parallel:
                cut = min(end, start + self.piece_bytes)
                if end - cut < TAIL_SPLIT_BYTES:
                    cut = end
            if cut == end:
                self.unassigned.pop(0)
            else:
                self.unassigned[0] = (cut, end)
            piece = _Segment(start, cut)
            self.active.add(piece)
            return piece
        if not self.parallel:
            return None
        biggest = max(self.active, key=_Segment.remaining, default=None)
        if biggest is None or biggest.end is None or biggest.remaining() < 2 * TAIL_SPLIT_BYTES:
            return None
        return self._split(biggest)

    def _split(self, segment: _Segment) -> _Segment:
        """Give the back half of what ``segment`` has left to a new piece (its connection stops at the middle)."""
        assert segment.end is not None
        middle = segment.received + segment.remaining() // 2
        piece = _Segment(middle, segment.end)
        segment.end = middle
        self.active.add(piece)
        return piece

    def _lagging(self) -> _Segment | None:
        """The piece at the front when it holds the prefix back: more than two pieces per connection are in
        flight past it (a slow connection), so the hash would wait and re-read that much at the end."""
        if not self.parallel or not self.active:
            return None
        front = min(self.active, key=lambda segment: segment.received)
        frontier = self.unassigned[0][0] if self.unassigned else (self.total or 0)
        if front.remaining() < 2 * TAIL_SPLIT_BYTES:
            return None
        if frontier - front.received <= 2 * max(1, len(self.active)) * self.piece_bytes:
            return None
        return front

    def _extend(self, segment: _Segment) -> None:
        """Let a connection read on into the next piece when nobody has it and its response carries it."""
        if segment.end is None or segment.limit is None or segment.limit <= segment.end:
            return
        for i, (start, end) in enumerate(self.unassigned):
            if start == segment.end:
                cut = min(end, segment.limit, start + self.piece_bytes)
                if end - cut < TAIL_SPLIT_BYTES and end <= segment.limit:
                    cut = end
                if cut == end:
                    self.unassigned.pop(i)
                else:
                    self.unassigned[i] = (cut, end)
                segment.end = cut
                return
            if start > segment.end:
                return

    async def _confirm_end(self, file: _PartialFile) -> None:
        """A body without Content-Length or chunked framing ended: ask whether that was all.

        A close-delimited body that stops early looks the same as a complete one. When the server does
        ranges, ``Range: bytes=<size>-`` tells: 416 means the file is complete, 206 brings the rest.
        """
        if not self.ranges_ok:
            self.state.total = self.state.done.done()
            return
        size = self.state.done.done()
        response = await self._open(size, validator=self.state.validator)
        try:
            self._raise_for_status(response, size)
            if response.status_code == 416:
                whole = _parse_content_range(response.headers.get("content-range", ""))
                if whole is None or whole[2] in (None, size):
                    self.state.total = size
                    return
            raise _AttemptFailed(f"the body ended at {human_bytes(size)} without saying its size, and the server "
                                 "has more; resuming", retryable=True)
        finally:
            await response.aclose()

    async def _worker(self, lane: _Lane, response: httpx.Response | None, file: _PartialFile) -> None:
        """One connection: fetch the lane's segment (opening the request when not given), then the next
        piece, until none is left. The segment stays on the lane when it fails, for the caller to give back."""
        while True:
            segment = lane.segment
            if segment is None:
                segment = lane.segment = self._next_piece()
                if segment is None:
                    return
            asked_at = time.monotonic()
            opened_here = response is None
            if response is None:
                response = await self._open_segment(segment)
            answered_at = time.monotonic()
            try:
                await self._pump(response, segment, file, lane)
            finally:
                await response.aclose()
                response = None
            lane.original = False
            self.active.discard(segment)
            lane.segment = None
            if opened_here:
                self._adapt_piece(segment.received - segment.start, time.monotonic() - answered_at,
                                  answered_at - asked_at)

    def _adapt_piece(self, size: int, body_s: float, latency_s: float) -> None:
        """Size the next pieces from the last one: ``PIECE_SECONDS`` of this connection's speed, and at least
        ``PIECE_LATENCY_FACTOR`` times the time the server took to answer, within the piece limits."""
        if size < MIN_PIECE_BYTES // 2 or body_s <= 0:
            return  # a tail split's few bytes say little about the speed
        want = size / body_s * max(PIECE_SECONDS, PIECE_LATENCY_FACTOR * latency_s)
        self.piece_bytes = int(min(MAX_PIECE_BYTES, max(MIN_PIECE_BYTES, want)))

    async def _open_segment(self, segment: _Segment) -> httpx.Response:
        """Ask for exactly ``[segment.pos, segment.end)`` at the resolved URL; anything but that range of the
        same file (another ETag, another size, a 200) means the content changed."""
        assert segment.end is not None
        response = await self._open(segment.pos, segment.end, validator=self.state.validator, url=self.resolved_url)
        try:
            self._raise_for_status(response, segment.pos)
            if response.status_code != 206:
                raise _ContentChanged()
            content_range = _parse_content_range(response.headers.get("content-range", ""))
            validator = _validator(response)
            if (content_range is None or content_range[0] != segment.pos or content_range[2] != self.total
                    or (validator and self.state.validator and validator != self.state.validator)):
                raise _ContentChanged()
        except BaseException:
            await response.aclose()
            raise
        return response

    async def _pump(self, response: httpx.Response, segment: _Segment, file: _PartialFile,
                    lane: _Lane | None = None) -> None:
        """Stream a body into ``[segment.pos, segment.end)``; bytes received are written even when it breaks.

        The chunks httpx hands over are written as they are, in one ``pwritev`` per ``WRITE_BUFFER_BYTES``
        (no copy into a buffer), and up to ``WRITES_IN_FLIGHT`` such writes run while the next bytes arrive, so
        a slow disk does not stop the socket from being read (memory: that many blocks per connection). The
        stall watchdog is httpx's read timeout, set to ``stall_timeout_s``: no timer per chunk.
        """
        self._ended_cleanly = False
        pending: list[bytes] = []
        pending_bytes = 0
        writes: deque[asyncio.Future[None]] = deque()
        chunks = cast(AsyncGenerator[bytes, None], response.aiter_raw())
        try:
            with _httpx_errors(self.stall_timeout_s, self.route):
                async for raw in chunks:
                    chunk = raw
                    if lane is not None:
                        lane.first_byte = True
                    if segment.end is not None and segment.received + len(chunk) >= segment.end:
                        self._extend(segment)
                        if segment.received + len(chunk) > segment.end:
                            chunk = chunk[: segment.end - segment.received]
                    size = len(chunk)
                    pending.append(chunk)
                    pending_bytes += size
                    segment.received += size
                    self.inflight += size
                    self.received += size
                    if pending_bytes >= WRITE_BUFFER_BYTES:
                        writes.append(self._start_write(file, segment, pending, pending_bytes))
                        pending, pending_bytes = [], 0
                        while len(writes) > WRITES_IN_FLIGHT or (writes and writes[0].done()):
                            await writes.popleft()
                    self._emit(final=False)
                    if segment.end is not None and segment.received >= segment.end:
                        break
                else:
                    if segment.end is not None and segment.received < segment.end:
                        raise _AttemptFailed(
                            f"the connection ended at {human_bytes(self.bytes_done)} of "
                            f"{human_bytes(self.total or 0)}", retryable=True)
                    self._ended_cleanly = "chunked" in response.headers.get("transfer-encoding", "").lower()
        finally:
            # What arrived is good data even when the connection broke: keep it for the resume.
            if pending:
                writes.append(self._start_write(file, segment, pending, pending_bytes))
            failed: BaseException | None = None
            while writes:
                try:
                    await asyncio.shield(writes.popleft())
                except (Exception, asyncio.CancelledError) as exc:
                    failed = failed or exc
            with contextlib.suppress(Exception):
                await chunks.aclose()
            if failed is not None:
                raise failed  # a write that failed (a full disk) says more than a broken connection

    def _start_write(self, file: _PartialFile, segment: _Segment, chunks: list[bytes],
                     size: int) -> asyncio.Future[None]:
        """Write ``chunks`` at the segment's next offset in a thread; the done ranges grow when it is on disk."""
        at = segment.pos
        segment.pos = at + size
        return asyncio.ensure_future(self._write(file, at, chunks, size))

    async def _write(self, file: _PartialFile, at: int, chunks: list[bytes], size: int) -> None:
        try:
            await file.write(at, chunks)
        except OSError as exc:
            raise self._write_failed(exc) from exc
        finally:
            self.inflight -= size
        self.state.done.add(at, at + size)
        self.state_dirty = True
        if self.hasher is not None:
            self.hasher.advance(self.state.done.prefix())

    def _write_failed(self, exc: OSError) -> _AttemptFailed:
        """A disk that cannot be written is not the network's fault: fail at once, saying which file."""
        if exc.errno == errno.ENOSPC:
            folder = _existing_ancestor(self.partial.parent)
            free = shutil.disk_usage(folder).free
            done = self.state.done.done()
            left = f", {human_bytes(self.total - done)} more needed" if self.total is not None else ""
            return _AttemptFailed(
                f"the disk is full: {_mount_point(folder)} has {human_bytes(free)} free{left}; "
                f"{human_bytes(done)} of {self.partial.name} received and kept",
                retryable=False, hint="free space or set PINOKIOCLOUD_PERSIST, then run it again to resume",
            )
        return _AttemptFailed(f"cannot write {self.partial}: {exc.strerror or exc}", retryable=False,
                              hint="check the folder's permissions")

    # the file, its state and its hash --------------------------------------------------------------------------

    async def _open_file(self) -> _PartialFile:
        if self.file is None:
            try:
                self.file = await asyncio.to_thread(_PartialFile, self.partial)
            except OSError as exc:
                raise self._write_failed(exc) from exc
        return self.file

    async def _close_file(self, *, sync: bool = False) -> None:
        file, self.file = self.file, None
        if file is not None:
            await asyncio.shield(asyncio.to_thread(file.close, sync))

    async def _save_state(self, file: _PartialFile, now: float, *, force: bool = False) -> None:
        """Write the done ranges down (after the bytes they name are on disk); at most every
        ``STATE_SAVE_INTERVAL_S``, so a killed daemon re-fetches only what arrived since."""
        if not self.state_dirty or (not force and now - self.state_saved_at < STATE_SAVE_INTERVAL_S):
            return
        if self.state.sequential and not force:
            return  # the partial's size says it all; the state file only keeps total and validator
        self.state_dirty = False
        self.state_saved_at = now
        snapshot = RangeState(self.url, self.state.total, self.state.validator, self.state.sequential,
                              RangeSet(self.state.done.ranges()))
        try:
            await asyncio.shield(asyncio.to_thread(file.sync_then, snapshot.save, self.partial))
        except OSError as exc:  # the write of the data says what is wrong with the disk; keep the old state
            self.state_dirty = True
            self.log(f"[Download] cannot save the done ranges of {self.partial.name}: {exc.strerror or exc}")

    async def _digest(self) -> str | None:
        if self.hasher is None:
            return None
        try:
            return await self.hasher.finish(self.state.done.prefix())
        except OSError as exc:
            raise DownloadError(self.url, self.state.done.done(), f"cannot read {self.partial} back to hash it: "
                                f"{exc.strerror or exc}", hint="check the disk, then run it again") from exc

    async def _expected_hash(self) -> tuple[str | None, str]:
        """The hash this file must have, and who says so; the caller's wins over Hugging Face's over ours."""
        if self.expected is not None:
            return self.expected, "the sha256 given"
        if self.linked_sha256 is not None:
            return self.linked_sha256, "Hugging Face (X-Linked-ETag)"
        if self.records is not None:
            earlier = await asyncio.to_thread(self.records.lookup_by_source, self.url)
            if (earlier is not None and earlier.size == self.state.total
                    and (earlier.validator is None or self.state.validator is None
                         or earlier.validator == self.state.validator)):
                return earlier.sha256, "an earlier download of this URL"
        return None, ""

    async def _discard(self) -> None:
        """Throw the partial away (a new inode next time: a late write can only land in the old one)."""
        await self._close_file()
        if self.hasher is not None:
            self.hasher.close()
            self.hasher = _Hasher(self.partial) if self.hash_files else None
        await asyncio.to_thread(_remove_partial, self.partial)
        self.state = RangeState(self.url)
        self.inflight = 0

    async def _move_into_place(self) -> int:
        """Refuse a file of the wrong size, then move it into place in one step (after an fsync)."""
        size = self.state.done.done()
        if self.total is not None and size != self.total:
            raise DownloadError(self.url, size, f"received {human_bytes(size)} of {human_bytes(self.total)}")
        await self._close_file(sync=True)
        try:
            await asyncio.to_thread(_finish_partial, self.partial, self.target, size)
        except OSError as exc:
            raise DownloadError(self.url, size, f"cannot move {self.partial} to {self.target}: "
                                f"{exc.strerror or exc}", hint="check the folder's permissions") from exc
        return size

    def _check_disk(self, needed: int) -> None:
        """Refuse up front a file that cannot fit: a full disk is a routine cloud failure (STYLE §6)."""
        folder = _existing_ancestor(self.partial.parent)
        free = shutil.disk_usage(folder).free
        if needed > free:
            raise DiskFullError(self.url, needed=needed, free=free, where=str(_mount_point(folder)))

    def _emit(self, *, final: bool, sha256: str | None = None) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if not final and now - self.last_emit_at < PROGRESS_INTERVAL_S:
            return
        if final:
            speed = self.received / max(now - self.started_at, 1e-6)
        else:
            speed = (self.received - self.last_emit_bytes) / max(now - self.last_emit_at, 1e-6)
        self.last_emit_at = now
        self.last_emit_bytes = self.received
        self.on_progress(
            DownloadProgress(self.url, self.target, self.bytes_done, self.total, speed_bps=speed, done=final,
                             connections=self.connections, sha256=sha256)
        )



class _PartialFile:
    """The ``.partial`` opened once; writes are positional (``pwrite``) and run in worker threads.

    A positional write that lands twice writes the same bytes at the same place, so a cancelled wait is
    harmless; the descriptor is closed only after every write has finished, so a late write can never go to
    another file that reused the number.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="download-write")
        self.lock = threading.Lock()

    async def write(self, at: int, chunks: list[bytes]) -> None:
        await asyncio.wrap_future(self.pool.submit(_pwrite_all, self.fd, chunks, at))

    def sync_then(self, then: Callable[[Path], None], partial: Path) -> None:
        with self.lock:
            if self.fd >= 0:
                os.fdatasync(self.fd)
        then(partial)

    def close(self, sync: bool) -> None:
        self.pool.shutdown(wait=True)
        with self.lock:
            if self.fd >= 0:
                try:
                    if sync:
                        os.fsync(self.fd)
                finally:
                    os.close(self.fd)
                    self.fd = -1


class _Hasher:
    """sha256 of the file's done prefix, computed by one thread of its own while the download goes on.

    Bytes are hashed where they are, in the partial's pages in the page cache (just written), through a
    read-only ``mmap`` of ``HASH_WINDOW_BYTES`` at a time: parallel connections need no buffers in memory and
    nothing is copied. The loop only moves the mark of what may be hashed (:meth:`advance`); the thread takes
    everything up to it, a window per ``update``, so it needs the GIL a few times per window, not per write:
    a busy loop (which holds the GIL most of the time) no longer leaves the hash far behind the download.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.hashed = 0
        self.upto = 0
        self.closed = False
        self.error: OSError | None = None
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="download-hash", daemon=True)
        self.thread.start()

    def advance(self, upto: int) -> None:
        """Let the thread hash up to ``upto`` (the done prefix); cheap, called on every write."""
        if upto > self.upto:
            with self.changed:
                self.upto = upto
                self.changed.notify_all()

    def _run(self) -> None:
        fd = -1
        try:
            while True:
                with self.changed:
                    while self.hashed >= self.upto and not self.closed:
                        self.changed.wait()
                    if self.closed:
                        return
                    end = self.upto
                if fd < 0:
                    fd = os.open(self.path, os.O_RDONLY)
                while self.hashed < end and not self.closed:
                    self._hash_window(fd, self.hashed, end)
        except OSError as exc:
            with self.changed:
                self.error = exc
                self.changed.notify_all()
        finally:
            if fd >= 0:
                os.close(fd)

    def _hash_window(self, fd: int, start: int, end: int) -> None:
        """Hash ``[start, min(end, one window))``: the prefix is on disk, so the file is at least that long."""
        base = start - start % mmap.ALLOCATIONGRANULARITY
        stop = min(end, base + HASH_WINDOW_BYTES)
        if os.fstat(fd).st_size < stop:
            raise OSError(errno.EIO, f"{self.path} is shorter than the bytes written to it")
        with mmap.mmap(fd, stop - base, flags=mmap.MAP_SHARED | _MAP_POPULATE, prot=mmap.PROT_READ,
                       offset=base) as window, memoryview(window) as view, view[start - base:] as part:
            self.digest.update(part)  # hashlib lets go of the GIL while it hashes a buffer this big
        with self.changed:
            self.hashed = stop
            self.changed.notify_all()

    def _wait(self, upto: int) -> str:
        with self.changed:
            while self.hashed < upto and self.error is None and not self.closed:
                self.changed.wait()
            if self.error is not None:
                raise self.error
            if self.hashed < upto:
                raise OSError(errno.ECANCELED, "the hash was stopped")
            return self.digest.hexdigest()

    async def finish(self, upto: int) -> str:
        """The sha256 of the first ``upto`` bytes, once the thread has got there."""
        self.advance(upto)
        return await asyncio.to_thread(self._wait, upto)

    def close(self) -> None:
        """Stop the thread (it closes its descriptor); never blocks the loop."""
        with self.changed:
            self.closed = True
            self.changed.notify_all()


_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def _pwrite_all(fd: int, chunks: list[bytes], at: int) -> None:
    """Write the chunks back to back at ``at`` with ``pwritev``: the kernel gathers them, no join in Python."""
    views = [memoryview(chunk) for chunk in chunks if chunk]
    while views:
        written = os.pwritev(fd, views[:_IOV_MAX], at)
        at += written
        while written:
            if written >= len(views[0]):
                written -= len(views.pop(0))
            else:
                views[0] = views[0][written:]
                written = 0


def _truncate(path: Path, size: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.truncate(path, size)


def _remove_partial(partial: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    RangeState.remove(partial)


def _finish_partial(partial: Path, target: Path, size: int) -> None:
    if partial.stat().st_size > size:
        os.truncate(partial, size)
    os.replace(partial, target)
    RangeState.remove(partial)


def _read_in_big_blocks(response: httpx.Response) -> None:
    """Let the connection's asyncio transport take up to ``READ_BYTES`` per read instead of 256 KiB.

    A body at hundreds of MB/s arrives in the read's biggest size, and each read costs a recv and two epoll
    calls (anyio pauses the transport between reads): four times fewer reads is a quarter of that CPU. This
    reaches into httpcore's and anyio's objects, so it is guarded and does nothing when they look otherwise
    (TLS streams among them).
    """
    stream = getattr(response.extensions.get("network_stream"), "_stream", None)
    transport = getattr(stream, "_transport", None)
    if isinstance(transport, asyncio.Transport) and isinstance(getattr(transport, "max_size", None), int):
        transport.max_size = max(transport.max_size, READ_BYTES)  # type: ignore[attr-defined]


def _validator(response: httpx.Response) -> str | None:
    """What ``If-Range`` may carry: a strong ETag, else Last-Modified (RFC 9110 §13.1.5)."""
    etag = str(response.headers.get("etag", "")).strip()
    if etag and not etag.startswith("W/"):
        return etag
    modified = str(response.headers.get("last-modified", "")).strip()
    return modified or None


_WEB_PAGE_SUFFIXES = (".html", ".htm", ".xhtml", ".php", ".asp", ".aspx")


def _refuse_a_web_page(response: httpx.Response, target: Path) -> None:
    """A login page or an error page served with 200 is not the model: refuse it before writing a byte."""
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml") and not target.name.lower().endswith(_WEB_PAGE_SUFFIXES):
        raise _AttemptFailed(
            f"the server sent a web page ({kind}) instead of the file",
            retryable=False,
            hint="the link may need a login or a token (HF_TOKEN, CIVITAI_TOKEN), or it points to a page, "
                 "not a file; open it in a browser",
        )




# --- module-level helpers ----------------------------------------------------------------------------------


def _ignore(_line: str) -> None:
    pass


def _check_args(url: str, dir: Path | None, path: Path | None, retries: int, stall_timeout_s: float) -> None:
    if (dir is None) == (path is None):
        got = "both" if dir is not None else "neither"
        raise BadParamError(
            f"a download needs exactly one of dir (a folder; the name comes from the server or the URL) "
            f"or path (the exact file), got {got}"
        )
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise BadParamError(f"cannot download {url!r}: only http:// and https:// URLs are supported")
    if retries < 0:
        raise BadParamError(f"retries must be 0 or more, got {retries}")
    if stall_timeout_s <= 0:
        raise BadParamError(f"stall_timeout_s must be more than 0, got {stall_timeout_s}")


def _skip(target: Path, log: Callable[[str], None]) -> DownloadResult:
    log(f"[Download Skipped] File already exists: {target}")
    return DownloadResult(path=target, skipped=True, bytes=target.stat().st_size, resumed_from=0)


def _timeout(stall_timeout_s: float) -> httpx.Timeout:
    import httpx

    # httpx's read timeout is the stall watchdog of a body: one check per socket read, not a timer per chunk.
    return httpx.Timeout(CONNECT_TIMEOUT_S, read=stall_timeout_s)


@contextlib.asynccontextmanager
async def _client_or(client: httpx.AsyncClient | None, stall_timeout_s: float) -> AsyncIterator[httpx.AsyncClient]:
    """The caller's client (left open) or one of our own for this call."""
    _big_reads()
    if client is not None:
        yield client
        return
    import httpx

    verify = _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    async with httpx.AsyncClient(follow_redirects=True, timeout=_timeout(stall_timeout_s), verify=verify) as own:
        yield own


@functools.lru_cache(maxsize=4)
def _ssl_context(_cert_file: str | None, _cert_dir: str | None) -> ssl.SSLContext:
    """httpx's default TLS context (it reads the two variables it is keyed on), built once per process:
    loading the CA bundle takes 50-150 ms, which every download that makes its own client paid."""
    import httpx

    return httpx.create_ssl_context()


def _big_reads() -> None:
    """Let httpcore read up to ``READ_BYTES`` at a time (see there); here, not on import, because the daemon
    imports this module at start and loads httpx only once something is downloaded."""
    import httpcore

    if httpcore.AsyncHTTP11Connection.READ_NUM_BYTES < READ_BYTES:
        httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = READ_BYTES


@contextlib.contextmanager
def _httpx_errors(stall_timeout_s: float, route: _Route) -> Iterator[None]:
    """Translate httpx's (and the watchdog's) errors into attempt failures, at the module edge."""
    import httpx

    try:
        yield
    except asyncio.TimeoutError as exc:
        raise _AttemptFailed(f"stalled: no data for {stall_timeout_s:g} s", retryable=True) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise _AttemptFailed(f"bad URL: {exc}", retryable=False, hint="use a full http:// or https:// URL") from exc
    except httpx.TooManyRedirects as exc:
        raise _AttemptFailed("too many redirects", retryable=False, hint="check the URL in a browser") from exc
    except httpx.ReadTimeout as exc:
        raise _AttemptFailed(f"stalled: no data for {stall_timeout_s:g} s", retryable=True) from exc
    except httpx.TimeoutException as exc:
        raise _AttemptFailed(f"timed out ({type(exc).__name__})", retryable=True) from exc
    except httpx.ProxyError as exc:
        raise _tunnel_refusal(str(exc), route.failed(exc)) from exc
    except httpx.ConnectError as exc:
        unreachable = _unreachable(exc, route.failed(exc))
        if unreachable is not None:
            raise unreachable from exc
        raise _AttemptFailed(f"connection failed: {exc or type(exc).__name__}", retryable=True) from exc
    except httpx.TransportError as exc:
        detail = str(exc) or type(exc).__name__
        raise _AttemptFailed(f"connection failed: {detail}", retryable=True) from exc
    except httpx.HTTPError as exc:
        raise _AttemptFailed(f"HTTP client error: {exc}", retryable=False) from exc


_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakValueDictionary[Path, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def _lock_for(target: Path) -> AsyncIterator[None]:
    """One download per destination at a time in this process (the daemon is the only writer, DESIGN §1)."""
    per_loop = _LOCKS.setdefault(asyncio.get_running_loop(), weakref.WeakValueDictionary())
    key = target.resolve()
    lock = per_loop.get(key)
    if lock is None:
        lock = asyncio.Lock()
        per_loop[key] = lock
    async with lock:
        yield


_DISPOSITION_PARAM = re.compile(r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _name_from_disposition(header: str) -> str | None:
    """The file name of a Content-Disposition header; RFC 5987 ``filename*`` wins over ``filename``."""
    params: dict[str, str] = {}
    for match in _DISPOSITION_PARAM.finditer(header):
        key, value = match.group(1).lower(), match.group(2).strip()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params.setdefault(key, value)
    extended = params.get("filename*")
    if extended is not None:
        charset, quote1, rest = extended.partition("'")
        _lang, quote2, encoded = rest.partition("'")
        if quote1 and quote2:
            try:
                name = _safe_name(unquote(encoded, encoding=charset or "utf-8", errors="replace"))
            except LookupError:  # an unknown charset name
                name = _safe_name(unquote(encoded, errors="replace"))
        else:
            name = _safe_name(unquote(extended))
        if name:
            return name
    plain = params.get("filename")
    return _safe_name(plain) if plain is not None else None


def _name_from_url(url: str) -> str:
    """The last segment of the URL's path, percent-decoded; the query never becomes part of a name."""
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return _safe_name(unquote(last)) or FALLBACK_NAME


def _safe_name(raw: str) -> str | None:
    """A bare file name: no folders, no ``..``, no control characters, short enough for the file system."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if name in ("", ".", ".."):
        return None
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, suffix = name.rpartition(".")
        name = f"{stem[:-1]}.{suffix}" if dot and stem and len(suffix) < 16 else name[:-1]
    return name


def _parse_content_range(header: str) -> tuple[int, int, int | None] | None:
    """``bytes 10-99/100`` -> (10, 99, 100); ``bytes */100`` -> (-1, -1, 100); None when unreadable."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*", header)
    if match is None:
        return None
    start, end, total = match.groups()
    return (
        int(start) if start is not None else -1,
        int(end) if end is not None else -1,
        int(total) if total != "*" else None,
    )


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _retry_after_s(response: httpx.Response) -> float | None:
    """How long the server asks us to wait: ``Retry-After`` (seconds or an HTTP date) and, on a 429,
    the ``RateLimit`` header Hugging Face sends (``"api";r=0;t=55``: no requests left, reset in 55 s)."""
    waits: list[float] = []
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        waits.append(float(value))
    elif value:
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            waits.append(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()))
    if response.status_code == 429:
        reset = _ratelimit_reset_s(response.headers.get("ratelimit", ""))
        if reset is not None:
            waits.append(reset)
    return max(waits) if waits else None


_RATELIMIT_PARAM = re.compile(r";\s*([A-Za-z]+)\s*=\s*(\d+)")


def _ratelimit_reset_s(header: str) -> float | None:
    """The wait a ``RateLimit`` header (IETF draft, as Hugging Face sends it) asks for, or None.

    Only the first item counts; ``t`` is the seconds until the window resets, and it is a wait only when
    ``r`` (requests remaining) is 0 or absent. One second is added, as huggingface_hub does, because ``t``
    is rounded down.
    """
    first = header.split(",", 1)[0]
    params = {key.lower(): int(number) for key, number in _RATELIMIT_PARAM.findall(first)}
    if "t" not in params or params.get("r", 0) != 0:
        return None
    return float(params["t"] + 1)


# --- hosts that cannot be reached ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Route:
    """Where one URL's requests go: its host and, when the environment names one for it, the proxy."""

    hostname: str
    """The host name alone (``example.com``), as a DNS failure names it."""
    host: str
    """``hostname:port`` when the URL gives a port, else the host name."""
    proxy: str | None
    """The proxy's ``host:port`` (never its credentials), or None when requests go direct."""
    trust_env: bool
    """Whether the client takes its proxy from the environment (httpx's default)."""

    @classmethod
    def of(cls, url: str, *, trust_env: bool) -> _Route:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        shown = f"[{hostname}]" if ":" in hostname else hostname
        try:
            port = parts.port
        except ValueError:  # httpx refuses the URL itself, with its own message
            port = None
        host = f"{shown}:{port}" if port is not None else shown
        proxy = _environment_proxy(parts.scheme.lower(), hostname) if trust_env else None
        return cls(hostname=hostname, host=host, proxy=proxy, trust_env=trust_env)

    def to(self, url: str) -> _Route:
        """The route of another URL (where a redirect led), from the same client."""
        return _Route.of(url, trust_env=self.trust_env)

    def failed(self, exc: httpx.RequestError) -> _Route:
        """The route of the request that failed, which follows redirects; this one if httpx did not say."""
        try:
            return self.to(str(exc.request.url))
        except RuntimeError:  # httpx raises this when the error has no request
            return self


def _environment_proxy(scheme: str, hostname: str) -> str | None:
    """The proxy httpx takes from HTTP(S)_PROXY / ALL_PROXY for this host unless NO_PROXY exempts it,
    shown as ``host:port``; read through the same stdlib call, with httpx's NO_PROXY rules."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or _no_proxy_exempts(hostname.lower(), proxies.get("no", "")):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    name = parts.hostname or proxy
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{name}:{port}" if port is not None else name


def _no_proxy_exempts(hostname: str, no_proxy: str) -> bool:
    """httpx's reading of NO_PROXY (curl's): ``*``; an exact address or ``localhost``; ``.example.com``
    for subdomains only; ``example.com`` for it and its subdomains."""
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if entry == "*":
            return True
        if not entry:
            continue
        if "://" in entry:
            entry = urlsplit(entry).hostname or ""
            if entry == hostname:
                return True
        elif entry.startswith("."):
            if hostname.endswith(entry):
                return True
        elif hostname == entry.strip("[]") or hostname.endswith(f".{entry}"):
            return True
    return False


_DNS_ERRORS = "dns"
_REFUSED = "refused"
_NO_ROUTE = "no route"
_NO_ROUTE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})


def _unreachable_kind(exc: BaseException) -> tuple[str, str] | None:
    """(kind, detail) when a connect error says the address itself cannot be reached, else None
    (a TLS failure, a reset during the handshake: those may pass, and keep the full retry policy)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return _DNS_ERRORS, cause.strerror or str(cause)
        if isinstance(cause, ConnectionRefusedError):
            return _REFUSED, "connection refused"
        if isinstance(cause, OSError) and cause.errno in _NO_ROUTE_ERRNOS:
            return _NO_ROUTE, cause.strerror or os.strerror(cause.errno)
        cause = cause.__cause__ or cause.__context__
    return None


def _cannot_reach(reason: str, route: _Route, hint: str, *, retryable: bool = True) -> _AttemptFailed:
    """The attempt failure of a host (or proxy) that was not reached: few retries, then UnreachableError."""
    return _AttemptFailed(reason, retryable=retryable, unreachable=True, where=route, hint=hint)


def _unreachable(exc: httpx.ConnectError, route: _Route) -> _AttemptFailed | None:
    """The attempt failure for a host (or proxy) that cannot be reached; None for other connect errors."""
    found = _unreachable_kind(exc)
    if found is None:
        return None
    kind, detail = found
    if route.proxy is not None:  # with a proxy, httpx connects to the proxy only
        return _cannot_reach(f"cannot reach the proxy {route.proxy} to fetch from {route.host}: {detail}", route,
                             "check HTTP_PROXY, HTTPS_PROXY and NO_PROXY, and that the proxy is running")
    said = {
        _DNS_ERRORS: (f"cannot resolve the host name {route.hostname}: {detail}",
                      "check the host name in the URL, and that this machine is online and its DNS answers"),
        _REFUSED: (f"{route.host} refused the connection: nothing is listening there",
                   "check the host and port in the URL, and that the server is up"),
    }
    reason, hint = said.get(kind, (f"cannot reach {route.host}: {detail}",
                                   "check that this machine is online and the address in the URL is right"))
    return _cannot_reach(reason, route, hint)


_PROXY_AUTH_HINT = "put the proxy's user and password in HTTPS_PROXY / HTTP_PROXY (http://user:password@host:port)"
_PROXY_DENIED_HINT = (
    "the proxy does not allow this host: ask whoever runs it, or add the host to NO_PROXY if this machine "
    "can reach it directly"
)
_PROXY_CANNOT_REACH_HINT = "check the host name in the URL, and that the proxy's own network is up"


def _tunnel_refusal(message: str, route: _Route) -> _AttemptFailed:
    """A proxy that answered our CONNECT (an https:// URL through a proxy) with something other than 2xx:
    httpx gives only ``"403 Forbidden"``, and every such answer is the proxy's, never the host's."""
    who = f"the proxy {route.proxy}" if route.proxy is not None else "the proxy"
    match = re.match(r"\s*(\d{3})\b", message)
    status = int(match.group(1)) if match else 0
    said = f"HTTP {message.strip()}" if match else message.strip() or "no reason given"
    if status == 407:
        return _cannot_reach(f"{who} wants credentials before it connects to {route.host} ({said})", route,
                             _PROXY_AUTH_HINT, retryable=False)
    if 400 <= status < 500:
        return _cannot_reach(f"{who} refused to connect to {route.host} ({said})", route, _PROXY_DENIED_HINT,
                             retryable=False)
    return _cannot_reach(f"{who} could not connect to {route.host} ({said})", route, _PROXY_CANNOT_REACH_HINT)


# Proxy-Status error types (RFC 9209) and Squid's X-Squid-Error codes that say the proxy, not the host, answered.
_PROXY_DENIED = frozenset(
    {"http_request_denied", "destination_ip_prohibited", "proxy_configuration_error", "proxy_loop_detected",
     "ERR_ACCESS_DENIED", "ERR_CACHE_ACCESS_DENIED"}
)
_PROXY_CANNOT_REACH = frozenset(
    {"dns_error", "dns_timeout", "destination_not_found", "destination_unavailable", "destination_ip_unroutable",
     "connection_refused", "ERR_DNS_FAIL", "ERR_CONNECT_FAIL"}
)
_PROXY_STATUS_ERROR = re.compile(r";\s*error\s*=\s*\"?([A-Za-z0-9_-]+)")


def _proxy_refusal(response: httpx.Response, route: _Route, reason: str) -> _AttemptFailed | None:
    """A 4xx/5xx that a proxy made itself (an http:// URL through a proxy): 407, or a ``Proxy-Status``
    / ``X-Squid-Error`` header saying the proxy refused or could not reach the host. None for an answer
    the host sent, even one relayed through a proxy (a ``Via`` header alone proves nothing)."""
    codes = _PROXY_STATUS_ERROR.findall(response.headers.get("proxy-status", ""))
    squid = response.headers.get("x-squid-error", "").split()
    codes += squid[:1]
    shown = f"{reason}, {codes[0]}" if codes else reason
    who = f"the proxy {route.proxy}" if route.proxy is not None else "a proxy on the way"
    if response.status_code == 407 or "ERR_CACHE_ACCESS_DENIED" in codes:
        return _cannot_reach(f"{who} wants credentials before it fetches from {route.host} ({shown})", route,
                             _PROXY_AUTH_HINT, retryable=False)
    if any(code in _PROXY_DENIED for code in codes):
        return _cannot_reach(f"{who} refused the request for {route.host} ({shown})", route, _PROXY_DENIED_HINT,
                             retryable=False)
    if any(code in _PROXY_CANNOT_REACH for code in codes):
        return _cannot_reach(f"{who} could not reach {route.host} ({shown})", route, _PROXY_CANNOT_REACH_HINT)
    return None


def _hint_for_status(status: int) -> str:
    if status in (401, 403):
        return "the server refused access; the link may need a token (for example HF_TOKEN) or may have expired"
    if status in (404, 410):
        return "the file is not at that address; check the URL"
    return "check the URL"


def _existing_ancestor(folder: Path) -> Path:
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _mount_point(folder: Path) -> Path:
    """The mount point a user recognises (``/content``) rather than a deep folder inside it."""
    while not os.path.ismount(folder) and folder != folder.parent:
        folder = folder.parent
    return folder
