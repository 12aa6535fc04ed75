"""shell.run (spec §3.1) through the real runner, with real bash, PTYs, uv venvs and process trees."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pinokiocloud.kernel.runner import RunState
from pinokiocloud.procs.restart import RestartMode, RestartPolicy
from pinokiocloud.procs.tree import tagged_under
from tests.kernel.runner_helpers import Harness

SERVER = """
import http.server, socketserver, sys
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
with socketserver.TCPServer(("127.0.0.1", 0), H) as httpd:
    print(f"Running on local URL:  http://127.0.0.1:{httpd.server_address[1]}", flush=True)
    httpd.serve_forever()
"""


@pytest.fixture(autouse=True)
def no_process_left(h: Harness) -> Iterator[None]:
    """After every test, once the runner is closed, no process of any run may be left (asserted)."""
    yield
    h.close()
    deadline = time.monotonic() + 5
    while tagged_under(h.home) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = tagged_under(h.home)
    assert not left, [p.cmdline() for p in left]


@pytest.fixture(autouse=True)
def offline_uv(h: Harness) -> None:
    """uv must not try to download a Python here (tests have no internet), but seeding a venv reaches the
    package registry, so the machine's certificate and proxy settings come along."""
    for key, value in os.environ.items():
        if "CERT" in key or "PROXY" in key.upper() or key.startswith(("PIP_", "UV_")):
            h.runner.environ[key] = value
    h.runner.environ["UV_PYTHON_DOWNLOADS"] = "never"
    h.runner.environ["UV_CACHE_DIR"] = str(Path(__file__).resolve().parents[2] / ".cache" / "tests" / "uv")


def test_spec_3_1_output_exit_code_and_transcript(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "echo hello; echo $((6*7))" }, returns: "local.r" },
        ] }
    """)
    result = h.local(run)["r"]
    assert run.state is RunState.IDLE, run.error
    assert result["stdout"] == result["response"] == "hello\n42\n"
    assert result["exit_code"] == 0 and result["event"] is None and "error" not in result
    assert "hello" in h.printed(run)


def test_spec_3_1_2_array_items_run_in_fresh_shells_and_failures_do_not_stop(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: ["export X=1; cd /", "echo x=$X pwd=$PWD", "false", "echo after"] },
            returns: "local.r" },
        ] }
    """)
    assert run.state is RunState.IDLE, run.error
    assert h.local(run)["r"]["stdout"] == "after\n"
    assert f"x= pwd={h.app}" in h.printed(run)


def test_spec_3_1_2_chain_joins_items_in_one_shell(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: ["export X=1", "echo x=$X"], chain: true }, returns: "local.r" },
          { method: "shell.run", params: { message: ["false", "echo or"], chain: "|" }, returns: "local.o" },
        ] }
    """)
    assert h.local(run)["r"]["stdout"] == "x=1\n" and h.local(run)["o"]["stdout"] == "or\n"


def test_spec_3_1_2_structured_argv_with_multiline_values(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: { _: ["printf", "%s|"], "": null },
            env: {} }, returns: "local.a" },
          { method: "shell.run", params: { message: { _: ["python3", "-c", "import sys; print(repr(sys.argv[1:]))",
            "it's", "two\\nlines"], seed: "{{args.missing}}" } }, returns: "local.b" },
        ] }
    """)
    assert run.state is RunState.IDLE, run.error
    assert h.local(run)["b"]["stdout"] == "[\"it's\", 'two\\nlines']\n"


def test_spec_3_1_1_path_is_created_and_relative_to_the_step(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "pwd", path: "app/deep/er" }, returns: "local.r" },
        ] }
    """)
    assert h.local(run)["r"]["stdout"].strip() == str(h.app / "app/deep/er")


def test_a_path_that_is_a_file_fails_clearly(h: Harness) -> None:
    (h.app / "afile").write_text("x")
    run = h.run("a.js", 'module.exports = { run: [{ method: "shell.run", params: { message: "pwd", path: "afile" } }] }')
    assert run.state is RunState.FAILED and "is a file; shell.run needs a folder" in str(run.error)


def test_spec_3_1_4_env_rules(h: Harness) -> None:
    h.runner.environ.update({"CUDA_VISIBLE_DEVICES": "0", "PYTHONPATH": "/x", "MY_SSH_AGENT": "a", "KEEP": "k"})
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "echo $N,$LIST,${CUDA_VISIBLE_DEVICES-unset},${PYTHONPATH-unset},${MY_SSH_AGENT-unset},${KEEP-unset},$HF_HUB_DISABLE_UPDATE_CHECK,$PYTORCH_ENABLE_MPS_FALLBACK",
            env: { N: 5, LIST: ["a", "b"], PATH: ["{{cwd}}/bin"] }, "-env": ["KEEP"] }, returns: "local.r" },
          { method: "shell.run", params: { message: "echo $PATH" }, returns: "local.p" },
        ] }
    """)
    assert h.local(run)["r"]["stdout"] == "5,a:b,unset,unset,unset,unset,1,1\n"
    assert str(h.home / "bin") in h.local(run)["p"]["stdout"]


