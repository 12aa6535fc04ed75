"""Data methods (spec §3.4) and ENVIRONMENT methods (spec §3.11)."""

from __future__ import annotations

import json

from pinokiocloud.kernel.runner import RunState
from tests.kernel.runner_helpers import Harness


def test_spec_3_4_local_set_dotted_keys_arrays_and_brackets(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "local.set", params: { "a.b.c": 1, numbers: [0, 1, 2], "x": "y" } },
          { method: "local.set", params: { "numbers.1": 100, '["dotted.name"]': true, "items[0]": "literal" } },
          { method: "local.rm", params: ["x", "numbers.0"] },
        ] }
    """)
    assert h.local(run) == {"a": {"b": {"c": 1}}, "numbers": [100, 2], "dotted.name": True, "items[0]": "literal"}
    assert '"c": 1' in h.printed(run)  # local.set prints the whole local object


def test_spec_3_4_global_survives_runs_of_the_same_script(h: Harness) -> None:
    script = """
        module.exports = { run: [
          { method: "global.set", params: { count: "{{(global.count || 0) + 1}}" } },
          { method: "log", params: { text: "count={{global.count}}" } },
        ] }
    """
    h.run("g.js", script)
    run = h.run("g.js")
    assert h.printed(run).endswith("count=2\r\n") and "count=1" not in h.printed(run)


def test_spec_3_4_set_and_rm_generic_forms(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "set", params: { local: { a: 1, b: 2 }, global: { g: 1 }, json: { "conf.json": { "k.v": 3 } },
                                     key: { "huggingface.co": { token: "t" } } } },
          { method: "rm", params: { local: ["b"], json: { "conf.json": ["k.v"] } } },
        ] }
    """)
    assert h.local(run) == {"a": 1}
    assert h.runner.memory_global[run.id] == {"g": 1}
    assert json.loads((h.app / "conf.json").read_text()) == {"k": {}}
    assert json.loads((h.home / "key.json").read_text()) == {"huggingface.co": {"token": "t"}}


def test_spec_3_4_json_set_patches_files_with_slash_keys_two_space_indent(h: Harness) -> None:
    (h.app / "app").mkdir()
    (h.app / "app" / "ui-config.json").write_text('{"keep": 1}')
    h.run("a.js", """
        module.exports = { run: [
          { method: "self.set", params: { "app/ui-config.json": { "txt2img/Width/value": 1024 } } },
          { method: "json.set", params: { "new/dir/settings.json": { "a.b": [1] }, "notes.txt": { "x": 1 } } },
        ] }
    """)
    assert json.loads((h.app / "app" / "ui-config.json").read_text()) == {"keep": 1, "txt2img/Width/value": 1024}
    assert (h.app / "new/dir/settings.json").read_text() == json.dumps({"a": {"b": [1]}}, indent=2)
    assert not (h.app / "notes.txt").exists()  # only .json files are touched


def test_spec_3_4_json_get_and_json_rm(h: Harness) -> None:
    (h.app / "s.json").write_text('{"a": {"b": 1, "c": 2}}')
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "json.rm", params: { "s.json": ["a.c"] } },
          { method: "json.get", params: { settings: "s.json", broken: "missing.json" } },
        ] }
    """)
    assert h.local(run) == {"settings": {"a": {"b": 1}}, "broken": None}


def test_json_set_on_an_unwritable_path_fails_with_a_clear_message(h: Harness) -> None:
    (h.app / "blocker").write_text("a file, not a folder")
    run = h.run("a.js", 'module.exports = { run: [{ method: "json.set", params: { "blocker/x.json": { a: 1 } } }] }')
    assert run.state is RunState.FAILED
    assert "step 0 (json.set): cannot write" in str(run.error) and "blocker/x.json" in str(run.error)


def test_spec_3_11_env_set_and_switch_edit_the_app_file(h: Harness) -> None:
    (h.app / "ENVIRONMENT").write_text("# my settings\nMODE=fast\nOTHER=1\n")
    h.run("a.js", """
        module.exports = { run: [
          { method: "env.set", params: { OTHER: "two\\nlines", NEW: 5 } },
          { method: "env.switch", params: { MODE: ["slow", "fast", "turbo"], UNSET: ["a", "b"] } },
        ] }
    """)
    assert (h.app / "ENVIRONMENT").read_text().splitlines() == [
        "# my settings", "MODE=turbo", "OTHER=two\\nlines", "NEW=5", "UNSET=a"]


def test_spec_4_8_environment_files_are_generated_and_layered(h: Harness) -> None:
    h.write("_ENVIRONMENT", "# shipped by the launcher\nMODEL=base\n")
    run = h.run("a.js", """
        const names = ["HF_HOME", "PIP_CACHE_DIR", "MODEL", "PINOKIO_SCRIPT_DEFAULT", "GRADIO_ALLOWED_PATHS"]
        module.exports = { run: [{ method: "log", params: {
          text: names.map((n) => "{{env." + n + "}}").join("|") } }] }
    """)
    system = (h.home / "ENVIRONMENT").read_text()
    assert "HF_HOME=./cache/HF_HOME" in system and "PS1=<<PINOKIO_SHELL>> " in system
    app_file = (h.app / "ENVIRONMENT").read_text()
    assert app_file.startswith("# shipped by the launcher\nMODEL=base\n") and "PINOKIO_SHARE_PASSCODE=" in app_file
    assert h.printed(run) == (f"{h.app / 'cache' / 'HF_HOME'}|{h.home / 'cache' / 'PIP_CACHE_DIR'}|base|true|"
                              f"{h.home}\r\n")


def test_spec_1_4_required_env_fails_headless_naming_the_keys(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { env: [{ key: "HF_TOKEN", title: "Hugging Face token" }, { key: "PATH" }],
                           run: [{ method: "log", params: { text: "ran" } }] }
    """)
    assert run.state is RunState.FAILED
    assert "asks for HF_TOKEN;" in str(run.error) and "--answers" in str(run.error)
    assert h.printed(run) == ""


def test_spec_1_4_required_env_answered_is_saved_to_the_app_file(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { env: [{ key: "HF_TOKEN", host: "huggingface.co" }],
                           run: [{ method: "log", params: { text: "token={{env.HF_TOKEN}}" } }] }
    """, answers=[{"HF_TOKEN": "hf_abc"}])
    assert run.state is RunState.DONE and h.printed(run) == "token=hf_abc\r\n"
    assert "HF_TOKEN=hf_abc" in (h.app / "ENVIRONMENT").read_text()
    assert json.loads((h.home / "key.json").read_text()) == {"huggingface.co": ["hf_abc"]}


def test_setting_a_path_through_a_plain_value_replaces_it_with_an_object(h: Harness) -> None:
    # Decided (docs/compat.md): the original silently ignores such a set; we make the object.
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "local.set", params: { a: 1 } },
          { method: "local.set", params: { "a.b": 2 } },
        ] }
    """)
    assert h.local(run) == {"a": {"b": 2}}
