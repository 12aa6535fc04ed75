"""One limiter in front of every guessable secret the gateway checks (passcode, link token).

The goals pull against each other: bound how fast anyone can guess, yet never lock out the owner who
knows the passcode. So the limiter delays and orders, and only refuses a request that would have
to wait longer than ``max_wait_s``:

- A **global token bucket** admits checks: ``rate_per_s`` tokens a second, at most ``burst`` saved up.
  Every check takes its tokens *before* the secret is compared; a check that succeeds gives them back,
  so failed checks across all sources are held to ``burst + rate_per_s * t`` in any ``t`` seconds while
  correct credentials cost nothing.
- **Per source** (a client address, see ``Gateway._client_id``) a failure score that halves every
  ``half_life_s``; after ``free_failures`` the source waits a delay that doubles per failure up to
  ``max_delay_s`` before its next check, and a source has one check in flight at a time.
- **Order**: when checks wait for tokens, the waiter whose source has the lowest failure score goes
  first (ties: first come). An attacker's sources pile up score with every miss, so a visitor from
  another address, with a clean score, is served within the next token or two (~0.1 s) even while
  thousands of wrong guesses wait.

Only when one source cannot be served within ``max_wait_s`` (its own delay, or its place in the
queue) does it get :class:`TooManyAttempts` (HTTP 429 with ``Retry-After``). Visitors that the gateway
cannot tell apart (one tunnel address for everyone) share a score and a queue; the global bound still
holds, and a browser that already has a session cookie is not checked here at all (see the gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pinokiocloud.share.knobs import Knobs

__all__ = ["Attempt", "GuessLimiter", "LimiterPolicy", "LimiterStats", "TooManyAttempts"]

class TooManyAttempts(Exception):
    """This source cannot be served within the limiter's longest wait; answer 429 and let it retry."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(f"too many attempts; try again in {self.retry_after_s} s")


@dataclass
class Attempt:
    """One admitted check. Call :meth:`succeeded` when the secret matched; anything else is a failure."""

    ok: bool = False

    def succeeded(self) -> None:
        self.ok = True


@dataclass(frozen=True, slots=True)
class LimiterStats:
    checks: int
    """Checks admitted so far (each may compare more than one secret: ``cost``)."""
    failures: int
    """Secrets compared that did not match (a failed check of cost 2 counts 2)."""
    refused: int
    """Requests answered with :class:`TooManyAttempts`."""
    waiting: int


@dataclass(frozen=True, slots=True)
class LimiterPolicy(Knobs):
    """The limiter's numbers, in the three groups the module docstring describes."""

    rate_per_s: float = 10.0
    burst: int = 5
    """The global bucket: tokens added per second, and the most it holds."""
    free_failures: int = 5
    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    half_life_s: float = 600.0
    """Per source: failures that cost nothing, then a delay that doubles per failure from ``first_delay_s``
    up to ``max_delay_s``; the failure score halves every ``half_life_s``."""
    max_wait_s: float = 40.0
    max_sources: int = 20_000
    """Bounds: the longest a check waits before :class:`TooManyAttempts`, and the sources remembered before
    idle ones are forgotten."""

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")


@dataclass
class _Source:
    score: float = 0.0
    scored_at: float = 0.0
    next_at: float = 0.0
    busy: bool = False
    waiting: int = 0


@dataclass(eq=False)
class _Waiter:
    source: str
    cost: int
    seq: int
    future: asyncio.Future[None] = field(repr=False)