def test_env_path_as_a_string_is_an_error(h: Harness) -> None:
    run = h.run("a.js", 'module.exports = { run: [{ method: "shell.run", params: { message: "true", env: { PATH: "/x" } } }] }')
    assert run.state is RunState.FAILED and "env.PATH must be an array" in str(run.error)


def test_spec_3_1_3_venv_is_created_with_uv_and_packages_install_into_it(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { path: "app", venv: "env",
            message: ["which python", "pip --version", "uv pip install six==1.16.0",
                      "python -c 'import six, sys; print(six.__version__, sys.prefix)'"] },
            returns: "local.r" },
          { method: "shell.run", params: { path: "app", message: "which python" }, returns: "local.outside" },
        ] }
    """)
    assert run.state is RunState.IDLE, run.error
    venv = h.app / "app" / "env"
    assert (venv / "bin" / "activate").exists() and (venv / "bin" / "pip").exists()
    printed = h.printed(run)
    assert f"{venv}/bin/python" in printed and "pip " in printed
    assert h.local(run)["r"]["stdout"].strip() == f"1.16.0 {venv}"
    assert not h.local(run)["outside"]["stdout"].startswith(str(venv))


def test_spec_3_1_3_falsy_venv_means_no_venv(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { venv: "{{args && args.venv ? args.venv : null}}", message: "echo ${VIRTUAL_ENV-none}" },
            returns: "local.r" },
        ] }
    """)
    assert h.local(run)["r"]["stdout"] == "none\n" and not (h.app / "null").exists()


def test_spec_3_1_6_done_handler_keeps_the_server_for_a_daemon(h: Harness) -> None:
    (h.app / "server.py").write_text(SERVER)
    run = h.run("start.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "python3 server.py",
            on: [{ event: "/http:\\\\/\\\\/[^\\\\s\\\\/]+:\\\\d{2,5}(?=[^\\\\w]|$)/", done: true }] } },
          { method: "local.set", params: { url: "{{input.event[0]}}" } },
        ] }
    """)
    assert run.state is RunState.IDLE, run.error
    url = h.local(run)["url"]
    assert url.startswith("http://127.0.0.1:")
    import urllib.request
    assert urllib.request.urlopen(url, timeout=5).status == 200
    [proc] = list(run.shells.values())
    pid = proc.pid
    h.stop(run)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_spec_4_3_non_daemon_end_kills_done_processes(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "shell.run", params: { message: "echo ready; sleep 300", on: [{ event: "/ready/", done: true }] } },
        ] }
    """)
    assert run.state is RunState.DONE
    assert not run.shells and not run.resources
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "300"]]


def test_spec_3_1_6_kill_handler_stops_the_process_and_continues(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "echo booted http://127.0.0.1:1; sleep 300",
            on: [{ event: "/booted (\\\\S+)/", kill: true }] }, returns: "local.r" },
        ] }
    """)
    assert run.state is RunState.IDLE
    assert h.local(run)["r"]["event"] == ["booted http://127.0.0.1:1", "http://127.0.0.1:1"]
    assert not run.shells


def test_spec_3_1_6_error_output_fails_the_step_unless_whitelisted(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "shell.run", params: { message: "echo ERROR: Could not find a version; echo done", on: [] } },
        ] }
    """)
    assert run.state is RunState.FAILED
    assert "the output matched an error pattern: ERROR:" in str(run.error)
    ok = h.run("b.js", """
        module.exports = { run: [
          { method: "shell.run", params: { message: "echo 'error: not critical'", on: [{ event: "/error:/i", break: false }] } },
        ] }
    """)
    assert ok.state is RunState.DONE, ok.error


