from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness, refused_moves


@pytest.fixture
def h(sidecar: SyncSidecar, home: Path) -> Iterator[Harness]:
    harness = Harness(sidecar, home)
    yield harness
    harness.close()


@pytest.fixture(autouse=True)
def _no_illegal_run_state(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The runner refuses an illegal RunState move with an error in the log (it never raises in the daemon);
    in these tests such a refusal fails the test, so every move the kernel really makes must be legal."""
    yield
    assert refused_moves(caplog.get_records("setup") + caplog.get_records("call")) == []
