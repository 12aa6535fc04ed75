"""The run/step lifecycle of spec §4, one test per MUST and per decided QUIRK."""

from __future__ import annotations

import time

from pinokiocloud.kernel.runner import RunState
from tests.kernel.runner_helpers import Harness


def test_spec_4_2_results_flow_into_the_next_input_and_args_stay(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "script.return", params: { n: 1 } },
          { method: "script.return", params: { n: "{{input.n + 1}}", a: "{{args.x}}" } },
          { method: "log", params: { text: "n={{input.n}} a={{input.a}} args={{args.x}}" } },
        ] }
    """, args={"x": "arg"})
    assert run.state is RunState.DONE
    assert h.printed(run) == "n=2 a=arg args=arg\r\n"


def test_spec_2_4_skipped_step_passes_null_and_its_next_is_ignored(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "script.return", params: { v: 1 } },
          { method: "script.return", when: "{{false}}", params: { v: 2 }, next: null },
          { method: "log", params: { text: "input={{JSON.stringify(input)}}" } },
        ] }
    """)
    assert h.printed(run) == "input=null\r\n"
    assert [e.step for e in h.events(run, "skip")] == [1]


def test_spec_1_5_next_by_index_id_and_null(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "log", params: { text: "0" }, next: 2 },
          { method: "log", params: { text: "1 (skipped)" } },
          { method: "log", params: { text: "2" }, next: "last" },
          { method: "log", params: { text: "3 (skipped)" } },
          { id: "last", method: "log", params: { text: "4" }, next: null },
          { method: "log", params: { text: "5 (after null)" } },
        ] }
    """)
    assert run.state is RunState.DONE
    assert h.printed(run) == "0\r\n2\r\n4\r\n"


def test_torch_js_pattern_first_matching_branch_wins(h: Harness) -> None:
    run = h.run("torch.js", """
        module.exports = { run: [
          { when: "{{gpu === 'nvidia'}}", method: "log", params: { text: "cuda" }, next: null },
          { when: "{{platform === 'linux' && gpu === 'amd'}}", method: "log", params: { text: "rocm" }, next: null },
          { method: "log", params: { text: "cpu {{args && args.venv ? args.venv : 'none'}}" }, next: null },
          { method: "log", params: { text: "never" } },
        ] }
    """, args={"venv": "env"})
    assert h.printed(run) == "cpu env\r\n"


def test_unknown_next_id_fails_the_run_naming_script_and_step(h: Harness) -> None:
    run = h.run("a.js", 'module.exports = { run: [{ method: "log", params: {text: "x"}, next: "nowhere" }] }')
    assert run.state is RunState.FAILED
    assert run.error == f"{h.app / 'a.js'} step 0 (log): next: no step has the id 'nowhere'"
    assert h.events(run, "error")[0].data["message"] == run.error


def test_next_index_out_of_range_fails(h: Harness) -> None:
    run = h.run("a.js", 'module.exports = { run: [{ method: "log", params: {text: "x"}, next: 7 }] }')
    assert run.state is RunState.FAILED and "next step 7 does not exist (the script has 1 steps)" in str(run.error)


def test_step_without_method_fails(h: Harness) -> None:
    run = h.run("a.json", '{"run": [{"params": {}}]}')
    assert run.state is RunState.FAILED and str(run.error).endswith("step 0: missing RPC attribute: method")


def test_run_that_is_not_an_array_fails(h: Harness) -> None:
    run = h.run("a.json", '{"run": "oops"}')
    assert run.state is RunState.FAILED and "missing or invalid attribute: run" in str(run.error)


def test_unknown_method_suggests_the_close_one(h: Harness) -> None:
    run = h.run("a.json", '{"run": [{"method": "locl.set", "params": {}}]}')
    assert run.state is RunState.FAILED
    assert str(run.error).endswith("step 0 (locl.set): RPC endpoint doesn't exist: locl.set; did you mean local.set?")


def test_spec_1_5_returns_string_form(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "script.return", params: { url: "http://x" }, returns: "local.info" },
          { method: "script.return", params: [1, 2], returns: "global.list" },
        ] }
    """)
    assert h.local(run) == {"info": {"url": "http://x"}}
    assert h.runner.memory_global[run.id] == {"list": [1, 2]}


