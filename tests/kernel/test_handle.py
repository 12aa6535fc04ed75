"""What methods do through their RunHandle that a user notices: background work that fails says so,
and ``key.json`` has one writer that replaces the file whole."""

from __future__ import annotations

import json
import time

from pinokiocloud.kernel.runner import RunState
from tests.kernel.runner_helpers import Harness


def test_a_scheduled_restart_that_fails_becomes_an_error_of_the_run(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [{ method: "script.restart", params: { uri: "gone.js" } }] }
    """)
    assert run.state is RunState.DONE, run.error
    deadline = time.monotonic() + 10
    while not h.events(run, "error") and time.monotonic() < deadline:
        time.sleep(0.05)
    [error] = h.events(run, "error")
    assert error.data["message"].startswith("script.restart gone.js:")
    assert "gone.js" in error.data["message"] and "no such file" in error.data["message"]


def test_key_json_is_replaced_whole_and_keeps_what_others_saved(h: Harness) -> None:
    (h.home / "key.json").write_text(json.dumps({"civitai.com": {"token": "c"}}))
    with (h.home / "key.json").open() as before:
        run = h.run("a.js", """
            module.exports = {
              env: [{ key: "HF_TOKEN", host: "huggingface.co" }],
              run: [{ method: "set", params: { key: { "github.com": { token: "g" } } } }],
            }
        """, answers=[{"HF_TOKEN": "hf_x"}])
        assert run.state is RunState.DONE, run.error
        assert json.loads(before.read()) == {"civitai.com": {"token": "c"}}  # a reader never sees half a file
    assert json.loads((h.home / "key.json").read_text()) == {
        "civitai.com": {"token": "c"}, "huggingface.co": ["hf_x"], "github.com": {"token": "g"}}
    assert sorted(p.name for p in h.home.iterdir() if "key.json" in p.name) == ["key.json"]  # no temp left
