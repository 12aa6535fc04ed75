"""The provider interface, the registry, and the base of providers that run a tunnel client process.

A provider turns a local URL (the share's gateway) into a public URL. It knows nothing about other
providers; the share manager races them, probes their public URLs and fails over (STYLE §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
import re
import socket
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from pinokiocloud.errors import BadParamError, TunnelError
from pinokiocloud.procs import ALIVE, ManagedProcess, ProcEvent
from pinokiocloud.share.config import ShareSettings

__all__ = [
    "PROVIDERS",
    "ProcessProvider",
    "Provider",
    "ProviderContext",
    "create_provider",
    "free_port",
    "register",
]

STOP_GRACE_S = 3.0
"""Time a tunnel client gets to close its tunnel after SIGTERM, before the whole tree is killed."""
TAIL_CHARS = 600
"""Characters of a client's last output quoted in an error message."""
WAKE_S = 0.25
"""Longest wait between two looks at a client's output (new output wakes it sooner)."""


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


LOCAL_PORT_TRIES = 3
"""Starts of a tunnel client whose local port (metrics, agent API) was taken between picking and binding it."""


class ProcessProvider(Provider):
    """A provider whose tunnel is one local client process (cloudflared, ngrok, lt, ssh).

    The client runs under :class:`pinokiocloud.procs.ManagedProcess` without a terminal (a TTY would
    make ``ssh`` wait at a password prompt and agents draw screen UIs): its own session, cgroup and tag,
    so :meth:`stop` ends the whole tree (helpers that left the group too) and waits for it. The client's
    merged output is what providers match their public URL in.
    """

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self._process: ManagedProcess | None = None
        self._changed = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.is_running() and self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.state in ALIVE

    @property
    def exit_code(self) -> int | None:
        """The client's exit status once it ended (``-N`` for signal N), else ``None``."""
        return self._process.exit_code if self._process is not None else None

    async def spawn(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> ManagedProcess:
        """Start the tunnel client ``argv`` (environment: ``env``, else the settings' one, else ours); an
        executable that cannot run is a :class:`TunnelError`."""
        environ = env if env is not None else (self.settings.environ or os.environ)
        cwd = self.settings.state_dir
        cwd.mkdir(parents=True, exist_ok=True)
        try:
            self._process = await ManagedProcess.spawn(argv, cwd=cwd, env=environ, name=f"{self.name} client",
                                                       on_event=self._on_event, terminal=False)
        except OSError as exc:
            raise self.fail(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        return self._process

    async def start_on_free_port(self, launch: Callable[[str], Awaitable[object]],
                                 wait: Callable[[], Awaitable[str]]) -> str:
        """Start the client with a local address of its own (``launch(host:port)`` spawns it), then ``wait``
        for its public URL. The port is free when picked, but another program may take it before the client
        binds it: the client then exits saying so, and it is started again on a new port."""
        for attempt in range(LOCAL_PORT_TRIES):
            await launch(f"127.0.0.1:{free_port()}")
            try:
                return await wait()
            except TunnelError:
                if attempt + 1 < LOCAL_PORT_TRIES and not self.is_running() and \
                        "address already in use" in self.output().lower():
                    continue
                raise
        raise AssertionError("unreachable: the last try returns or raises")

    def _on_event(self, event: ProcEvent) -> None:
        self._changed.set()

    def output(self) -> str:
        """The client's recent output as plain text (stdout and stderr together)."""
        return self._process.tail() if self._process is not None else ""

    def output_tail(self) -> str:
        """The last non-blank output lines, short enough for an error message."""
        text = "\n".join(line for line in self.output().splitlines() if line.strip())
        return text[-TAIL_CHARS:]

    def search(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """The first match of ``pattern`` in the output (oldest first), including a line still being written."""
        return pattern.search(self.output())

    async def wait_for(self, pattern: re.Pattern[str], timeout_s: float) -> re.Match[str]:
        """Wait until the output matches ``pattern``; the client exiting first is a :class:`TunnelError`."""
        assert self._process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            self._changed.clear()
            if match := self.search(pattern):
                return match
            if not self.is_running():
                tail = self.output_tail()
                raise self.fail(f"{os.path.basename(self._process.argv[0])} exited with code {self.exit_code}"
                                + (f": {tail}" if tail else ""))
            remaining = deadline - loop.time()
            if remaining <= 0:
                tail = self.output_tail()
                raise self.fail(f"no public URL within {timeout_s:g} s" + (f"; last output: {tail}" if tail else ""))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, WAKE_S))

    async def stop(self) -> None:
        if self._process is not None:
            await self._process.stop(STOP_GRACE_S)
