"""The share manager: one public URL per app that keeps working, with the gateway in front.

For each share: the app's URL is checked (an app that does not answer cannot be shared), a
:class:`Gateway` starts in front of it, and the providers in the app's preference order are started
in parallel. The most preferred one that proves healthy wins (a less preferred one wins when the
preferred ones have failed, or have not finished ``preference_grace_s`` after the first success); the
others are stopped. A monitor then checks the provider's process every ``tick_s`` and probes the public
URL every ``probe_interval_s`` (≤ 30 s): a dead client, or ``failures_before_recovery`` failed probes,
start a new race with the failed provider first (a restart) and the others behind it (a failover).
With the default timings a broken share is replaced within 60 s, and a ``url-changed`` event says so.

When no provider works the share stays up on the gateway's local URL, reports each provider's
reason, and keeps trying. Shares are remembered in ``PINOKIO_HOME/share/shares.json`` (passcode, session key and
token included, mode 0600), so :meth:`ShareManager.restore` brings them back after a daemon restart.

Each app has its own lane (:class:`~pinokiocloud.share.lanes.AppLanes`): two shares or unshares of one app
take turns, while different apps' shares start, restore and stop side by side. A share's state changes only
along the table in :mod:`pinokiocloud.share.states`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pinokiocloud.errors import BadParamError, TunnelError
from pinokiocloud.platform import detect_cloud
from pinokiocloud.share import load_gateway, states
from pinokiocloud.share.config import GATEWAY_PREFIX, ShareSettings
from pinokiocloud.share.knobs import Knobs
from pinokiocloud.share.lanes import AppLanes
from pinokiocloud.share.passcodes import check_passcode_strength
from pinokiocloud.share.probe import answers, probe
from pinokiocloud.share.providers import Provider, ProviderContext, create_provider
from pinokiocloud.share.states import ShareState

if TYPE_CHECKING:
    from pinokiocloud.share.gateway import Gateway

__all__ = [
    "FAILURES_BEFORE_RECOVERY",
    "PROBE_INTERVAL_S",
    "ProviderAttempt",
    "RememberedShare",
    "ShareEvent",
    "ShareInfo",
    "ShareManager",
    "ShareState",
    "ShareTimings",
]

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 10.0
"""How often the public URL is fetched (the issue asks for at least every 30 s)."""
TICK_S = 2.0
"""How often the provider's local process is checked (cheap: no network)."""
FAILURES_BEFORE_RECOVERY = 2
PROBE_TIMEOUT_S = 5.0
ATTEMPT_TIMEOUT_S = 30.0
"""One provider's start plus the first successful probe of its public URL."""
PREFERENCE_GRACE_S = 8.0
VERIFY_POLL_S = 0.5
RENEW_MARGIN_S = 300.0
"""Renew expiring URLs (Pinggy's 60 minutes) this long before they end."""
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class ShareTimings(Knobs):
    """How often and how long the manager probes, races and renews (tests shorten them)."""

    probe_interval_s: float = PROBE_INTERVAL_S
    """How often a share's public URL is fetched; at most 30 s."""
    tick_s: float = TICK_S
    """How often the tunnel client's process is checked (no more than ``probe_interval_s``)."""
    failures_before_recovery: int = FAILURES_BEFORE_RECOVERY
    """Failed probes in a row before a restart or failover (at least 1)."""
    attempt_timeout_s: float = ATTEMPT_TIMEOUT_S
    """One provider's start plus the first successful probe of its public URL."""
    preference_grace_s: float = PREFERENCE_GRACE_S
    """After the first success, how long a more preferred provider may still win."""
    probe_timeout_s: float = PROBE_TIMEOUT_S
    renew_margin_s: float = RENEW_MARGIN_S
    """How long before an expiring URL ends a new one is made."""

    def __post_init__(self) -> None:
        if not 0 < self.probe_interval_s <= 30:
            raise BadParamError(f"probe_interval_s must be in (0, 30], got {self.probe_interval_s}")
        # frozen: the two normalised numbers are set the way dataclasses set fields
        object.__setattr__(self, "tick_s", min(self.tick_s, self.probe_interval_s))
        object.__setattr__(self, "failures_before_recovery", max(1, int(self.failures_before_recovery)))


