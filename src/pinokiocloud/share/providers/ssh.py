"""The SSH reverse-tunnel family: localhost.run, serveo, Pinggy, or any ``user@host`` the user runs.

All of them are the system ``ssh -R``; they differ in the remote port they want, in where the public
URL comes from (a banner the service prints, or OpenSSH's own "Allocated port N" line for a plain
server) and in how long a URL lives (Pinggy's free tunnels end after 60 minutes, so the manager renews
them before that).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from urllib.parse import urlsplit

from pinokiocloud.share.providers.base import ProcessProvider, ProviderContext, register

__all__ = ["PINGGY_LIFETIME_S", "SshProvider", "SshService", "ssh_service"]

START_TIMEOUT_S = 30.0
PINGGY_LIFETIME_S = 60 * 60.0
SERVER_ALIVE_INTERVAL_S = 15
_ALLOCATED = re.compile(r"^Allocated port (\d+) for remote forward", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class SshService:
    """How one kind of SSH tunnel server is used."""

    kind: str
    """``localhost.run``, ``serveo``, ``pinggy`` or ``generic``."""
    remote_port: int
    """The port asked for with ``-R``: 80 where the service routes by name, 0 for "any free port"."""
    default_ssh_port: int
    url_pattern: re.Pattern[str] | None
    """The banner URL; ``None`` for a plain server, where the URL is ``http://host:<allocated port>``."""
    lifetime_s: float | None = None


_SERVICES = (
    ("localhost.run", SshService("localhost.run", 80, 22,
                                 re.compile(r"https://[\w.-]+\.(?:lhr\.life|lhr\.rocks|localhost\.run)\b"))),
    ("serveo.net", SshService("serveo", 80, 22,
                              re.compile(r"https://[\w.-]+\.(?:serveo\.net|serveousercontent\.com)\b"))),
    ("pinggy.io", SshService("pinggy", 0, 443, re.compile(r"https://[\w.-]+\.pinggy\.(?:link|online|io)\b"),
                             PINGGY_LIFETIME_S)),
)
_GENERIC = SshService("generic", 0, 22, None)


def ssh_service(target: str) -> SshService:
    """The service behind ``user@host`` (``nokey@localhost.run`` → localhost.run; anything else → generic)."""
    host = target.rsplit("@", 1)[-1].lower()
    for suffix, service in _SERVICES:
        if host == suffix or host.endswith("." + suffix):
            return service
    return _GENERIC


@register
class SshProvider(ProcessProvider):
    name = "ssh"

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.service = ssh_service(self.settings.ssh_target)
        self.lifetime_s = self.settings.ssh_lifetime_s or self.service.lifetime_s
        self._ssh = shutil.which("ssh", path=self.settings.environ.get("PATH"))

    @property
    def reason(self) -> str | None:
        if self._ssh is None:
            return "no ssh client on PATH (install openssh-client)"
        key = self.settings.ssh_key
        if key is not None and not key.is_file():
            return f"PINOKIOCLOUD_SSH_KEY={key} does not exist"
        return None

    @property
    def host(self) -> str:
        return self.settings.ssh_target.rsplit("@", 1)[-1]

    def argv(self, target_url: str) -> list[str]:
        """The ssh command line for ``target_url`` (a test names it to check the options)."""
        assert self._ssh is not None
        target = urlsplit(target_url)
        local = f"{target.hostname or '127.0.0.1'}:{target.port or 80}"
        known_hosts = self.settings.state_dir / "known_hosts"
        argv = [self._ssh, "-T",
                "-p", str(self.settings.ssh_port or self.service.default_ssh_port),
                "-o", "ExitOnForwardFailure=yes",
                "-o", f"ServerAliveInterval={SERVER_ALIVE_INTERVAL_S}",
                "-o", "ServerAliveCountMax=3",
                "-o", "StrictHostKeyChecking=accept-new",
                "-o", f"UserKnownHostsFile={known_hosts}",
                "-o", "LogLevel=INFO",  # "Allocated port N" is printed at INFO; ERROR/QUIET hide it
                "-R", f"{self.service.remote_port}:{local}"]
        if self.settings.ssh_key is not None:
            argv += ["-i", str(self.settings.ssh_key), "-o", "IdentitiesOnly=yes"]
        if self.service.kind == "generic":
            argv += ["-N", "-o", "BatchMode=yes"]  # a plain server prints nothing; never ask for a password
        argv.append(self.settings.ssh_target)
        return argv

    async def start(self, target_url: str) -> str:
        if (why := self.reason) is not None:
            raise self.fail(why)
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        # Services print the URL on the session channel, which stays open only while stdin does (the
        # client's stdin is a pipe kept open until it exits).
        await self.spawn(self.argv(target_url))
        if self.service.url_pattern is not None:
            match = await self.wait_for(self.service.url_pattern, START_TIMEOUT_S)
            self.public_url = match.group(0)
        else:
            match = await self.wait_for(_ALLOCATED, START_TIMEOUT_S)
            host = self.host
            self.public_url = f"http://{f'[{host}]' if ':' in host else host}:{match.group(1)}"
        return self.public_url

    async def health(self) -> bool:
        return self.is_running()

