from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pinokiocloud.kernel import KernelContext
from tests.helpers.npm_cache import ensure_test_packages
from tests.helpers.sidecar import SyncSidecar, make_context


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return ensure_test_packages()


@pytest.fixture(scope="session")
def sidecar(node_modules: Path) -> Iterator[SyncSidecar]:
    sc = SyncSidecar(node_modules)
    yield sc
    sc.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "pinokio"
    (h / "api").mkdir(parents=True)
    return h


@pytest.fixture
def ctx(home: Path) -> KernelContext:
    return make_context(home)
