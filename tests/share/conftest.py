from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
TEST_TIMEOUT_S = 120.0


def run(coro: Coroutine[Any, Any, T], timeout_s: float = TEST_TIMEOUT_S) -> T:
    """Run one test's coroutine on a fresh loop, with a bound so a hang fails instead of stalling CI."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))
