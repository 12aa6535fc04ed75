"""bore (``ekzhang/bore``): a plain TCP tunnel to ``bore.pub`` or a self-hosted ``bore server``.

No bore binary is reachable from our package registries, so this is our own client of its small
protocol (``src/shared.rs``, ``src/client.rs``, ``src/auth.rs``): a control connection to port 7835
carrying null-delimited JSON frames. The client says ``{"Hello": 0}`` and gets ``{"Hello": <public
port>}``; for each visitor the server sends ``{"Connection": "<uuid>"}``, and the client opens a new
control connection, says ``{"Accept": "<uuid>"}`` and then relays raw bytes to the local port. With a
secret, each connection first answers ``{"Challenge": uuid}`` with ``{"Authenticate": hex(HMAC-SHA256(
key=sha256(secret), uuid bytes))}``. The public URL is ``http://<server>:<port>`` (no TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid
from urllib.parse import urlsplit

from pinokiocloud.errors import TunnelError
from pinokiocloud.share.providers.base import Provider, ProviderContext, register

__all__ = ["BORE_CONTROL_PORT", "BoreProvider", "bore_answer"]

BORE_CONTROL_PORT = 7835
NETWORK_TIMEOUT_S = 5.0
MAX_FRAME_BYTES = 256
RELAY_CHUNK_BYTES = 256 * 1024


def bore_answer(secret: str, challenge: str) -> str:
    """The reply to a server's challenge, as ``bore``'s ``Authenticator::answer`` computes it."""
    key = hashlib.sha256(secret.encode()).digest()
    return hmac.new(key, uuid.UUID(challenge).bytes, hashlib.sha256).hexdigest()


async def _send(writer: asyncio.StreamWriter, message: object) -> None:
    writer.write(json.dumps(message).encode() + b"\0")
    await writer.drain()


async def _recv(reader: asyncio.StreamReader, timeout_s: float | None = NETWORK_TIMEOUT_S) -> object:
    """The next frame (parsed JSON, for the caller to check), or ``None`` at EOF."""
    try:
        frame = await asyncio.wait_for(reader.readuntil(b"\0"), timeout_s)
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as exc:
        raise ValueError("bore frame too long") from exc
    if len(frame) > MAX_FRAME_BYTES + 1:
        raise ValueError("bore frame too long")
    return json.loads(frame[:-1])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(RELAY_CHUNK_BYTES):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


@register
class BoreProvider(Provider):
    name = "bore"

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        server = self.settings.bore_server
        parsed = urlsplit(f"//{server}")
        self.server_host = parsed.hostname or server
        self.control_port = parsed.port or BORE_CONTROL_PORT
        self._control: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._local: tuple[str, int] = ("127.0.0.1", 80)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.server_host, self.control_port), NETWORK_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            raise self.fail(f"cannot reach the bore server {self.server_host}:{self.control_port} ({exc!r})") from exc
        if self.settings.bore_secret:
            challenge = await _recv(reader)
            if not (isinstance(challenge, dict) and "Challenge" in challenge):
                writer.close()
                raise self.fail("PINOKIOCLOUD_BORE_SECRET is set but the server asked for no secret")
            await _send(writer, {"Authenticate": bore_answer(self.settings.bore_secret, challenge["Challenge"])})
        return reader, writer

    async def start(self, target_url: str) -> str:
        target = urlsplit(target_url)
        self._local = (target.hostname or "127.0.0.1", target.port or 80)
        reader, writer = await self._connect()
        try:
            await _send(writer, {"Hello": 0})
            reply = await _recv(reader)
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            writer.close()
            raise self.fail(f"bore handshake failed: {exc!r}") from exc
        if isinstance(reply, dict) and "Hello" in reply:
            port = int(reply["Hello"])
        else:
            writer.close()
            if isinstance(reply, dict) and "Challenge" in reply:
                raise self.fail("the bore server needs a secret: set PINOKIOCLOUD_BORE_SECRET")
            detail = reply.get("Error") if isinstance(reply, dict) else reply
            raise self.fail(f"the bore server refused the tunnel: {detail}")
        self._control = (reader, writer)
        self._listener = asyncio.create_task(self._listen(reader), name="bore-control")
        host = self.server_host
        self.public_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        return self.public_url

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                message = await _recv(reader, timeout_s=None)
            except (OSError, ValueError):
                return
            if message is None:
                return
            if isinstance(message, dict) and "Connection" in message:
                task = asyncio.create_task(self._accept(str(message["Connection"])))
                self._relays.add(task)
                task.add_done_callback(self._relays.discard)

    async def _accept(self, connection_id: str) -> None:
        try:
            reader, writer = await self._connect()
            await _send(writer, {"Accept": connection_id})
            local_reader, local_writer = await asyncio.wait_for(asyncio.open_connection(*self._local),
                                                                NETWORK_TIMEOUT_S)
        except (OSError, TunnelError, ValueError, asyncio.TimeoutError):
            return
        try:
            await asyncio.gather(_pipe(reader, local_writer), _pipe(local_reader, writer))
        finally:
            for w in (writer, local_writer):
                w.close()

    def is_running(self) -> bool:
        return self._listener is not None and not self._listener.done()

    async def health(self) -> bool:
        return self.is_running()

    async def stop(self) -> None:
        tasks = [t for t in (self._listener, *self._relays) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._control is not None:
            self._control[1].close()
            self._control = None
        self._listener = None
