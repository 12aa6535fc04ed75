"""State backups and environment archives on the persistent root (issue 16): real SQLite files, a real venv
made by uv, real archives; the restore on a new ``PINOKIO_HOME`` moves paths and venvs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pinokiocloud.errors import StoreError
from pinokiocloud.store import Store
from pinokiocloud.store.backup import StateBackup
from pinokiocloud.store.envarchive import check_archive, extract_archive, save_archive
from pinokiocloud.store.restore import restore_state

UV = str(Path(sys.executable).parent / "uv")


def _state(home: Path) -> Store:
    store = Store(home / "pinokiocloud.db")
    store.put_app("demo", "https://example.invalid/demo.git", home / "api" / "demo", {"kind": "git"})
    store.put_memory("global", "run1", {"answer": 42})
    store.put_setting("restart", "on-failure")
    return store


def test_a_backup_restores_registry_settings_and_memory_into_a_new_home(tmp_path: Path) -> None:
    root, old, new = tmp_path / "persist", tmp_path / "old", tmp_path / "new"
    store = _state(old)
    backup = StateBackup(store, root, home=old)
    written = backup.backup_now()
    assert written == root / "state" / "pinokiocloud.db"
    assert not list((root / "state").glob(".*.tmp")) and not list(old.glob(".backup-*"))
    store.close()

    restored = restore_state(new / "pinokiocloud.db", root, home=new)
    assert restored.restored and restored.notice is not None and "1 app(s) (demo)" in restored.notice
    again = Store(new / "pinokiocloud.db")
    try:
        app = again.app("demo")
        assert app is not None and app.path == str(new / "api" / "demo")  # moved to the new home
        assert again.memory("global") == {"run1": {"answer": 42}}
        assert again.setting("restart") == "on-failure"
    finally:
        again.close()
    # a home that already has a state file keeps it: the backup never overwrites live state
    assert restore_state(new / "pinokiocloud.db", root, home=new).restored is False


def test_a_damaged_backup_is_named_left_in_place_and_the_home_starts_empty(tmp_path: Path) -> None:
    root = tmp_path / "persist"
    (root / "state").mkdir(parents=True)
    (root / "state" / "pinokiocloud.db").write_bytes(b"SQLite format 3\0" + b"\x13" * 5000)
    restored = restore_state(tmp_path / "new" / "pinokiocloud.db", root, home=tmp_path / "new")
    assert not restored.restored
    assert restored.notice is not None and restored.notice.startswith(
        f"the state backup {root / 'state' / 'pinokiocloud.db'} could not be used (")
    kept = list((root / "state").glob("pinokiocloud.db.damaged-*"))
    assert len(kept) == 1 and kept[0].stat().st_size == 16 + 5000  # renamed, never deleted
    assert restored.notice.endswith(f"starting with an empty state (it was kept as {kept[0]})")
    assert not (tmp_path / "new" / "pinokiocloud.db").exists()


def test_the_backup_of_another_home_is_never_overwritten_by_a_home_that_did_not_start_from_it(tmp_path: Path) -> None:
    root = tmp_path / "persist"
    first = _state(tmp_path / "first")
    StateBackup(first, root, home=tmp_path / "first").backup_now()
    first.close()
    before = (root / "state" / "pinokiocloud.db").read_bytes()
    other = Store(tmp_path / "other" / "pinokiocloud.db")  # a home made before the drive was mounted
    try:
        with pytest.raises(StoreError) as caught:
            StateBackup(other, root, home=tmp_path / "other").backup_now()
    finally:
        other.close()
    assert str(caught.value).startswith(f"{root / 'state'} holds the state of another PINOKIO_HOME "
                                        f"({tmp_path / 'first'}, backed up ")
    assert (root / "state" / "pinokiocloud.db").read_bytes() == before
    # a home restored from that backup continues it, and may write it
    restore_state(tmp_path / "third" / "pinokiocloud.db", root, home=tmp_path / "third")
    third = Store(tmp_path / "third" / "pinokiocloud.db")
    try:
        StateBackup(third, root, home=tmp_path / "third").backup_now()
    finally:
        third.close()


def test_backups_are_debounced_and_a_failed_one_keeps_the_previous(tmp_path: Path) -> None:
    root, home = tmp_path / "persist", tmp_path / "home"
    store = _state(home)

    async def scenario() -> tuple[float | None, float | None, float | None, bool, str | None]:
        backup = StateBackup(store, root, home=home, debounce_s=0.2)
        backup.start()
        await asyncio.sleep(0.5)
        first = backup.last_at
        await asyncio.sleep(0.5)
        quiet = backup.last_at  # nothing changed: no second write
        store.put_setting("x", 1)
        await asyncio.sleep(0.5)
        changed = backup.last_at
        (root / "state").chmod(0o500)
        blocker = root / "state" / "pinokiocloud.db"
        blocker.unlink()
        blocker.mkdir()  # the target cannot be replaced: the backup fails, with one sentence
        ok = await backup.close()
        return first, quiet, changed, ok, backup.last_error

    try:
        first, quiet, changed, ok, error = asyncio.run(scenario())
    finally:
        store.close()
    assert first is not None and quiet == first and changed is not None and changed > first
    assert not ok and error is not None and error.startswith(f"the state could not be backed up to {root / 'state'}")


def _venv(app: Path) -> None:
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(app / "env")], check=True,
                   env={"UV_PYTHON_DOWNLOADS": "never", "PATH": "/usr/bin:/bin"})
    script = app / "env" / "bin" / "hello"
    script.write_text(f"#!{app / 'env' / 'bin' / 'python'}\nimport sys\nprint(sys.prefix)\n")
    script.chmod(0o755)


def test_an_archive_restores_a_working_venv_in_another_home(tmp_path: Path) -> None:
    root, old_app, new_app = tmp_path / "persist", tmp_path / "old/api/demo", tmp_path / "new/api/demo"
    _venv(old_app)
    (old_app / "pinokio.js").write_text("module.exports = {}")
    (old_app / "models").mkdir()
    (old_app / "models" / "big.bin").write_bytes(b"b" * 1000)
    manifest = save_archive(old_app, root, "demo", exclude=["models/big.bin"], state_id="s1")
    assert manifest["venvs"][0]["path"] == "env" and manifest["excluded"] == ["models/big.bin"]

    checked, reason = check_archive(root, "demo", new_app, expected_id="s1", allow_python_download=False)
    assert reason is None and checked is not None
    progress: list[tuple[int, int]] = []
    extract_archive(root, "demo", new_app, checked, lambda d, t: progress.append((d, t)))
    assert (new_app / "pinokio.js").is_file() and not (new_app / "models" / "big.bin").exists()
    assert progress and progress[-1][0] == progress[-1][1] == (root / "envs" / "demo.tar.zst").stat().st_size
    done = subprocess.run([str(new_app / "env" / "bin" / "hello")], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(new_app / "env")  # the moved venv's script runs its own Python
    assert str(old_app) not in (new_app / "env" / "bin" / "activate").read_text()

    assert check_archive(root, "demo", new_app, expected_id="s2", allow_python_download=False)[1] == (
        "the archive of demo is stale: it is not from the app's last successful install or update")


@pytest.mark.parametrize("change, reason", [
    ({"platform": "darwin-arm64"}, "the archive of demo was made on darwin-arm64, this machine is "),
    ({"venvs": [{"path": "env", "version": "3.4", "home": "/nowhere/bin"}]},
     "the archive of demo was made for Python 3.4 (/nowhere/bin), which this machine does not have"),
])
def test_an_archive_for_another_platform_or_python_is_refused_in_one_line(
        tmp_path: Path, change: dict[str, object], reason: str) -> None:
    root, app = tmp_path / "persist", tmp_path / "home/api/demo"
    _venv(app)
    save_archive(app, root, "demo")
    manifest_file = root / "envs" / "demo.json"
    manifest_file.write_text(json.dumps({**json.loads(manifest_file.read_text()), **change}))
    _, why = check_archive(root, "demo", tmp_path / "other/api/demo", allow_python_download=False)
    assert why is not None and why.startswith(reason)
    assert (root / "envs" / "demo.tar.zst").is_file() and manifest_file.is_file()


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def test_the_platform_picks_the_obvious_persistent_root_and_says_why(tmp_path: Path) -> None:
    from pinokiocloud.platform.cloud import detect_cloud, persistent_root
    from tests.platform.conftest import make_root, mountinfo

    home = {"HOME": "/root", "PATH": "/usr/bin:/bin"}
    colab = make_root(_folder(tmp_path / "colab"), ("/content/drive/MyDrive",),
                      {"/proc/self/mountinfo": mountinfo(("/content/drive", "fuse.drive"))})
    path, why = persistent_root(detect_cloud({**home, "COLAB_GPU": "1"}, colab))
    assert path == Path("/content/drive/MyDrive/pinokiocloud") and why.startswith("Google Colab's persistent volume")
    unmounted = make_root(_folder(tmp_path / "colab2"), ("/content",), {"/proc/self/mountinfo": mountinfo()})
    path, why = persistent_root(detect_cloud({**home, "COLAB_GPU": "1"}, unmounted))
    assert path is None and why.startswith("/content/drive/MyDrive is not there yet; in a notebook cell: ")
    runpod = make_root(_folder(tmp_path / "runpod"), ("/workspace",), {"/proc/self/mountinfo": mountinfo(("/workspace", "xfs"))})
    assert persistent_root(detect_cloud({**home, "RUNPOD_POD_ID": "x"}, runpod))[0] == Path("/workspace/pinokiocloud")
    vast = make_root(_folder(tmp_path / "vast"), ("/workspace", "/venv/main"))
    assert persistent_root(detect_cloud(home, vast))[0] == Path("/workspace/pinokiocloud")
    lightning = make_root(_folder(tmp_path / "lightning"), ("/teamspace/studios/this_studio",))
    assert persistent_root(detect_cloud({**home, "LIGHTNING_CLOUDSPACE_ID": "x"}, lightning))[0] == Path(
        "/teamspace/studios/this_studio/pinokiocloud")
    given = persistent_root(detect_cloud(home, vast, persist=tmp_path / "mine"))
    assert given == (tmp_path / "mine", f"PINOKIOCLOUD_PERSIST={tmp_path / 'mine'}")
    kaggle = make_root(_folder(tmp_path / "kaggle"), ("/kaggle/working",))
    path, why = persistent_root(detect_cloud({**home, "KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, kaggle))
    assert path is None and "set PINOKIOCLOUD_PERSIST" in why
