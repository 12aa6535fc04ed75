"""Bringing a crashed daemon run back: the apps' restart policies (``procs.restart``) applied to runs.

The policy decides *whether* and *when* (``RestartPolicy.delay``); this module only tells the user what was
decided and starts the script again when the time comes, as a new run that counts the restarts in a row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pinokiocloud.kernel.handle import Background
from pinokiocloud.kernel.run import Run
from pinokiocloud.procs.restart import RestartMode, RestartPolicy
from pinokiocloud.procs.supervisor import ExitKind

__all__ = ["Restarter"]


class Restarter:
    """The default policy, each app's own choice, and the scheduling of restarts."""

    def __init__(self, default: RestartPolicy, *, again: Callable[[Run], Awaitable[Run]],
                 is_latest: Callable[[Run], bool], info: Callable[[Run, str, str], object],
                 background: Background) -> None:
        self.default = default
        """The policy of every app that has not chosen its own."""
        self.apps: dict[str, RestartPolicy] = {}
        """The apps' own choices, by app name (the first folder under ``api/``)."""
        self._again = again
        self._is_latest = is_latest
        self._info = info
        self._background = background

    def policy_for(self, app: str) -> RestartPolicy:
        return self.apps.get(app, self.default)

    def after_crash(self, run: Run, app: str, kind: ExitKind, runtime_s: float) -> None:
        """``run`` crashed (its process of ``runtime_s`` seconds ended as ``kind``): schedule a restart when
        its app's policy says so, and say what happens either way."""
        policy = self.policy_for(app)
        delay = policy.delay(kind, run.restarts, runtime_s)
        if delay is None:
            if policy.mode is RestartMode.ON_FAILURE and kind is not ExitKind.OK:
                self._info(run, "Not restarting", f"it crashed {run.restarts + 1} time(s) in a row; "
                                                  f"the limit is {policy.max_attempts}")
            return
        if runtime_s >= policy.stable_after_s:
            run.restarts = 0  # it had been healthy: the count of crashes in a row starts over (as delay() counts)
        self._info(run, "Restarting", f"restart in {delay:g} s ({run.restarts + 1} of {policy.max_attempts})")
        self._background.spawn(self._later(run, delay), f"restart {run.id}")

    async def _later(self, old: Run, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        if not self._is_latest(old):  # stopped and started again by someone meanwhile
            return
        new = await self._again(old)
        new.restarts = old.restarts + 1
