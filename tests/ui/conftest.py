"""Fixtures for the dashboard's tests: one real daemon with our fixture apps for every AppTest test
(starting one and installing the fixture launcher takes seconds; tests that change an app put it back),
and the environment through which the dashboard finds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.dashboard import (
    FIXTURE_LAUNCHER,
    UI_FIXTURES,
    Daemon,
    daemon_env,
    publish_launcher,
    write_user_catalog,
)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("ui")
    home = root / "pinokio"
    # the catalog's entries and the preinstalled "demo" come from two copies, so the catalog's stay uninstalled
    write_user_catalog(home, publish_launcher(FIXTURE_LAUNCHER, root / "remote" / "fixture-web"))
    fixture_url = publish_launcher(FIXTURE_LAUNCHER, root / "remote" / "fixture-app")
    env = daemon_env(home, node_modules)
    the_daemon = Daemon(home, int(env["PINOKIOCLOUD_PORT"]), env)
    the_daemon.start()
    with the_daemon.client() as client:
        client.install(fixture_url, name="demo")
        client.install(str(UI_FIXTURES / "asker"), name="asker")
        client.install(str(UI_FIXTURES / "broken"), name="broken")
    for name in ("demo", "asker"):
        the_daemon.wait(name, lambda s: s["state"] == "offline")
    the_daemon.wait("broken", lambda s: s["state"] == "failed")
    yield the_daemon
    the_daemon.stop()


@pytest.fixture
def ui_env(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    """The dashboard (run in this process by AppTest) finds the daemon through the environment."""
    for key in ("PINOKIO_HOME", "PINOKIOCLOUD_PORT", "PINOKIOCLOUD_NODE_MODULES"):
        monkeypatch.setenv(key, daemon.env[key])
    # an unexpected exception in a page then shows in full in the test's failure, not redacted
    monkeypatch.setenv("PINOKIOCLOUD_DEBUG", "1")
    return daemon


