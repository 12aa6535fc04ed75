"""Environment archives in parts (format 2) and the restore ``serve`` begins before the daemon loads: real
trees, real GNU tar and zstd, real SQLite state. What a user would notice: the app's folder comes back the
same (files, links, modes, times), an archive of an older version still restores, a damaged part restores
nothing and leaves nothing behind, and a daemon that stops early leaves no half-written folder."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zstandard

from pinokiocloud.config import Settings
from pinokiocloud.store import Store
from pinokiocloud.store.backup import StateBackup
from pinokiocloud.store.blobs import BlobStore
from pinokiocloud.store.early import EarlyRestore
from pinokiocloud.store.envarchive import archive_paths, check_archive, extract_archive, save_archive
from pinokiocloud.store.restore import AppRestorer, archive_setting


def _tree(app: Path) -> None:
    """An app folder like a venv: nested packages, an executable, links, an empty folder."""
    for package in range(12):
        folder = app / "env" / "lib" / f"pkg{package:02d}" / "sub"
        folder.mkdir(parents=True)
        for module in range(20):
            (folder / f"m{module}.py").write_text(f"VALUE = {package * 100 + module}\n")
    (app / "env" / "bin").mkdir(parents=True)
    tool = app / "env" / "bin" / "tool"
    tool.write_text("#!/bin/sh\necho tool\n")
    tool.chmod(0o755)
    (app / "env" / "bin" / "tool-link").symlink_to("tool")
    (app / "env" / "lib" / "pkg-link").symlink_to("pkg03", target_is_directory=True)
    (app / "empty").mkdir()
    (app / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    os.utime(app / "env" / "lib" / "pkg05" / "sub" / "m7.py", (1_600_000_000, 1_600_000_000))


def _listing(app: Path) -> dict[str, tuple[str, int, int, bytes]]:
    """Every entry: kind, mode, mtime (files), content or link target."""
    out: dict[str, tuple[str, int, int, bytes]] = {}
    for path in sorted(app.rglob("*")):
        info = path.lstat()
        rel = str(path.relative_to(app))
        if stat.S_ISLNK(info.st_mode):
            out[rel] = ("link", 0, 0, os.readlink(path).encode())
        elif stat.S_ISDIR(info.st_mode):
            out[rel] = ("dir", stat.S_IMODE(info.st_mode), 0, b"")
        else:
            out[rel] = ("file", stat.S_IMODE(info.st_mode), int(info.st_mtime), path.read_bytes())
    return out


def test_an_archive_in_parts_restores_the_same_folder_and_reads_as_one_archive_too(tmp_path: Path) -> None:
    root, app = tmp_path / "persist", tmp_path / "old" / "api" / "demo"
    _tree(app)
    manifest = save_archive(app, root, "demo", parts=4)
    assert manifest["format"] == 2 and len(manifest["parts"]) == 5  # the folders, then four runs of files
    assert [p["folders"] for p in manifest["parts"]] == [True, False, False, False, False]
    target = tmp_path / "new" / "api" / "demo"
    checked, reason = check_archive(root, "demo", target, allow_python_download=False)
    assert reason is None and checked is not None
    extract_archive(root, "demo", target, checked)
    assert _listing(target) == _listing(app)
    assert os.listdir(target.parent) == ["demo"]  # no work folder left beside it

    # the file is still one archive of the folder for a plain zstd stream into GNU tar (-i reads past the
    # end of each part), as `zstd -dc demo.tar.zst | tar -xi` does
    by_hand = tmp_path / "by-hand"
    by_hand.mkdir()
    archive, _ = archive_paths(root, "demo")
    with open(archive, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as whole:
        subprocess.run(["tar", "-xi", "-C", str(by_hand)], input=whole.read(), check=True)
    assert _listing(by_hand / "app") == _listing(app)


def test_an_archive_of_format_1_made_by_tar_and_zstd_still_restores(tmp_path: Path) -> None:
    root, app = tmp_path / "persist", tmp_path / "old" / "api" / "demo"
    _tree(app)
    manifest = save_archive(app, root, "demo", parts=1)
    archive, manifest_file = archive_paths(root, "demo")
    # the older version's archive: one tar stream in one zstd frame, and a manifest with no parts
    packed = subprocess.run(["tar", "-C", str(app.parent), "--transform", "s,^demo,app,", "-cf", "-", "demo"],
                            capture_output=True, check=True).stdout
    archive.write_bytes(zstandard.ZstdCompressor(level=3, write_checksum=True).compress(packed))
    old = {k: v for k, v in manifest.items() if k != "parts"}
    old.update(format=1, size=archive.stat().st_size)
    manifest_file.write_text(json.dumps(old))
    target = tmp_path / "new" / "api" / "demo"
    checked, reason = check_archive(root, "demo", target, allow_python_download=False)
    assert reason is None and checked is not None
    extract_archive(root, "demo", target, checked)
    assert _listing(target) == _listing(app)


def test_a_damaged_part_restores_nothing_and_leaves_nothing_behind(tmp_path: Path) -> None:
    root, app = tmp_path / "persist", tmp_path / "old" / "api" / "demo"
    _tree(app)
    manifest = save_archive(app, root, "demo", parts=4)
    archive, _ = archive_paths(root, "demo")
    third = manifest["parts"][3]
    data = bytearray(archive.read_bytes())
    data[third["offset"] + third["size"] // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    target = tmp_path / "new" / "api" / "demo"
    target.parent.mkdir(parents=True)
    checked, _ = check_archive(root, "demo", target, allow_python_download=False)
    assert checked is not None
    with pytest.raises(Exception) as failed:
        extract_archive(root, "demo", target, checked)
    assert type(failed.value).__name__ in ("ZstdError", "TarError")
    assert os.listdir(target.parent) == []
    assert archive.read_bytes() == bytes(data)  # the archive is kept as it is


def _backed_up_home(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Session 1: an app folder, its archive and the state backup on the root; returns (root, app, new home)."""
    root, old_home, new_home = tmp_path / "persist", tmp_path / "old", tmp_path / "new"
    app = old_home / "api" / "demo"
    _tree(app)
    store = Store(old_home / "pinokiocloud.db")
    store.put_app("demo", str(app), app, {"kind": "folder"})
    manifest = save_archive(app, root, "demo", state_id="s1")
    store.put_setting(archive_setting("demo"), manifest["id"])
    StateBackup(store, root, home=old_home).backup_now()
    store.close()
    return root, app, new_home