class GuessLimiter:
    """Admits checks of guessable secrets; use one per gateway, from one event loop."""

    def __init__(self, policy: LimiterPolicy | None = None, *, clock: Callable[[], float] = time.monotonic,
                 **overrides: float) -> None:
        """``policy`` (default: :class:`LimiterPolicy`'s numbers) with ``overrides`` of single numbers
        (``GuessLimiter(max_wait_s=2)``); ``clock`` is for tests that step time."""
        self.policy = (policy or LimiterPolicy()).but(**overrides)
        self._clock = clock
        self._tokens = float(self.policy.burst)
        self._filled_at = clock()
        self._sources: dict[str, _Source] = {}
        self._waiters: list[_Waiter] = []
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._checks = 0
        self._failures = 0
        self._refused = 0

    @property
    def stats(self) -> LimiterStats:
        return LimiterStats(self._checks, self._failures, self._refused, len(self._waiters))

    def score(self, source: str) -> float:
        """The source's failure score now (decayed)."""
        entry = self._sources.get(source)
        return self._decayed(entry, self._clock()) if entry is not None else 0.0

    @contextlib.asynccontextmanager
    async def attempt(self, source: str, cost: int = 1) -> AsyncIterator[Attempt]:
        """Wait for this source's turn, then yield; the check inside must call ``succeeded()`` on a match.

        Raises :class:`TooManyAttempts` instead of waiting longer than ``max_wait_s``. Leaving the block
        by an exception (a client that hung up) counts as a failure: the secret may have been compared.
        """
        cost = max(1, cost)
        await self._acquire(source, cost)
        attempt = Attempt()
        try:
            yield attempt
        finally:
            self._release(source, cost, attempt.ok)

    # admission ---------------------------------------------------------------------------------------------

    def _decayed(self, entry: _Source, now: float) -> float:
        if entry.score <= 0:
            return 0.0
        return float(entry.score * 0.5 ** (max(0.0, now - entry.scored_at) / self.policy.half_life_s))

    def _delay(self, score: float) -> float:
        over = score - self.policy.free_failures
        if over <= 0:
            return 0.0
        return float(min(self.policy.max_delay_s, self.policy.first_delay_s * 2 ** (math.ceil(over) - 1)))

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.policy.burst), self._tokens + (now - self._filled_at) * self.policy.rate_per_s)
        self._filled_at = now

    async def _acquire(self, source: str, cost: int) -> None:
        now = self._clock()
        entry = self._sources.get(source)
        if entry is None:
            self._prune()
            entry = self._sources[source] = _Source()
        if entry.next_at - now > self.policy.max_wait_s:
            self._refused += 1
            raise TooManyAttempts(entry.next_at - now)
        self._seq += 1
        waiter = _Waiter(source, cost, self._seq, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        entry.waiting += 1
        self._pump()
        try:
            if not waiter.future.done():
                await asyncio.wait({waiter.future}, timeout=self.policy.max_wait_s)
        except BaseException:
            self._abandon(waiter, granted=waiter.future.done() and not waiter.future.cancelled())
            raise
        if not waiter.future.done():
            self._abandon(waiter, granted=False)
            self._refused += 1
            raise TooManyAttempts(max(self.policy.max_wait_s / 2, entry.next_at - self._clock()))
        self._checks += 1

    def _abandon(self, waiter: _Waiter, *, granted: bool) -> None:
        """A waiter gave up (timeout, or its client went away); a grant it never used goes back."""
        entry = self._sources.get(waiter.source)
        if granted:
            self._tokens = min(float(self.policy.burst), self._tokens + waiter.cost)
            if entry is not None:
                entry.busy = False
        else:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if entry is not None:
                entry.waiting -= 1
            if not waiter.future.done():
                waiter.future.cancel()
        self._pump()

    def _release(self, source: str, cost: int, ok: bool) -> None:
        now = self._clock()
        entry = self._sources.setdefault(source, _Source())
        entry.busy = False
        if ok:
            self._refill(now)
            self._tokens = min(float(self.policy.burst), self._tokens + cost)
        else:
            self._failures += cost
            entry.score = self._decayed(entry, now) + cost
            entry.scored_at = now
            entry.next_at = now + self._delay(entry.score)
        self._pump()

    def _pump(self) -> None:
        """Grant waiting checks while tokens last, best (lowest score) first; set a timer for the rest."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiters:
            return
        now = self._clock()
        self._refill(now)
        while self._waiters and self._tokens >= 1:
            best: _Waiter | None = None
            best_key: tuple[float, int] | None = None
            for waiter in self._waiters:
                entry = self._sources[waiter.source]
                if entry.busy or entry.next_at > now:
                    continue
                key = (self._decayed(entry, now), waiter.seq)
                if best_key is None or key < best_key:
                    best, best_key = waiter, key
            if best is None:
                break
            self._waiters.remove(best)
            entry = self._sources[best.source]
            entry.waiting -= 1
            entry.busy = True
            self._tokens -= best.cost
            best.future.set_result(None)
        if not self._waiters:
            return
        ready = False
        delayed: list[float] = []
        for waiter in self._waiters:
            entry = self._sources[waiter.source]
            if entry.busy:
                continue  # its release pumps again
            if entry.next_at > now:
                delayed.append(entry.next_at)
            else:
                ready = True
        token_at = now + max(0.0, (1 - self._tokens) / self.policy.rate_per_s)
        if ready:
            wake = token_at
        elif delayed:
            wake = max(token_at, min(delayed))
        else:
            return
        self._timer = asyncio.get_running_loop().call_later(max(0.001, wake - now), self._pump)

    def _prune(self) -> None:
        """Forget sources that have nothing left to remember, so a flood of addresses cannot fill memory."""
        if len(self._sources) < self.policy.max_sources:
            return
        now = self._clock()
        idle = [(self._decayed(e, now), name) for name, e in self._sources.items()
                if not e.busy and e.waiting == 0 and e.next_at <= now]
        idle.sort()
        for _score, name in idle[: max(1, len(self._sources) - self.policy.max_sources // 2)]:
            del self._sources[name]
