"""Template rules of spec §2, one test per MUST and per decided QUIRK. Expected values are the
spec's own verified examples (memory: port=42003, local.counter=2, input.event=[...], platform linux)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from pinokiocloud.kernel import KernelContext, render_script, render_steps, render_template
from pinokiocloud.platform import GpuInfo, SystemFacts
from tests.helpers.sidecar import SyncSidecar, make_context

MEMORY = {
    "port": 42003,
    "local": {"counter": 2},
    "input": {"event": ["http://127.0.0.1:7860", "127.0.0.1:7860"]},
    "args": {},
}


def r(sidecar: SyncSidecar, ctx: KernelContext, template: Any, memory: dict[str, Any] | None = None) -> Any:
    return sidecar.run(render_template(sidecar.sidecar, template, ctx, memory=MEMORY if memory is None else memory))


def step(sidecar: SyncSidecar, ctx: KernelContext, s: Any, memory: dict[str, Any] | None = None) -> tuple[Any, bool]:
    [out] = sidecar.run(render_steps(sidecar.sidecar, [s], ctx, memory=MEMORY if memory is None else memory))
    return out.step, out.runs


@pytest.mark.parametrize(("template", "expected"), [
    ("{{port}}", 42003),
    ("python app.py --port {{port}}", "python app.py --port 42003"),
    ("{{local.counter+1}}", 3),
    ("x{{port}}y{{port}}", "x42003y42003"),
    ("{{input.event[1]}}", "127.0.0.1:7860"),
    ("{{undefinedvar}}", "{{undefinedvar}}"),
    ("pre {{undefinedvar}} post", "pre {{undefinedvar}} post"),
    ("{{null}}", None),
    ("x {{null}} y", "x null y"),
    ("x {{local}} y", "x [object Object] y"),
    (["{{port}}", "{{args.missing}}"], [42003, "{{args.missing}}"]),
    ("{{path.resolve('/a','b')}}", "/a/b"),
    ("{{_.sample([1])}}", 1),
    ("{{`t${port}`}}", "t42003"),
])
def test_spec_2_2_verified_examples(sidecar: SyncSidecar, ctx: KernelContext, template: Any, expected: Any) -> None:
    assert r(sidecar, ctx, template) == expected


def test_spec_2_2_os_is_node_os(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    expected = {"linux": "linux", "darwin": "darwin"}.get(os.uname().sysname.lower())
    assert r(sidecar, ctx, "{{os.platform()}}") == expected


def test_spec_2_2_pure_strings_keep_their_type(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    assert r(sidecar, ctx, "{{port > 1}}") is True
    assert r(sidecar, ctx, "{{input.event}}") == ["http://127.0.0.1:7860", "127.0.0.1:7860"]
    assert r(sidecar, ctx, "{{ {a: port} }}") == {"a": 42003}
    assert r(sidecar, ctx, "{{ port }}") == 42003  # whitespace inside braces


def test_spec_2_1_throw_gives_the_literal(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    memory = {**MEMORY, "input": None}
    assert r(sidecar, ctx, "{{input.event[0]}}", memory) == "{{input.event[0]}}"
    assert r(sidecar, ctx, "url {{input.event[0]}}!", memory) == "url {{input.event[0]}}!"


def test_spec_2_1_newline_inside_braces_stays_literal(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    assert r(sidecar, ctx, "{{\nport}}") == "{{\nport}}"
    assert r(sidecar, ctx, "a {{port\n}} b") == "a {{port\n}} b"


def test_spec_2_2_partial_string_with_a_syntax_error_is_left_whole(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    assert r(sidecar, ctx, "{{port}} {{.Name}}") == "{{port}} {{.Name}}"


def test_spec_2_2_conditional_keys_drop_on_null_and_false(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    template = {"{{platform === 'win32' ? 'WIN' : null}}": 1, "{{platform === 'linux' && 'LINUX'}}": 2,
                "{{platform === 'darwin'}}": 3, "keep": "{{port}}"}
    assert r(sidecar, ctx, template) == {"LINUX": 2, "keep": 42003}


def test_spec_2_2_undefined_array_items_are_dropped(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    f = home / "api" / "u" / "s.js"
    f.parent.mkdir(parents=True)
    f.write_text("module.exports = { run: [{ method: 'shell.run', "
                 "params: { message: ['a', undefined, '{{port}}'] } }] }")
    [out] = sidecar.run(render_script(sidecar.sidecar, f, ctx, memory={"port": 42003}))
    assert out.step["params"]["message"] == ["a", 42003]


def test_spec_2_3_values_holding_templates_are_rendered_again(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    memory = {**MEMORY, "local": {"cmd": "python app.py --port {{port}}"}}
    assert step(sidecar, ctx, {"method": "shell.run", "params": {"message": "{{local.cmd}}"}}, memory)[0] == {
        "method": "shell.run", "params": {"message": "python app.py --port 42003"}}


def test_spec_2_3_at_most_four_passes(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    chain = {"l1": "{{local.l2}}", "l2": "{{local.l3}}", "l3": "{{local.l4}}", "l4": "{{local.l5}}", "l5": "done"}
    out, _ = step(sidecar, ctx, {"params": {"m": "{{local.l1}}"}}, {**MEMORY, "local": chain})
    assert out == {"params": {"m": "{{local.l5}}"}}
    out, _ = step(sidecar, ctx, {"params": {"m": "{{local.l1}}"}}, {**MEMORY, "local": {**chain, "l4": "done"}})
    assert out == {"params": {"m": "done"}}


def test_spec_2_3_triple_braces_escape_and_flatten(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    out, _ = step(sidecar, ctx, {"params": {"a": "docker inspect -f '{{{.Name}}}'", "b": "{{{port}}}",
                                            "c": "{{port}} and {{{x}}}"}})
    assert out == {"params": {"a": "docker inspect -f '{{.Name}}'", "b": "{{port}}", "c": "{{port}} and {{x}}"}}


@pytest.mark.parametrize(("when", "runs"), [
    ("{{envs.MISSING}}", False),
    ("{{local.missing}}", False),
    ("{{gpu === 'nvidia'}}", False),
    ("{{gpu === 'none'}}", True),
    ("{{platform === 'linux' && port > 0}}", True),
    (False, False), (0, False), ("", False), (None, False), (True, True), (1, True),
    ("{{input.event[0]}}", True),
    ("{{undeclared_name}}", True),  # QUIRK kept: a throwing `when` renders to its literal and runs
])
def test_spec_2_4_when(sidecar: SyncSidecar, ctx: KernelContext, when: Any, runs: bool) -> None:
    assert step(sidecar, ctx, {"method": "log", "when": when}, {**MEMORY, "local": {}})[1] is runs


def test_spec_2_4_throwing_when_runs_when_input_is_null(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    assert step(sidecar, ctx, {"method": "log", "when": "{{input.event}}"}, {**MEMORY, "input": None})[1] is True
    guarded = "{{input && input.event && Array.isArray(input.event) && input.event.length > 0}}"
    assert step(sidecar, ctx, {"method": "log", "when": guarded}, {**MEMORY, "input": None})[1] is False


def test_spec_2_4_when_uses_the_gpu_of_the_machine(sidecar: SyncSidecar, home: Path) -> None:
    nvidia = SystemFacts("linux", "x64", 16, [GpuInfo("nvidia", "tesla t4", "535.104.05", 15, "sm_75")])
    ctx = make_context(home, system=nvidia)
    assert step(sidecar, ctx, {"when": "{{gpu === 'nvidia' && platform === 'linux'}}"})[1] is True
    assert step(sidecar, ctx, {"when": "{{gpu === 'nvidia' && kernel.gpu_model && / 50.+/.test(kernel.gpu_model)}}"}
                )[1] is False


def test_spec_2_6_decision_pure_looking_strings_with_several_blocks(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    # Decided (docs/compat.md): interpolate them, instead of leaving the whole object unrendered.
    memory = {**MEMORY, "args": {"a": "x", "b": "y"}, "local": {"x": 1}}
    template = {"path": "{{args.a}}/{{args.b}}", "msg": "{{local.x}} and {{port}}", "other": "{{port}}"}
    assert r(sidecar, ctx, template, memory) == {"path": "x/y", "msg": "1 and 42003", "other": 42003}


def test_spec_2_6_decision_a_single_invalid_block_leaves_only_that_string(
    sidecar: SyncSidecar, ctx: KernelContext
) -> None:
    assert r(sidecar, ctx, {"fmt": "{{.Name}}", "port": "{{port}}"}) == {"fmt": "{{.Name}}", "port": 42003}


def test_spec_2_5_every_memory_name(sidecar: SyncSidecar, home: Path) -> None:
    gpu = GpuInfo("nvidia", "nvidia a100-sxm4-40gb", "550.54.15", 40, "sm_80")
    ctx = make_context(home, system=SystemFacts("linux", "x64", 83, [gpu]),
                       envs={"PATH": "/usr/bin:/bin", "HF_HOME": "/h"},
                       running=[str(home / "api" / "m" / "start.js")], ready=[str(home / "api" / "m" / "start.js")])
    app = home / "api" / "m"
    (app / "app").mkdir(parents=True)
    (app / "s.js").write_text("""
      module.exports = { custom: 'self-value', run: [{ method: 'log', params: {
        input: '{{input.x}}', args: '{{args.venv}}', local: '{{local.url}}', global: '{{global.n}}',
        self: '{{self.custom}}', cwd: '{{cwd}}', dirname: '{{dirname}}', name: '{{name}}', uri: '{{uri}}',
        current: '{{current}}', next: '{{next}}', port: '{{port}}', exists: '{{exists("app")}}',
        running: '{{running("start.js")}}', ready: '{{ready("start.js")}}', platform: '{{platform}}',
        arch: '{{arch}}', gpu: '{{gpu}}', gpu_model: '{{gpu_model}}', gpu_driver: '{{gpu_driver}}',
        gpu_target: '{{gpu_target}}', gpus: '{{gpus.length}}', vram: '{{vram}}', ram: '{{ram}}',
        env: '{{env.HF_HOME}}', envs: '{{envs.HF_HOME}}', which: '{{which("sh")}}',
        kernel: '{{kernel.path("x")}}', os: '{{os.EOL}}', path: '{{path.join("a", "b")}}',
        lodash: '{{_.kebabCase("Hello World")}}' } }, { method: 'log' }] }
    """)
    memory = {"input": {"x": "in"}, "args": {"venv": "env"}, "local": {"url": "http://u"}, "global": {"n": 5},
              "cwd": str(app), "name": "m", "uri": "~/api/m/s.js", "port": 42010}
    out = sidecar.run(render_script(sidecar.sidecar, app / "s.js", ctx, steps=[0], memory=memory))
    assert out[0].step["params"] == {
        "input": "in", "args": "env", "local": "http://u", "global": 5, "self": "self-value", "cwd": str(app),
        "dirname": str(app), "name": "m", "uri": "~/api/m/s.js", "current": 0, "next": 1, "port": 42010,
        "exists": True, "running": True, "ready": True, "platform": "linux", "arch": "x64", "gpu": "nvidia",
        "gpu_model": "nvidia a100-sxm4-40gb", "gpu_driver": "550.54.15", "gpu_target": "sm_80", "gpus": 1,
        "vram": 40, "ram": 83, "env": "/h", "envs": "/h", "which": shutil.which("sh", path="/usr/bin:/bin"),
        "kernel": str(home / "x"), "os": "\n", "path": "a/b", "lodash": "hello-world",
    }
    last = sidecar.run(render_script(sidecar.sidecar, app / "s.js", ctx, steps=[1], memory=memory))
    assert last[0].step == {"method": "log"}


def test_spec_2_5_global_values_override_memory(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    # On a name clash the global template value wins (spec §2.1), so a memory `platform` is ignored.
    assert r(sidecar, ctx, "{{platform}}", {**MEMORY, "platform": "win32"}) == "linux"


def test_replacement_patterns_in_values_behave_as_in_javascript(sidecar: SyncSidecar, ctx: KernelContext) -> None:
    # Partial strings are built with String.prototype.replaceAll, so `$$` in a value becomes `$`.
    assert r(sidecar, ctx, "cost {{local.v}}", {**MEMORY, "local": {"v": "5$$"}}) == "cost 5$"
