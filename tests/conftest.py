from __future__ import annotations

import compileall
from collections.abc import Iterator
from pathlib import Path

import pytest

import pinokiocloud
from pinokiocloud.kernel import KernelContext
from tests.helpers.npm_cache import ensure_test_packages
from tests.helpers.sidecar import SyncSidecar, make_context


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile our own modules once. The tests start hundreds of daemons and CLI processes; where
    PYTHONDONTWRITEBYTECODE is set (this machine, many CI images) each of them would compile every module again
    (about 4 s of a daemon's start). Site-packages are compiled by the install command (``--compile-bytecode``)."""
    compileall.compile_dir(Path(pinokiocloud.__file__).parent, quiet=1)


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
