"""Flow, user-facing, network and custom methods (spec §3.6–3.9, §3.14)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from pinokiocloud.kernel.runner import RunState
from tests.kernel.runner_helpers import Harness


def _serve(handler: type[BaseHTTPRequestHandler] | partial[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class _Api(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        status, body = {"/ok": (200, b'{"models": ["a", "b"]}'), "/text": (200, b"plain")}.get(
            self.path, (500, b"boom"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if self.path == "/ok" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"echo": json.loads(data)}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def api() -> Iterator[str]:
    server, url = _serve(_Api)
    yield url
    server.shutdown()
    server.server_close()


def test_spec_3_8_jump_by_id_with_params_and_goto_index_null(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "jump", params: { id: "target", params: { from: "jump" } } },
          { method: "log", params: { text: "skipped" } },
          { id: "target", method: "log", params: { text: "got {{input.from}}" } },
          { method: "goto", params: { index: null } },
          { method: "log", params: { text: "after end" } },
        ] }
    """)
    assert run.state is RunState.DONE and h.printed(run) == "got jump\r\n"


def test_spec_3_8_jump_to_an_unknown_id_continues(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "jump", params: { id: "nope" } },
          { method: "log", params: { text: "next one" } },
        ] }
    """)
    assert h.printed(run) == "next one\r\n"


def test_spec_3_8_process_wait_sec_url_and_tcp(h: Harness, api: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        run = h.run("a.js", f"""
            module.exports = {{ run: [
              {{ method: "process.wait", params: {{ sec: 0.3 }} }},
              {{ method: "process.wait", params: {{ url: "{api}/ok", interval: 0.2 }} }},
              {{ method: "process.wait", params: {{ on: {{ resources: ["tcp:127.0.0.1:{port}"], timeout: 5000 }} }} }},
            ] }}
        """)
    assert run.state is RunState.DONE, run.error
    assert 0.3 <= time.monotonic() - started < 5


def test_spec_3_8_process_wait_on_times_out_with_a_message(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [{ method: "process.wait",
          params: { on: { resources: ["file:/definitely/not/there"], timeout: 300, interval: 50 } } }] }
    """)
    assert run.state is RunState.FAILED and "timed out waiting for file:/definitely/not/there" in str(run.error)


def test_spec_3_8_process_wait_forever_ends_on_stop(h: Harness) -> None:
    run = h.start(h.write("a.js", 'module.exports = { run: [{ method: "process.wait" }] }'))
    time.sleep(0.3)
    assert run.is_alive
    h.stop(run)
    assert run.state is RunState.STOPPED


def test_spec_3_7_log_notify_and_web_open_become_events(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "log", params: { json2: { a: 1 } } },
          { method: "notify", params: { html: "<b>done</b>", href: "start.js" } },
          { method: "web.open", params: { uri: "http://127.0.0.1:7860" } },
          { method: "uri.open", params: { uri: "vscode://file/x", params: { a: [1, 2], b: null, c: { d: 1 } } } },
        ] }
    """)
    assert h.printed(run) == '{\n  "a": 1\n}\r\n'
    assert h.events(run, "notify")[0].data == {"kind": "notify", "html": "<b>done</b>", "href": "start.js"}
    opened = [e.data["uri"] for e in h.events(run, "web.open")]
    assert opened == ["http://127.0.0.1:7860", "vscode://file/x?a=1&a=2&c=%7B%22d%22%3A+1%7D"]


FORM_SCRIPT = """
    module.exports = { run: [
      { method: "input", params: { title: "Pick", form: [{ key: "name", default: "anon" },
                                                        { key: "gpu", type: "checkbox" }] } },
      { method: "log", params: { text: "{{input.name}} {{input.gpu}}" } },
      { method: "input", params: { title: "Done!", description: "All set" } },
    ] }
