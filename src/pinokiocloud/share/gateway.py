"""The auth gateway: a reverse proxy with a passcode in front of every shared app.

Why aiohttp: one well-kept library gives an HTTP server, a pooled HTTP client, WebSockets on both
sides and streamed bodies in both directions, all on the daemon's asyncio loop, so a 50 GB model
upload or an endless SSE stream passes through in chunks without buffering.

Who gets through (checked in this order):
- a signed session cookie (set by the login page or a token link);
- ``?token=<token>`` (a one-click link): sets the cookie and redirects to the same URL without it;
- ``Authorization: Bearer <token or passcode>`` or Basic auth with the passcode (any user name);
- everyone else gets 401: browsers a login page, API clients a ``WWW-Authenticate`` challenge.
A wrong passcode gets the same 401 page as no passcode, and repeated failures from one address are
slowed down with 429. Our own paths live under ``/_pinokiocloud/``; everything else goes to the app.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

__all__ = [
    "GATEWAY_PREFIX",
    "SESSION_COOKIE",
    "AccessRecord",
    "Gateway",
    "generate_passcode",
]

log = logging.getLogger(__name__)

GATEWAY_PREFIX = "/_pinokiocloud"
SESSION_COOKIE = "pinokiocloud_session"
SESSION_TTL_S = 7 * 24 * 3600
FAILURES_ALLOWED = 10
FAILURE_WINDOW_S = 60.0
CONNECT_TIMEOUT_S = 10.0
STREAM_CHUNK_BYTES = 256 * 1024
READ_BUFFER_BYTES = 4 * 1024 * 1024
"""How much of the app's response the gateway may hold unsent; large reads keep big downloads near line speed."""
WS_MAX_MESSAGE_BYTES = 0  # no limit: the app decides what it accepts
_PASSCODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
})


