"""File methods (spec §3.3) and the virtual drive of fs.link (spec §3.5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from pinokiocloud.kernel.runner import RunState
from tests.kernel.runner_helpers import Harness, git_app


@pytest.fixture
def files_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on 127.0.0.1 serving a folder."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_spec_3_3_write_forms_and_append(h: Harness) -> None:
    h.run("a.js", """
        module.exports = { run: [
          { method: "fs.write", params: { path: "out/a.json", json: { a: [1, 2] } } },
          { method: "fs.write", params: { path: "out/b.json", json2: { a: 1 } } },
          { method: "fs.write", params: { path: "out/c.txt", text: "hello" } },
          { method: "fs.write", params: { path: "out/d.bin", buffer: "{{Buffer.from('aGk=', 'base64')}}" } },
          { method: "fs.append", params: { path: "out/c.txt", text: " world" } },
          { method: "fs.write", params: { path: "out/e.txt", text: "old" } },
          { method: "fs.write", params: { path: "out/e.txt", text: "" } },
        ] }
    """)
    out = h.app / "out"
    assert (out / "a.json").read_text() == '{"a":[1,2]}'
    assert (out / "b.json").read_text() == '{\n  "a": 1\n}'
    assert (out / "c.txt").read_text() == "hello world"
    assert (out / "d.bin").read_bytes() == b"hi"
    assert not (out / "e.txt").exists()  # QUIRK kept: text "" deletes and writes nothing


def test_spec_3_3_read_encodings_and_cat(h: Harness) -> None:
    (h.app / "f.txt").write_text("héllo")
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "fs.read", params: { path: "f.txt", encoding: "utf8" }, returns: "local.text" },
          { method: "fs.read", params: { path: "f.txt", encoding: "base64" }, returns: "local.b64" },
          { method: "fs.read", params: { path: "f.txt" }, returns: "local.buf" },
          { method: "fs.cat", params: { path: "f.txt" } },
        ] }
    """)
    assert h.local(run) == {"text": "héllo", "b64": "aMOpbGxv",
                            "buf": {"type": "Buffer", "data": list("héllo".encode())}}
    assert "héllo" in h.printed(run)


