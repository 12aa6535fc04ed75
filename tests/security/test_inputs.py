"""Inputs that cannot hurt (issue 12 item 5), against a real daemon on 127.0.0.1.

`install ""` once copied PINOKIO_HOME into its own api/ folder until the disk was full: an empty path is
the daemon's working folder, and the copy ran before the launcher check. Each refusal here must be one
sentence with a 4xx, and api/ must be exactly as it was; oversized or NUL-laden fields are the caller's
error, never a 500.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pinokiocloud.apps import InstallError
from pinokiocloud.apps.install import clone
from tests.helpers.sidecar import SyncSidecar
from tests.reliability.test_loop_lag import DaemonProcess

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent / "pinokiocloud"
REFUSAL_TIMEOUT_S = 30.0
"""A refusal is immediate; were the home copied into itself again, the request fails here, not at a full disk."""
LAUNCHER_JS = "module.exports = { title: 'Fx', menu: [{ default: true, text: 'Go', href: 'go.js' }] }"


def _snapshot(api: Path) -> tuple[list[str], int]:
    """Every path under api/ and their total size: what a copy into it would change."""
    paths = sorted(str(p.relative_to(api)) for p in api.rglob("*"))
    size = sum(p.lstat().st_size for p in api.rglob("*"))
    return paths, size


def _assert_one_sentence_4xx(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    message = str(response.json()["error"]["message"])
    assert message and "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[DaemonProcess]:
    root = tmp_path_factory.mktemp("inputs")
    home = root / "pinokio"
    fx = home / "api" / "fx"
    fx.mkdir(parents=True)
    (fx / "pinokio.js").write_text(LAUNCHER_JS)
    (fx / "go.js").write_text("module.exports = { run: [{ method: 'log', params: { text: 'go' } }] }")
    # the home and its parent look like launchers too: only the rule about the home may refuse them
    (home / "pinokio.js").write_text(LAUNCHER_JS)
    (root / "pinokio.js").write_text(LAUNCHER_JS)
    menu = home / "api" / "badmenu"
    menu.mkdir()
    (menu / "pinokio.js").write_text("module.exports = { title: 'Bad', menu: async (kernel, info) => 42 }")
    # started in the home, as `pinokiocloud up` from a notebook in /content/pinokio would be: there an empty or
    # relative path used to mean the home itself
    running = DaemonProcess(home, node_modules, cwd=home)
    yield running
    running.close()


@pytest.mark.parametrize("src", ["", ".", "./", "api/fx", "~"], ids=["empty", "dot", "dot-slash", "relative",
                                                                      "user-home"])
def test_install_of_empty_relative_or_home_paths_is_refused_and_copies_nothing(daemon: DaemonProcess,
                                                                                src: str) -> None:
    api = daemon.home / "api"
    before = _snapshot(api)
    message = _assert_one_sentence_4xx(daemon.client.post("/api/apps", json={"src": src, "name": "copied"},
                                                                timeout=REFUSAL_TIMEOUT_S))
    assert _snapshot(api) == before, message
    assert not (api / "copied").exists()


@pytest.mark.parametrize("which", ["home", "parent", "inside-api"])
def test_install_of_the_home_its_parent_or_an_installed_app_is_refused_and_copies_nothing(
        daemon: DaemonProcess, which: str) -> None:
    api = daemon.home / "api"
    src = {"home": daemon.home, "parent": daemon.home.parent, "inside-api": api / "fx"}[which]
    before = _snapshot(api)
    message = _assert_one_sentence_4xx(daemon.client.post("/api/apps", json={"src": str(src), "name": "copied"},
                                                                timeout=REFUSAL_TIMEOUT_S))
    assert ("PINOKIO_HOME" in message) if which != "inside-api" else ("installed apps live" in message)
    assert _snapshot(api) == before
    assert not (api / "copied").exists()


def test_cli_install_of_an_empty_path_from_the_home_is_refused(daemon: DaemonProcess) -> None:
    """The CLI turns "" and "." into the absolute path of where it runs: from the home, that is the home."""
    api = daemon.home / "api"
    before = _snapshot(api)
    env = {**os.environ, "PINOKIO_HOME": str(daemon.home), "PINOKIOCLOUD_PORT": daemon.url.rsplit(":", 1)[1]}
    for src, cwd in (("", daemon.home), (".", daemon.home.parent)):
        done = subprocess.run([str(BIN), "install", src], cwd=cwd, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60 + REFUSAL_TIMEOUT_S, check=False)
        assert done.returncode == 2, (done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "PINOKIO_HOME" in lines[0] and "Traceback" not in done.stderr
    assert _snapshot(api) == before


def test_a_folder_that_is_no_launcher_is_refused_before_anything_is_copied(daemon: DaemonProcess,
                                                                          tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "data").mkdir(parents=True)
    (plain / "data" / "big.bin").write_bytes(b"\0" * 1024)
    api = daemon.home / "api"
    before = _snapshot(api)
    message = _assert_one_sentence_4xx(daemon.client.post("/api/apps", json={"src": str(plain)}))
    assert "not a Pinokio launcher" in message
    assert _snapshot(api) == before


def test_a_launcher_folder_given_by_absolute_path_still_installs(daemon: DaemonProcess, tmp_path: Path) -> None:
    good = tmp_path / "good-app"
    good.mkdir()
    (good / "pinokio.js").write_text("module.exports = { title: 'Good', menu: [] }")
    response = daemon.client.post("/api/apps", json={"src": str(good)})
    assert response.status_code == 201, response.text
    assert (daemon.home / "api" / "good-app" / "pinokio.js").is_file()
    assert daemon.client.delete("/api/apps/good-app").status_code == 200


def test_a_10_mb_src_is_413_not_500(daemon: DaemonProcess) -> None:
    response = daemon.client.post("/api/apps", json={"src": "a" * 10_000_000})
    assert response.status_code == 413, response.text[:300]
    assert "larger than" in response.json()["detail"]


def test_a_1_mb_script_and_a_nul_in_script_or_src_are_422_not_500(daemon: DaemonProcess) -> None:
    response = daemon.client.post("/api/apps/fx/run", json={"script": "x" * 1_000_000})
    assert response.status_code == 422 and "script" in response.json()["error"]["message"]
    response = daemon.client.post("/api/apps/fx/run", json={"script": "go.js\0"})
    message = _assert_one_sentence_4xx(response, 422)
    assert "control characters" in message
    response = daemon.client.post("/api/apps", json={"src": "/tmp\0/x"})
    assert response.status_code == 422 and "control characters" in response.json()["error"]["message"]
    response = daemon.client.post("/api/apps/fx/stop", json={"script": "go.js\0"})
    assert response.status_code == 422


def test_an_app_name_with_a_trailing_newline_is_refused(daemon: DaemonProcess, tmp_path: Path) -> None:
    good = tmp_path / "nl-app"
    good.mkdir()
    (good / "pinokio.js").write_text("module.exports = { title: 'NL', menu: [] }")
    api = daemon.home / "api"
    before = _snapshot(api)
    response = daemon.client.post("/api/apps", json={"src": str(good), "name": "app\n"})
    assert response.status_code == 422 and "name" in response.json()["error"]["message"]
    assert _snapshot(api) == before
    # by the URL (no body model in the way): `rm fx\n` must not reach the app fx, nor any folder
    message = _assert_one_sentence_4xx(daemon.client.delete("/api/apps/fx%0A"))
    assert "not an app name" in message
    assert (api / "fx" / "pinokio.js").is_file()


def test_a_menu_function_that_returns_a_number_is_a_clear_error(daemon: DaemonProcess) -> None:
    message = _assert_one_sentence_4xx(daemon.client.get("/api/apps/badmenu/menu"))
    assert "returned a number (42), not a list of menu items" in message
    assert "badmenu" in message  # names the file to fix


def _silent_server() -> tuple[socket.socket, int]:
    """A TCP server that accepts connections and never answers: a git remote that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, int(server.getsockname()[1])


def test_a_clone_that_times_out_leaves_no_half_cloned_folder(sidecar: SyncSidecar, home: Path) -> None:
    server, port = _silent_server()
    target = home / "api" / "hung"
    try:
        with pytest.raises(InstallError, match="took longer than 1 s"):
            sidecar.run(clone(f"http://127.0.0.1:{port}/repo.git", target, timeout_s=1), 30)
    finally:
        server.close()
    assert not target.exists()