def test_a_command_that_is_not_found_completes_as_the_original_does(h: Harness) -> None:
    # No error pattern matches "command not found", and exit codes do not fail steps (spec §3.1.5);
    # the exit code is in the result for scripts and the UI to see.
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "shell.run", params: { message: "surely-not-a-command --x" }, returns: "global.r" },
          { method: "shell.run", params: { message: "echo next step ran" }, returns: "global.next" },
        ] }
    """)
    kept = h.runner.memory_global[run.id]
    assert run.state is RunState.DONE, run.error
    assert kept["r"]["exit_code"] == 127 and "command not found" in kept["r"]["stdout"]
    assert "next step ran" in kept["next"]["stdout"]


def test_a_daemon_left_with_no_process_after_a_failure_is_crashed_not_idle(h: Harness) -> None:
    # docs/compat.md "Exit codes": idle means serving; a daemon whose last process failed and that has
    # nothing running is reported crashed with the exit code and the last lines (the original: "running").
    run = h.run("start.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "echo 'no CUDA driver'; exit 3" } },
        ] }
    """)
    assert run.state is RunState.CRASHED and run.exit_code == 3
    assert "no process left running" in str(run.error) and "no CUDA driver" in str(run.error)


def test_a_daemon_with_no_process_and_no_failure_stays_idle(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "echo fine" }, returns: "local.r" },
        ] }
    """)
    assert run.state is RunState.IDLE and h.local(run)["r"]["exit_code"] == 0


def test_run_usage_reports_the_server_port_and_memory(h: Harness) -> None:
    (h.app / "server.py").write_text(SERVER)
    run = h.run("start.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "python3 server.py", on: [{ event: "/http://[0-9.:]+/", done: true }] } },
          { method: "local.set", params: { url: "{{input.event[0]}}" } },
        ] }
    """)
    usage = h.sidecar.run(h.runner.usage(run.id))
    port = int(h.local(run)["url"].rsplit(":", 1)[1])
    assert port in usage["ports"] and usage["rss_bytes"] > 1_000_000 and usage["pids"]


def test_bad_event_pattern_fails_the_step(h: Harness) -> None:
    run = h.run("a.js", 'module.exports = { run: [{ method: "shell.run", params: { message: "true", on: [{ event: "http://", done: true }] } }] }')
    assert run.state is RunState.FAILED and 'is not a "/pattern/flags" string' in str(run.error)


def test_spec_3_1_input_true_reads_what_the_user_types(h: Harness) -> None:
    run = h.start(h.write("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { input: true, message: "read -r name; echo hello $name" }, returns: "local.r" },
        ] }
    """))
    deadline = time.monotonic() + 10
    while not run.shells and time.monotonic() < deadline:
        time.sleep(0.02)
    h.sidecar.loop.loop.call_soon_threadsafe(h.runner.write_input, run.id, "ada\n")
    h.wait(run)
    assert h.local(run)["r"]["stdout"].strip().endswith("hello ada")


def test_sudo_runs_directly_as_root(h: Harness) -> None:
    if os.geteuid() != 0:
        pytest.fail("this machine runs the tests as root; the non-root path is covered by the error message test")
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [{ method: "shell.run", params: { sudo: true, message: "id -u" }, returns: "local.r" }] }
    """)
    assert h.local(run)["r"]["stdout"] == "0\n"


def test_conda_env_from_an_unreachable_channel_fails_with_a_way_forward(h: Harness) -> None:
    """Conda needs no system install now (envs.conda); what can fail is the channel, named in one sentence."""
    h.runner.environ["PINOKIOCLOUD_CONDA_CHANNELS"] = "http://127.0.0.1:9/nothing-listens-here"
    run = h.run("a.js", 'module.exports = { run: [{ method: "shell.run", params: { message: "python -V", conda: ".env" } }] }')
    assert run.state is RunState.FAILED
    assert "could not create the conda env" in str(run.error) and "127.0.0.1:9" in str(run.error)
    assert "set PINOKIOCLOUD_CONDA_CHANNELS to a mirror you can reach" in str(run.error)


