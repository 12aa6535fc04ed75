"""A kernel for commands that inspect launchers without a daemon (``script …``, ``menu DIR``).

Nothing is running and no memory exists, which is exactly the state of a fresh install.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pinokiocloud.config import Settings
from pinokiocloud.kernel import KernelContext, NodeSidecar
from pinokiocloud.platform import detect_system

__all__ = ["run_with_kernel"]

T = TypeVar("T")


def run_with_kernel(work: Callable[[NodeSidecar, KernelContext, Settings], Awaitable[T]]) -> T:
    settings = Settings.from_env()
    ctx = KernelContext(home=settings.home, system=detect_system(), envs=settings.environ)

    async def main() -> T:
        async with NodeSidecar(
            settings.node, node_modules=settings.node_modules, environ=settings.environ,
            call_timeout_s=settings.call_timeout_s,
        ) as sc:
            return await work(sc, ctx, settings)

    return asyncio.run(main())