"""


def test_spec_3_7_input_answered_in_advance(h: Harness) -> None:
    run = h.run("a.js", FORM_SCRIPT, answers=[{"gpu": "true"}])
    assert run.state is RunState.DONE and h.printed(run) == "anon True\r\n".replace("True", "true")


def test_spec_3_7_input_headless_without_answers_fails_listing_fields(h: Harness) -> None:
    run = h.run("a.js", FORM_SCRIPT)
    assert run.state is RunState.FAILED
    assert "step 0 (input): 'Pick' asks for name, gpu; answer it in the UI, or give the answers in advance" in str(
        run.error)


def test_spec_3_7_input_blocks_until_answered(h: Harness) -> None:
    run = h.start(h.write("a.js", FORM_SCRIPT), interactive=True)
    deadline = time.monotonic() + 10
    while run.pending_input is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.is_alive and h.events(run, "input")[0].data["fields"] == ["name", "gpu"]
    h.sidecar.loop.loop.call_soon_threadsafe(h.runner.answer, run.id, {"name": "ada", "gpu": False})
    while run.pending_input is None or run.current < 2:
        if not run.is_alive or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    h.sidecar.loop.loop.call_soon_threadsafe(h.runner.answer, run.id, {})
    h.wait(run)
    assert run.state is RunState.DONE and h.printed(run) == "ada false\r\n"


def test_spec_3_9_net_json_text_post_and_failure(h: Harness, api: str) -> None:
    run = h.run("a.js", f"""
        module.exports = {{ daemon: true, run: [
          {{ method: "net", params: {{ url: "{api}/ok" }}, returns: "local.json" }},
          {{ method: "net", params: {{ url: "{api}/text", responseType: "text" }}, returns: "local.text" }},
          {{ method: "net", params: {{ url: "{api}/post", method: "post", data: {{ q: 1 }} }}, returns: "local.post" }},
          {{ method: "net", params: {{ url: "{api}/fail" }} }},
        ] }}
    """)
    assert h.local(run) == {}  # the failed run cleared it; check the results through the events instead
    results = [e.data["result"] for e in h.events(run, "result")]
    assert results == [{"models": ["a", "b"]}, "plain", {"echo": {"q": 1}}]
    assert run.state is RunState.FAILED and "answered 500: boom" in str(run.error)


def test_spec_3_9_exec_returns_output_and_a_failed_command_halts_the_run(h: Harness) -> None:
    # exec itself never throws; its result carries `error`, and any result with `error` halts (spec §4.2).
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "exec", params: { message: "echo out $X; echo err >&2", env: { X: 1 } } },
          { method: "log", params: { text: "{{input.stdout.trim().split(' ').join('+')}}|{{input.stderr.trim()}}" } },
          { method: "exec", params: { message: "echo partial; exit 3" } },
          { method: "log", params: { text: "never" } },
        ] }
    """)
    assert h.printed(run) == "out+1|err\r\n"
    assert run.state is RunState.FAILED
    assert str(run.error).endswith("step 2 (exec): Command failed with exit code 3: echo partial; exit 3\npartial")


def test_spec_3_14_inline_function_method(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "script.return", params: { n: 2 } },
          { method: async (req, ondata, kernel) => {
              ondata({ raw: "from inline\\r\\n" })
              return { doubled: req.input.n * 2, p: req.params.p, platform: kernel.platform }
            }, params: { p: "{{port > 0}}" } },
          { method: "log", params: { text: "{{JSON.stringify(input)}}" } },
        ] }
    """)
    assert run.state is RunState.DONE, run.error
    assert h.printed(run) == 'from inline\r\n{"doubled":4,"p":true,"platform":"linux"}\r\n'


def test_spec_3_14_custom_module_keeps_state_between_calls(h: Harness) -> None:
    h.write("index.js", """
        module.exports = class {
          constructor () { this.calls = 0 }
          async config (req, ondata, kernel) { this.calls += 1; return { calls: this.calls, arg: req.params.a } }
        }
    """)
    run = h.run("a.js", """
        module.exports = { run: [
          { uri: "./index.js", method: "config", params: { a: 1 } },
          { uri: "./index.js", method: "config", params: { a: 2 } },
          { method: "log", params: { text: "{{input.calls}} {{input.arg}}" } },
          { uri: "./index.js", method: "nope" },
        ] }
    """)
    assert h.printed(run) == "2 2\r\n"
    assert run.state is RunState.FAILED and 'has no method "nope"' in str(run.error)


def test_an_inline_method_that_throws_fails_the_step_naming_the_line(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: async () => { throw new Error("custom failure") } },
        ] }
    """)
    assert run.state is RunState.FAILED
    script = h.app / "a.js"
    assert str(run.error) == f"{script} step 0 (inline function): Error: custom failure (at {script}:3:33)"


# ---- script.* ----

