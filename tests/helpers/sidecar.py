"""A real Node sidecar driven from synchronous tests: its event loop runs in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from pinokiocloud.kernel import KernelContext, NodeSidecar
from pinokiocloud.platform import SystemFacts

T = TypeVar("T")


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def make_context(home: Path, **kw: Any) -> KernelContext:
    """A context with fixed, known machine facts (so expectations never depend on this machine)."""
    system = kw.pop("system", None) or SystemFacts(platform="linux", arch="x64", ram=24, gpus=[])
    envs = kw.pop("envs", None) or {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home)}
    return KernelContext(home=home, system=system, envs=envs, **kw)


class SyncSidecar:
    """Blocking wrappers over one NodeSidecar for tests."""

    def __init__(self, node_modules: Path, call_timeout_s: float = 10.0) -> None:
        self.loop = LoopThread()
        self.sidecar = NodeSidecar(node_modules=node_modules, install_packages=False, call_timeout_s=call_timeout_s)
        self.loop.run(self.sidecar.start())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return self.loop.run(coro, timeout)

    def call(self, method: str, params: dict[str, Any], **kw: Any) -> Any:
        return self.run(self.sidecar.call(method, params, **kw))

    def close(self) -> None:
        self.loop.run(self.sidecar.close())
        self.loop.stop()


def make_runner(sidecar: SyncSidecar, home: Path, **kw: Any) -> Any:
    """A Runner over the test sidecar, with fixed machine facts and a small PATH."""
    from pinokiocloud.kernel.runner import Runner

    system = kw.pop("system", None) or SystemFacts(platform="linux", arch="x64", ram=24, gpus=[])
    environ = kw.pop("environ", None) or {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home)}
    return Runner(sidecar.sidecar, home=home, system=system, environ=environ, **kw)
