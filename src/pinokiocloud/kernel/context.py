"""The snapshot of Python-side facts sent with every sidecar call (DESIGN §2).

Launcher code asks ``info.running('start.js')`` or reads ``kernel.memory.local[...]``; those answers
live in Python (the runner, the store), so each call carries them as plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pinokiocloud.kernel.ports import PORT_START
from pinokiocloud.platform import SystemFacts

__all__ = ["KernelContext"]


@dataclass(frozen=True, slots=True)
class KernelContext:
    home: Path
    system: SystemFacts
    envs: Mapping[str, str]
    running: Iterable[str] = ()
    """Ids (absolute script paths, maybe with ``?session=``) of runs that are alive."""
    ready: Iterable[str] = ()
    local: Mapping[str, object] = field(default_factory=dict)
    """``memory.local`` keyed by run id."""
    global_: Mapping[str, object] = field(default_factory=dict)
    key: Mapping[str, object] = field(default_factory=dict)
    reserved_ports: Iterable[int] = ()
    port_pool: Iterable[int] = ()
    """Ports set aside for the run this call is about; ``kernel.port()`` hands these out first."""

    def to_wire(self) -> dict[str, object]:
        return {
            "home": str(self.home),
            "sys": self.system.template_values(),
            "envs": dict(self.envs),
            "running": list(self.running),
            "ready": list(self.ready),
            "local": dict(self.local),
            "global": dict(self.global_),
            "key": dict(self.key),
            "reserved_ports": list(self.reserved_ports),
            "port_pool": list(self.port_pool),
            "port_start": PORT_START,
        }
