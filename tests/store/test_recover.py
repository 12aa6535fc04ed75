"""A corrupt state file does not keep the daemon down: it is moved aside and the apps come back from api/."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pinokiocloud.store.recover import open_store


def _launcher(api: Path, name: str, *, remote: str | None = None) -> Path:
    folder = api / name
    folder.mkdir(parents=True)
    (folder / "pinokio.js").write_text("module.exports = { menu: [] }")
    if remote:
        subprocess.run(["git", "init", "-q", str(folder)], check=True)
        subprocess.run(["git", "-C", str(folder), "remote", "add", "origin", remote], check=True)
    return folder


def test_a_healthy_state_file_opens_as_it_is(tmp_path: Path) -> None:
    first = open_store(tmp_path / "state.db", tmp_path / "api")
    first.store.put_setting("kept", 1)
    first.store.close()
    again = open_store(tmp_path / "state.db", tmp_path / "api")
    assert again.notice is None and again.store.setting("kept") == 1


def test_a_corrupt_state_file_is_moved_aside_and_the_apps_rebuilt(tmp_path: Path) -> None:
    api = tmp_path / "api"
    _launcher(api, "comfy", remote="https://github.com/example/comfy.pinokio.git")
    _launcher(api, "local-one")
    (api / "not-a-launcher").mkdir()
    db = tmp_path / "pinokiocloud.db"
    db.write_bytes(b"this is not an SQLite file, it was cut off mid-write" * 100)

    opened = open_store(db, api)

    assert opened.notice is not None
    assert "was corrupt" in opened.notice and "comfy, local-one" in opened.notice and "lost:" in opened.notice
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("pinokiocloud.db.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not an SQLite file")
    apps = {a.name: a.source for a in opened.store.apps()}
    assert apps == {"comfy": "https://github.com/example/comfy.pinokio.git", "local-one": str(api / "local-one")}
