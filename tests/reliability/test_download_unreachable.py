"""Unreachable is not transient (issue 11 item 4): offline fails in seconds, blips keep their retries.

Real sockets only: a port nothing listens on, a ``.invalid`` host name (RFC 6761: never resolves), a real
HTTP proxy on 127.0.0.1 that refuses (set through HTTP(S)_PROXY, as a user would), and real servers that
drop a body, answer 503 with ``Retry-After``, or 429 with Hugging Face's ``RateLimit`` header.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pinokiocloud import DownloadError
from pinokiocloud.downloads import UnreachableError, download
from pinokiocloud.kernel.runner import RunState
from tests.helpers.http_server import Drop, GeneratedBody, LocalHTTPServer, Status
from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness

FAIL_FAST_S = 15.0
QUICK_BACKOFF_S = 0.05
UNRESOLVABLE = "models.nowhere.invalid"


def closed_port() -> int:
    """A port that was free a moment ago: nothing listens there, so a connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def attempts(logs: list[str]) -> int:
    return 1 + sum(line.startswith("[Retrying]") for line in logs)


def fail_timed(url: str, tmp_path: Path, **kwargs: object) -> tuple[DownloadError, float, list[str]]:
    logs: list[str] = []
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        asyncio.run(download(url, path=tmp_path / "model.bin", on_log=logs.append, **kwargs))  # type: ignore[arg-type]
    return info.value, time.monotonic() - started, logs


# --- a scripted HTTP server (and proxy) on 127.0.0.1 -----------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Seen:
    method: str
    target: str
    at: float


class Scripted:
    """Answers each request (GET or CONNECT) with the next :class:`Answer`, then with ``last`` forever."""

    def __init__(self, answers: list[Answer], last: Answer, port: int = 0) -> None:
        self.answers = list(answers)
        self.last = last
        self.seen: list[Seen] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.answer(self)

            def do_CONNECT(self) -> None:
                owner.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.seen.append(Seen(handler.command, handler.path, time.monotonic()))
        answer = self.answers.pop(0) if self.answers else self.last
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(answer.body)
        handler.close_connection = True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    srv = LocalHTTPServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def h(sidecar: SyncSidecar, home: Path) -> Iterator[Harness]:
    harness = Harness(sidecar, home)
    yield harness
    harness.close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy settings from the machine running the tests; a test sets the ones it means."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


# --- the engine: never-reached hosts fail fast and name the host --------------------------------------------


def test_a_closed_port_fails_in_seconds_naming_the_host(tmp_path: Path, no_proxy_env: object) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/model.bin"

    error, elapsed, logs = fail_timed(url, tmp_path)

    assert elapsed <= FAIL_FAST_S
    assert isinstance(error, UnreachableError) and error.host == f"127.0.0.1:{port}" and error.proxy is None
    assert str(error) == (
        f"download of {url} failed: 127.0.0.1:{port} refused the connection: nothing is listening there "
        "(gave up after 2 attempts); check the host and port in the URL, and that the server is up"
    )
    assert attempts(logs) == 2 and logs[0].startswith("[Retrying] 1/1 in 1 s: ")
    assert list(tmp_path.iterdir()) == []


def test_an_unresolvable_name_fails_in_seconds_naming_the_host(tmp_path: Path, no_proxy_env: object) -> None:
    url = f"https://{UNRESOLVABLE}/resolve/main/model.safetensors"

    error, elapsed, logs = fail_timed(url, tmp_path)

    assert elapsed <= FAIL_FAST_S
    assert isinstance(error, UnreachableError) and error.host == UNRESOLVABLE
    assert str(error).startswith(f"download of {url} failed: cannot resolve the host name {UNRESOLVABLE}: ")
    assert "; check the host name in the URL, and that this machine is online and its DNS answers" in str(error)
    assert 1 <= attempts(logs) <= 2


# --- fs.download, as a launcher calls it ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["closed port", "unresolvable name"])
def test_fs_download_of_sixteen_files_from_an_unreachable_host_fails_in_seconds(
    h: Harness, where: str, no_proxy_env: object
) -> None:
    base = f"http://127.0.0.1:{closed_port()}" if where == "closed port" else f"http://{UNRESOLVABLE}"
    uris = ", ".join(f'"{base}/file{i}.bin"' for i in range(16))
    started = time.monotonic()

    run = h.run("dl.js", f'module.exports = {{ run: [{{ method: "fs.download", params: {{ uri: [{uris}], dir: "models" }} }}] }}')

    assert time.monotonic() - started <= FAIL_FAST_S
    assert run.state is RunState.FAILED
    message = str(run.error)
    assert "step 0 (fs.download)" in message
    if where == "closed port":
        assert f"{base.removeprefix('http://')} refused the connection" in message
    else:
        assert f"cannot resolve the host name {UNRESOLVABLE}" in message
    assert not list((h.app / "models").iterdir())


# --- a proxy's refusal ---------------------------------------------------------------------------------------------