@dataclass(frozen=True, slots=True)
class ProviderAttempt:
    """Why a provider is not the one in use (``reason``), or ``None`` for the one that is."""

    provider: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class ShareInfo:
    """A snapshot of one share, for status output and the API."""

    app: str
    target_url: str
    local_url: str
    """The gateway's address on this machine (the app's own URL for a share without a gateway)."""
    public_url: str | None
    provider: str | None
    state: ShareState
    is_protected: bool
    """Whether visitors of the public URL meet the passcode (``False`` only for Gradio share links)."""
    passcode: str | None
    token: str | None
    attempts: tuple[ProviderAttempt, ...]
    started_at: float
    changed_at: float
    """When the public URL last changed."""
    last_probe_at: float | None = None
    client_pid: int | None = None
    """The tunnel client's process, where one runs locally."""

    @property
    def url(self) -> str:
        """Where to send a user: the public URL, or the local one when there is none."""
        return self.public_url or self.local_url

    @property
    def is_healthy(self) -> bool:
        return self.state is ShareState.ONLINE

    @property
    def token_url(self) -> str | None:
        """A one-click link that logs the browser in (``None`` without a gateway)."""
        if self.token is None or not self.is_protected:
            return None
        return f"{self.url.rstrip('/')}/?token={self.token}"

    @property
    def reasons(self) -> dict[str, str]:
        """Provider → why it is not used (empty when the first choice works)."""
        return {a.provider: a.reason for a in self.attempts if a.reason is not None}

    def to_dict(self) -> dict[str, object]:
        """Plain JSON values (the API's share object)."""
        data = asdict(self)
        data["state"] = self.state.value
        data["url"] = self.url
        data["token_url"] = self.token_url
        data["is_healthy"] = self.is_healthy
        data["attempts"] = [asdict(a) for a in self.attempts]
        return data


@dataclass(frozen=True, slots=True)
class ShareEvent:
    """Something a user should hear about: a share came online, its URL changed, it went local-only."""

    kind: str
    """``online``, ``url-changed``, ``unhealthy``, ``local-only`` or ``stopped``."""
    app: str
    url: str | None
    """The URL to use now (public, or local for ``local-only``)."""
    previous_url: str | None
    provider: str | None
    reason: str | None = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class RememberedShare:
    """What survives a daemon restart."""

    app: str
    target_url: str
    providers: tuple[str, ...] | None
    passcode: str | None
    token: str | None
    use_gateway: bool = True
    public_url: str | None = None
    provider: str | None = None
    session_key: str | None = None
    """Signs the gateway's session cookies, so browsers stay logged in across a restart."""


EventCallback = Callable[[ShareEvent], object]


@dataclass
class _Share:
    app: str
    target_url: str
    order: tuple[str, ...]
    explicit: bool
    gateway: Gateway | None
    ctx: ProviderContext
    attempts: dict[str, str | None] = field(default_factory=dict)
    provider: Provider | None = None
    public_url: str | None = None
    state: ShareState = ShareState.STARTING
    failures: int = 0
    started_at: float = field(default_factory=time.time)
    changed_at: float = field(default_factory=time.time)
    online_at: float = 0.0
    last_probe_at: float | None = None
    monitor: asyncio.Task[None] | None = None

    @property
    def local_url(self) -> str:
        return self.gateway.url if self.gateway is not None else self.target_url

    def move(self, new: ShareState) -> None:
        """The only writer of ``state``: a move the table (``share.states``) does not allow is refused."""
        self.state = states.move(self.state, new, app=self.app)