def test_returns_object_form_decision(h: Harness) -> None:
    # Decided (docs/compat.md): keys are local./global. targets, values templates over the result.
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "script.return", params: { images: ["a.png", "b.png"] },
            returns: { "local.image": "{{images[0]}}", "global.count": "{{images.length}}" } },
        ] }
    """)
    assert h.local(run) == {"image": "a.png"}
    assert h.runner.memory_global[run.id] == {"count": 2}


def test_spec_1_5_notify_after_a_step(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "log", params: { text: "x" }, notify: true },
          { method: "log", params: { text: "y" }, notify: { html: "done!" } },
        ] }
    """)
    assert [e.data for e in h.events(run, "notify")] == [{"html": "Step 0 Finished"}, {"html": "done!"}]


def test_spec_4_3_non_daemon_end_clears_local(h: Harness) -> None:
    run = h.run("a.js", 'module.exports = { run: [{ method: "local.set", params: { url: "http://x" } }] }')
    assert run.state is RunState.DONE and not run.is_alive
    assert h.local(run) == {}
    assert not h.runner.is_running(run.id)


def test_spec_4_3_daemon_stays_running_with_local_kept(h: Harness) -> None:
    run = h.run("start.js", 'module.exports = { daemon: true, run: [{ method: "local.set", params: { url: "u" } }] }')
    assert run.state is RunState.IDLE and h.runner.is_running(run.id) and run.is_ready
    assert h.local(run) == {"url": "u"}
    h.stop(run)
    assert run.state is RunState.STOPPED and h.local(run) == {} and not h.runner.is_running(run.id)