def test_spec_3_6_script_start_waits_and_returns_the_child_result(h: Harness) -> None:
    h.write("sub/child.js", """
        module.exports = { run: [
          { method: "log", params: { text: "child args {{args.venv}} cwd {{cwd.endsWith('sub')}}" } },
          { method: "script.return", params: { venv: "{{args.venv}}", ok: true } },
        ] }
    """)
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "script.start", params: { uri: "sub/child.js", params: { venv: "env" } } },
          { method: "log", params: { text: "parent got {{input.venv}} {{input.ok}}" } },
          { method: "script.run", params: { uri: "~/api/app/sub/child.js", params: { venv: "home" } } },
          { method: "log", params: { text: "{{input.venv}}" } },
        ] }
    """)
    assert run.state is RunState.DONE, run.error
    child = h.runner.runs[str(h.app / "sub" / "child.js")]
    assert child.caller == run.id
    assert h.printed(run) == "parent got env true\r\nhome\r\n"


def test_spec_3_6_a_failing_child_gives_the_parent_undefined(h: Harness) -> None:
    h.write("bad.js", 'module.exports = { run: [{ method: "nope.method" }] }')
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "script.start", params: { uri: "bad.js" } },
          { method: "log", params: { text: "continued with {{JSON.stringify(input)}}" } },
        ] }
    """)
    assert run.state is RunState.DONE and h.printed(run) == "continued with null\r\n"


def test_spec_3_6_start_of_a_running_script_returns_at_once(h: Harness) -> None:
    daemon = h.start(h.write("d.js", 'module.exports = { daemon: true, run: [{ method: "process.wait" }] }'))
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "script.start", params: { uri: "d.js" } },
          { method: "log", params: { text: "went on" } },
        ] }
    """)
    assert "already running. Continuing..." in h.printed(run) and h.printed(run).endswith("went on\r\n")
    h.stop(daemon)


def test_spec_3_6_script_stop_restart_and_ready(h: Harness) -> None:
    daemon = h.start(h.write("d.js", """
        module.exports = { daemon: true, run: [{ method: "global.set", params: { n: "{{(global.n || 0) + 1}}" } }] }
    """))
    h.wait(daemon)
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "script.ready", params: { uri: "d.js" }, returns: "local.ready" },
          { method: "script.restart", params: { uri: "d.js" }, returns: "local.restart" },
        ] }
    """)
    assert h.local(run)["ready"] is True
    assert h.local(run)["restart"] == {"uri": "d.js", "scheduled": True, "self": False, "params": {}}
    deadline = time.monotonic() + 10
    while h.runner.memory_global[daemon.id].get("n") != 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert h.runner.memory_global[daemon.id]["n"] == 2
    again = h.runner.runs[daemon.id]
    h.wait(again)
    h.run("s.js", 'module.exports = { run: [{ method: "script.stop", params: { uri: ["d.js"] } }] }')
    deadline = time.monotonic() + 10
    while again.is_alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert again.state is RunState.STOPPED


@pytest.fixture
def git_remote(tmp_path: Path) -> Iterator[str]:
    """A launcher published as a git repository over (dumb) HTTP on 127.0.0.1."""
    work = tmp_path / "launcher"
    work.mkdir()
    (work / "install.js").write_text(
        'module.exports = { run: [{ method: "script.return", params: { from: "{{name}}", x: "{{args.x}}" } }] }')
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "launcher"], check=True)
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(served / "launcher.git")], check=True)
    subprocess.run(["git", "-C", str(served / "launcher.git"), "update-server-info"], check=True)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server, url = _serve(partial(Quiet, directory=str(served)))
    yield f"{url}/launcher.git"
    server.shutdown()
    server.server_close()


def test_spec_3_6_git_uri_is_cloned_into_api_and_run(h: Harness, git_remote: str) -> None:
    run = h.run("a.js", f"""
        module.exports = {{ run: [
          {{ method: "script.start", params: {{ uri: "{git_remote}/install.js", params: {{ x: 1 }} }} }},
          {{ method: "log", params: {{ text: "{{{{input.from}}}} {{{{input.x}}}}" }} }},
          {{ method: "script.download", params: {{ uri: "{git_remote}" }} }},
          {{ method: "log", params: {{ text: "{{{{input}}}}" }} }},
        ] }}
    """)
    assert run.state is RunState.DONE, run.error
    name = git_remote.replace("http://", "").replace(".", "_").replace(":", "_").replace("/", "_")
    folder = h.home / "api" / name
    assert (folder / "install.js").is_file()
    assert h.printed(run) == f"[script] cloning {git_remote} into {folder}\r\n{folder.name} 1\r\n{folder}\r\n"