def _settings(home: Path, root: Path) -> Settings:
    return Settings.from_env({"PINOKIO_HOME": str(home), "PINOKIOCLOUD_PERSIST": str(root),
                              "UV_PYTHON_DOWNLOADS": "never"})


def test_the_archive_written_out_before_the_daemon_loads_is_put_in_place_by_the_restorer(tmp_path: Path) -> None:
    root, app, home = _backed_up_home(tmp_path)
    early = EarlyRestore.begin(_settings(home, root))
    assert early.state.restored and list(early.jobs) == ["demo"]
    job = early.jobs["demo"]
    assert job.result.result(timeout=60) is not None  # written out beside the app's folder ...
    assert not (home / "api" / "demo").exists()  # ... and not in place before the restorer puts it there

    store = Store(home / "pinokiocloud.db")
    started: list[str] = []

    async def install(name: str) -> bool:
        raise AssertionError(f"{name} was installed again instead of restored")

    async def start_runs(name: str) -> int:
        started.append(name)
        return 1

    restorer = AppRestorer(store, BlobStore(root, persistent=True), root, home, install, start_runs, early=early)
    try:
        assert restorer.prepare() == ["demo"]
        apps = asyncio.run(restorer.run())
    finally:
        store.close()
    assert apps["demo"].state == "restored" and started == ["demo"]
    assert apps["demo"].done_bytes == apps["demo"].total_bytes == archive_paths(root, "demo")[0].stat().st_size
    assert _listing(home / "api" / "demo") == _listing(app)
    assert sorted(os.listdir(home / "api")) == ["demo"]
    early.close()
    assert (home / "api" / "demo" / "big.bin").is_file()  # close keeps what was put in place


