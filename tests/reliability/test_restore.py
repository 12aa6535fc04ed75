"""A new machine with the same persistent root picks up where the last one ended (issue 16): real daemons,
a real venv made by the install, a model file served over loopback (its requests counted), real archives.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import Cli, write_launcher

pytestmark = pytest.mark.slow

INSTALL = """
module.exports = { run: [
  { method: "shell.run", params: { venv: "env", message: "python -c \\"import sys; print(sys.prefix)\\"" } },
  { method: "fs.download", params: { uri: "URL/model.bin", dir: "models" } },
  { method: "shell.run", params: { message: "echo installed > installed.txt" } },
] }
"""
START = """
module.exports = async (kernel) => {
  const port = await kernel.port()
  return { daemon: true, run: [
    { method: "shell.run", params: { venv: "env",
      message: `python -c "import sys; print('venv', sys.prefix)" && python -m http.server ${port} --bind 127.0.0.1`,
      on: [{ event: "/(http:\\\\/\\\\/[0-9.]+:[0-9]+)/", done: true }] } },
    { method: "local.set", params: { url: "http://127.0.0.1:" + port } },
  ] }
}
"""
MODEL = os.urandom(3 * 1024 * 1024)


class _Counted(SimpleHTTPRequestHandler):
    served: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.served.append(self.path)
        super().do_GET()


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "model.bin").write_bytes(MODEL)
    served: list[str] = []
    handler = type("Handler", (_Counted,), {"served": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()


def _cli(home: Path, persist: Path, node_modules: Path) -> Cli:
    cli = Cli(home, node_modules)
    cli.env["PINOKIOCLOUD_PERSIST"] = str(persist)
    return cli


def _wait(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _api(cli: Cli, path: str) -> Any:
    """The daemon's API straight over HTTP (cheaper to poll than a CLI process on a 2-core machine)."""
    token = (cli.home / "daemon.token").read_text().strip()
    request = urllib.request.Request(f"http://127.0.0.1:{cli.port}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError:
        return None


def _status(cli: Cli, name: str) -> dict[str, Any] | None:
    status: dict[str, Any] | None = _api(cli, f"/api/apps/{name}")
    return status


def _install_session_one(tmp_path: Path, node_modules: Path, url: str) -> tuple[Cli, Path]:
    persist = tmp_path / "persist"
    persist.mkdir()
    folder = write_launcher(tmp_path / "launcher", {"install.js": INSTALL.replace("URL", url), "start.js": START})
    one = _cli(tmp_path / "home1", persist, node_modules)
    done = one("install", str(folder), "--name", "demo", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    _wait("the archive of demo", lambda: _api(one, "/api/store")["archives"].get("demo", {}).get("current"))
    return one, persist


def test_a_new_home_with_the_same_root_restores_the_app_without_downloading(
        tmp_path: Path, node_modules: Path, model_server: tuple[str, list[str]]) -> None:
    url, served = model_server
    one, persist = _install_session_one(tmp_path, node_modules, url)
    try:
        assert served == ["/model.bin"]
        blobs = one.json("store", "ls")["data"]
        assert [(b["size"], b["apps"]) for b in blobs] == [(len(MODEL), ["demo"])]
        started = one("start", "demo")
        assert started.returncode == 0, started.stdout + started.stderr
        _wait("demo online", lambda: (s := _status(one, "demo")) is not None and s["state"] == "online")
        assert one("down", timeout=120).returncode == 0
    finally:
        one.close()

    two = _cli(tmp_path / "home2", persist, node_modules)
    try:
        assert two.json("store", "du")["persist_in_use"]  # the CLI starts the daemon, which restores
        status = _wait("demo restored and online on the new home",
                       lambda: (s := _status(two, "demo")) is not None and s["state"] == "online" and s, timeout=180)
        with urllib.request.urlopen(status["ready_url"], timeout=10) as answer:
            assert answer.status == 200
        assert served == ["/model.bin"], "the model was downloaded again"
        model = two.home / "api" / "demo" / "models" / "model.bin"
        assert model.read_bytes() == MODEL
        blob = persist / "store" / "blobs" / blobs[0]["sha256"][:2] / blobs[0]["sha256"]
        assert os.path.samefile(model, blob)  # a link into the store, not a copy
        assert str(two.home / "api" / "demo" / "env") in two("logs", "demo").stdout  # the moved venv runs
        info = two.json("store", "du")
        assert info["restore"]["demo"]["state"] == "restored" and info["persist_in_use"] is True
        assert info["root"] == str(persist)
    finally:
        two.close()


def _fallback(cli: Cli, reason_start: str) -> None:
    """The daemon of ``cli`` puts demo back by its install flow (not the archive), saying why in one line."""
    assert cli.json("store", "du")["persist_in_use"]  # the CLI starts the daemon, which restores
    _wait("demo installed again", lambda: (cli.home / "api" / "demo" / "installed.txt").is_file(), timeout=180)
    # the restore says "installing" while the install flow runs and "installed" once it ended well
    _wait("the restore to say installed", lambda: _api(cli, "/api/store")["restore"]["demo"]["state"] == "installed")
    entry = _api(cli, "/api/store")["restore"]["demo"]
    assert entry["reason"].startswith(reason_start), entry
    # the fresh install leaves a fresh archive for the next machine
    _wait("a new archive", lambda: _api(cli, "/api/store")["archives"]["demo"]["current"])


def test_an_archive_for_another_python_or_a_damaged_one_falls_back_to_the_install_and_a_bad_backup_is_named(
        tmp_path: Path, node_modules: Path, model_server: tuple[str, list[str]]) -> None:
    url, served = model_server
    one, persist = _install_session_one(tmp_path, node_modules, url)
    one("down", timeout=120)
    one.close()
    manifest_file = persist / "envs" / "demo.json"
    manifest = json.loads(manifest_file.read_text())
    for venv in manifest["venvs"]:
        venv.update(version="3.4", home="/nowhere/python3.4/bin")
    manifest_file.write_text(json.dumps(manifest))

    two = _cli(tmp_path / "home2", persist, node_modules)
    try:
        _fallback(two, "the archive of demo was made for Python 3.4 (/nowhere/python3.4/bin), which this machine "
                       "does not have")
        assert served == ["/model.bin"], "the install's download was not taken from the store"
        assert two("down", timeout=120).returncode == 0
    finally:
        two.close()

    archive = persist / "envs" / "demo.tar.zst"
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])  # truncated, as a copy cut off mid-way
    three = _cli(tmp_path / "home3", persist, node_modules)
    try:
        _fallback(three, "the archive of demo is damaged or could not be extracted (")
        assert not [p for p in (three.home / "api").iterdir() if ".restore-" in p.name]
    finally:
        three.close()

    backup = persist / "state" / "pinokiocloud.db"
    backup.write_bytes(b"not a database" * 100)
    four = _cli(tmp_path / "home4", persist, node_modules)
    try:
        info = four.json("store", "du")
        kept = list(backup.parent.glob("pinokiocloud.db.damaged-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == b"not a database" * 100  # renamed, never deleted
        assert f"the state backup {backup} could not be used (file is not a database); starting with an empty " \
               f"state (it was kept as {kept[0]})" in info["notices"]
        assert info["restore"] == {}  # an empty state: nothing to put back
    finally:
        four.close()


def test_a_persistent_root_that_is_missing_is_named_and_the_session_runs_on_the_home(
        tmp_path: Path, node_modules: Path) -> None:
    cli = _cli(tmp_path / "home", tmp_path / "not-mounted", node_modules)
    try:
        info = cli.json("store", "du")
        assert info["persist_in_use"] is False
        assert info["reason"] == (f"the persistent folder {tmp_path / 'not-mounted'} does not exist (is the drive or "
                                  "volume mounted?); nothing is kept after this session until it is there")
        assert info["store"] == str(cli.home / "store")
    finally:
        cli.close()
