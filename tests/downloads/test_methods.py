"""fs.download and hf.download as a launcher calls them: the queue's events in the run, files recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinokiocloud.downloads import records_for
from pinokiocloud.kernel.runner import RunState
from tests.downloads.servers import File, FileServer, body
from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness

MB = 1_000_000


@pytest.fixture
def h(sidecar: SyncSidecar, home: Path) -> Iterator[Harness]:
    harness = Harness(sidecar, home)
    yield harness
    harness.close()


def test_fs_download_reports_progress_events_and_records_the_hash(h: Harness, srv: FileServer) -> None:
    data = body(12 * MB)
    url = srv.add("/vae.safetensors", File(data, rate_bps=8 * MB))
    digest = hashlib.sha256(data).hexdigest()
    run = h.run("dl.js", f'module.exports = {{ run: [{{ method: "fs.download", params: '
                         f'{{ uri: "{url}", dir: "models", sha256: "{digest}" }} }}] }}')

    assert run.state is RunState.DONE, run.error
    events = [e.data for e in h.events(run, "download")]
    assert events[0]["state"] == "queued" and events[-1]["state"] == "done"
    running = [e for e in events if e["state"] == "running" and e["bytes"]]
    assert running and all({"bytes", "total", "rate_bps", "eta_s", "connections", "id"} <= e.keys() for e in running)
    assert events[-1]["sha256"] == digest and events[-1]["total"] == len(data)
    record = records_for(h.home).lookup_by_source(url)
    assert record is not None and record.sha256 == digest and record.path == h.app / "models" / "vae.safetensors"
    assert "sha256 verified" in h.printed(run)


def test_fs_download_refuses_a_sha256_that_is_not_one(h: Harness) -> None:
    run = h.run("dl.js", 'module.exports = { run: [{ method: "fs.download", params: '
                         '{ uri: "http://127.0.0.1:9/m.bin", path: "m.bin", sha256: "abc" } }] }')
    assert run.state is RunState.FAILED and "sha256 must be 64 hexadecimal digits" in str(run.error)


def _fake_hf(h: Harness, script: str) -> None:
    """A stand-in for the vendor's ``hf`` CLI (the hub cannot be reached offline)."""
    fake_bin = h.app / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "hf").write_text("#!/bin/sh\n" + script)
    (fake_bin / "hf").chmod(0o755)


def test_hf_download_files_are_hashed_recorded_and_in_the_queue(h: Harness) -> None:
    _fake_hf(h, 'mkdir -p "$5" && head -c 3000000 /dev/zero > "$5/model.safetensors"\n')
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "hf.download", params: { path: "app", env: { PATH: ["{{cwd}}/fake-bin"] },
            _: ["org/model", "model.safetensors"], "local-dir": "weights" } },
        ] }
    """)
    assert run.state is RunState.DONE, run.error
    digest = hashlib.sha256(b"\0" * 3_000_000).hexdigest()
    record = records_for(h.home).lookup_by_source("https://huggingface.co/org/model/resolve/main/model.safetensors")
    assert record is not None and (record.sha256, record.size) == (digest, 3_000_000)
    events = [e.data for e in h.events(run, "download")]
    assert events[-1]["state"] == "done" and events[-1]["kind"] == "hf" and events[-1]["bytes"] == 3_000_000


def test_hf_download_a_cache_blob_that_does_not_match_its_hash_fails_naming_both(h: Harness) -> None:
    wrong = "1" * 64
    _fake_hf(h, f"""
repo="$HF_HOME/hub/models--org--model"
mkdir -p "$repo/blobs" "$repo/snapshots/abc"
printf corrupt > "$repo/blobs/{wrong}"
ln -s "../../blobs/{wrong}" "$repo/snapshots/abc/model.safetensors"
""")
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "hf.download", params: { env: { PATH: ["{{cwd}}/fake-bin"] }, _: ["org/model"] } },
        ] }
    """)
    assert run.state is RunState.FAILED
    assert f"sha256 is {hashlib.sha256(b'corrupt').hexdigest()}, but Hugging Face's hash for it is {wrong}" in str(
        run.error)
