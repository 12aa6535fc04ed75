from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness


@pytest.fixture
def h(sidecar: SyncSidecar, home: Path) -> Iterator[Harness]:
    harness = Harness(sidecar, home)
    yield harness
    harness.close()
