"""A real HTTP server on 127.0.0.1 for download tests, with the faults real hosts have.

Each served file is a :class:`Resource`. Its ``faults`` are used up one per GET, in order: the first
request may drop the connection mid-file, the second may stall, a later one answers 500, and once the
list is empty the file is served normally. The server records every request (its Range header and the
body bytes it actually wrote), so tests can assert what was re-sent.

Bodies can be generated on the fly (:class:`GeneratedBody`), so a 200 MB test needs no 200 MB file.
"""

from __future__ import annotations

import hashlib
import random
import re
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

SEND_CHUNK_BYTES = 256 * 1024
BLOCK_BYTES = 1 << 20


class Body(Protocol):
    size: int

    def read(self, offset: int, n: int) -> bytes: ...


class StaticBody:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def read(self, offset: int, n: int) -> bytes:
        return self.data[offset : offset + n]


class GeneratedBody:
    """Deterministic pseudo-random content: 1 MiB blocks, each starting with its own index, so a resume at
    the wrong offset (even by a whole block) changes the file's hash."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self._base = random.Random(seed).randbytes(BLOCK_BYTES)
        self._cached: tuple[int, bytes] = (-1, b"")

    def _block(self, index: int) -> bytes:
        if self._cached[0] != index:
            self._cached = (index, index.to_bytes(8, "big") + self._base[8:])
        return self._cached[1]

    def read(self, offset: int, n: int) -> bytes:
        end = min(offset + n, self.size)
        parts = []
        while offset < end:
            index, within = divmod(offset, BLOCK_BYTES)
            take = min(end - offset, BLOCK_BYTES - within)
            parts.append(self._block(index)[within : within + take])
            offset += take
        return b"".join(parts)

    def chunks(self) -> Iterator[bytes]:
        for offset in range(0, self.size, BLOCK_BYTES):
            yield self.read(offset, BLOCK_BYTES)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


@dataclass(frozen=True)
class Drop:
    """Send ``after`` body bytes, then close the connection (the client sees a short body)."""

    after: int


@dataclass(frozen=True)
class Stall:
    """Send ``after`` body bytes, then go silent for ``seconds`` (or until the server stops)."""

    after: int
    seconds: float


@dataclass(frozen=True)
class Status:
    """Answer with this status and a short text body instead of the file."""

    code: int
    retry_after: int | None = None


Fault = Drop | Stall | Status


@dataclass
class Resource:
    body: Body
    disposition: str | None = None
    ignore_range: bool = False
    faults: list[Fault] = field(default_factory=list)
    content_length: int | None = None
    """Announce this Content-Length instead of the real size (the body is not sent then)."""
    chunk_delay_s: float = 0.0
    """Sleep between chunks, to keep a download in flight for a while."""
    chunked: bool = False
    """Send no Content-Length (``Transfer-Encoding: chunked``), as servers that stream do."""
    redirect_to: str | None = None
    """Answer 302 to this path instead (a release asset that lives elsewhere)."""


@dataclass
class RequestRecord:
    path: str
    range: str | None
    user_agent: str | None
    status: int = 0
    body_bytes: int = 0


class LocalHTTPServer:
    """Start with :meth:`start`, stop with :meth:`stop`; add files with :meth:`add`."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # setup -------------------------------------------------------------------------------------------------

    def add(self, path: str, body: Body | bytes, **options: object) -> str:
        """Serve ``body`` at ``path`` and return its URL."""
        real = StaticBody(body) if isinstance(body, bytes) else body
        self.resources[path] = Resource(real, **options)  # type: ignore[arg-type]
        return self.url(path)

    def url(self, path: str) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def start(self) -> LocalHTTPServer:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # what happened -----------------------------------------------------------------------------------------

    def requests_for(self, path: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def body_bytes_sent(self, path: str) -> int:
        return sum(r.body_bytes for r in self.requests_for(path))


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up is what these tests do on purpose; anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner: LocalHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        owner = self.server_owner
        path = self.path.split("?", 1)[0]
        record = RequestRecord(path, self.headers.get("Range"), self.headers.get("User-Agent"))
        with owner._lock:
            owner.requests.append(record)
            resource = owner.resources.get(path)
            fault = resource.faults.pop(0) if resource is not None and resource.faults else None
        if resource is None:
            self._text(record, 404, "not found")
            return
        if resource.redirect_to is not None:
            record.status = 302
            self.send_response(302)
            self.send_header("Location", resource.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if isinstance(fault, Status):
            self._text(record, fault.code, f"fault {fault.code}", retry_after=fault.retry_after)
            return
        size = resource.body.size
        start = 0
        range_header = self.headers.get("Range")
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header or "")
        if match and not resource.ignore_range:
            start = int(match.group(1))
            if start >= size:
                record.status = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end = int(match.group(2)) if match.group(2) else size - 1
            end = min(end, size - 1)
            record.status = 206
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            length = end - start + 1
        else:
            record.status = 200
            self.send_response(200)
            length = size
        self.send_header("Accept-Ranges", "none" if resource.ignore_range else "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        if resource.disposition is not None:
            self.send_header("Content-Disposition", resource.disposition)
        if resource.content_length is not None:
            self.send_header("Content-Length", str(resource.content_length))
            self.end_headers()
            self.close_connection = True
            owner._stopping.wait(2.0)  # hold the line open, as a real server would, without sending
            return
        if resource.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self._send_body(record, resource, start, length, fault)

    def _send_body(
        self, record: RequestRecord, resource: Resource, start: int, length: int, fault: Fault | None
    ) -> None:
        owner = self.server_owner
        limit = fault.after if isinstance(fault, Drop | Stall) else None
        sent = 0
        try:
            while sent < length:
                if limit is not None and sent >= limit:
                    if isinstance(fault, Drop):
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    if isinstance(fault, Stall):
                        self.wfile.flush()
                        owner._stopping.wait(fault.seconds)
                        limit = None
                        continue
                n = SEND_CHUNK_BYTES if limit is None else min(SEND_CHUNK_BYTES, limit - sent)
                chunk = resource.body.read(start + sent, min(n, length - sent))
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if resource.chunked else chunk)
                sent += len(chunk)
                record.body_bytes = sent
                if resource.chunk_delay_s:
                    owner._stopping.wait(resource.chunk_delay_s)
            if resource.chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _text(self, record: RequestRecord, code: int, text: str, *, retry_after: int | None = None) -> None:
        record.status = code
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(data)