PROXY_REFUSALS = {
    403: Answer(403, {"X-Squid-Error": "ERR_ACCESS_DENIED 0", "Via": "1.1 testproxy"}, b"denied"),
    407: Answer(407, {"Proxy-Authenticate": 'Basic realm="testproxy"'}, b"auth"),
    502: Answer(502, {"Proxy-Status": "testproxy; error=dns_error; rcode=NXDOMAIN"}, b"no such host"),
}


@pytest.mark.parametrize("scheme", ["http", "https"])  # https goes through CONNECT, http through a plain GET
@pytest.mark.parametrize("status", sorted(PROXY_REFUSALS))
def test_a_proxys_refusal_fails_fast_naming_the_proxy_and_the_host(
    tmp_path: Path, no_proxy_env: pytest.MonkeyPatch, scheme: str, status: int
) -> None:
    proxy = Scripted([], last=PROXY_REFUSALS[status])
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    no_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    url = f"{scheme}://huggingface.co/org/model/resolve/main/model.bin"
    try:
        error, elapsed, _logs = fail_timed(url, tmp_path)
    finally:
        proxy.stop()

    assert elapsed <= FAIL_FAST_S
    assert isinstance(error, UnreachableError) and error.proxy == f"127.0.0.1:{proxy.port}"
    assert [seen.method for seen in proxy.seen] == ["CONNECT" if scheme == "https" else "GET"] * (
        2 if status == 502 else 1
    )
    message = str(error)
    assert f"the proxy 127.0.0.1:{proxy.port} " in message and " huggingface.co " in message
    expected = {403: "refused", 407: "wants credentials", 502: "could not"}[status]
    assert f"127.0.0.1:{proxy.port} {expected}" in message
    assert f"HTTP {status}" in message


def test_a_proxy_that_is_not_running_fails_fast_naming_it(tmp_path: Path, no_proxy_env: pytest.MonkeyPatch) -> None:
    port = closed_port()
    no_proxy_env.setenv("HTTPS_PROXY", f"http://user:secret@127.0.0.1:{port}")

    error, elapsed, _logs = fail_timed("https://huggingface.co/x/resolve/main/m.bin", tmp_path)

    assert elapsed <= FAIL_FAST_S and isinstance(error, UnreachableError)
    assert f"cannot reach the proxy 127.0.0.1:{port} to fetch from huggingface.co" in str(error)
    assert "secret" not in str(error)  # the proxy's credentials are never shown


def test_no_proxy_sends_the_host_direct(tmp_path: Path, no_proxy_env: pytest.MonkeyPatch, server: LocalHTTPServer) -> None:
    proxy = Scripted([], last=PROXY_REFUSALS[403])
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    no_proxy_env.setenv("NO_PROXY", "example.com,127.0.0.1")
    url = server.add("/direct.bin", b"direct")
    try:
        result = asyncio.run(download(url, path=tmp_path / "direct.bin"))
    finally:
        proxy.stop()
    assert result.path.read_bytes() == b"direct" and proxy.seen == []


def test_a_502_relayed_through_a_proxy_is_still_retried(tmp_path: Path, no_proxy_env: pytest.MonkeyPatch) -> None:
    # A Via header alone does not say the proxy made the answer: the host's own 502 keeps the full policy.
    proxy = Scripted([Answer(502, {"Via": "1.1 testproxy"})] * 3, last=Answer(200, body=b"weights"))
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    try:
        result = asyncio.run(download("http://models.example/w.bin", path=tmp_path / "w.bin", backoff_s=QUICK_BACKOFF_S))
    finally:
        proxy.stop()
    assert result.path.read_bytes() == b"weights" and len(proxy.seen) == 4


# --- transient failures keep the full policy ------------------------------------------------------------------


def test_a_dropped_body_is_retried_and_resumed(server: LocalHTTPServer, tmp_path: Path, no_proxy_env: object) -> None:
    body = GeneratedBody(3_000_000, seed=7)
    url = server.add("/big.bin", body, faults=[Drop(after=1_000_000)] * 2)  # per response
    result = asyncio.run(download(url, path=tmp_path / "big.bin", backoff_s=QUICK_BACKOFF_S))
    assert result.bytes == body.size and server.body_bytes_sent("/big.bin") == body.size
    assert [r.range for r in server.requests_for("/big.bin")] == [None, "bytes=1000000-", "bytes=2000000-"]


def test_a_503_with_retry_after_waits_as_long_as_asked(
    server: LocalHTTPServer, tmp_path: Path, no_proxy_env: object
) -> None:
    url = server.add("/busy.bin", b"ok", faults=[Status(503, retry_after=1), Status(429)])
    logs: list[str] = []
    started = time.monotonic()

    asyncio.run(download(url, path=tmp_path / "busy.bin", on_log=logs.append, backoff_s=QUICK_BACKOFF_S))

    assert time.monotonic() - started >= 1.0
    assert (tmp_path / "busy.bin").read_bytes() == b"ok"
    assert [r.status for r in server.requests_for("/busy.bin")] == [503, 429, 200]
    assert logs[0].startswith("[Retrying] 1/10 in 1 s: HTTP 503 Service Unavailable (the server asked to wait 1 s)")


