"""The provider interface, the registry, and a helper for providers that run a tunnel client process.

A provider turns a local URL (the share's gateway) into a public URL. It knows nothing about other
providers; the share manager races them, probes their public URLs and fails over (STYLE §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
import re
import signal
import socket
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from pinokiocloud.errors import BadParamError, TunnelError
from pinokiocloud.share.config import ShareSettings

__all__ = [
    "PROVIDERS",
    "Provider",
    "ProviderContext",
    "TunnelProcess",
    "create_provider",
    "free_port",
    "register",
]

STOP_GRACE_S = 3.0
OUTPUT_LINES = 400
"""Lines of a tunnel client's output kept for URL matching and for error messages."""
TAIL_CHARS = 600


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider may know about the share it serves."""

    app: str
    settings: ShareSettings
    app_url: str | None = None
    """The app's own URL (behind the gateway); only providers that bypass the gateway use it."""
    app_output: Callable[[], str] | None = None
    """The app's recent output, for providers that read a URL the app itself prints (Gradio)."""


class Provider(ABC):
    """One way to get a public URL. Subclasses set ``name`` and implement start/health/stop."""

    name: ClassVar[str]
    is_tunnel: ClassVar[bool] = True
    """A third-party public tunnel: platforms that forbid tunnels (Colab, Kaggle) rule it out."""
    uses_gateway: ClassVar[bool] = True
    """The public URL reaches our auth gateway. ``False`` for Gradio share links, which reach the app."""
    probe_headers: ClassVar[Mapping[str, str]] = {}
    """Headers that get a probe past the provider's own interstitial page (ngrok, localtunnel)."""
    is_probe_strict: ClassVar[bool] = True
    """A probe must reach our gateway's health page; ``False`` accepts any answer below 500 (a platform
    proxy that puts its own login in front of the port)."""

    def __init__(self, ctx: ProviderContext) -> None:
        self.ctx = ctx
        self.public_url: str | None = None
        self.lifetime_s: float | None = None
        """Set by providers whose URLs expire (Pinggy's free tier: 60 minutes); the manager renews early."""

    @property
    def settings(self) -> ShareSettings:
        return self.ctx.settings

    @property
    def reason(self) -> str | None:
        """Why this provider cannot be used here (a missing token or tool), or ``None`` when it can be tried."""
        return None

    @property
    def needs_public_bind(self) -> bool:
        """Whether the gateway must listen on all interfaces (a platform proxy connects from outside)."""
        return False

    @property
    def pid(self) -> int | None:
        """The tunnel client's process id, for status output (``None`` when nothing runs locally)."""
        return None

    def is_running(self) -> bool:
        """Whether the local part (a client process) still runs; checked often, so it must be cheap."""
        return True

    @abstractmethod
    async def start(self, target_url: str) -> str:
        """Expose ``target_url`` and return the public URL; raise :class:`TunnelError` when that fails."""

    @abstractmethod
    async def health(self) -> bool:
        """A cheap local check (the client process lives, the agent reports a connection)."""

    @abstractmethod
    async def stop(self) -> None:
        """Tear the tunnel down; safe to call twice and after a failed start."""

    def fail(self, reason: str) -> TunnelError:
        return TunnelError(self.name, reason)


PROVIDERS: dict[str, type[Provider]] = {}
P = TypeVar("P", bound=type[Provider])


def register(cls: P) -> P:
    """Class decorator: make a provider available by its ``name``."""
    PROVIDERS[cls.name] = cls
    return cls


def create_provider(name: str, ctx: ProviderContext) -> Provider:
    """A new provider instance by name; an unknown name is a :class:`BadParamError` with a close match."""
    cls = PROVIDERS.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, PROVIDERS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BadParamError(f"unknown share provider {name!r} (known: {', '.join(sorted(PROVIDERS))}){hint}")
    return cls(ctx)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (a tunnel client's metrics or agent API)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class TunnelProcess:
    """A tunnel client in its own process group, with its merged output kept for matching.

    Providers start one, wait for the line that carries the public URL, and stop it by killing the
    whole group (some clients spawn helpers).
    """

    def __init__(self, provider: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 keep_stdin_open: bool = False) -> None:
        self.provider = provider
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.keep_stdin_open = keep_stdin_open
        self.lines: deque[str] = deque(maxlen=OUTPUT_LINES)
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._partial = ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def tail(self) -> str:
        """The last output, for error messages."""
        text = "\n".join(line for line in self.lines if line.strip())
        return text[-TAIL_CHARS:]

    async def start(self) -> None:
        spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE if self.keep_stdin_open else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        ))
        try:
            self._proc = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            # cancelled while spawning (a race that another provider won): never leave the client running
            with contextlib.suppress(Exception):
                proc = await spawn
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
            raise
        except OSError as exc:
            raise TunnelError(self.provider, f"cannot run {self.argv[0]}: {exc.strerror or exc}") from exc
        self._reader = asyncio.create_task(self._read(), name=f"{self.provider}-output")

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        while chunk := await stream.read(65536):
            text = self._partial + chunk.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
            *complete, self._partial = text.split("\n")
            self.lines.extend(complete)
            self._changed.set()
        if self._partial:
            self.lines.append(self._partial)
            self._partial = ""
        await self._proc.wait()
        self._changed.set()

    def search(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """The first line (oldest first) that matches, including a line still being written."""
        for line in [*self.lines, self._partial]:
            if match := pattern.search(line):
                return match
        return None

    async def wait_for(self, pattern: re.Pattern[str], timeout_s: float,
                       extra: Callable[[], object] | None = None) -> re.Match[str]:
        """Wait until the output matches ``pattern``; the process exiting first is a :class:`TunnelError`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if match := self.search(pattern):
                return match
            if not self.is_alive and (self._reader is None or self._reader.done()):
                raise TunnelError(self.provider, f"{os.path.basename(self.argv[0])} exited with code "
                                  f"{self.returncode}" + (f": {self.tail()}" if self.tail() else ""))
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TunnelError(self.provider, f"no public URL within {timeout_s:g} s"
                                  + (f"; last output: {self.tail()}" if self.tail() else ""))
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))

    async def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
            except asyncio.TimeoutError:
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        else:
            _signal_group(proc.pid, signal.SIGKILL)  # helpers a dead client left behind
        if proc.stdin is not None:
            proc.stdin.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 1.0)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ProcessProvider(Provider):
    """A provider whose tunnel is one local client process (cloudflared, ngrok, lt, ssh)."""

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self._process: TunnelProcess | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.is_alive

    async def stop(self) -> None:
        if self._process is not None:
            await self._process.stop()
