"""The process supervisor: commands in PTYs, their output as events, clean stops of whole trees, and
what the trees use (CPU, memory, ports, GPU memory). Depends on ``platform`` only, never on the kernel."""

from __future__ import annotations

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