def generate_passcode(groups: int = 3, size: int = 4) -> str:
    """A passcode that is easy to read aloud and type on a phone (``k7pm-x3qa-r9tz``: ~74 bits)."""
    return "-".join("".join(secrets.choice(_PASSCODE_ALPHABET) for _ in range(size)) for _ in range(groups))


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One request through the gateway, for the access log."""

    at: float
    client: str
    method: str
    path: str
    status: int
    bytes_sent: int
    duration_ms: float
    auth: str
    """``cookie``, ``token``, ``bearer``, ``basic``, ``login``, ``open`` (gateway pages) or ``denied``."""
    user_agent: str

    def line(self) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.at))
        return (f'{stamp}Z {self.client} "{self.method} {self.path}" {self.status} {self.bytes_sent} '
                f'{self.duration_ms:.1f}ms auth={self.auth} "{self.user_agent}"')


class Gateway:
    """One gateway per share, listening on ``host:port`` and forwarding to ``target_url``.

    ``passcode`` may hold several comma-separated passcodes (as Pinokio's ``PINOKIO_SHARE_PASSCODE``);
    any of them unlocks. ``None`` generates one. ``token`` is the secret of one-click links and bearer
    access; it also keys the session cookies, so sessions outlive a daemon restart when the same token
    is given again.
    """

    def __init__(
        self,
        target_url: str,
        *,
        passcode: str | Sequence[str] | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "app",
        access_log: Path | None = None,
        on_access: Callable[[AccessRecord], None] | None = None,
    ) -> None:
        self.target_url = target_url.rstrip("/")
        target = urlsplit(self.target_url)
        self._target_origin = f"{target.scheme}://{target.netloc}"
        self._target_netloc = target.netloc
        if passcode is None:
            passcodes = [generate_passcode()]
        elif isinstance(passcode, str):
            passcodes = [p.strip() for p in passcode.split(",") if p.strip()]
        else:
            passcodes = [p for p in passcode if p]
        if not passcodes:
            passcodes = [generate_passcode()]
        self.passcodes: tuple[str, ...] = tuple(passcodes)
        self.token = token or secrets.token_urlsafe(24)
        self.host = host
        self.port = port
        self.name = name
        self.gateway_id = secrets.token_hex(8)
        """Answered at ``/_pinokiocloud/health``, so a probe of a public URL knows it reached this gateway."""
        self._access_log = access_log
        self._on_access = on_access
        self._key = hashlib.sha256(("pinokiocloud-session\0" + self.token + "\0" + "\0".join(self.passcodes))
                                   .encode()).digest()
        self._failures: dict[str, deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._log_file: object | None = None

    @property
    def passcode(self) -> str:
        return ",".join(self.passcodes)

    @property
    def url(self) -> str:
        """The gateway's own address (what tunnels point at)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def token_link(self, base_url: str | None = None) -> str:
        """A one-click link: ``<public URL>/?token=…`` logs the browser in and drops the token from the URL."""
        return f"{(base_url or self.url).rstrip('/')}/?{urlencode({'token': self.token})}"

    # lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> str:
        """Listen and return :attr:`url`."""
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._session = aiohttp.ClientSession(
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            connector=aiohttp.TCPConnector(limit=0, force_close=False, enable_cleanup_closed=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            read_bufsize=READ_BUFFER_BYTES,
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # port 0: read back what the kernel gave us
        if self._access_log is not None:
            self._access_log.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self._access_log.open("a", buffering=1, encoding="utf-8")
        log.info("gateway for %s on %s -> %s", self.name, self.url, self.target_url)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # auth --------------------------------------------------------------------------------------------------

    def _is_passcode(self, value: str) -> bool:
        given = value.encode()
        return any(hmac.compare_digest(given, p.encode()) for p in self.passcodes)

    def _is_token(self, value: str) -> bool:
        return hmac.compare_digest(value.encode(), self.token.encode())

    def _new_session(self) -> str:
        expires = str(int(time.time()) + SESSION_TTL_S)
        nonce = secrets.token_hex(8)
        mac = hmac.new(self._key, f"{expires}.{nonce}".encode(), hashlib.sha256).hexdigest()
        return f"{expires}.{nonce}.{mac}"

    def _is_session(self, cookie: str | None) -> bool:
        if not cookie or cookie.count(".") != 2:
            return False
        expires, nonce, mac = cookie.split(".")
        good = hmac.new(self._key, f"{expires}.{nonce}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac.encode(), good.encode()) and expires.isdigit() and int(expires) > time.time()

    def _header_auth(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value and (self._is_token(value) or self._is_passcode(value)):
            return "bearer"
        if scheme.lower() == "basic" and value:
            try:
                _user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            if password and (self._is_passcode(password) or self._is_token(password)):
                return "basic"
        return None

    def _client_ip(self, request: web.Request) -> str:
        return request.remote or "-"

    def _too_many_failures(self, ip: str) -> bool:
        recent = self._failures.get(ip)
        if not recent:
            return False
        cutoff = time.monotonic() - FAILURE_WINDOW_S
        while recent and recent[0] < cutoff:
            recent.popleft()
        return len(recent) >= FAILURES_ALLOWED

    def _record_failure(self, ip: str) -> None:
        self._failures.setdefault(ip, deque(maxlen=FAILURES_ALLOWED * 2)).append(time.monotonic())

    def _set_cookie(self, response: web.StreamResponse, request: web.Request) -> None:
        secure = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        response.set_cookie(SESSION_COOKIE, self._new_session(), max_age=SESSION_TTL_S, httponly=True,
                            samesite="Lax", secure=secure, path="/")

    # handler -----------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        response, auth = await self._dispatch(request)
        self._log(request, response, auth, started)
        return response

    async def _dispatch(self, request: web.Request) -> tuple[web.StreamResponse, str]:
        path = request.path
        if path == f"{GATEWAY_PREFIX}/health":
            return web.json_response({"gateway": self.gateway_id}, headers={"Cache-Control": "no-store"}), "open"
        if path == f"{GATEWAY_PREFIX}/login":
            return await self._login(request)
        if path == f"{GATEWAY_PREFIX}/logout":
            response = _see_other("/")
            response.del_cookie(SESSION_COOKIE, path="/")
            return response, "open"
        if self._is_session(request.cookies.get(SESSION_COOKIE)):
            return await self._proxy(request, strip_auth=False), "cookie"
        token = request.query.get("token")
        if token is not None and self._is_token(token):
            if request.method == "GET" and request.headers.get("Upgrade", "").lower() != "websocket":
                query = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True) if k != "token"]
                location = request.path + (f"?{urlencode(query)}" if query else "")
                response = _see_other(location)
                self._set_cookie(response, request)
                return response, "token"
            return await self._proxy(request, strip_auth=False, drop_token=True), "token"
        if (how := self._header_auth(request)) is not None:
            return await self._proxy(request, strip_auth=True), how
        ip = self._client_ip(request)
        if request.headers.get("Authorization"):
            self._record_failure(ip)
        if self._too_many_failures(ip):
            return self._text(429, "Too many attempts; wait a minute."), "denied"
        return self._unauthorized(request), "denied"

    async def _login(self, request: web.Request) -> tuple[web.StreamResponse, str]:
        if request.method != "POST":
            return self._login_page(request.query.get("next", "/"), status=200), "open"
        ip = self._client_ip(request)
        if self._too_many_failures(ip):
            return self._text(429, "Too many attempts; wait a minute."), "denied"
        form = await request.post()
        passcode = str(form.get("passcode", ""))
        target = _safe_next(str(form.get("next", "/")))
        if passcode and self._is_passcode(passcode):
            self._failures.pop(ip, None)
            response = _see_other(target)
            self._set_cookie(response, request)
            return response, "login"
        self._record_failure(ip)
        return self._login_page(target, status=401, wrong=True), "denied"

    def _unauthorized(self, request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        if request.method in ("GET", "HEAD") and "text/html" in accept:
            return self._login_page(request.path_qs, status=401)
        return web.Response(status=401, text="authentication required\n",
                            headers={"WWW-Authenticate": 'Basic realm="PinokioCloud", charset="UTF-8"',
                                     "Cache-Control": "no-store"})

    def _login_page(self, next_url: str, *, status: int, wrong: bool = False) -> web.Response:
        message = '<p class="err">Wrong passcode.</p>' if wrong else ""
        body = _LOGIN_PAGE.format(name=html.escape(self.name), message=message,
                                  next=html.escape(_safe_next(next_url), quote=True),
                                  action=f"{GATEWAY_PREFIX}/login")
        return web.Response(status=status, text=body, content_type="text/html",
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})

    @staticmethod
    def _text(status: int, text: str) -> web.Response:
        return web.Response(status=status, text=text + "\n", headers={"Cache-Control": "no-store"})

    def _log(self, request: web.Request, response: web.StreamResponse, auth: str, started: float) -> None:
        if self._log_file is None and self._on_access is None:
            return
        path = request.path
        if request.query_string:
            query = [(k, "***" if k == "token" else v)
                     for k, v in parse_qsl(request.query_string, keep_blank_values=True)]
            path += "?" + urlencode(query)
        record = AccessRecord(
            at=time.time(), client=self._client_ip(request), method=request.method, path=path,
            status=response.status, bytes_sent=int(getattr(response, "body_length", 0) or 0),
            duration_ms=(time.perf_counter() - started) * 1000, auth=auth,
            user_agent=request.headers.get("User-Agent", "-").replace('"', "'"),
        )
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.write(record.line() + "\n")  # type: ignore[attr-defined]
        if self._on_access is not None:
            self._on_access(record)

    # proxy -------------------------------------------------------------------------------------------------

    def _upstream_headers(self, request: web.Request, *, strip_auth: bool) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        for key, value in request.headers.items():
            lower = key.lower()
            if lower in _HOP_BY_HOP or (strip_auth and lower == "authorization"):
                continue
            if lower == "cookie":
                value = _drop_cookie(value, SESSION_COOKIE)
                if not value:
                    continue
            elif lower == "origin" and value != "null":
                value = self._target_origin  # apps that check Origin against Host (Jupyter, Gradio) accept it
            headers.add(key, value)
        headers["Host"] = self._target_netloc
        forwarded_for = request.headers.get("X-Forwarded-For")
        ip = self._client_ip(request)
        headers["X-Forwarded-For"] = f"{forwarded_for}, {ip}" if forwarded_for else ip
        headers.setdefault("X-Forwarded-Proto", request.scheme)
        headers.setdefault("X-Forwarded-Host", request.host)
        return headers

    def _upstream_url(self, request: web.Request, *, drop_token: bool) -> str:
        query = request.query_string
        if drop_token and query:
            query = urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"])
        return self.target_url + request.raw_path.split("?", 1)[0] + (f"?{query}" if query else "")

    async def _proxy(self, request: web.Request, *, strip_auth: bool, drop_token: bool = False) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._proxy_websocket(request, strip_auth=strip_auth, drop_token=drop_token)
        assert self._session is not None
        url = self._upstream_url(request, drop_token=drop_token)
        headers = self._upstream_headers(request, strip_auth=strip_auth)
        data: object = None
        if request.body_exists:
            if request.content_length is not None:
                headers["Content-Length"] = str(request.content_length)
            data = request.content.iter_chunked(STREAM_CHUNK_BYTES)
        try:
            upstream = await self._session.request(request.method, url, headers=headers, data=data,
                                                   allow_redirects=False, compress=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.info("gateway %s: upstream %s failed: %r", self.name, url, exc)
            return self._text(502, "The app is not answering.")
        try:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                lower = key.lower()
                if lower in _HOP_BY_HOP and lower != "content-length":
                    continue
                if lower == "location":
                    value = self._rewrite_location(value)
                response.headers.add(key, value)
            if request.method == "HEAD" or upstream.status in (204, 304) or upstream.status < 200:
                await response.prepare(request)
                await response.write_eof()
                return response
            if "Content-Length" not in upstream.headers:
                response.enable_chunked_encoding()
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
        except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError) as exc:
            log.info("gateway %s: stream %s ended early: %r", self.name, url, exc)
            if not response.prepared:
                return self._text(502, "The app is not answering.")
            raise _ConnectionDone() from exc  # the client must see a cut body, not a clean end
        finally:
            upstream.release()

    def _rewrite_location(self, location: str) -> str:
        if location.startswith(self._target_origin):
            rest = location[len(self._target_origin):]
            return rest if rest.startswith("/") else "/" + rest
        return location

    async def _proxy_websocket(self, request: web.Request, *, strip_auth: bool, drop_token: bool) -> web.StreamResponse:
        assert self._session is not None
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        headers = self._upstream_headers(request, strip_auth=strip_auth)
        for key in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
                    "Sec-WebSocket-Protocol"):
            headers.popall(key, None)
        url = self._upstream_url(request, drop_token=drop_token)
        ws_url = "ws" + url[4:] if url.startswith("http") else url
        try:
            upstream = await self._session.ws_connect(ws_url, headers=headers, protocols=protocols,
                                                      autoping=False, max_msg_size=WS_MAX_MESSAGE_BYTES,
                                                      compress=0)
        except aiohttp.WSServerHandshakeError as exc:
            return self._text(exc.status if 400 <= exc.status < 600 else 502, "The app refused the WebSocket.")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return self._text(502, "The app is not answering.")
        client = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else (),
                                       autoping=False, max_msg_size=WS_MAX_MESSAGE_BYTES, compress=False)
        await client.prepare(request)

        async def pump(source: web.WebSocketResponse[bool] | aiohttp.ClientWebSocketResponse[bool],
                       sink: web.WebSocketResponse[bool] | aiohttp.ClientWebSocketResponse[bool]) -> None:
            async for message in source:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await sink.send_str(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                elif message.type == aiohttp.WSMsgType.PING:
                    await sink.ping(message.data)
                elif message.type == aiohttp.WSMsgType.PONG:
                    await sink.pong(message.data)
                else:
                    break
            if not sink.closed:
                await sink.close(code=source.close_code or aiohttp.WSCloseCode.OK)

        tasks = [asyncio.create_task(pump(client, upstream)), asyncio.create_task(pump(upstream, client))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await upstream.close()
            await client.close()
        return client


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


class _ConnectionDone(ConnectionResetError):
    """The upstream stream broke after the response started; aiohttp drops the connection."""


def _drop_cookie(header: str, name: str) -> str:
    parts = [p.strip() for p in header.split(";")]
    return "; ".join(p for p in parts if p and p.split("=", 1)[0].strip() != name)


def _safe_next(value: str) -> str:
    """Only same-site paths after login (no ``//evil.example``)."""
    if not value.startswith("/") or value.startswith("//") or value.startswith("/\\"):
        return "/"
    return value


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · PinokioCloud</title>
<style>
body{{font-family:system-ui,sans-serif;background:#111;color:#eee;display:flex;min-height:100vh;
align-items:center;justify-content:center;margin:0}}
form{{background:#1c1c1c;padding:2rem;border-radius:12px;min-width:280px;box-shadow:0 4px 24px #0008}}
h1{{font-size:1.1rem;margin:0 0 1rem}}
input{{width:100%;box-sizing:border-box;padding:.7rem;margin:.4rem 0 1rem;border-radius:8px;border:1px solid #444;
background:#000;color:#eee;font-size:1rem}}
button{{width:100%;padding:.7rem;border:0;border-radius:8px;background:#3b82f6;color:#fff;font-size:1rem}}
.err{{color:#f87171;margin:0 0 .6rem}}
</style></head>
<body><form method="post" action="{action}">
<h1>{name}</h1>{message}
<label for="passcode">Passcode</label>
<input id="passcode" name="passcode" type="password" autocomplete="current-password" autofocus required>
<input type="hidden" name="next" value="{next}">
<button type="submit">Open</button>
</form></body></html>
"""
