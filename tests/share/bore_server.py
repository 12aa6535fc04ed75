"""A small bore server (after ekzhang/bore src/server.rs) on 127.0.0.1 for testing our bore client.

Not a reference implementation: there is no bore binary in our registries to check interop against,
so this follows the protocol as written in the spec and bore's sources (null-delimited JSON frames,
Hello/Connection/Accept, optional Challenge/Authenticate)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid


def _expected(secret: str, challenge: str) -> str:
    """bore's Authenticator: HMAC-SHA256 keyed with sha256(secret) over the UUID's 16 bytes, hex."""
    return hmac.new(hashlib.sha256(secret.encode()).digest(), uuid.UUID(challenge).bytes, "sha256").hexdigest()


class BoreServer:
    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._public: list[asyncio.base_events.Server] = []
        self._waiting: dict[str, asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.refused = 0

    async def _send(self, writer: asyncio.StreamWriter, message: object) -> None:
        writer.write(json.dumps(message).encode() + b"\0")
        await writer.drain()

    async def _recv(self, reader: asyncio.StreamReader) -> object:
        return json.loads((await reader.readuntil(b"\0"))[:-1])

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.secret is not None:
                challenge = str(uuid.uuid4())
                await self._send(writer, {"Challenge": challenge})
                reply = await self._recv(reader)
                if not (isinstance(reply, dict) and reply.get("Authenticate") == _expected(self.secret, challenge)):
                    self.refused += 1
                    await self._send(writer, {"Error": "invalid secret"})
                    writer.close()
                    return
            message = await self._recv(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        if isinstance(message, dict) and "Hello" in message:
            await self._hello(reader, writer)
        elif isinstance(message, dict) and "Accept" in message:
            future = self._waiting.pop(str(message["Accept"]), None)
            if future is not None and not future.done():
                future.set_result((reader, writer))
            else:
                writer.close()

    async def _hello(self, control_reader: asyncio.StreamReader, control: asyncio.StreamWriter) -> None:
        async def visitor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connection = str(uuid.uuid4())
            future: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = \
                asyncio.get_running_loop().create_future()
            self._waiting[connection] = future
            await self._send(control, {"Connection": connection})
            try:
                client_reader, client_writer = await asyncio.wait_for(future, 10)
            except asyncio.TimeoutError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, client_writer), _pipe(client_reader, writer))

        public = await asyncio.start_server(visitor, "127.0.0.1", 0)
        self._public.append(public)
        await self._send(control, {"Hello": public.sockets[0].getsockname()[1]})
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await control_reader.read()  # until the client goes away
        public.close()

    async def __aenter__(self) -> BoreServer:
        self._server = await asyncio.start_server(self._control, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in [*self._public, self._server]:
            if server is not None:
                server.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
