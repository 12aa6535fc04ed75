"""Resumable, verified HTTP downloads: the engine behind ``fs.download`` (spec §3.3).

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
import os
import random
import re
import shutil
import socket
import time
import urllib.request
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import NoReturn, TypeVar, cast
from urllib.parse import unquote, urlsplit

import httpx

from pinokiocloud.errors import DOWNLOAD_RETRY_HINT, BadParamError, DiskFullError, DownloadError

__all__ = [
    "BACKOFF_MAX_S",
    "MAX_RETRIES",
    "PARTIAL_SUFFIX",
    "PROGRESS_INTERVAL_S",
    "RETRY_AFTER_MAX_S",
    "STALL_TIMEOUT_S",
    "UNREACHABLE_BUDGET_S",
    "UNREACHABLE_RETRIES",
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
PARTIAL_SUFFIX = ".partial"
MAX_NAME_BYTES = 240
"""A file name from a server is cut to this many UTF-8 bytes: NAME_MAX (255) less room for ``.partial``."""
FALLBACK_NAME = "download"
"""Used when neither Content-Disposition nor the URL path gives a usable name (``https://host/``)."""

_RETRY_STATUSES = frozenset({408, 429})
_T = TypeVar("_T")
_CHROME_VERSIONS = tuple(range(120, 132))
_PLATFORMS = (
    "Windows NT 10.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
)


# --- the error of a host that cannot be reached ------------------------------------------------------------


class UnreachableError(DownloadError):
    """A download whose host was never reached: its name does not resolve, nothing accepts the connection,
    there is no route to it, or a proxy refused the request or could not reach the host itself.

    Raised after at most two attempts (``UNREACHABLE_RETRIES``), so a machine that is offline says so in
    seconds. ``host`` is the host of the URL; ``proxy`` is the proxy in between (``host:port``), if one was
    used. It lives next to the engine because only the engine raises it; it is still a ``DownloadError``.
    """

    def __init__(self, url: str, bytes_done: int, reason: str, *, host: str, proxy: str | None, hint: str) -> None:
        self.host = host
        self.proxy = proxy
        super().__init__(url, bytes_done, reason, hint=hint)


# --- values -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What :func:`download` did: ``bytes`` is the size of the file at ``path``; ``resumed_from`` is how
    much a ``.partial`` left by an earlier call already held (0 for a fresh download or a skip)."""

    path: Path
    skipped: bool
    bytes: int
    resumed_from: int


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

    @property
    def percent(self) -> float | None:
        if not self.total:
            return None
        return 100.0 * self.bytes_done / self.total

    def line(self) -> str:
        """The original's progress line: ``[12.3%] 1.2 GB/10 GB (20 MB/s)``."""
        speed = f"({human_bytes(self.speed_bps)}/s)"
        pct = self.percent
        if pct is None or self.total is None:
            return f"{human_bytes(self.bytes_done)} {speed}"
        return f"[{pct:.1f}%] {human_bytes(self.bytes_done)}/{human_bytes(self.total)} {speed}"


def human_bytes(n: float) -> str:
    """Decimal units, one decimal, no trailing ``.0``: ``1.2 GB``, ``10 GB``, ``512 B``."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 999.95 or unit == "TB":
            text = f"{size:.0f}" if unit == "B" else f"{size:.1f}".removesuffix(".0")
            return f"{text} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


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
    """
    _check_args(url, dir, path, retries, stall_timeout_s)
    log = on_log if on_log is not None else _ignore
    if path is not None:
        target = Path(path)
        if target.is_dir():
            raise BadParamError(f"download path {target} is a folder; pass it as dir= to download into it")
        if target.exists():
            return _skip(target, log)
    async with _client_or(client, stall_timeout_s) as http:
        job = _Job(url, http, log, on_progress, retries, backoff_s, stall_timeout_s, headers)
        if path is not None:
            return await job.run_to(Path(path), first=None)
        assert dir is not None
        first, name = await job.retrying(job.open_for_name)
        try:
            return await job.run_to(Path(dir) / name, first=first)
        finally:
            await first.aclose()


async def download_many(
    urls: Sequence[str],
    *,
    dir: Path,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    retries: int = MAX_RETRIES,
    backoff_s: float = 1.0,
    stall_timeout_s: float = STALL_TIMEOUT_S,
    headers: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
) -> list[DownloadResult]:
    """Download each URL into ``dir``, one after the other (the original's array form); the first
    failure raises and the remaining URLs are not tried, so a step fails as it does in Pinokio."""
    async with _client_or(client, stall_timeout_s) as http:
        return [
            await download(
                url,
                dir=dir,
                on_progress=on_progress,
                on_log=on_log,
                retries=retries,
                backoff_s=backoff_s,
                stall_timeout_s=stall_timeout_s,
                headers=headers,
                client=http,
            )
            for url in urls
        ]


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
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.hint = hint
        self.retry_after_s = retry_after_s
        self.unreachable = unreachable
        self.where = where
        """The host that failed: after a redirect it is not the one in the URL asked for."""


class _Job:
    """State shared by the attempts of one download: the file, the announced size, retries, progress."""

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
    ) -> None:
        self.url = url
        self.http = http
        self.log = log
        self.on_progress = on_progress
        self.retries = retries
        self.backoff_s = backoff_s
        self.stall_timeout_s = stall_timeout_s
        self.headers = httpx.Headers(headers or {})
        if "user-agent" not in self.headers:
            self.headers["User-Agent"] = random_user_agent()
        # Range offsets count bytes on the wire; a compressed body would make them meaningless.
        self.headers.setdefault("Accept-Encoding", "identity")
        self.route = _Route.of(url, trust_env=http.trust_env)
        self.failures = 0
        self.reached = False
        """True once the host (not a proxy in between) has answered: after that, "unreachable" is a blip."""
        self.announced = False
        self.target = Path()
        self.partial = Path()
        self.total: int | None = None
        self.bytes_done = 0
        self.started_at = time.monotonic()
        self.received = 0
        self.last_emit_at = self.started_at
        self.last_emit_bytes = 0

    # retries ----------------------------------------------------------------------------------------------

    async def retrying(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``attempt`` until it succeeds, sleeping with backoff between failures; raise at the end.

        A host never reached gets ``UNREACHABLE_RETRIES`` retries, and only while they fit in
        ``UNREACHABLE_BUDGET_S`` (a resolver that takes 10 s to fail is not asked twice); everything else
        gets ``retries``.
        """
        first_at = time.monotonic()
        while True:
            began = time.monotonic()
            try:
                return await attempt()
            except _AttemptFailed as exc:
                if not exc.retryable:
                    self._fail(exc.reason, exc, hint=exc.hint)
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
                    self._fail(
                        f"{exc.reason} (gave up after {tries} attempt{'s' if tries > 1 else ''})", exc, hint=exc.hint
                    )
                self.log(f"[Retrying] {self.failures}/{limit} in {delay:g} s: {exc.reason}")
                await asyncio.sleep(delay)

    def _fail(self, reason: str, cause: _AttemptFailed, *, hint: str | None = None) -> NoReturn:
        """The one place that turns a failed attempt into the error the user sees (hf 2.4)."""
        kept = self._partial_size() if self.partial != Path() else 0
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
        """Download to ``target`` under its lock; ``first`` is the dir form's already-open response."""
        self.target = target
        self.partial = target.with_name(target.name + PARTIAL_SUFFIX)
        async with _lock_for(target):
            if target.exists():
                return _skip(target, self.log)
            resumed_from = self._partial_size()
            if resumed_from:
                self.log(f"[Download Resumed] {target.name}: {human_bytes(resumed_from)} already here")
            pending = [first] if first is not None else []

            async def attempt() -> None:
                await self._attempt(pending.pop() if pending else None)

            await self.retrying(attempt)
            size = self.bytes_done
            self._emit(final=True)
            self.log(f"[Download Complete] {target} ({human_bytes(size)})")
            return DownloadResult(path=target, skipped=False, bytes=size, resumed_from=resumed_from)

    async def _attempt(self, first: httpx.Response | None) -> None:
        """One request: resume from what the ``.partial`` holds, stream the rest, verify, move into place."""
        offset = self._partial_size()
        if first is not None and offset == 0:
            response = first
        else:
            if first is not None:
                await first.aclose()  # it was a plain GET, but there is a .partial to resume
            response = await self._open(offset)
        try:
            start = self._accept(response, offset)
            if start is not None:
                await self._receive(response, start)
        finally:
            await response.aclose()
        self._verify_and_move()

    async def _open(self, offset: int) -> httpx.Response:
        """Send the GET (with ``Range`` when resuming) and wait, under the watchdog, for its headers."""
        headers = httpx.Headers(self.headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with _httpx_errors(self.stall_timeout_s, self.route):
            request = self.http.build_request("GET", self.url, headers=headers, timeout=_timeout(self.stall_timeout_s))
            return await asyncio.wait_for(
                self.http.send(request, stream=True, follow_redirects=True), self.stall_timeout_s
            )

    def _accept(self, response: httpx.Response, offset: int) -> int | None:
        """Decide where this response's body starts in the file; None when the file is already complete."""
        self._raise_for_status(response, offset)
        status = response.status_code
        if status == 416:
            whole = _parse_content_range(response.headers.get("content-range", ""))
            if whole is not None and whole[2] == offset:
                self.total = offset
                self.bytes_done = offset
                return None  # an earlier run got every byte but stopped before the move
            self._truncate_partial()
            raise _AttemptFailed("the server refused to resume (HTTP 416); starting over", retryable=True)
        total: int | None
        if status == 206:
            content_range = _parse_content_range(response.headers.get("content-range", ""))
            if content_range is None or content_range[0] != offset:
                self._truncate_partial()
                raise _AttemptFailed("the server sent a different range than asked; starting over", retryable=True)
            total = content_range[2]
        else:  # 200: the whole file, whatever we asked for
            if offset:
                self.log(f"[Download Restarted] the server ignored the Range request; {self.target.name} starts over")
                offset = 0
            total = _int_header(response, "content-length")
        if self.total is not None and total is not None and total != self.total:
            before, self.total = self.total, None
            self._truncate_partial()
            raise _AttemptFailed(
                f"the file changed on the server ({human_bytes(before)}, now {human_bytes(total)}); starting over",
                retryable=True,
            )
        if total is not None:
            self._check_disk(total - offset)
        if not self.announced:
            self.announced = True
            size = f" ({human_bytes(total)})" if total is not None else ""
            self.log(f"[Download Started] {self.url} -> {self.target}{size}")
        self.total = total
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
            raise _AttemptFailed(reason, retryable=True, retry_after_s=wait)
        raise _AttemptFailed(reason, retryable=False, hint=_hint_for_status(status))

    async def _receive(self, response: httpx.Response, offset: int) -> None:
        """Append the body to the ``.partial`` from ``offset``; bytes already received are always kept."""
        self.bytes_done = offset
        buffer = bytearray()
        chunks = cast(AsyncGenerator[bytes, None], response.aiter_raw())
        with _local_errors(self):
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            with open(self.partial, "r+b" if offset else "wb") as file:
                file.seek(offset)
                file.truncate()
                try:
                    with _httpx_errors(self.stall_timeout_s, self.route):
                        while True:
                            chunk = await asyncio.wait_for(anext(chunks, None), self.stall_timeout_s)
                            if chunk is None:
                                break
                            buffer += chunk
                            self.bytes_done += len(chunk)
                            self.received += len(chunk)
                            if len(buffer) >= WRITE_BUFFER_BYTES:
                                # Written here, not in a thread: a cancelled thread write could land twice
                                # and shift every later byte of the file.
                                file.write(buffer)
                                buffer.clear()
                            self._emit(final=False)
                finally:
                    # What arrived is good data even when the connection broke: keep it for the resume.
                    file.write(buffer)
                    with contextlib.suppress(Exception):
                        await chunks.aclose()
            # Durable before the rename; on its own descriptor, so a cancelled wait leaves nothing shared.
            await asyncio.to_thread(_fsync, self.partial)

    def _verify_and_move(self) -> None:
        """Refuse a file of the wrong size, then move it into place in one step."""
        size = self._partial_size()
        self.bytes_done = size
        if self.total is not None and size != self.total:
            if size > self.total:
                self._truncate_partial()
                raise _AttemptFailed(
                    f"received {human_bytes(size)}, more than the {human_bytes(self.total)} announced; starting over",
                    retryable=True,
                )
            raise _AttemptFailed(
                f"the connection ended at {human_bytes(size)} of {human_bytes(self.total)}", retryable=True
            )
        with _local_errors(self):
            os.replace(self.partial, self.target)

    # helpers ----------------------------------------------------------------------------------------------

    def _partial_size(self) -> int:
        try:
            return self.partial.stat().st_size
        except FileNotFoundError:
            return 0

    def _truncate_partial(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()
        self.bytes_done = 0

    def _check_disk(self, needed: int) -> None:
        """Refuse up front a file that cannot fit: a full disk is a routine cloud failure (STYLE §6)."""
        folder = _existing_ancestor(self.partial.parent)
        free = shutil.disk_usage(folder).free
        if needed > free:
            raise DiskFullError(self.url, needed=needed, free=free, where=str(_mount_point(folder)))

    def _emit(self, *, final: bool) -> None:
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
            DownloadProgress(self.url, self.target, self.bytes_done, self.total, speed_bps=speed, done=final)
        )


# --- module-level helpers ----------------------------------------------------------------------------------


def _ignore(_line: str) -> None:
    pass


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    # httpx's read timeout backs up our watchdog; a little longer, so the watchdog's message wins.
    return httpx.Timeout(CONNECT_TIMEOUT_S, read=stall_timeout_s + 1.0)


@contextlib.asynccontextmanager
async def _client_or(client: httpx.AsyncClient | None, stall_timeout_s: float) -> AsyncIterator[httpx.AsyncClient]:
    """The caller's client (left open) or one of our own for this call."""
    if client is not None:
        yield client
        return
    async with httpx.AsyncClient(follow_redirects=True, timeout=_timeout(stall_timeout_s)) as own:
        yield own


@contextlib.contextmanager
def _httpx_errors(stall_timeout_s: float, route: _Route) -> Iterator[None]:
    """Translate httpx's (and the watchdog's) errors into attempt failures, at the module edge."""
    try:
        yield
    except asyncio.TimeoutError as exc:
        raise _AttemptFailed(f"stalled: no data for {stall_timeout_s:g} s", retryable=True) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise _AttemptFailed(f"bad URL: {exc}", retryable=False, hint="use a full http:// or https:// URL") from exc
    except httpx.TooManyRedirects as exc:
        raise _AttemptFailed("too many redirects", retryable=False, hint="check the URL in a browser") from exc
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


@contextlib.contextmanager
def _local_errors(job: _Job) -> Iterator[None]:
    """A disk that cannot be written is not the network's fault: fail at once, saying which file."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, DownloadError):
            raise
        full = exc.errno == errno.ENOSPC
        hint = "free space or set PINOKIOCLOUD_PERSIST" if full else "check the folder's permissions"
        raise _AttemptFailed(
            f"cannot write {job.partial}: {exc.strerror or exc}", retryable=False, hint=hint
        ) from exc


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


def _unreachable(exc: httpx.ConnectError, route: _Route) -> _AttemptFailed | None:
    """The attempt failure for a host (or proxy) that cannot be reached; None for other connect errors."""
    found = _unreachable_kind(exc)
    if found is None:
        return None
    kind, detail = found
    if route.proxy is not None:  # with a proxy, httpx connects to the proxy only
        return _AttemptFailed(
            f"cannot reach the proxy {route.proxy} to fetch from {route.host}: {detail}",
            retryable=True,
            unreachable=True,
            where=route,
            hint="check HTTP_PROXY, HTTPS_PROXY and NO_PROXY, and that the proxy is running",
        )
    if kind == _DNS_ERRORS:
        return _AttemptFailed(
            f"cannot resolve the host name {route.hostname}: {detail}",
            retryable=True,
            unreachable=True,
            where=route,
            hint="check the host name in the URL, and that this machine is online and its DNS answers",
        )
    if kind == _REFUSED:
        return _AttemptFailed(
            f"{route.host} refused the connection: nothing is listening there",
            retryable=True,
            unreachable=True,
            where=route,
            hint="check the host and port in the URL, and that the server is up",
        )
    return _AttemptFailed(
        f"cannot reach {route.host}: {detail}",
        retryable=True,
        unreachable=True,
        where=route,
        hint="check that this machine is online and the address in the URL is right",
    )


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
        return _AttemptFailed(
            f"{who} wants credentials before it connects to {route.host} ({said})",
            retryable=False,
            unreachable=True,
            where=route,
            hint=_PROXY_AUTH_HINT,
        )
    if 400 <= status < 500:
        return _AttemptFailed(
            f"{who} refused to connect to {route.host} ({said})", retryable=False, unreachable=True, where=route,
            hint=_PROXY_DENIED_HINT,
        )
    return _AttemptFailed(
        f"{who} could not connect to {route.host} ({said})", retryable=True, unreachable=True, where=route,
        hint=_PROXY_CANNOT_REACH_HINT,
    )


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
        return _AttemptFailed(
            f"{who} wants credentials before it fetches from {route.host} ({shown})",
            retryable=False,
            unreachable=True,
            where=route,
            hint=_PROXY_AUTH_HINT,
        )
    if any(code in _PROXY_DENIED for code in codes):
        return _AttemptFailed(
            f"{who} refused the request for {route.host} ({shown})", retryable=False, unreachable=True, where=route,
            hint=_PROXY_DENIED_HINT,
        )
    if any(code in _PROXY_CANNOT_REACH for code in codes):
        return _AttemptFailed(
            f"{who} could not reach {route.host} ({shown})", retryable=True, unreachable=True, where=route,
            hint=_PROXY_CANNOT_REACH_HINT,
        )
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