def test_a_retry_after_date_is_honoured(tmp_path: Path, no_proxy_env: object) -> None:
    host = Scripted([Answer(503, {"Retry-After": formatdate(time.time() + 3, usegmt=True)})], last=Answer(200, body=b"ok"))
    try:
        asyncio.run(download(host.url("/f"), path=tmp_path / "f", backoff_s=QUICK_BACKOFF_S))
    finally:
        host.stop()
    first, second = host.seen
    assert second.at - first.at >= 1.5  # the date has whole seconds: 2 to 3 s from now


def test_hugging_faces_ratelimit_header_sets_the_wait_on_a_429(tmp_path: Path, no_proxy_env: object) -> None:
    limited = Answer(429, {"RateLimit": '"resolvers";r=0;t=1', "RateLimit-Policy": '"fixed window";"resolvers";q=3000;w=300'})
    host = Scripted([limited], last=Answer(200, body=b"weights"))
    logs: list[str] = []
    try:
        asyncio.run(download(host.url("/m.safetensors"), path=tmp_path / "m", on_log=logs.append, backoff_s=QUICK_BACKOFF_S))
    finally:
        host.stop()
    first, second = host.seen
    assert second.at - first.at >= 2.0  # t=1, plus the second huggingface_hub adds for rounding
    assert "(the server asked to wait 2 s)" in logs[0]
    assert (tmp_path / "m").read_bytes() == b"weights"


def test_a_ratelimit_with_requests_left_is_not_a_wait(tmp_path: Path, no_proxy_env: object) -> None:
    host = Scripted([Answer(429, {"RateLimit": '"api";r=12;t=55'})], last=Answer(200, body=b"x"))
    started = time.monotonic()
    try:
        asyncio.run(download(host.url("/a"), path=tmp_path / "a", backoff_s=QUICK_BACKOFF_S))
    finally:
        host.stop()
    assert time.monotonic() - started < 5


def test_a_host_that_was_reached_keeps_its_retries_while_it_restarts(tmp_path: Path, no_proxy_env: object) -> None:
    # A server that drops the body and then refuses for a moment (it is restarting) is a blip, not "offline".
    body = GeneratedBody(2_000_000, seed=3)
    first = LocalHTTPServer().start()
    url = first.add("/m.bin", body, faults=[Drop(after=800_000)])
    port = int(url.split(":")[2].split("/")[0])
    logs: list[str] = []
    restarted: list[Scripted] = []

    def restart_later() -> None:
        while not first.requests_for("/m.bin") or first.requests_for("/m.bin")[0].body_bytes < 800_000:
            time.sleep(0.01)
        first.stop()  # refused from now on
        time.sleep(1.5)
        tail = body.read(800_000, body.size)
        restarted.append(Scripted([], last=Answer(206, {"Content-Range": f"bytes 800000-{body.size - 1}/{body.size}"}, tail), port=port))

    restarter = threading.Thread(target=restart_later, daemon=True)
    restarter.start()
    try:
        result = asyncio.run(download(url, path=tmp_path / "m.bin", on_log=logs.append, backoff_s=0.1, retries=10))
    finally:
        restarter.join(timeout=10)
        for srv in restarted:
            srv.stop()

    assert result.bytes == body.size and result.path.read_bytes() == body.read(0, body.size)
    refusals = [line for line in logs if "refused the connection" in line]
    assert len(refusals) >= 2  # more than the never-reached limit allows: the full policy applied
    assert all(line.split(" in ")[0].endswith("/10") for line in logs if line.startswith("[Retrying]"))


def test_a_host_that_hangs_up_before_answering_keeps_the_full_policy(tmp_path: Path, no_proxy_env: object) -> None:
    # The connection is accepted, so the host is there: closing before the answer is a blip, even at first.
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    hangups = 3

    def serve() -> None:
        for n in range(hangups + 1):
            conn, _ = listener.accept()
            with conn:
                if n < hangups:
                    continue  # close without a byte
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    logs: list[str] = []
    try:
        result = asyncio.run(download(f"http://127.0.0.1:{port}/f", path=tmp_path / "f", on_log=logs.append,
                                      backoff_s=QUICK_BACKOFF_S))
    finally:
        thread.join(timeout=5)
        listener.close()
    assert result.path.read_bytes() == b"ok"
    assert attempts(logs) == hangups + 1
    assert all("/10 in " in line for line in logs if line.startswith("[Retrying]"))


def test_a_redirect_to_an_unreachable_host_names_that_host(tmp_path: Path, no_proxy_env: object) -> None:
    # Hugging Face answers /resolve/ with a redirect to its CDN: the CDN is the host that failed.
    cdn = f"cdn.{UNRESOLVABLE}"
    hub = Scripted([], last=Answer(302, {"Location": f"http://{cdn}/blobs/8f3a"}))
    try:
        error, elapsed, _logs = fail_timed(hub.url("/org/model/resolve/main/model.bin"), tmp_path)
    finally:
        hub.stop()
    assert elapsed <= FAIL_FAST_S
    assert isinstance(error, UnreachableError) and error.host == cdn
    assert f"cannot resolve the host name {cdn}: " in str(error)
