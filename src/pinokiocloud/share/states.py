"""Lifecycle states of a share, the groups callers test against, and the legal moves.

The same pattern as ``procs.states`` (copied, not shared: that table belongs to the supervisor). Imports
nothing from the project. ``ShareManager`` changes a share's state only through ``move()``, which refuses a
move the table does not list, so a share cannot, say, come back online after it was stopped.
"""

from __future__ import annotations

import enum

__all__ = ["LIVE", "TRANSITIONS", "ShareState", "can_move", "move"]


class ShareState(str, enum.Enum):
    """Where one share is. The value is what the API and the dashboard show."""

    STARTING = "starting"
    """The gateway is up and the first race of providers is under way."""
    ONLINE = "online"
    """A public URL that passed its last probe."""
    RECOVERING = "recovering"
    """The public URL failed a probe; a restart or failover is under way."""
    LOCAL_ONLY = "local-only"
    """No provider works; the app is reachable only at the gateway's local URL. Retries continue."""
    STOPPED = "stopped"
    """Unshared, or the daemon closed it: gateway and tunnel are gone."""


LIVE = frozenset({ShareState.STARTING, ShareState.ONLINE, ShareState.RECOVERING, ShareState.LOCAL_ONLY})
"""States in which the gateway listens and the monitor may still change the share."""

TRANSITIONS: dict[ShareState, frozenset[ShareState]] = {
    ShareState.STARTING: frozenset({ShareState.ONLINE, ShareState.LOCAL_ONLY, ShareState.STOPPED}),
    ShareState.ONLINE: frozenset({ShareState.RECOVERING, ShareState.STOPPED}),
    ShareState.RECOVERING: frozenset({ShareState.ONLINE, ShareState.LOCAL_ONLY, ShareState.STOPPED}),
    ShareState.LOCAL_ONLY: frozenset({ShareState.ONLINE, ShareState.STOPPED}),
    ShareState.STOPPED: frozenset(),
}
"""Legal moves. An online share that fails goes through RECOVERING (the ``unhealthy`` event) before it can
end up local-only; a renewed URL stays ONLINE (no move); STOPPED is final."""


def can_move(old: ShareState, new: ShareState) -> bool:
    """Whether ``old -> new`` is a legal transition (staying in a state is not one)."""
    return new in TRANSITIONS[old]


def move(old: ShareState, new: ShareState, *, app: str) -> ShareState:
    """``new`` when ``old -> new`` is legal; raises ``RuntimeError`` (a bug, as in ``procs``) otherwise."""
    if not can_move(old, new):
        raise RuntimeError(f"share {app}: illegal state change {old.value} -> {new.value}")
    return new
