"""``hf.download`` through the model store (issue 16) with the real ``hf`` CLI of huggingface_hub against a
loopback stand-in for the Hugging Face hub (``HF_ENDPOINT``; the hub itself cannot be reached offline). The
stand-in counts the body bytes it serves: a file the store holds costs none, for a second app (``--local-dir``)
and for the hub cache of a new home.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pinokiocloud.downloads import records_for
from pinokiocloud.kernel.runner import RunState
from pinokiocloud.store.blobs import BlobStore, install_blobs
from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness

COMMIT = "c0ffee" + "0" * 34
MODEL = os.urandom(12 * 1024 * 1024)  # above 10 MB: an LFS file, its etag is its sha256
DIGEST = hashlib.sha256(MODEL).hexdigest()
HF_BIN = str(Path(sys.executable).parent)


class StandInHub:
    """A stand-in for huggingface.co's ``resolve`` route: HEAD gives the commit, the LFS etag and the size,
    GET the bytes (counted)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.served = 0
        self.gets: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, body: bool) -> None:
                match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path.split("?")[0])
                data = hub.files.get(f"{match[1]}/{match[3]}") if match else None
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    hub.gets.append(self.path)
                    self.wfile.write(data)
                    hub.served += len(data)

            def do_HEAD(self) -> None:
                self._answer(False)

            def do_GET(self) -> None:
                self._answer(True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hub() -> Iterator[StandInHub]:
    server = StandInHub({"org/model/model.safetensors": MODEL, "org/model/config.json": b'{"a": 1}'})
    yield server
    server.close()


def _harness(sidecar: SyncSidecar, home: Path, root: Path) -> tuple[Harness, BlobStore]:
    (home / "api").mkdir(parents=True, exist_ok=True)
    harness = Harness(sidecar, home)
    blobs = BlobStore(root, persistent=True)
    install_blobs(home, blobs)
    return harness, blobs


def _hf(h: Harness, app: str, hub: StandInHub, args: str) -> str:
    script = f"""module.exports = {{ run: [{{ method: "hf.download", params: {{
        env: {{ HF_ENDPOINT: "{hub.url}", HF_HUB_DISABLE_TELEMETRY: "1", PATH: ["{HF_BIN}"] }},
        {args} }} }}] }}"""
    path = h.write("dl.js", script, h.home / "api" / app)
    run = h.sidecar.run(h.runner.run_to_end(path))
    assert run.state is RunState.DONE, (run.error, h.printed(run))
    return h.printed(run)


def test_a_second_app_gets_a_held_hf_file_for_no_bytes_and_it_is_stored_once(
        sidecar: SyncSidecar, tmp_path: Path, hub: StandInHub) -> None:
    h, blobs = _harness(sidecar, tmp_path / "pinokio", tmp_path / "persist")
    try:
        args = '_: ["org/model", "model.safetensors"], "local-dir": "weights"'
        _hf(h, "a", hub, args)
        assert hub.served == len(MODEL)
        first = h.home / "api/a/weights/model.safetensors"
        assert first.read_bytes() == MODEL and os.path.samefile(first, blobs.blob_path(DIGEST))
        record = records_for(h.home).lookup_by_source(
            "https://huggingface.co/org/model/resolve/main/model.safetensors")
        assert record is not None and record.sha256 == DIGEST

        _hf(h, "b", hub, args)
        assert hub.served == len(MODEL)  # not one more byte
        second = h.home / "api/b/weights/model.safetensors"
        assert second.read_bytes() == MODEL and os.path.samefile(second, first)
        usage = blobs.du()
        assert (usage.blobs, usage.stored_bytes, usage.linked_bytes) == (1, len(MODEL), 2 * len(MODEL))
        assert [(i.sha256, i.apps) for i in blobs.ls()] == [(DIGEST, ("a", "b"))]
    finally:
        install_blobs(h.home, None)
        h.close()


def _hub_cache(app_dir: Path) -> Path:
    """The repo's folder in the hub cache the app's shell used (its HF_HOME follows the app's ENVIRONMENT)."""
    found = [p for p in app_dir.rglob("models--org--model") if p.parent.name == "hub"
             and ".locks" not in p.parts]
    assert len(found) == 1, found
    return found[0]


def test_a_new_home_with_the_same_root_fills_the_hub_cache_from_the_store(
        sidecar: SyncSidecar, tmp_path: Path, hub: StandInHub) -> None:
    root = tmp_path / "persist"
    h, blobs = _harness(sidecar, tmp_path / "one", root)
    try:
        _hf(h, "a", hub, '_: ["org/model", "model.safetensors"]')  # into the hub cache
        cache = _hub_cache(h.home / "api" / "a")
        assert (cache / "snapshots" / COMMIT / "model.safetensors").read_bytes() == MODEL
        assert os.path.samefile(cache / "blobs" / DIGEST, blobs.blob_path(DIGEST))  # the cache's blob is the store's
        assert hub.served == len(MODEL)
        rel = cache.relative_to(h.home / "api" / "a")
    finally:
        install_blobs(h.home, None)
        h.close()

    # a new session: a new home, the same persistent root
    h, blobs = _harness(sidecar, tmp_path / "two", root)
    try:
        # the restore of app a links its hub-cache blob back
        assert blobs.relink_app("a", h.home / "api" / "a", home=h.home) == (1, len(MODEL))
        assert os.path.samefile(h.home / "api" / "a" / rel / "blobs" / DIGEST, blobs.blob_path(DIGEST))
        # a new app b with its own hub cache: hf finds the blob the store placed, and downloads nothing
        _hf(h, "b", hub, '_: ["org/model", "model.safetensors"]')
        assert hub.served == len(MODEL) and hub.gets == [hub.gets[0]]
        cache = _hub_cache(h.home / "api" / "b")
        assert (cache / "snapshots" / COMMIT / "model.safetensors").read_bytes() == MODEL
        assert os.path.samefile(cache / "blobs" / DIGEST, blobs.blob_path(DIGEST))
        assert blobs.du().stored_bytes == len(MODEL)
    finally:
        install_blobs(h.home, None)
        h.close()


def test_an_hf_download_progress_reaches_the_queue_events_with_the_stand_in_hub(
        sidecar: SyncSidecar, tmp_path: Path, hub: StandInHub) -> None:
    h, _ = _harness(sidecar, tmp_path / "pinokio", tmp_path / "persist")
    try:
        path = h.write("dl.js", f"""module.exports = {{ run: [{{ method: "hf.download", params: {{
            env: {{ HF_ENDPOINT: "{hub.url}", HF_HUB_DISABLE_TELEMETRY: "1", PATH: ["{HF_BIN}"] }},
            _: ["org/model", "model.safetensors"], "local-dir": "w" }} }}] }}""", h.home / "api" / "a")
        run = h.sidecar.run(h.runner.run_to_end(path))
        assert run.state is RunState.DONE, run.error
        events = [e.data for e in h.events(run, "download")]
        assert [e["state"] for e in events][:2] == ["queued", "running"] and events[-1]["state"] == "done"
        assert events[-1]["kind"] == "hf" and events[-1]["bytes"] >= len(MODEL)
    finally:
        install_blobs(h.home, None)
        h.close()


def test_only_the_files_the_step_names_are_linked_from_the_store(tmp_path: Path) -> None:
    from pinokiocloud.downloads.hf import HfTarget, hf_source, link_from_store

    blobs = BlobStore(tmp_path / "persist", persistent=True)
    held = tmp_path / "held"
    held.mkdir()
    for name, data in (("model.safetensors", MODEL), ("vae/vae.safetensors", MODEL[:11_000_000]), ("a.json", b"{}")):
        (held / Path(name).name).write_bytes(data)
        blobs.adopt(held / Path(name).name, hashlib.sha256(data).hexdigest(), [hf_source("org/model", "main", name)])
    one = HfTarget("org/model", "main", tmp_path / "one", local_dir=True, files=("model.safetensors",))
    assert link_from_store(one, blobs) == (1, len(MODEL))
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [".cache", "model.safetensors"]
    meta = (tmp_path / "one/.cache/huggingface/download/model.safetensors.metadata").read_text().splitlines()
    assert meta[:2] == ["main", DIGEST]  # hf's own record: it skips the file after its metadata request
    vae = HfTarget("org/model", "main", tmp_path / "two", local_dir=True, include=("vae/*",))
    assert link_from_store(vae, blobs)[0] == 1 and (tmp_path / "two/vae/vae.safetensors").is_file()
    other_revision = HfTarget("org/model", "v2", tmp_path / "three", local_dir=True)
    assert link_from_store(other_revision, blobs) == (0, 0)  # another revision may hold other bytes
    cache = HfTarget("org/model", "main", tmp_path / "cache", local_dir=False)
    assert link_from_store(cache, blobs)[0] == 2  # the two LFS-sized files, as blobs/<sha256>; not a.json
    assert (tmp_path / "cache/blobs" / DIGEST).read_bytes() == MODEL