def test_spec_4_4_error_marks_the_run_failed_and_clears_local(h: Harness) -> None:
    # Improvement over the original (docs/compat.md): failed, not "running" forever.
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "local.set", params: { url: "u" } },
          { method: "fs.copy", params: { src: "missing-folder", dest: "x" } },
          { method: "log", params: { text: "never" } },
        ] }
    """)
    assert run.state is RunState.FAILED and not h.runner.is_running(run.id)
    assert "step 1 (fs.copy): fs.copy:" in str(run.error) and "missing-folder does not exist" in str(run.error)
    assert h.local(run) == {}
    assert "never" not in h.printed(run)
    assert [e.type for e in h.events(run)][-3:] == ["error", "state", "stop"]


def test_spec_4_5_stop_runs_on_stop_and_clears_local(h: Harness) -> None:
    path = h.write("start.js", """
        module.exports = {
          daemon: true,
          on: { stop: { method: "fs.write", params: { path: "stopped.txt", text: "bye" } } },
          run: [{ method: "local.set", params: { url: "u" } }, { method: "process.wait" }],
        }
    """)
    run = h.start(path)
    deadline = time.monotonic() + 10
    while run.current < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    h.stop(run)
    assert run.state is RunState.STOPPED
    assert (h.app / "stopped.txt").read_text() == "bye"
    assert h.local(run) == {}


def test_spec_4_5_stopping_a_parent_leaves_its_children_running(h: Harness) -> None:
    h.write("server.js", 'module.exports = { daemon: true, run: [{ method: "local.set", params: { up: true } }] }')
    parent = h.start(h.write("parent.js", """
        module.exports = { run: [
          { method: "script.start", params: { uri: "server.js" } },
          { method: "process.wait" },
        ] }
    """))
    child_id = str(h.app / "server.js")
    deadline = time.monotonic() + 10
    while not (h.runner.is_running(child_id) and parent.current == 1) and time.monotonic() < deadline:
        time.sleep(0.02)
    h.stop(parent)
    assert parent.state is RunState.STOPPED
    assert h.runner.runs[child_id].state is RunState.IDLE
    assert h.runner.memory_local[child_id] == {"up": True}


def test_spec_4_1_function_scripts_are_called_again_each_step_for_self(h: Harness) -> None:
    h.write("v.txt", "first")
    run = h.run("a.js", """
        const fs = require('fs')
        module.exports = async (kernel) => ({
          v: fs.readFileSync(__dirname + '/v.txt', 'utf8'),
          run: [
            { method: "log", params: { text: "{{self.v}}" } },
            { method: "fs.write", params: { path: "v.txt", text: "second" } },
            { method: "log", params: { text: "{{self.v}}" } },
          ],
        })
    """)
    assert h.printed(run) == "first\r\nsecond\r\n"


def test_spec_4_1_steps_are_cached_for_the_whole_run(h: Harness) -> None:
    path = h.write("a.js", """
        const edited = "module.exports = { run: [{ method: 'log', params: { text: 'edited' } }] }"
        module.exports = { run: [
          { method: "fs.write", params: { path: "a.js", text: edited } },
          { method: "log", params: { text: "original second step" } },
        ] }
    """)
    run = h.sidecar.run(h.runner.run_to_end(path))
    assert h.printed(run) == "original second step\r\n"
    again = h.sidecar.run(h.runner.run_to_end(path))
    assert h.printed(again).endswith("edited\r\n")  # the edit applies to the next run


def test_spec_4_7_queue_true_serializes_a_method_per_script(h: Harness) -> None:
    script = """
        module.exports = { run: [{ method: "process.wait", params: { sec: 0.4 }, queue: %s }] }
    """
    queued = h.write("q.js", script % "true")
    started = time.monotonic()
    runs = [h.start(queued, session=str(i)) for i in range(2)]
    for r in runs:
        h.wait(r)
    assert time.monotonic() - started >= 0.8
    free = h.write("f.js", script % "false")
    started = time.monotonic()
    runs = [h.start(free, session=str(i)) for i in range(2)]
    for r in runs:
        h.wait(r)
    assert time.monotonic() - started < 0.8


def test_several_runs_at_once(h: Harness) -> None:
    paths = [h.write(f"s{i}.js", f"""
        module.exports = {{ daemon: true, run: [{{ method: "process.wait", params: {{ sec: 0.3 }} }},
          {{ method: "local.set", params: {{ n: {i} }} }}] }}
    """) for i in range(4)]
    started = time.monotonic()
    runs = [h.start(p) for p in paths]
    for r in runs:
        h.wait(r)
    assert time.monotonic() - started < 1.1
    assert [h.local(r) for r in runs] == [{"n": i} for i in range(4)]


def test_run_events_carry_step_and_total_in_order(h: Harness) -> None:
    run = h.run("a.js", 'module.exports = { run: [{ method: "log", params: { text: "a" } }, '
                        '{ method: "log", params: { text: "b" } }] }')
    events = h.events(run)
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    steps = h.events(run, "step")
    assert [(e.step, e.total) for e in steps] == [(0, 2), (1, 2)]
    memory = h.events(run, "memory")[0].data
    assert set(memory) >= {"input", "args", "local", "global", "cwd", "port"}
    assert [e.data["state"] for e in h.events(run, "state")] == ["running", "done"]


def test_runs_started_together_never_share_a_port(h: Harness) -> None:
    # Two daemons restored at the same moment both ask for "a free port" before either binds it.
    js = h.write("js.js", """
        module.exports = async (kernel) => ({ daemon: true, p: await kernel.port(),
          run: [{ method: "local.set", params: { js: "{{self.p}}", tpl: "{{port}}" } }] })
    """)
    runs = [h.start(js, session=str(i)) for i in range(3)]
    for r in runs:
        h.wait(r)
    per_run = [{h.local(r)["js"], h.local(r)["tpl"]} for r in runs]
    # within a run kernel.port() and {{port}} give the first free port, as both do in the original ...
    assert all(len(ports) == 1 for ports in per_run), per_run
    # ... and no port is given to two runs
    assert len(set.union(*per_run)) == len(runs), per_run


def test_a_run_keeps_its_template_port_from_step_to_step(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "local.set", params: { a: "{{port}}" } },
          { method: "local.set", params: { b: "{{port}}" } },
        ] }
    """)
    assert h.local(run)["a"] == h.local(run)["b"]
