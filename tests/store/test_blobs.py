"""The content-addressed store (issue 16): real fs.download runs over loopback, real files and links.

Identical bytes from two apps or two URLs are one blob; a source the store holds costs no request; gc never
removes a blob in use; verify finds a damaged blob and moves it aside; a root that cannot be used is named.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pinokiocloud.kernel.runner import RunState
from pinokiocloud.store.blobs import BlobStore, install_blobs
from pinokiocloud.store.root import check_root
from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness

MODEL = os.urandom(1024 * 1024)
DIGEST = hashlib.sha256(MODEL).hexdigest()


class _Counted(SimpleHTTPRequestHandler):
    served: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.served.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "model.bin").write_bytes(MODEL)
    (folder / "mirror.bin").write_bytes(MODEL)  # the same bytes under another URL and name
    (folder / "other.bin").write_bytes(b"o" * 1000)
    served: list[str] = []
    handler = type("Handler", (_Counted,), {"served": served})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def h(sidecar: SyncSidecar, home: Path) -> Iterator[Harness]:
    harness = Harness(sidecar, home)
    yield harness
    harness.close()


@pytest.fixture
def store(h: Harness, tmp_path: Path) -> Iterator[BlobStore]:
    blobs = BlobStore(tmp_path / "persist", persistent=True)
    install_blobs(h.home, blobs)
    yield blobs
    install_blobs(h.home, None)


def _download(h: Harness, app: str, params: str) -> str:
    folder = h.home / "api" / app
    path = h.write("dl.js", f'module.exports = {{ run: [{{ method: "fs.download", params: {params} }}] }}', folder)
    run = h.sidecar.run(h.runner.run_to_end(path))
    assert run.state is RunState.DONE, run.error
    return h.printed(run)


def test_two_apps_and_two_urls_with_the_same_bytes_are_one_blob_and_a_known_source_costs_no_request(
        h: Harness, store: BlobStore, server: tuple[str, list[str]]) -> None:
    url, served = server
    _download(h, "a", f'{{ uri: "{url}/model.bin", dir: "models" }}')
    _download(h, "b", f'{{ uri: "{url}/mirror.bin", path: "weights/m.bin" }}')
    a, b = h.home / "api/a/models/model.bin", h.home / "api/b/weights/m.bin"
    assert a.read_bytes() == MODEL and b.read_bytes() == MODEL
    blob = store.blob_path(DIGEST)
    assert os.path.samefile(a, blob) and os.path.samefile(b, blob)  # hardlinks: the store is on the same disk
    assert [(i.sha256, i.apps) for i in store.ls()] == [(DIGEST, ("a", "b"))]
    usage = store.du()
    assert (usage.blobs, usage.stored_bytes, usage.linked_bytes) == (1, len(MODEL), 2 * len(MODEL))

    served.clear()
    printed = _download(h, "c", f'{{ uri: "{url}/model.bin", dir: "models" }}')
    assert served == []  # check before fetch: not one request
    assert "already in the model store" in printed
    assert os.path.samefile(h.home / "api/c/models/model.bin", blob)
    # a token in the query never makes another source, and never lands in the index
    _download(h, "d", f'{{ uri: "{url}/model.bin?token=secret", path: "m.bin" }}')
    assert served == []
    assert "secret" not in (store.folder / "index.db").read_bytes().decode(errors="replace")


def test_across_filesystems_apps_get_a_symlink_into_the_store(h: Harness, server: tuple[str, list[str]]) -> None:
    shm = Path("/dev/shm")
    assert os.stat(shm).st_dev != os.stat(h.home).st_dev, "the test needs /dev/shm on another filesystem"
    root = shm / f"pinokiocloud-test-{os.getpid()}"
    blobs = BlobStore(root, persistent=True)
    install_blobs(h.home, blobs)
    try:
        url, _ = server
        _download(h, "a", f'{{ uri: "{url}/model.bin", dir: "models" }}')
        target = h.home / "api/a/models/model.bin"
        assert target.is_symlink() and Path(os.readlink(target)) == blobs.blob_path(DIGEST)
        assert target.read_bytes() == MODEL
    finally:
        install_blobs(h.home, None)
        shutil.rmtree(root, ignore_errors=True)


def test_gc_never_removes_a_blob_in_use(h: Harness, store: BlobStore, server: tuple[str, list[str]]) -> None:
    url, served = server
    _download(h, "a", f'{{ uri: "{url}/model.bin", dir: "models" }}')
    _download(h, "b", f'{{ uri: "{url}/model.bin", dir: "models" }}')
    _download(h, "gone", f'{{ uri: "{url}/other.bin", dir: "models" }}')
    other = hashlib.sha256(b"o" * 1000).hexdigest()
    shutil.rmtree(h.home / "api" / "gone")  # its app was removed: nothing links its blob any more
    result = store.gc(keep_apps=["a", "b"])
    assert result.removed == (other,) and result.freed_bytes == 1000 and result.kept == 1
    assert store.blob_path(DIGEST).is_file() and not store.blob_path(other).exists()

    shutil.rmtree(h.home / "api" / "a")  # app a removed; b still links the blob
    assert store.gc(keep_apps=["b"]).removed == ()
    assert store.blob_path(DIGEST).read_bytes() == MODEL

    shutil.rmtree(h.home / "api" / "b")  # b's folder is missing but b is still registered (to be restored)
    assert store.gc(keep_apps=["b"]).removed == ()
    assert store.gc(keep_apps=[]).removed == (DIGEST,)
    served.clear()
    _download(h, "e", f'{{ uri: "{url}/model.bin", dir: "models" }}')
    assert served == ["/model.bin"]  # gone from the store: fetched again


def test_verify_moves_a_damaged_blob_aside_and_the_next_download_fetches_it_again(
        h: Harness, store: BlobStore, server: tuple[str, list[str]]) -> None:
    url, served = server
    _download(h, "a", f'{{ uri: "{url}/model.bin", path: "m.bin" }}')
    blob = store.blob_path(DIGEST)
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as fh:
        fh.write(b"\0\0\0\0")
    checked, problems = store.verify()
    assert checked == 1 and len(problems) == 1
    message = problems[0].message
    assert message.startswith(f"blob {DIGEST[:12]} ({len(MODEL)} bytes) no longer matches its sha256 (it hashes to ")
    assert message.endswith("the next download of its source fetches it again")
    aside = list((store.folder / "quarantine").iterdir())
    assert len(aside) == 1 and aside[0].read_bytes()[4:] == MODEL[4:]  # moved, not deleted
    served.clear()
    _download(h, "b", f'{{ uri: "{url}/model.bin", path: "m.bin" }}')
    assert served == ["/model.bin"]
    assert (h.home / "api/b/m.bin").read_bytes() == MODEL
    assert store.verify() == (1, [])


def test_a_root_that_is_missing_not_a_folder_read_only_or_full_is_named(tmp_path: Path) -> None:
    missing = check_root(tmp_path / "drive", "PINOKIOCLOUD_PERSIST")
    assert not missing.in_use
    assert missing.reason == (f"the persistent folder {tmp_path / 'drive'} does not exist (is the drive or volume "
                              "mounted?); nothing is kept after this session until it is there")
    (tmp_path / "file").write_text("x")
    assert check_root(tmp_path / "file", "setting").reason == (
        f"the persistent folder {tmp_path / 'file'} is not a folder (is the drive or volume mounted?); nothing is "
        "kept after this session until it is there")
    unwritable = check_root(Path("/proc/self"), "PINOKIOCLOUD_PERSIST")  # a folder nobody, root included, writes
    assert unwritable.reason is not None and unwritable.reason.startswith("the persistent folder /proc/self cannot "
                                                                          "be written (")
    full = check_root(tmp_path, "platform", min_free=1 << 62)
    assert full.reason is not None and full.reason.startswith(f"the persistent folder {tmp_path} is full (")
    assert (tmp_path / "file").read_text() == "x" and not list(tmp_path.glob(".write-test-*"))
    assert check_root(tmp_path, "platform").path == tmp_path


def test_a_restore_links_each_path_once_with_what_the_last_home_held(tmp_path: Path) -> None:
    """Every home an app was restored into records its own use of models/x.bin; the next restore links the
    path once (and says so), with the file the newest home held, not an older one."""
    blobs = BlobStore(tmp_path / "persist", persistent=True)
    homes = [tmp_path / f"home{i}" for i in range(4)]
    old, new = b"old weights" * 1000, b"new weights" * 1000
    first = homes[0] / "api/demo/models/x.bin"
    first.parent.mkdir(parents=True)
    first.write_bytes(old)
    blobs.adopt(first, hashlib.sha256(old).hexdigest(), app="demo", home=homes[0])
    assert blobs.relink_app("demo", homes[1] / "api/demo", home=homes[1]) == (1, len(old))
    replaced = homes[2] / "api/demo/models/x.bin"  # the app downloaded another file to the same path
    replaced.parent.mkdir(parents=True)
    replaced.write_bytes(new)
    blobs.adopt(replaced, hashlib.sha256(new).hexdigest(), app="demo", home=homes[2])

    assert blobs.relink_app("demo", homes[3] / "api/demo", home=homes[3]) == (1, len(new))
    assert (homes[3] / "api/demo/models/x.bin").read_bytes() == new