def test_daemon_server_dying_marks_the_run_crashed_with_last_lines(h: Harness) -> None:
    run = h.run("start.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "echo up; sleep 0.5; echo 'segfault in model'; exit 3",
            on: [{ event: "/up/", done: true }] } },
        ] }
    """)
    assert run.state is RunState.IDLE
    deadline = time.monotonic() + 10
    while run.state is RunState.IDLE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.state is RunState.CRASHED and run.exit_code == 3
    assert "exited too quickly with code 3" in str(run.error) and "segfault in model" in str(run.error)


def test_restart_policy_brings_a_crashed_daemon_back(sidecar: object, home: Path) -> None:
    from tests.helpers.sidecar import SyncSidecar

    assert isinstance(sidecar, SyncSidecar)
    h = Harness(sidecar, home, restart_policy=RestartPolicy(RestartMode.ON_FAILURE, max_attempts=2, backoff_s=0.1, stable_after_s=60))
    try:
        path = h.write("start.js", """
            module.exports = { daemon: true, run: [
              { method: "shell.run", params: { message: "echo up; sleep 0.3; exit 1", on: [{ event: "/up/", done: true }] } },
            ] }
        """)
        first = h.start(path)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            current = h.runner.runs[first.id]
            if current.restarts == 2 and current.state is RunState.CRASHED:
                break
            time.sleep(0.05)
        final = h.runner.runs[first.id]
        assert final is not first and final.restarts == 2 and final.state is RunState.CRASHED
    finally:
        h.close()


def test_spec_3_10_hf_download_runs_the_hf_cli_in_the_app_shell(h: Harness) -> None:
    # A stand-in for the vendor's `hf` CLI (the hub is unreachable offline): it prints what it was given.
    fake_bin = h.app / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "hf").write_text('#!/bin/sh\necho "hf $* HF_HOME=$HF_HOME"\nmkdir -p "$5" && touch "$5/model.safetensors"\n')
    (fake_bin / "hf").chmod(0o755)
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "hf.download", params: { path: "app", env: { PATH: ["{{cwd}}/fake-bin"] },
            _: ["adept/fuyu-8b", "model.safetensors"], "local-dir": "fuyu", exclude: "*.md" }, returns: "local.r" },
        ] }
    """)
    assert run.state is RunState.IDLE, run.error
    out = h.local(run)["r"]["stdout"]
    assert f"hf download adept/fuyu-8b model.safetensors --local-dir fuyu --exclude *.md HF_HOME={h.app / 'cache' / 'HF_HOME'}" in out
    assert "fuyu" in out.splitlines()[-1]  # the trailing `ls` of the app folder
    assert (h.app / "app" / "fuyu" / "model.safetensors").exists()


def test_a_daemon_server_that_exits_before_its_ready_signal_crashes_the_run(h: Harness) -> None:
    # issue 11: ComfyUI without an NVIDIA driver dies before printing its URL; that is not "online"
    run = h.run("start.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { message: "echo 'Found no NVIDIA driver on your system'; exit 1",
            on: [{ event: "/(http:\\\\/\\\\/[0-9.:]+)/", done: true }] } },
          { method: "local.set", params: { url: "{{input.event[1]}}" } },
        ] }
    """)
    assert run.state is RunState.CRASHED and run.exit_code == 1, run.error
    assert "before it was ready" in str(run.error) and "Found no NVIDIA driver" in str(run.error)
    assert "url" not in h.local(run)  # the step after it never ran


@pytest.mark.parametrize("command", ["kill -9 $$", "bash -c 'kill -9 $$' && echo never"])
def test_a_step_killed_by_a_signal_we_did_not_send_fails_the_run(h: Harness, command: str) -> None:
    # docs/compat.md "Exit codes": exit codes are ignored as in the original, but SIGKILL (the OOM killer)
    # means the step did not do its job, whether it hit bash itself (-9) or its child (137)
    run = h.run("install.js", f"""
        module.exports = {{ run: [
          {{ method: "shell.run", params: {{ message: "{command}" }} }},
          {{ method: "shell.run", params: {{ message: "echo installed" }}, returns: "global.done" }},
        ] }}
    """)
    assert run.state is RunState.FAILED
    assert "killed by signal 9 (SIGKILL): out of memory?" in str(run.error)
    assert "done" not in h.runner.memory_global.get(run.id, {})