def test_spec_3_3_rm_make_and_copy(h: Harness) -> None:
    (h.app / "tree" / "sub").mkdir(parents=True)
    (h.app / "tree" / "sub" / "f.txt").write_text("x")
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "fs.make", params: { path: "made/deep" } },
          { method: "fs.copy", params: { src: "tree/sub/f.txt", dest: "copies/one/f.txt" } },
          { method: "fs.copy", params: { src: "tree", dest: "copies/tree", options: { recursive: true } } },
          { method: "fs.rm", params: { path: "tree" } },
          { method: "fs.rm", params: { path: "never-existed" } },
          { method: "fs.copy", params: { src: "copies/tree", dest: "copies/again" } },
        ] }
    """)
    assert (h.app / "made" / "deep").is_dir()
    assert (h.app / "copies/one/f.txt").read_text() == "x"
    assert (h.app / "copies/tree/sub/f.txt").read_text() == "x"
    assert not (h.app / "tree").exists()
    # MUST: a folder copy without options.recursive fails (spec §3.3)
    assert run.state is RunState.FAILED and "step 5 (fs.copy): ERR_FS_EISDIR" in str(run.error)
    assert not (h.app / "copies/again").exists()


def test_spec_3_3_download_into_a_dir_and_to_a_path_and_skip(h: Harness, files_server: tuple[str, Path]) -> None:
    url, root = files_server
    (root / "model.bin").write_bytes(b"m" * 100_000)
    (root / "cfg.json").write_text("{}")
    script = f"""
        module.exports = {{ run: [
          {{ method: "fs.download", params: {{ uri: ["{url}/model.bin", "{url}/cfg.json"], dir: "models" }} }},
          {{ method: "fs.download", params: {{ url: "{url}/cfg.json", path: "app/config/settings.json" }} }},
        ] }}
    """
    run = h.run("dl.js", script)
    assert run.state is RunState.DONE, run.error
    assert (h.app / "models/model.bin").read_bytes() == b"m" * 100_000
    assert (h.app / "app/config/settings.json").read_text() == "{}"
    assert "[100.0%]" in h.printed(run)
    (root / "model.bin").write_bytes(b"changed")
    again = h.run("dl.js")
    assert "[Download Skipped]" in h.printed(again)
    assert (h.app / "models/model.bin").read_bytes() == b"m" * 100_000


def test_download_404_fails_the_run(h: Harness, files_server: tuple[str, Path]) -> None:
    url, _ = files_server
    run = h.run("dl.js", f'module.exports = {{ run: [{{ method: "fs.download", '
                         f'params: {{ uri: "{url}/missing.bin", dir: "models" }} }}] }}')
    assert run.state is RunState.FAILED
    assert "step 0 (fs.download)" in str(run.error) and "404" in str(run.error)
    assert not list((h.app / "models").glob("missing.bin*"))


def test_spec_3_5_drive_links_are_shared_between_peers(h: Harness) -> None:
    comfy_url, a1111_url = "https://github.com/pinokiofactory/comfy.git", "https://github.com/x/a1111.git"
    comfy = git_app(h.home, "comfy", comfy_url)
    a1111 = git_app(h.home, "a1111", a1111_url)
    (comfy / "app/models/checkpoints").mkdir(parents=True)
    (comfy / "app/models/checkpoints/sd.safetensors").write_text("weights")
    h.write("link.js", f"""
        module.exports = {{ run: [{{ method: "fs.link", params: {{
          drive: {{ checkpoints: "app/models/checkpoints", loras: ["app/models/loras"] }},
          peers: ["{a1111_url}"] }} }}] }}
    """, folder=comfy)
    run = h.sidecar.run(h.runner.run_to_end(comfy / "link.js"))
    assert run.state is RunState.DONE, run.error
    link = comfy / "app/models/checkpoints"
    assert link.is_symlink() and (link / "sd.safetensors").read_text() == "weights"
    drive = link.resolve()
    assert drive.parent.parent == (h.home / "drive" / "drives" / "peers").resolve()
    registry = json.loads((h.home / "drive" / "drives.json").read_text())
    assert registry[comfy_url]["checkpoints"] == str(drive)
    assert registry[a1111_url]["checkpoints"] == str(drive)

    h.write("link.js", """
        module.exports = { run: [{ method: "fs.share",
                                   params: { drive: { checkpoints: "models/Stable-diffusion" } } }] }
    """, folder=a1111)
    (a1111 / "models/Stable-diffusion").mkdir(parents=True)
    (a1111 / "models/Stable-diffusion/own.ckpt").write_text("mine")
    run = h.sidecar.run(h.runner.run_to_end(a1111 / "link.js"))
    assert run.state is RunState.DONE, run.error
    shared = a1111 / "models/Stable-diffusion"
    assert shared.resolve() == drive
    assert sorted(p.name for p in drive.iterdir()) == ["own.ckpt", "sd.safetensors"]
    assert (comfy / "app/models/checkpoints/own.ckpt").read_text() == "mine"


def test_spec_3_5_invalid_route_stops_the_remaining_routes(h: Harness) -> None:
    git_app(h.home, "solo", "https://example.invalid/solo.git")
    app = h.home / "api" / "solo"
    h.write("link.js", """
        module.exports = { run: [{ method: "fs.link", params: { drive: {
          first: "a", "./bad": "b", later: "c" } } }] }
    """, folder=app)
    run = h.sidecar.run(h.runner.run_to_end(app / "link.js"))
    assert run.state is RunState.DONE
    assert (app / "a").is_symlink() and not (app / "b").exists() and not (app / "c").exists()


def test_fs_link_venv_form_on_a_folder_that_is_no_venv_says_so(h: Harness) -> None:
    """The deduplication itself is tested in tests/envs/test_dedup.py."""
    run = h.run("link.js", 'module.exports = { run: [{ method: "fs.link", params: { venv: "app/env" } }] }')
    assert run.state is RunState.DONE and "not a Python venv (no pyvenv.cfg); nothing to link" in h.printed(run)
