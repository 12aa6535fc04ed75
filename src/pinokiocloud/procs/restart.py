"""When to bring a daemon's server back after it died on its own (issue 4: ``on-failure``, exponential
backoff, a cap on attempts). A pure policy: the runner owns the loop, because restarting means running the
shell step again (venv, env, ``on`` handlers), which only the kernel knows how to do."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pinokiocloud.procs.supervisor import ExitKind

__all__ = ["RestartMode", "RestartPolicy"]


class RestartMode(str, enum.Enum):
    NO = "no"
    """Never restart; a crash is reported and the run ends (the default, as in the original)."""
    ON_FAILURE = "on-failure"
    """Restart after a crash or an exit that came too quickly; never after a stop or exit code 0."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    mode: RestartMode = RestartMode.NO
    max_attempts: int = 5
    """Restarts allowed in a row before the run is left crashed."""
    backoff_s: float = 1.0
    """Wait before the first restart; each further one waits ``factor`` times longer."""
    factor: float = 2.0
    max_backoff_s: float = 60.0
    stable_after_s: float = 60.0
    """A process that ran this long counts as healthy again: the attempt count starts over."""

    def delay(self, kind: ExitKind, failures_in_a_row: int, runtime_s: float) -> float | None:
        """Seconds to wait before starting again, or ``None`` to leave the process down.

        ``failures_in_a_row`` counts the restarts already made since the process was last stable
        (0 after the first crash); ``runtime_s`` is how long the process that just ended ran.
        """
        if self.mode is RestartMode.NO or kind in (ExitKind.STOPPED, ExitKind.OK):
            return None
        done = 0 if runtime_s >= self.stable_after_s else failures_in_a_row
        if done >= self.max_attempts:
            return None
        return min(self.backoff_s * self.factor**done, self.max_backoff_s)
