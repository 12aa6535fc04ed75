"""A real HTTP/1.1 file server on 127.0.0.1 that behaves like a CDN, and misbehaves on request.

Ranges (``bytes=a-b``, ``bytes=a-``) with ``If-Range`` against a strong ETag, a per-connection speed cap
(a CDN's), and the faults the download issue lists: ranges ignored, 403 to parallel ranges, content replaced
mid-download, a Content-Length that lies, a web page instead of the file, a close-delimited body that ends
early, redirects (to another host name through a proxy-less ``Host`` check). Every request is recorded with
its headers and the body bytes actually sent, so tests can assert what was fetched twice.

Used by tests/downloads and benchmarks/bench_downloads.py; run as ``python -m tests.downloads.servers FILE
RATE`` it serves one file from disk (with ``sendfile``) until killed, printing its URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 64 * 1024


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int = 0
    start: int = 0
    sent: int = 0
    at: float = field(default_factory=time.monotonic)

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


@dataclass
class File:
    """One served file. ``data`` is bytes, or a Path served with ``sendfile``."""

    data: bytes | Path
    etag: str | None = '"v1"'
    rate_bps: float | None = None
    """Cap on each connection's speed (bytes per second), like a CDN's."""
    ignore_range: bool = False
    refuse_parallel: bool = False
    """Answer 403 to a Range request while another request for this file is in flight."""
    replace_after: int | None = None
    """After this many body bytes have gone out in all, the file is replaced by ``replacement``."""
    replacement: bytes | None = None
    lie_length: int | None = None
    """Announce this Content-Length on a 200, send the real body, then close (a lying proxy)."""
    html: bool = False
    close_delimited: bool = False
    """No Content-Length and no chunked framing: the body ends when the connection closes."""
    cut_after: int | None = None
    """Close the connection after this many body bytes of the first response (a broken body)."""
    cut_each: int | None = None
    """Close every response after this many body bytes (a flaky link that still makes progress)."""
    headers: dict[str, str] = field(default_factory=dict)
    sent: int = 0
    active: int = 0

    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)


@dataclass
class Redirect:
    location: str
    headers: dict[str, str] = field(default_factory=dict)


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, File | Redirect] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> FileServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def add(self, path: str, item: File | Redirect) -> str:
        self.files[path] = item
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path]

    def sent(self, path: str) -> int:
        return sum(s.sent for s in self.requests(path))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner: FileServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:
        owner = self.server_owner
        path = self.path.split("?", 1)[0]
        if path.startswith("http://"):  # absolute form, as a proxy gets it
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        seen = Seen(path, {k.lower(): v for k, v in self.headers.items()})
        with owner.lock:
            owner.seen.append(seen)
            item = owner.files.get(path)
        if item is None:
            self._small(seen, 404, b"not found")
            return
        if isinstance(item, Redirect):
            seen.status = 302
            self.send_response(302)
            self.send_header("Location", item.location)
            for k, v in item.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with owner.lock:
            busy = item.active
            item.active += 1
        try:
            self._file(seen, item, busy)
        finally:
            with owner.lock:
                item.active -= 1

    def _file(self, seen: Seen, item: File, busy: int) -> None:
        if item.html:
            self._small(seen, 200, b"<!doctype html><title>Log in</title>", kind="text/html; charset=utf-8")
            return
        size = item.size()
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        use_range = wanted is not None and not item.ignore_range and (if_range is None or if_range == item.etag)
        if wanted is not None and use_range and item.refuse_parallel and busy:
            self._small(seen, 403, b"too many connections")
            return
        start, end = 0, size - 1
        if use_range and wanted is not None:
            start = int(wanted.group(1))
            if start >= size:
                seen.status = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if wanted.group(2):
                end = min(int(wanted.group(2)), size - 1)
            seen.status = 206
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            seen.status = 200
            self.send_response(200)
        seen.start = start
        length = end - start + 1
        self.send_header("Accept-Ranges", "none" if item.ignore_range else "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        if item.etag:
            self.send_header("ETag", item.etag)
        for k, v in item.headers.items():
            self.send_header(k, v)
        if item.close_delimited:
            self.send_header("Connection", "close")
            self.close_connection = True
        elif item.lie_length is not None and seen.status == 200:
            self.send_header("Content-Length", str(item.lie_length))
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        limit = length
        if item.cut_after is not None:
            limit, item.cut_after = min(length, item.cut_after), None
            self.close_connection = True
        if item.cut_each is not None and item.cut_each < length:
            limit = item.cut_each
            self.close_connection = True
        self._send(seen, item, start, limit)

    def _send(self, seen: Seen, item: File, start: int, length: int) -> None:
        owner = self.server_owner
        began = time.monotonic()
        data = item.data  # a response goes on with the version it started with, as a real server's does
        fd = os.open(data, os.O_RDONLY) if isinstance(data, Path) else -1
        try:
            while seen.sent < length and not owner.stopping.is_set():
                n = min(CHUNK, length - seen.sent)
                at = start + seen.sent
                if fd >= 0:
                    n = os.sendfile(self.connection.fileno(), fd, at, n)
                else:
                    assert isinstance(data, bytes)
                    self.wfile.write(data[at : at + n])
                seen.sent += n
                with owner.lock:
                    item.sent += n
                    if item.replace_after is not None and item.sent >= item.replace_after and item.replacement:
                        item.data, item.replacement, item.etag = item.replacement, None, '"v2"'
                if item.rate_bps:
                    ahead = seen.sent / item.rate_bps - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError:  # the client hung up (it took what it needed)
            self.close_connection = True
        finally:
            if fd >= 0:
                os.close(fd)
        if self.close_connection:
            with contextlib.suppress(OSError):
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

    def _small(self, seen: Seen, status: int, body: bytes, *, kind: str = "text/plain") -> None:
        seen.status = status
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def body(size: int, seed: int = 1) -> bytes:
    """Pseudo-random bytes where every 64 KiB block differs (a splice at the wrong place changes the hash)."""
    import random

    base = random.Random(seed).randbytes(CHUNK)
    return b"".join(i.to_bytes(8, "big") + base[8:] for i in range(size // CHUNK + 1))[:size]


def serve_forever(file: Path, rate_bps: float | None, *, ranges: bool = True,
                  ready: Callable[[str], None] = print) -> None:
    server = FileServer()
    url = server.add("/" + file.name, File(file, rate_bps=rate_bps, ignore_range=not ranges))
    server.start()
    ready(url)
    sys.stdout.flush()
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    serve_forever(Path(sys.argv[1]), float(sys.argv[2]) or None, ranges=sys.argv[3:] != ["norange"])
