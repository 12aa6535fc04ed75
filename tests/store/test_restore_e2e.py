"""A new machine with the same persistent root (issue 16), end to end with real daemons: an app whose install
links a shared drive folder and downloads a model into it, and whose output the user made after the install,
comes back on a new home with its model (from the store, not downloaded), its drive link and its output; the
dashboard's My apps says so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pinokiocloud.cli.store import follow_restore
from pinokiocloud.client import Client
from pinokiocloud.config import Settings
from tests.helpers.cli import write_launcher
from tests.reliability.test_restore import MODEL, START, _api, _cli, _status, _wait, model_server
from tests.ui.dashboard import open_page, texts

pytestmark = pytest.mark.slow

__all__ = ["model_server"]  # the fixture, used by name

INSTALL = """
module.exports = { run: [
  { method: "shell.run", params: { venv: "env", message: "python -c \\"import sys; print(sys.prefix)\\"" } },
  { method: "fs.link", params: { drive: { checkpoints: "models" } } },
  { method: "fs.download", params: { uri: "URL/model.bin", dir: "models" } },
  { method: "shell.run", params: { message: "echo installed > installed.txt" } },
] }
"""


def test_a_new_home_gets_the_drive_folder_the_model_and_the_outputs_back_and_the_dashboard_says_so(
        tmp_path: Path, node_modules: Path, model_server: tuple[str, list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, served = model_server
    persist = tmp_path / "persist"
    persist.mkdir()
    folder = write_launcher(tmp_path / "launcher", {"install.js": INSTALL.replace("URL", url), "start.js": START})
    one = _cli(tmp_path / "home1", persist, node_modules)
    try:
        done = one("install", str(folder), "--name", "demo", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        _wait("the archive of demo", lambda: _api(one, "/api/store")["archives"].get("demo", {}).get("current"))
        models = one.home / "api" / "demo" / "models"
        assert models.is_symlink() and (models / "model.bin").read_bytes() == MODEL  # in the drive folder
        (one.home / "api" / "demo" / "outputs").mkdir()
        (one.home / "api" / "demo" / "outputs" / "image-1.png").write_bytes(b"made after the install")
        assert one("down", timeout=120).returncode == 0  # down keeps what the app made
    finally:
        one.close()
    assert (persist / "appdata" / "demo" / "files" / "outputs" / "image-1.png").is_file()

    two = _cli(tmp_path / "home2", persist, node_modules)
    try:
        assert two.json("store", "du")["persist_in_use"]  # the CLI starts the daemon, which restores
        told: list[str] = []
        with Client(Settings.from_env(two.env), autostart=False) as client:
            last = follow_restore(client, told.append, timeout_s=180)  # what `up` prints while it restores
        assert last == ["demo: restored"] and told[-1] == "demo: restored"
        assert all(line.startswith(("demo: waiting", "restoring demo: ", "demo: restored")) for line in told), told
        app = two.home / "api" / "demo"
        assert (app / "models").is_symlink() and str((app / "models").resolve()).startswith(str(two.home))
        model = app / "models" / "model.bin"
        assert model.read_bytes() == MODEL and served == ["/model.bin"]  # from the store, not downloaded
        [blob] = two.json("store", "ls")["data"]
        assert os.path.samefile(model, persist / "store" / "blobs" / blob["sha256"][:2] / blob["sha256"])
        assert (app / "outputs" / "image-1.png").read_bytes() == b"made after the install"
        assert _status(two, "demo") is not None

        for key, value in (("PINOKIO_HOME", str(two.home)), ("PINOKIOCLOUD_PORT", str(two.port)),
                           ("PINOKIOCLOUD_NODE_MODULES", str(node_modules))):
            monkeypatch.setenv(key, value)
        page = texts(open_page("home"))
        assert "Restored from the persistent root" in page and "demo: restored" in page
    finally:
        two.close()
