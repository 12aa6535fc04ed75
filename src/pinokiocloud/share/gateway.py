"""The auth gateway: a reverse proxy with a passcode in front of every shared app.

Why aiohttp: one well-kept library gives an HTTP server, a pooled HTTP client, WebSockets on both
sides and streamed bodies in both directions, all on the daemon's asyncio loop, so a 50 GB model
upload or an endless SSE stream passes through in chunks without buffering.

Who gets through (checked in this order):
- a signed session cookie (set by the login page or a token link); it expires, logout revokes it,
  and a new passcode or session key voids every session;
- ``?token=<link token>`` (a one-click link): sets the cookie and redirects to the same URL without it;
- ``Authorization: Bearer <link token or passcode>`` or Basic auth with the passcode (any user name);
- everyone else gets 401: browsers a login page, API clients a ``WWW-Authenticate`` challenge.

Every check of a guessable secret (the login form, ``?token=``, Bearer, Basic, on HTTP and WebSocket
alike) first passes one :class:`~pinokiocloud.share.limiter.GuessLimiter`, keyed on the best client
address there is (the tunnel's own header for providers that set one, else the socket). Session
cookies are not limited: they carry a 256-bit MAC nobody can guess, and they are what keeps the owner
working while someone else hammers the login. Our own paths live under ``/_pinokiocloud/``;
everything else goes to the app.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from pinokiocloud.errors import BadParamError
from pinokiocloud.procs.logfiles import RotatingLog, log_max_bytes
from pinokiocloud.share.config import GATEWAY_PREFIX
from pinokiocloud.share.limiter import GuessLimiter, TooManyAttempts
from pinokiocloud.share.passcodes import (
    MIN_SECRET_CHARS,
    generate_link_token,
    generate_passcode,
    hash_passcode,
    is_passcode_hash,
    verify_passcode,
)

__all__ = [
    "GATEWAY_PREFIX",
    "SESSION_COOKIE",
    "TRUSTED_CLIENT_HEADERS",
    "AccessRecord",
    "Gateway",
    "generate_passcode",
    "safe_next",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "pinokiocloud_session"
"""Prefix of every gateway's session cookie; each gateway adds its own suffix (:attr:`Gateway.cookie_name`)."""
SESSION_TTL_S = 24 * 3600
CONNECT_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 2.0
"""How long :meth:`Gateway.stop` lets requests in flight finish before it cuts them."""
MAX_LOGIN_FORM_BYTES = 16 * 1024
STREAM_CHUNK_BYTES = 256 * 1024
READ_BUFFER_BYTES = 4 * 1024 * 1024
"""How much of the app's response the gateway may hold unsent; large reads keep big downloads near line speed."""
WS_MAX_MESSAGE_BYTES = 0  # no limit: the app decides what it accepts
TRUSTED_CLIENT_HEADERS: dict[str, str] = {
    "cloudflare": "CF-Connecting-IP",  # set by Cloudflare's edge, which drops any value the visitor sent
    "ngrok": "X-Forwarded-For",  # ngrok's edge appends the visitor's address: the last entry is its own
}
"""The header that carries the visitor's address, for providers whose edge sets it.

Others (bore and ssh forward raw TCP; localtunnel passes headers through) give no address we can trust,
so their visitors all look like the tunnel client on 127.0.0.1. A header is believed only on a
connection from this machine (the tunnel client), never from a visitor's own socket.
"""
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
})
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


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

    Secrets, all optional (what is not given is generated; read them back after :meth:`start`):

    - ``passcode``: one or several (comma-separated or a sequence, as Pinokio's
      ``PINOKIO_SHARE_PASSCODE``) plain passcodes; any of them unlocks. Not judged here: callers that
      take a user's passcode run :func:`~pinokiocloud.share.passcodes.check_passcode_strength` first.
    - ``passcode_hash``: one or several ``scrypt$…`` hashes (:attr:`passcode_hashes` of an earlier
      gateway, or :func:`~pinokiocloud.share.passcodes.hash_passcode`), so a daemon can keep and restore
      a passcode without storing it. With only hashes, :attr:`passcode` is ``None``.
    - ``token``: the secret of this gateway's one-click link (:meth:`token_link`) and of Bearer access;
      at least 16 characters. Never the daemon's API token: a link is shown, copied and logged.
    - ``session_key``: signs the session cookies (at least 16 characters); give the same key (and the
      same passcode or hash) again and sessions survive a restart. A different passcode voids them.

    ``client_ip_header`` (or :meth:`set_front`) names the header that carries the visitor's address
    (see :data:`TRUSTED_CLIENT_HEADERS`); ``limiter`` replaces the default :class:`GuessLimiter`.
    """

    def __init__(
        self,
        target_url: str,
        *,
        passcode: str | Sequence[str] | None = None,
        passcode_hash: str | Sequence[str] | None = None,
        token: str | None = None,
        session_key: str | None = None,
        session_ttl_s: float = SESSION_TTL_S,
        limiter: GuessLimiter | None = None,
        client_ip_header: str | None = None,
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
        plain = _split_secrets(passcode)
        hashes = _split_secrets(passcode_hash)
        for stored in hashes:
            if not is_passcode_hash(stored):
                raise BadParamError("passcode_hash must be scrypt$N$r$p$salt$key hashes made by "
                                    "pinokiocloud.share.passcodes.hash_passcode")
        if not plain and not hashes:
            plain = [generate_passcode()]
        for label, value in (("token", token), ("session_key", session_key)):
            if value is not None and len(value) < MIN_SECRET_CHARS:
                raise BadParamError(f"the gateway's {label} must be at least {MIN_SECRET_CHARS} characters; "
                                    "leave it out to get a generated one")
        self._plain: tuple[str, ...] = tuple(plain)
        self._given_hashes: tuple[str, ...] = tuple(hashes)
        self._hashes: tuple[str, ...] | None = None if plain else self._given_hashes
        self.token = token or generate_link_token()
        self.session_key = session_key or secrets.token_urlsafe(32)
        self.session_ttl_s = session_ttl_s
        self.limiter = limiter or GuessLimiter()
        self.client_ip_header = client_ip_header
        self.public_origin: str | None = None
        """The origin of the public URL in front (set by :meth:`set_front`); an ``Origin`` that is ours."""
        self.host = host
        self.port = port
        self.name = name
        self.gateway_id = secrets.token_hex(8)
        """Answered at ``/_pinokiocloud/health``, so a probe of a public URL knows it reached this gateway."""
        self.cookie_name = f"{SESSION_COOKIE}_{hashlib.sha256(self.session_key.encode()).hexdigest()[:10]}"
        """Each gateway its own cookie: gateways on one host (127.0.0.1:8501, :42003) must not overwrite each other."""
        self._access_log = access_log
        self._on_access = on_access
        self._fast_key = secrets.token_bytes(32)
        self._known: set[bytes] = {self._fast(p) for p in self._plain}
        """Keyed digests of passcodes known to be right: checked in microseconds, no scrypt per request."""
        self._hash_lock = asyncio.Lock()
        self._cookie_key = b""
        self._revoked: dict[str, float] = {}
        self._live: dict[str | None, set[web.WebSocketResponse]] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._log_file: RotatingLog | None = None

    @property
    def passcode(self) -> str | None:
        """The plain passcode(s), comma-separated; ``None`` when this gateway was given only hashes."""
        return ",".join(self._plain) if self._plain else None

    @property
    def passcode_hashes(self) -> tuple[str, ...]:
        """The hashes to store and hand to a later gateway as ``passcode_hash`` (after :meth:`start`)."""
        if self._hashes is None:
            raise RuntimeError("passcode_hashes are computed by start(); await it first")
        return self._hashes

    @property
    def url(self) -> str:
        """The gateway's own address (what tunnels point at)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def token_link(self, base_url: str | None = None) -> str:
        """A one-click link: ``<public URL>/?token=…`` logs the browser in and drops the token from the URL."""
        return f"{(base_url or self.url).rstrip('/')}/?{urlencode({'token': self.token})}"

    def set_front(self, provider: str | None, public_url: str | None = None) -> None:
        """Say what is in front: the provider (which client-address header to believe) and its public URL.

        The share manager calls this when a provider wins and with ``None`` when the share falls back to
        the local URL. An ``Origin`` equal to the public URL counts as this gateway's own even when the
        tunnel rewrites ``Host`` (localtunnel does).
        """
        self.client_ip_header = TRUSTED_CLIENT_HEADERS.get(provider or "")
        if public_url:
            parts = urlsplit(public_url)
            self.public_origin = f"{parts.scheme}://{parts.netloc}".lower()
        else:
            self.public_origin = None

    # lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> str:
        """Hash the passcodes (off the loop), listen, and return :attr:`url`."""
        if self._hashes is None:
            salt = hashlib.sha256(b"pinokiocloud-passcode-salt\0" + self.session_key.encode()).digest()[:16]
            made = await asyncio.to_thread(lambda: tuple(hash_passcode(p, salt=salt) for p in self._plain))
            self._hashes = tuple(dict.fromkeys(made + self._given_hashes))
        self._cookie_key = self._derive_cookie_key()
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
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        try:
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await self.stop()  # a port in use must not leave the upstream session open
            raise
        self.port = int(self._runner.addresses[0][1])  # port 0: read back what the kernel gave us
        if self._access_log is not None:
            self._access_log.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = RotatingLog(self._access_log, log_max_bytes(), whole_folder=False)
        log.info("gateway for %s on %s -> %s", self.name, self.url, self.target_url)
        return self.url

    async def stop(self) -> None:
        """Close every connection (WebSockets included) and stop listening; its sessions die with it."""
        await self._close_live(None, every=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None
        self._cookie_key = b""

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def set_passcode(self, passcode: str | Sequence[str] | None = None, *,
                           passcode_hash: str | Sequence[str] | None = None) -> None:
        """Replace the passcode(s) on a running gateway: every session and live WebSocket ends now."""
        plain = _split_secrets(passcode)
        hashes = _split_secrets(passcode_hash)
        if not plain and not hashes:
            raise BadParamError("set_passcode needs a passcode or a passcode_hash")
        for stored in hashes:
            if not is_passcode_hash(stored):
                raise BadParamError("passcode_hash must be scrypt$N$r$p$salt$key hashes")
        salt = hashlib.sha256(b"pinokiocloud-passcode-salt\0" + self.session_key.encode()).digest()[:16]
        made = await asyncio.to_thread(lambda: tuple(hash_passcode(p, salt=salt) for p in plain))
        self._plain, self._given_hashes = tuple(plain), tuple(hashes)
        self._hashes = tuple(dict.fromkeys(made + self._given_hashes))
        self._known = {self._fast(p) for p in self._plain}
        self._cookie_key = self._derive_cookie_key()
        self._revoked.clear()
        await self._close_live(None, every=True)

    # auth --------------------------------------------------------------------------------------------------

    def _fast(self, value: str) -> bytes:
        return hmac.new(self._fast_key, value.encode(), hashlib.sha256).digest()

    def _derive_cookie_key(self) -> bytes:
        """The MAC key of session cookies: the session key bound to the passcode hashes."""
        base = hashlib.sha256(b"pinokiocloud-session\0" + self.session_key.encode()).digest()
        return hmac.new(base, "\0".join(sorted(self._hashes or ())).encode(), hashlib.sha256).digest()

    async def _is_passcode(self, value: str) -> bool:
        """Constant-time against known passcodes; scrypt (in a thread, one at a time) against bare hashes."""
        if not value:
            return False
        digest = self._fast(value)
        if any(hmac.compare_digest(digest, known) for known in self._known):
            return True
        for stored in self._given_hashes:
            async with self._hash_lock:
                matches = await asyncio.to_thread(verify_passcode, stored, value)
            if matches:
                self._known.add(digest)
                return True
        return False

    def _is_token(self, value: str) -> bool:
        return hmac.compare_digest(value.encode(), self.token.encode())

    def _new_session(self) -> str:
        sid = secrets.token_urlsafe(16)
        expires = str(int(time.time() + self.session_ttl_s))
        return f"{sid}.{expires}.{self._mac(sid, expires)}"

    def _mac(self, sid: str, expires: str) -> str:
        return hmac.new(self._cookie_key, f"{sid}.{expires}".encode(), hashlib.sha256).hexdigest()

    def _session_of(self, request: web.Request) -> str | None:
        """The session id of a valid, unexpired, unrevoked session cookie, else ``None``."""
        cookie = request.cookies.get(self.cookie_name)
        if not cookie or cookie.count(".") != 2 or not self._cookie_key:
            return None
        sid, expires, mac = cookie.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac(sid, expires).encode()):
            return None
        if not expires.isdigit() or int(expires) <= time.time() or sid in self._revoked:
            return None
        return sid

    def _revoke(self, sid: str, expires: float) -> None:
        now = time.time()
        for old in [s for s, until in self._revoked.items() if until <= now]:
            del self._revoked[old]
        self._revoked[sid] = expires

    def _client_id(self, request: web.Request) -> str:
        """Who is asking, as well as we can tell: the tunnel's header for the visitor, else the socket.

        IPv6 addresses count by their /64, which one subscriber usually holds whole.
        """
        peer = request.remote or "-"
        header = self.client_ip_header
        if header and _is_loopback(peer):
            values = request.headers.getall(header, [])
            if values:
                candidate = values[-1].split(",")[-1].strip()
                with contextlib.suppress(ValueError):
                    ipaddress.ip_address(candidate)
                    peer = candidate
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return peer
        if address.version == 6 and not address.is_loopback:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    def _set_cookie(self, response: web.StreamResponse, request: web.Request) -> None:
        secure = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        response.set_cookie(self.cookie_name, self._new_session(), max_age=int(self.session_ttl_s), httponly=True,
                            samesite="Lax", secure=secure, path="/")

    def _is_own_origin(self, origin: str, request: web.Request) -> bool:
        """Whether ``Origin`` names this gateway as the browser reached it (Host, forwarded host, public URL)."""
        wanted = _origin_netloc(origin)
        if wanted is None:
            return False
        if self.public_origin is not None and _origin_netloc(self.public_origin) == wanted:
            return True
        scheme = urlsplit(origin).scheme.lower()
        hosts = [request.host, request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()]
        return any(h and _netloc(h, scheme) == wanted for h in hosts)

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
            return await self._logout(request), "open"
        sid = self._session_of(request)
        if sid is not None:
            return await self._proxy(request, strip_auth=False, sid=sid), "cookie"
        token = request.query.get("token")
        header = _credentials(request)
        if token is None and header is None:
            return self._unauthorized(request), "denied"
        how: str | None = None
        try:
            async with self.limiter.attempt(self._client_id(request), cost=(token is not None) + (header is not None)) \
                    as attempt:
                if token is not None and self._is_token(token):
                    how = "token"
                elif header is not None and await self._header_ok(*header):
                    how = header[0]
                if how is not None:
                    attempt.succeeded()
        except TooManyAttempts as exc:
            return self._too_many(exc), "denied"
        if how == "token":
            if request.method == "GET" and request.headers.get("Upgrade", "").lower() != "websocket":
                query = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True) if k != "token"]
                location = safe_next(request.raw_path.split("?", 1)[0] + (f"?{urlencode(query)}" if query else ""))
                response = _see_other(location)
                self._set_cookie(response, request)
                return response, "token"
            return await self._proxy(request, strip_auth=False, drop_token=True), "token"
        if how is not None:
            return await self._proxy(request, strip_auth=True), how
        return self._unauthorized(request), "denied"

    async def _header_ok(self, scheme: str, secret: str) -> bool:
        if scheme == "bearer":
            return self._is_token(secret) or await self._is_passcode(secret)
        return await self._is_passcode(secret) or self._is_token(secret)

    async def _login(self, request: web.Request) -> tuple[web.StreamResponse, str]:
        if request.method != "POST":
            return self._login_page(request.query.get("next", "/"), status=200), "open"
        if request.content_length is None or request.content_length > MAX_LOGIN_FORM_BYTES:
            return self._text(413, "The login form is too large."), "denied"
        form = await request.post()
        passcode = str(form.get("passcode", ""))
        target = safe_next(str(form.get("next", "/")))
        if not passcode:
            return self._login_page(target, status=401, wrong=True), "denied"
        ok = False
        try:
            async with self.limiter.attempt(self._client_id(request)) as attempt:
                ok = await self._is_passcode(passcode)
                if ok:
                    attempt.succeeded()
        except TooManyAttempts as exc:
            return self._too_many(exc), "denied"
        if ok:
            response = _see_other(target)
            self._set_cookie(response, request)
            return response, "login"
        return self._login_page(target, status=401, wrong=True), "denied"

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        """End this browser's session for good (a copy of the cookie stops working too) and its WebSockets."""
        sid = self._session_of(request)
        if sid is not None:
            cookie = request.cookies.get(self.cookie_name, "")
            self._revoke(sid, float(cookie.split(".")[1]))
            await self._close_live(sid)
        response = _see_other("/")
        response.del_cookie(self.cookie_name, path="/")
        return response

    async def _close_live(self, sid: str | None, *, every: bool = False) -> None:
        groups = list(self._live) if every else [sid]
        sockets = [ws for key in groups for ws in self._live.pop(key, set())]
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION, message=b"session ended")

    def _unauthorized(self, request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        if request.method in ("GET", "HEAD") and "text/html" in accept:
            return self._login_page(request.raw_path, status=401)
        return web.Response(status=401, text="authentication required\n",
                            headers={"WWW-Authenticate": 'Basic realm="PinokioCloud", charset="UTF-8"',
                                     "Cache-Control": "no-store"})

    def _too_many(self, exc: TooManyAttempts) -> web.Response:
        return web.Response(status=429, text=f"Too many wrong attempts; try again in {exc.retry_after_s} s.\n",
                            headers={"Retry-After": str(exc.retry_after_s), "Cache-Control": "no-store"})

    def _login_page(self, next_url: str, *, status: int, wrong: bool = False) -> web.Response:
        message = '<p class="err">Wrong passcode.</p>' if wrong else ""
        body = _LOGIN_PAGE.format(name=html.escape(self.name), message=message,
                                  next=html.escape(safe_next(next_url), quote=True),
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
            at=time.time(), client=self._client_id(request), method=request.method, path=path,
            status=response.status, bytes_sent=int(getattr(response, "body_length", 0) or 0),
            duration_ms=(time.perf_counter() - started) * 1000, auth=auth,
            user_agent=request.headers.get("User-Agent", "-").replace('"', "'"),
        )
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.write(record.line() + "\n")
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
            elif lower == "origin" and self._is_own_origin(value, request):
                # the app sees its own origin, as Host is its own too (Jupyter and Gradio compare the two);
                # any other Origin goes on as it came, so the app's CSRF checks still see a foreign page
                value = self._target_origin
            headers.add(key, value)
        headers["Host"] = self._target_netloc
        forwarded_for = request.headers.get("X-Forwarded-For")
        ip = request.remote or "-"
        headers["X-Forwarded-For"] = f"{forwarded_for}, {ip}" if forwarded_for else ip
        headers.setdefault("X-Forwarded-Proto", request.scheme)
        headers.setdefault("X-Forwarded-Host", request.host)
        return headers

    def _upstream_url(self, request: web.Request, *, drop_token: bool) -> str:
        query = request.query_string
        if drop_token and query:
            query = urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"])
        return self.target_url + request.raw_path.split("?", 1)[0] + (f"?{query}" if query else "")

    async def _proxy(self, request: web.Request, *, strip_auth: bool, drop_token: bool = False,
                     sid: str | None = None) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._proxy_websocket(request, strip_auth=strip_auth, drop_token=drop_token, sid=sid)
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

    async def _proxy_websocket(self, request: web.Request, *, strip_auth: bool, drop_token: bool,
                               sid: str | None) -> web.StreamResponse:
        assert self._session is not None
        origin = request.headers.get("Origin")
        if origin is not None and not self._is_own_origin(origin, request):
            # browsers send cookies and cached Basic credentials with a WebSocket from any page and apply
            # no CORS to it, so a page of another origin (another port of this host too) is refused here
            return self._text(403, "A WebSocket from another site is not allowed.")
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
        live = self._live.setdefault(sid, set())
        live.add(client)

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
            live.discard(client)
        return client


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


class _ConnectionDone(ConnectionResetError):
    """The upstream stream broke after the response started; aiohttp drops the connection."""


def _drop_cookie(header: str, prefix: str) -> str:
    """The Cookie header without any gateway's session: an app must never hold a key to another share."""
    parts = [p.strip() for p in header.split(";")]
    return "; ".join(p for p in parts if p and not p.split("=", 1)[0].strip().startswith(prefix))


def _split_secrets(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return list(dict.fromkeys(v.strip() for v in items if v and v.strip()))


def _credentials(request: web.Request) -> tuple[str, str] | None:
    """``("bearer" | "basic", secret)`` from the Authorization header; ``None`` when there is none to check."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return "bearer", value
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return ("basic", password) if password else None
    return None


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _netloc(hostport: str, scheme: str) -> str:
    """``host:port`` in lower case with the scheme's default port written out."""
    hostport = hostport.strip().lower()
    host, sep, port = hostport.rpartition(":")
    if not sep or "]" in port:  # no port (an IPv6 literal's last colon is inside the brackets)
        return f"{hostport}:{_DEFAULT_PORTS.get(scheme, '')}"
    return f"{host}:{port}"


def _origin_netloc(origin: str) -> str | None:
    parts = urlsplit(origin.strip())
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.netloc:
        return None
    return _netloc(parts.netloc, parts.scheme.lower())


_NEXT_ROUNDS = 4
"""Decode up to this many times: a value that turns into a foreign URL after any decoding is refused."""


def safe_next(value: str) -> str:
    """Where to send a browser after login: ``value`` if it is a path on this origin, else ``/``.

    Browsers (WHATWG URL parsing) drop tabs and newlines anywhere, strip leading spaces and control
    characters, and read ``\\`` as ``/``, so ``/\\t/evil.com`` and ``/\\evil.com`` mean ``//evil.com``: another
    host. The value is refused when it, or any of its percent-decodings (``%2F%2F``, ``%09``, ``%5C``),
    is not a plain ``/path`` after that clean-up. Non-ASCII and spaces come back percent-encoded.
    """
    candidate = value
    for _ in range(_NEXT_ROUNDS):
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate) or "\\" in candidate:
            return "/"
        cleaned = candidate.strip(" ")
        if not cleaned.startswith("/") or cleaned.startswith("//"):
            return "/"
        parts = urlsplit(cleaned)
        if parts.scheme or parts.netloc:
            return "/"
        decoded = unquote(candidate)
        if decoded == candidate:
            break
        candidate = decoded
    else:
        return "/"  # still changing after several decodings: nothing a real link does
    if value != value.strip(" "):
        return "/"
    return quote(value, safe="/?#[]@!$&'()*+,;=:%-._~")


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