def test_a_daemon_that_stops_before_its_restorer_took_the_archive_leaves_no_half_written_folder(
        tmp_path: Path) -> None:
    root, _, home = _backed_up_home(tmp_path)
    early = EarlyRestore.begin(_settings(home, root))
    early.close()  # the daemon stopped early: the worker is stopped, what it wrote removed
    assert not (home / "api").exists() or os.listdir(home / "api") == []
    assert early.jobs["demo"].result.done()  # settled (stopped or written out): nobody waits on it forever

    # a folder a killed daemon was writing is removed by the next start (it holds the home's lock)
    (home / "api" / ".demo.restore-deadbeef" / "app").mkdir(parents=True)
    (home / "pinokiocloud.db").unlink()  # a fresh home again: the state comes back from the root
    again = EarlyRestore.begin(_settings(home, root))
    try:
        assert again.jobs["demo"].result.result(timeout=60) is not None
        assert ".demo.restore-deadbeef" not in os.listdir(home / "api")
    finally:
        again.close()
    assert os.listdir(home / "api") == []


def test_the_worker_started_for_a_fresh_home_ends_when_there_is_nothing_to_write_out(tmp_path: Path) -> None:
    """A fresh home with a state backup starts the restore's worker before it knows the jobs; when every app's
    folder is already there it is told so, writes nothing and ends."""
    import psutil

    root, _, home = _backed_up_home(tmp_path)
    (home / "api" / "demo").mkdir(parents=True)  # already in place: nothing to restore
    early = EarlyRestore.begin(_settings(home, root))
    try:
        assert early.state.restored and early.jobs == {}

        def workers() -> list[psutil.Process]:
            return [p for p in psutil.Process().children()
                    if "pinokiocloud.store.unpack_worker" in " ".join(p.cmdline())]

        deadline = time.monotonic() + 30
        while workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert workers() == []
        assert os.listdir(home / "api") == ["demo"] and os.listdir(home / "api" / "demo") == []
    finally:
        early.close()


def test_a_venv_is_archived_compiled_except_its_packages_test_suites(tmp_path: Path) -> None:
    """The restored venv imports from ``.pyc`` files; a package's ``tests/`` stays sources (fewer files for
    a restore to write) and still imports."""
    root, app = tmp_path / "persist", tmp_path / "old" / "api" / "demo"
    subprocess.run([str(Path(sys.executable).parent / "uv"), "venv", "-q", str(app / "env")], check=True)
    site = next((app / "env" / "lib").glob("python3.*/site-packages"))
    (site / "calc" / "tests").mkdir(parents=True)
    (site / "calc" / "__init__.py").write_text("def double(x):\n    return 2 * x\n")
    (site / "calc" / "tests" / "__init__.py").write_text("")
    (site / "calc" / "tests" / "test_double.py").write_text("from calc import double\nassert double(2) == 4\n")
    save_archive(app, root, "demo")
    target = tmp_path / "new" / "api" / "demo"
    checked, _ = check_archive(root, "demo", target, allow_python_download=False)
    assert checked is not None
    extract_archive(root, "demo", target, checked)
    new_site = next((target / "env" / "lib").glob("python3.*/site-packages"))
    assert [p.name.split(".")[0] for p in (new_site / "calc" / "__pycache__").iterdir()] == ["__init__"]
    assert not (new_site / "calc" / "tests" / "__pycache__").exists()
    ran = subprocess.run([str(target / "env" / "bin" / "python"), "-c", "import calc.tests.test_double"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert ran.returncode == 0, ran.stderr
