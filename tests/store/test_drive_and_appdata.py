"""Shared drive folders and the files apps make, kept on the persistent root (issue 16): real ``fs.link`` runs,
real archives extracted into a new home; outputs, configs and models each kept by their class."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from pinokiocloud.errors import StoreError
from pinokiocloud.kernel.runner import RunState
from pinokiocloud.store.appdata import (
    backup_drive_registry,
    classify,
    restore_app_data,
    restore_drive_registry,
    sync_app_data,
)
from pinokiocloud.store.blobs import BlobStore, install_blobs
from pinokiocloud.store.envarchive import check_archive, extract_archive, save_archive
from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness, git_app

WEIGHTS = os.urandom(256 * 1024)
BIG = os.urandom(9 * 1024 * 1024)


@pytest.fixture
def h(sidecar: SyncSidecar, home: Path) -> Iterator[Harness]:
    harness = Harness(sidecar, home)
    yield harness
    harness.close()


def _link(h: Harness, app: Path, drive: str) -> str:
    h.write("link.js", f'module.exports = {{ run: [{{ method: "fs.link", params: {{ drive: {drive} }} }}] }}',
            folder=app)
    run = h.sidecar.run(h.runner.run_to_end(app / "link.js"))
    assert run.state is RunState.DONE, run.error
    return h.printed(run)


def test_drive_folders_are_kept_once_in_the_store_and_come_back_in_a_new_home(h: Harness, tmp_path: Path) -> None:
    root = tmp_path / "persist"
    blobs = BlobStore(root, persistent=True)
    install_blobs(h.home, blobs)
    try:
        comfy = git_app(h.home, "comfy", "https://github.com/x/comfy.git")
        (comfy / "app/models/checkpoints").mkdir(parents=True)
        (comfy / "app/models/checkpoints/sd.safetensors").write_bytes(WEIGHTS)
        printed = _link(h, comfy, '{ checkpoints: "app/models/checkpoints" }')
        assert "1 file(s), 0.3 MB kept in the model store" in printed
        drive_file = (comfy / "app/models/checkpoints").resolve() / "sd.safetensors"
        [info] = blobs.ls()
        assert os.path.samefile(drive_file, blobs.blob_path(info.sha256))  # the drive's file is the store's blob
        assert info.apps == ("comfy",) and info.sources[0].startswith("drive://peers/")
        # another launcher's own drive folder with the same bytes: still one blob
        other = git_app(h.home, "other", "https://github.com/x/other.git")
        (other / "weights").mkdir()
        (other / "weights/copy.safetensors").write_bytes(WEIGHTS)
        _link(h, other, '{ loras: "weights" }')
        usage = blobs.du()
        assert (usage.blobs, usage.stored_bytes, usage.linked_bytes) == (1, len(WEIGHTS), 2 * len(WEIGHTS))
        save_archive(comfy, root, "comfy", exclude=[rel for rel, _ in blobs.uses_of_app("comfy")])
        assert backup_drive_registry(h.home, root)
    finally:
        install_blobs(h.home, None)

    # a new session: new home, same root; what the restore does before it starts the app
    new_home = tmp_path / "home2"
    again = BlobStore(root, persistent=True)
    assert restore_drive_registry(new_home, root)
    registry = json.loads((new_home / "drive" / "drives.json").read_text())
    assert all(str(p).startswith(str(new_home)) for p in registry["https://github.com/x/comfy.git"].values())
    assert again.relink_home(new_home) == (2, 2 * len(WEIGHTS))
    app_dir = new_home / "api" / "comfy"
    manifest, reason = check_archive(root, "comfy", app_dir)
    assert reason is None and manifest is not None
    extract_archive(root, "comfy", app_dir, manifest)
    link = app_dir / "app/models/checkpoints"
    assert link.is_symlink() and str(link.resolve()).startswith(str(new_home))  # moved with the home
    assert (link / "sd.safetensors").read_bytes() == WEIGHTS
    assert os.path.samefile(link / "sd.safetensors", again.blob_path(info.sha256))


def test_outputs_configs_and_models_are_kept_by_class_and_put_back(tmp_path: Path) -> None:
    root, app = tmp_path / "persist", tmp_path / "home/api/comfyui"
    blobs = BlobStore(root, persistent=True)
    (app / "app/output").mkdir(parents=True)
    (app / "app/user/default/workflows").mkdir(parents=True)
    (app / "app/models/checkpoints").mkdir(parents=True)
    (app / "env/lib").mkdir(parents=True)
    (app / "env/pyvenv.cfg").write_text("home = /usr/bin\n")
    (app / "env/lib/big.bin").write_bytes(BIG)  # inside a venv: the archive's, never looked into
    (app / "app/config.json").write_text('{"from": "the install"}')
    (app / "app/main.py").write_text("print('code')")
    archived_at = time.time()
    os.utime(app / "app/config.json", (archived_at - 60, archived_at - 60))
    (app / "app/output/ComfyUI_00001_.png").write_bytes(b"png" * 1000)
    (app / "app/user/default/workflows/mine.json").write_text('{"nodes": []}')
    (app / "app/models/checkpoints/made-at-run-time.safetensors").write_bytes(BIG)
    assert [classify(r, s) for r, s in (("app/output/a.png", 9), ("app/user/x.json", 9), ("app/main.py", 9),
                                        ("app/models/checkpoints/x.safetensors", len(BIG)),
                                        ("app/config.json", 9))] == ["outputs", "configs", None, "models",
                                                                     "settings"]

    result = sync_app_data(app, root, "comfyui", blobs, home=tmp_path / "home", settings_after=archived_at)
    assert (result.copied, result.adopted) == (2, 0)  # the model was written just now: perhaps not finished
    result = sync_app_data(app, root, "comfyui", blobs, home=tmp_path / "home", settings_after=archived_at,
                           settle_s=0)
    assert (result.copied, result.adopted, result.adopted_bytes) == (0, 1, len(BIG))  # config.json: in the archive
    model = app / "app/models/checkpoints/made-at-run-time.safetensors"
    assert os.path.samefile(model, blobs.blob_path(blobs.ls()[0].sha256))
    assert blobs.uses_of_app("comfyui") == [("app/models/checkpoints/made-at-run-time.safetensors",
                                             blobs.ls()[0].sha256)]
    (app / "app/config.json").write_text('{"changed": "by the user"}')
    (app / "app/output/ComfyUI_00001_.png").unlink()  # deleted in the app: kept on the root
    again = sync_app_data(app, root, "comfyui", blobs, settings_after=archived_at)
    assert (again.copied, again.adopted) == (1, 0)  # only what changed: the config

    fresh = tmp_path / "home2/api/comfyui"
    (fresh / "app").mkdir(parents=True)
    (fresh / "app/config.json").write_text('{"from": "the archive"}')
    assert restore_app_data(root, "comfyui", fresh)[0] == 3
    assert (fresh / "app/output/ComfyUI_00001_.png").read_bytes() == b"png" * 1000
    assert (fresh / "app/user/default/workflows/mine.json").read_text() == '{"nodes": []}'
    assert (fresh / "app/config.json").read_text() == '{"changed": "by the user"}'
    assert blobs.relink_app("comfyui", fresh) == (1, len(BIG))
    assert (fresh / "app/models/checkpoints/made-at-run-time.safetensors").read_bytes() == BIG


def test_a_root_that_cannot_take_the_files_is_named_in_one_sentence(tmp_path: Path) -> None:
    app = tmp_path / "home/api/demo"
    (app / "outputs").mkdir(parents=True)
    (app / "outputs/a.png").write_bytes(b"x")
    with pytest.raises(StoreError) as caught:
        sync_app_data(app, Path("/proc/self"), "demo", BlobStore(tmp_path / "store"))
    assert str(caught.value).startswith("the files demo made could not be kept on the persistent root /proc/self (")
    assert str(caught.value).endswith("); what was kept before stays")
    assert (app / "outputs/a.png").read_bytes() == b"x"


@pytest.mark.parametrize("damage", ["truncated", "truncated, manifest too", "flipped"])
def test_a_damaged_archive_raises_leaves_nothing_behind_and_is_kept(tmp_path: Path, damage: str) -> None:
    root, app = tmp_path / "persist", tmp_path / "old/api/demo"
    (app / "lib").mkdir(parents=True)
    for i in range(200):
        (app / "lib" / f"m{i}.py").write_bytes(os.urandom(2000))
    save_archive(app, root, "demo")
    archive = root / "envs" / "demo.tar.zst"
    data = bytearray(archive.read_bytes())
    if damage.startswith("truncated"):
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    archive.write_bytes(bytes(data))
    if damage == "truncated, manifest too":  # only the stream itself can tell: it ends inside a frame
        manifest_file = root / "envs" / "demo.json"
        manifest_file.write_text(json.dumps({**json.loads(manifest_file.read_text()), "size": len(data)}))
    target = tmp_path / "new/api/demo"
    target.parent.mkdir(parents=True)
    manifest, reason = check_archive(root, "demo", target)
    assert reason is None and manifest is not None
    with pytest.raises((OSError, zstandard.ZstdError, __import__("tarfile").TarError)):
        extract_archive(root, "demo", target, manifest)
    assert list(target.parent.iterdir()) == []  # no half-extracted app, no temporary folder
    assert archive.read_bytes() == bytes(data)  # the archive is left for the user to look at
