from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
TEST_TIMEOUT_S = 120.0


def run(coro: Coroutine[Any, Any, T], timeout_s: float = TEST_TIMEOUT_S) -> T:
    """Run one test's coroutine on a fresh loop, with a bound so a hang fails instead of stalling CI."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


@pytest.fixture(autouse=True)
def _no_refused_share_moves(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any share test in which the manager tried a state change ``share.states`` refuses: the monitor
    logs its errors and carries on, so a refused move would otherwise pass unseen. (At teardown
    ``caplog.records`` holds only teardown's records: the setup's and the call's are read by name.)"""
    caplog.set_level(logging.WARNING, logger="pinokiocloud.share")
    yield
    refused = [record.getMessage() + (f": {record.exc_info[1]}" if record.exc_info else "")
               for record in caplog.get_records("setup") + caplog.get_records("call")
               if "illegal state change" in record.getMessage()
               or (record.exc_info is not None and "illegal state change" in str(record.exc_info[1]))]
    assert not refused, refused
