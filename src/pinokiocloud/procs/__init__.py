"""The process supervisor: commands in PTYs, their output as events, clean stops of whole trees, and
what the trees use (CPU, memory, ports, GPU memory). Depends on ``platform`` only, never on the kernel.

The names load on first use (PEP 562): the CLI reads ``strip_ansi`` here and must not pay for psutil,
asyncio and the platform probes the supervisor needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinokiocloud.lazy import lazy_exports

if TYPE_CHECKING:
    from pinokiocloud.procs.restart import RestartMode, RestartPolicy
    from pinokiocloud.procs.states import ALIVE, FINISHED, TRANSITIONS, ProcState
    from pinokiocloud.procs.supervisor import (
        KILL_WAIT_S,
        MIN_RUNTIME_S,
        RING_BYTES,
        STOP_GRACE_S,
        TAIL_CHARS,
        EventKind,
        ExitKind,
        ManagedProcess,
        ProcEvent,
        classify_exit,
    )
    from pinokiocloud.procs.text import TextDecoder, strip_ansi
    from pinokiocloud.procs.tree import TREE_TAG_ENV, find_tree
    from pinokiocloud.procs.usage import Listener, Usage, UsageSampler, gpu_processes_for, listeners_for

__all__ = [
    "ALIVE",
    "FINISHED",
    "KILL_WAIT_S",
    "MIN_RUNTIME_S",
    "RING_BYTES",
    "STOP_GRACE_S",
    "TAIL_CHARS",
    "TRANSITIONS",
    "TREE_TAG_ENV",
    "EventKind",
    "ExitKind",
    "Listener",
    "ManagedProcess",
    "ProcEvent",
    "ProcState",
    "RestartMode",
    "RestartPolicy",
    "TextDecoder",
    "Usage",
    "UsageSampler",
    "classify_exit",
    "find_tree",
    "gpu_processes_for",
    "listeners_for",
    "strip_ansi",
]

_HOMES = {
    "restart": ("RestartMode", "RestartPolicy"),
    "states": ("ALIVE", "FINISHED", "TRANSITIONS", "ProcState"),
    "supervisor": ("KILL_WAIT_S", "MIN_RUNTIME_S", "RING_BYTES", "STOP_GRACE_S", "TAIL_CHARS", "EventKind", "ExitKind",
                   "ManagedProcess", "ProcEvent", "classify_exit"),
    "text": ("TextDecoder", "strip_ansi"),
    "tree": ("TREE_TAG_ENV", "find_tree"),
    "usage": ("Listener", "Usage", "UsageSampler", "gpu_processes_for", "listeners_for"),
}
"""Each submodule and the names it exports (what ``__getattr__`` imports on first use)."""

if not TYPE_CHECKING:  # for the type checker the names above are the whole surface (a typo stays an error)
    __getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