class ShareManager:
    """Owns every share of one daemon. Use from one event loop; ``await close()`` before it ends."""

    def __init__(self, settings: ShareSettings, *, on_event: EventCallback | None = None,
                 state_file: Path | None = None, timings: ShareTimings | None = None, **overrides: float) -> None:
        """``timings`` (default: :class:`ShareTimings`'s) with ``overrides`` of single numbers
        (``ShareManager(settings, probe_interval_s=1)``); a probe interval above 30 s is a ``BadParamError``."""
        self.settings = settings
        self.on_event = on_event
        self.state_file = state_file if state_file is not None else settings.state_dir / "shares.json"
        self.timings = (timings or ShareTimings()).but(**overrides)
        self._shares: dict[str, _Share] = {}
        self._lanes = AppLanes(name="share")
        """One lane per app: a share or unshare of one app waits for that app's earlier one, never another's."""
        self._starting_ports: set[int] = set()
        """Gateway ports taken by shares still starting (not yet in ``_shares``)."""

    # public API --------------------------------------------------------------------------------------------

    async def share(
        self,
        app: str,
        target_url: str,
        *,
        providers: Sequence[str] | None = None,
        passcode: str | None = None,
        token: str | None = None,
        use_gateway: bool = True,
        app_output: Callable[[], str] | None = None,
        gateway_port: int | None = None,
    ) -> ShareInfo:
        """Share ``target_url`` (the app's web UI) and return once a provider won or all failed.

        ``providers`` overrides the preference order of the settings and also allows providers that
        are otherwise skipped (a tunnel on a platform that forbids them, a Gradio link that bypasses
        the gateway). ``passcode`` ``None`` generates one. ``gateway_port`` pins the gateway's port
        (default: ``PINOKIOCLOUD_SHARE_PORT`` and up, else any free port). Raises :class:`BadParamError` when nothing
        answers at ``target_url`` (the app is not running) or a provider name is unknown, and
        :class:`WeakPasscodeError` for a ``passcode`` that guessing would find.
        """
        if passcode is not None:
            check_passcode_strength(passcode)
        return await self._share_locked(app, target_url, providers=providers, passcode=passcode, token=token,
                                        use_gateway=use_gateway, app_output=app_output, gateway_port=gateway_port)

    async def _share_locked(self, app: str, target_url: str, *, providers: Sequence[str] | None,
                            passcode: str | None, token: str | None, use_gateway: bool,
                            app_output: Callable[[], str] | None, gateway_port: int | None,
                            session_key: str | None = None) -> ShareInfo:
        async def job() -> ShareInfo:
            current = self._shares.get(app)
            if current is not None:
                if current.target_url == target_url.rstrip("/") and providers is None and passcode is None:
                    return self._info(current)
                await self._stop(current)
                del self._shares[app]
            return await self._share(app, target_url, providers=providers, passcode=passcode, token=token,
                                     use_gateway=use_gateway, app_output=app_output, gateway_port=gateway_port,
                                     session_key=session_key)

        return await self._lanes.run(app, job)

    async def unshare(self, app: str) -> bool:
        """Stop sharing ``app`` and forget it; ``False`` when it was not shared."""
        async def job() -> bool:
            record = self._shares.get(app)
            remembered = self._load()
            forgotten = remembered.pop(app, None) is not None
            self._save_all(remembered)
            if record is None:
                return forgotten
            previous = record.public_url or record.local_url
            await self._stop(record)
            # only now: a stop cut short (the daemon closing) leaves the share for close() to finish
            if self._shares.get(app) is record:
                del self._shares[app]
            await self._emit(ShareEvent("stopped", app, None, previous, None))
            return True

        return await self._lanes.run(app, job)

    def get(self, app: str) -> ShareInfo | None:
        record = self._shares.get(app)
        return self._info(record) if record is not None else None

    def shares(self) -> list[ShareInfo]:
        return [self._info(r) for r in self._shares.values()]

    def remembered(self) -> list[RememberedShare]:
        """Shares to bring back after a restart (also those whose app is not running yet)."""
        return list(self._load().values())

    async def restore(self, targets: Mapping[str, str] | None = None) -> list[ShareInfo]:
        """Share again every remembered app whose target answers now, with its old passcode and token.

        ``targets`` gives an app's current URL where it changed (a new port after a restart). Apps that
        do not answer stay remembered, so calling this again when they start brings them back.
        """
        wanted = [(entry, (targets or {}).get(entry.app, entry.target_url)) for entry in self._load().values()
                  if entry.app not in self._shares and (targets is None or entry.app in targets)]
        # each app on its own: one app's slow race does not hold up the others
        results = await asyncio.gather(*(self._restore_one(entry, target) for entry, target in wanted),
                                       return_exceptions=True)
        restored: list[ShareInfo] = []
        for (entry, _target), result in zip(wanted, results, strict=True):
            if isinstance(result, ShareInfo):
                restored.append(result)
            elif isinstance(result, Exception):
                log.warning("could not restore the share of %s (it stays remembered): %s", entry.app, result)
            elif isinstance(result, BaseException):
                raise result
        return restored

    async def _restore_one(self, entry: RememberedShare, target: str) -> ShareInfo | None:
        if not await answers(target, timeout_s=self.timings.probe_timeout_s):
            return None
        # a passcode accepted when the share was made is not judged again (older rules were laxer)
        return await self._share_locked(
            entry.app, target, providers=entry.providers, passcode=entry.passcode, token=entry.token,
            use_gateway=entry.use_gateway, app_output=None, gateway_port=None, session_key=entry.session_key)

    async def close(self) -> None:
        """Stop every share but remember them (daemon shutdown); all at once, each waiting for its client."""
        records = list(self._shares.values())
        self._shares.clear()
        results = await asyncio.gather(*(self._stop(r) for r in records), return_exceptions=True)
        for record, result in zip(records, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("stopping the share of %s failed: %s", record.app, result)

    # starting ----------------------------------------------------------------------------------------------

    async def _share(self, app: str, target_url: str, *, providers: Sequence[str] | None, passcode: str | None,
                     token: str | None, use_gateway: bool, app_output: Callable[[], str] | None,
                     gateway_port: int | None, session_key: str | None = None) -> ShareInfo:
        target_url = target_url.rstrip("/")
        if not target_url.startswith(("http://", "https://")):
            raise BadParamError(f"cannot share {target_url!r}: not an http:// or https:// URL")
        if not await answers(target_url, timeout_s=self.timings.probe_timeout_s):
            raise BadParamError(f"cannot share {app}: nothing answers at {target_url}; start the app first")
        order = tuple(providers) if providers is not None else self.settings.providers
        ctx = ProviderContext(app=app, settings=self.settings, app_url=target_url, app_output=app_output)
        for name in order:
            create_provider(name, ctx)  # unknown names fail now, before anything starts
        gateway = None
        if use_gateway:
            gateway_class = await load_gateway()  # before the port is picked: no await between pick and claim
            host = "0.0.0.0" if self._needs_public_bind(order, ctx) else "127.0.0.1"
            port = self._gateway_port(gateway_port, host)
            gateway = gateway_class(target_url, passcode=passcode, token=token, session_key=session_key, name=app,
                                    host=host, port=port,
                                    access_log=self.settings.home / "logs" / "share" / f"{_safe(app)}.access.log")
            self._starting_ports.add(port)  # another app's share starting meanwhile picks the next port
            try:
                await gateway.start()
            except OSError as exc:
                raise BadParamError(f"cannot start the share gateway for {app} on port {gateway.port}: "
                                    f"{exc.strerror or exc}; set PINOKIOCLOUD_SHARE_PORT to a free port") from exc
            finally:
                self._starting_ports.discard(port)
        record = _Share(app, target_url, order, providers is not None, gateway, ctx)
        self._shares[app] = record
        try:
            won = await self._race(record, self._candidates(record, first=None))
            if won is not None:
                self._switch(record, *won)
                await self._emit(ShareEvent("online", app, record.public_url, None, record.provider.name
                                            if record.provider else None))
            else:
                self._go_local(record)
                await self._emit(ShareEvent("local-only", app, record.local_url, None, None,
                                            reason=_reasons_text(record.attempts)))
        except BaseException:
            # cancelled (the daemon closes) or a bug: no half-made share stays behind with its gateway open
            with contextlib.suppress(Exception):
                await asyncio.shield(self._stop(record))
            if self._shares.get(app) is record:
                del self._shares[app]
            raise
        self._remember(record)
        record.monitor = asyncio.create_task(self._monitor(record), name=f"share-{app}")
        return self._info(record)

    def _needs_public_bind(self, order: Sequence[str], ctx: ProviderContext) -> bool:
        """A platform proxy or the LAN connects from outside, so the gateway must listen on all interfaces."""
        for name in order:
            provider = create_provider(name, ctx)
            if provider.reason is None and provider.needs_public_bind:
                return True
        return False

    def _gateway_port(self, wanted: int | None, host: str) -> int:
        """``wanted``, else 0 (any free port), else with ``PINOKIOCLOUD_SHARE_PORT`` the first port from it that
        neither another share nor another program holds (a second app's share took the next port even
        when some client's connection had it, and failed)."""
        if wanted is not None:
            return wanted
        base = self.settings.gateway_port
        if base is None:
            return 0
        used = {r.gateway.port for r in self._shares.values() if r.gateway is not None} | self._starting_ports
        for port in range(base, min(base + _GATEWAY_PORTS_TRIED, 65536)):
            if port not in used and _bindable(host, port):
                return port
        return base  # every one is taken: the gateway's start says so, naming the setting

    def _candidates(self, record: _Share, first: str | None) -> list[Provider]:
        """Fresh provider instances in preference order (``first`` moved to the front), skipping the
        ones that cannot run here and noting why."""
        names = list(record.order)
        if first is not None and first in names:
            names.remove(first)
            names.insert(0, first)
        cloud = detect_cloud(self.settings.environ, override=self.settings.cloud_platform)
        candidates: list[Provider] = []
        for name in names:
            provider = create_provider(name, record.ctx)
            reason = provider.reason
            if reason is None and provider.is_tunnel and not cloud.is_tunnel_allowed and not record.explicit:
                reason = (f"{cloud.name} does not allow public tunnels ({'; '.join(cloud.policy)}); name the "
                          "provider explicitly to use it anyway")
            if reason is None and not provider.uses_gateway and record.gateway is not None and not record.explicit:
                reason = "its link reaches the app without the passcode gateway; name it explicitly to use it"
            if reason is not None:
                record.attempts[name] = reason
                continue
            candidates.append(provider)
        return candidates

    async def _attempt(self, record: _Share, provider: Provider, deadline: float) -> str:
        """Start ``provider`` and wait for its public URL to answer; stop it again on any failure."""
        target = record.gateway.url if record.gateway is not None and provider.uses_gateway else record.target_url
        try:
            url = await provider.start(target)
            loop = asyncio.get_running_loop()
            while not await self._verify(record, provider, url):
                if not provider.is_running():
                    raise TunnelError(provider.name, f"its client stopped before {url} answered")
                if loop.time() > deadline:
                    raise TunnelError(provider.name, f"{url} did not answer")
                await asyncio.sleep(VERIFY_POLL_S)
            return url
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(provider.stop())
            raise

    async def _race(self, record: _Share, candidates: Sequence[Provider]) -> tuple[Provider, str] | None:
        """Start ``candidates`` together; return the winner and its URL (the others are stopped)."""
        if not candidates:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timings.attempt_timeout_s
        limit_s = self.timings.attempt_timeout_s + 1  # a start() that ignores its own deadline
        tasks = {asyncio.create_task(asyncio.wait_for(self._attempt(record, p, deadline), limit_s)): p
                 for p in candidates}
        rank = {id(p): i for i, p in enumerate(candidates)}
        successes: dict[int, tuple[Provider, str]] = {}
        failed: set[int] = set()
        grace_until: float | None = None
        winner: tuple[Provider, str] | None = None
        pending = set(tasks)
        try:
            while pending:
                timeout = None if grace_until is None else max(0.0, grace_until - loop.time())
                done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    provider = tasks[task]
                    index = rank[id(provider)]
                    try:
                        successes[index] = (provider, task.result())
                    except asyncio.TimeoutError:
                        failed.add(index)
                        record.attempts[provider.name] = (f"no working public URL within "
                                                          f"{self.timings.attempt_timeout_s:g} s")
                    except TunnelError as exc:
                        failed.add(index)
                        record.attempts[provider.name] = exc.reason
                    except Exception as exc:  # a provider's bug must not end the race for the others
                        log.exception("share provider %s failed unexpectedly", provider.name)
                        failed.add(index)
                        record.attempts[provider.name] = f"{type(exc).__name__}: {exc}"
                if successes and grace_until is None:
                    grace_until = loop.time() + self.timings.preference_grace_s
                best = min(successes) if successes else None
                if best is not None and (all(i in failed for i in range(best))
                                         or (grace_until is not None and loop.time() >= grace_until)
                                         or not pending):
                    winner = successes.pop(best)
                    break
        finally:
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(BaseException):
                    await task
            for provider, _url in successes.values():
                record.attempts[provider.name] = "another provider won the race"
                with contextlib.suppress(Exception):
                    await provider.stop()
            for task, provider in tasks.items():
                if task in pending:
                    record.attempts.setdefault(provider.name, "another provider won the race")
                    with contextlib.suppress(Exception):  # a start cut short may have spawned its client
                        await provider.stop()
        if winner is not None:
            record.attempts[winner[0].name] = None
        return winner

    async def _verify(self, record: _Share, provider: Provider, url: str) -> bool:
        """Whether ``url`` reaches this share (its gateway, or the app for providers without one)."""
        through_gateway = record.gateway is not None and provider.uses_gateway
        probe_url = url.rstrip("/") + (f"{GATEWAY_PREFIX}/health" if through_gateway else "/")
        result = await probe(probe_url, headers=dict(provider.probe_headers), resolve=self.settings.resolve,
                             timeout_s=self.timings.probe_timeout_s)
        record.last_probe_at = time.time()
        if result.status is None:
            return False
        if through_gateway and provider.is_probe_strict:
            body = result.json()
            return (result.status == 200 and isinstance(body, dict) and record.gateway is not None
                    and body.get("gateway") == record.gateway.gateway_id)
        return result.status < 500

    def _switch(self, record: _Share, provider: Provider, url: str) -> None:
        record.provider = provider
        if record.gateway is not None:
            record.gateway.set_front(provider.name, url)
        if url != record.public_url:
            record.changed_at = time.time()
        record.public_url = url
        if record.state is not ShareState.ONLINE:  # a renewed URL stays online
            record.move(ShareState.ONLINE)
        record.failures = 0
        record.online_at = time.monotonic()

    def _go_local(self, record: _Share) -> None:
        if record.public_url is not None:
            record.changed_at = time.time()
        record.provider = None
        record.public_url = None
        if record.state is not ShareState.LOCAL_ONLY:  # a retry from local-only that failed again
            record.move(ShareState.LOCAL_ONLY)
        if record.gateway is not None:
            record.gateway.set_front(None)

    # monitoring --------------------------------------------------------------------------------------------

    async def _monitor(self, record: _Share) -> None:
        timings = self.timings
        loop = asyncio.get_running_loop()
        next_probe = loop.time() + timings.probe_interval_s
        while True:
            await asyncio.sleep(timings.tick_s)
            try:
                provider = record.provider
                if provider is None:
                    if loop.time() >= next_probe:
                        next_probe = loop.time() + timings.probe_interval_s
                        await self._recover(record, failed=None)
                    continue
                if provider.lifetime_s is not None and \
                        time.monotonic() - record.online_at >= max(provider.lifetime_s - timings.renew_margin_s, 0):
                    await self._renew(record, provider)
                    continue
                if not provider.is_running():
                    await self._unhealthy(record, f"the {provider.name} client stopped")
                    await self._recover(record, failed=provider)
                    next_probe = loop.time() + timings.probe_interval_s
                    continue
                if loop.time() < next_probe:
                    continue
                next_probe = loop.time() + timings.probe_interval_s
                assert record.public_url is not None
                if await provider.health() and await self._verify(record, provider, record.public_url):
                    record.failures = 0
                    if record.state is ShareState.RECOVERING:
                        record.move(ShareState.ONLINE)
                    continue
                record.failures += 1
                await self._unhealthy(record, f"{record.public_url} did not answer")
                if record.failures >= timings.failures_before_recovery:
                    await self._recover(record, failed=provider)
            except asyncio.CancelledError:
                raise
            except Exception:  # the monitor must outlive any one bad probe or provider
                log.exception("share monitor for %s", record.app)

    async def _unhealthy(self, record: _Share, reason: str) -> None:
        if record.state is ShareState.ONLINE:
            record.move(ShareState.RECOVERING)
            await self._emit(ShareEvent("unhealthy", record.app, record.public_url, None,
                                        record.provider.name if record.provider else None, reason=reason))

    async def _recover(self, record: _Share, failed: Provider | None) -> None:
        """Race again with the failed provider first (a restart) and the rest behind it (a failover)."""
        previous = record.public_url
        if failed is not None:
            with contextlib.suppress(Exception):
                await failed.stop()
        record.attempts = {}
        won = await self._race(record, self._candidates(record, first=failed.name if failed else None))
        if won is not None:
            self._switch(record, *won)
            if record.public_url != previous:
                await self._emit(ShareEvent("url-changed", record.app, record.public_url, previous, won[0].name))
            self._remember(record)
            return
        was_local = previous is None and record.state is ShareState.LOCAL_ONLY
        self._go_local(record)
        if not was_local:
            await self._emit(ShareEvent("local-only", record.app, record.local_url, previous, None,
                                        reason=_reasons_text(record.attempts)))
            self._remember(record)

    async def _renew(self, record: _Share, provider: Provider) -> None:
        """Replace an expiring URL with a fresh one of the same provider before the old one ends."""
        previous = record.public_url
        fresh = create_provider(provider.name, record.ctx)
        won = await self._race(record, [fresh])
        if won is None:
            record.online_at = time.monotonic() - (provider.lifetime_s or 0) + self.timings.renew_margin_s / 2
            return  # keep the old one; the monitor recovers when it really ends
        self._switch(record, *won)
        with contextlib.suppress(Exception):
            await provider.stop()
        await self._emit(ShareEvent("url-changed", record.app, record.public_url, previous, fresh.name,
                                    reason="renewed before the provider's time limit"))
        self._remember(record)

    async def _stop(self, record: _Share) -> None:
        if record.monitor is not None:
            record.monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await record.monitor
        if record.provider is not None:
            with contextlib.suppress(Exception):
                await record.provider.stop()
        if record.gateway is not None:
            await record.gateway.stop()
        if record.state is not ShareState.STOPPED:
            record.move(ShareState.STOPPED)

    async def _emit(self, event: ShareEvent) -> None:
        log.info("share %s: %s %s", event.app, event.kind, event.url or "")
        if self.on_event is None:
            return
        try:
            result = self.on_event(event)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a listener's bug must not break sharing
            log.exception("share event listener failed on %s", event)

    def _info(self, record: _Share) -> ShareInfo:
        gateway = record.gateway
        using_gateway = gateway is not None and (record.provider is None or record.provider.uses_gateway)
        return ShareInfo(
            app=record.app,
            target_url=record.target_url,
            local_url=record.local_url,
            public_url=record.public_url,
            provider=record.provider.name if record.provider else None,
            state=record.state,
            is_protected=using_gateway,
            passcode=gateway.passcode if gateway else None,
            token=gateway.token if gateway else None,
            attempts=tuple(ProviderAttempt(name, reason) for name, reason in record.attempts.items()),
            started_at=record.started_at,
            changed_at=record.changed_at,
            last_probe_at=record.last_probe_at,
            client_pid=record.provider.pid if record.provider else None,
        )

    # persistence -------------------------------------------------------------------------------------------

    def _remember(self, record: _Share) -> None:
        entries = self._load()
        gateway = record.gateway
        entries[record.app] = RememberedShare(
            app=record.app,
            target_url=record.target_url,
            providers=record.order if record.explicit else None,
            passcode=gateway.passcode if gateway else None,
            token=gateway.token if gateway else None,
            use_gateway=gateway is not None,
            public_url=record.public_url,
            provider=record.provider.name if record.provider else None,
            session_key=gateway.session_key if gateway else None,
        )
        self._save_all(entries)

    def _load(self) -> dict[str, RememberedShare]:
        try:
            data = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.state_file, exc)
            return {}
        shares = data.get("shares", {}) if isinstance(data, dict) else {}
        entries: dict[str, RememberedShare] = {}
        for app, raw in shares.items() if isinstance(shares, dict) else ():
            try:
                providers = raw.get("providers")
                entries[app] = RememberedShare(
                    app=app, target_url=str(raw["target_url"]),
                    providers=tuple(providers) if isinstance(providers, list) else None,
                    passcode=raw.get("passcode"), token=raw.get("token"),
                    use_gateway=bool(raw.get("use_gateway", True)),
                    public_url=raw.get("public_url"), provider=raw.get("provider"),
                    session_key=raw.get("session_key"))
            except (KeyError, TypeError, AttributeError):
                log.warning("ignoring a broken remembered share %r in %s", app, self.state_file)
        return entries

    def _save_all(self, entries: Mapping[str, RememberedShare]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": STATE_VERSION, "shares": {
            app: {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(e).items() if k != "app"}
            for app, e in entries.items()}}
        partial = self.state_file.with_name(self.state_file.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(partial, self.state_file)


def _reasons_text(attempts: Mapping[str, str | None]) -> str:
    reasons = [f"{name}: {reason}" for name, reason in attempts.items() if reason]
    return "; ".join(reasons) if reasons else "no share provider is configured"


_GATEWAY_PORTS_TRIED = 100


def _bindable(host: str, port: int) -> bool:
    """Whether a listening socket could take ``host:port`` now (with ``SO_REUSEADDR``, as the gateway's server
    binds: a port left in TIME_WAIT is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe_socket:
        probe_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe_socket.bind((host, port))
        except OSError:
            return False
    return True


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "app"
