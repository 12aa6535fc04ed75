"""The real ``pinokiocloud`` binary: script load/render, menu DIR, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "pinokiocloud"


def run_cli(*args: str, home: Path, node_modules: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PINOKIO_HOME": str(home), "PINOKIOCLOUD_NODE_MODULES": str(node_modules), **extra}
    env.pop("PINOKIOCLOUD_DEBUG", None)
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture
def app(home: Path) -> Path:
    folder = home / "api" / "demo"
    folder.mkdir()
    (folder / "pinokio.js").write_text("""
      module.exports = { version: '3.7', title: 'Demo', menu: async (kernel, info) => info.exists('app/env')
        ? [{ default: true, text: 'Start', href: 'start.js' }]
        : [{ default: true, text: 'Install', href: 'install.js', params: { venv: 'env' } }] }
    """)
    (folder / "install.js").write_text("""
      module.exports = async (kernel) => ({
        run: [
          { method: 'shell.run', when: "{{gpu === 'nvidia'}}", params: { message: 'nvidia-smi' } },
          { method: 'shell.run', params: { venv: '{{args && args.venv ? args.venv : null}}', path: 'app',
            message: ['uv pip install -r requirements.txt', 'echo {{platform}} {{args.flag}}'] } },
          { method: async (req, ondata, kernel) => 1, params: {} },
        ],
      })
    """)
    return folder


def test_script_load_prints_data_with_functions_marked(app: Path, home: Path, node_modules: Path) -> None:
    done = run_cli("script", "load", str(app / "install.js"), "--json", home=home, node_modules=node_modules)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["kind"] == "function"
    assert data["script"]["run"][2] == {"method": "[function]", "params": {}}
    assert data["script"]["run"][0]["when"] == "{{gpu === 'nvidia'}}"


def test_script_render_uses_the_given_variables(app: Path, home: Path, node_modules: Path) -> None:
    done = run_cli("script", "render", str(app / "install.js"), "--var", "platform=win32", "--var", "gpu=nvidia",
                   "--var", "args.venv=env", "--var", "args.flag=true", "--json", home=home, node_modules=node_modules)
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)["steps"]
    assert [s["runs"] for s in steps] == [True, True, True]
    assert steps[1]["step"]["params"] == {"venv": "env", "path": "app",
                                          "message": ["uv pip install -r requirements.txt", "echo win32 true"]}


def test_script_render_one_step(app: Path, home: Path, node_modules: Path) -> None:
    done = run_cli("script", "render", str(app / "install.js"), "--step", "0", "--var", "gpu=amd", "--json",
                   home=home, node_modules=node_modules)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["steps"] == [
        {"index": 0, "runs": False,
         "step": {"method": "shell.run", "when": False, "params": {"message": "nvidia-smi"}}}]


def test_menu_of_a_launcher_folder(app: Path, home: Path, node_modules: Path) -> None:
    done = run_cli("menu", str(app), "--json", home=home, node_modules=node_modules)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["meta"] == {"version": "3.7", "title": "Demo"}
    assert data["menu"] == [{"default": True, "text": "Install", "href": "install.js", "params": {"venv": "env"}}]


@pytest.mark.parametrize(("files", "args", "message"), [
    ({"bad.js": "module.exports = {\n  run: [\n    { method: 'x' ]\n}\n"}, ["script", "load", "{d}/bad.js"],
     "cannot load {d}/bad.js:3:"),
    ({"req.js": "require('left-pad-nowhere')\nmodule.exports = {run: []}"}, ["script", "load", "{d}/req.js"],
     "Cannot find module 'left-pad-nowhere'"),
    ({"throw.js": "module.exports = async () => { throw new Error('boom') }"}, ["script", "render", "{d}/throw.js"],
     "Error: boom"),
    ({"pinokio.js": "module.exports = { menu: () => { while (true) {} } }"}, ["menu", "{d}"],
     "did not finish within"),
    ({}, ["menu", "{d}"], "is not a Pinokio launcher folder"),
    ({}, ["script", "load", "{d}/missing.js"], "no such file"),
    ({"ok.js": "module.exports = {run: []}"}, ["script", "render", "{d}/ok.js", "--var", "novalue"],
     "--var needs NAME=VALUE"),
    ({"ok.js": "module.exports = {run: [{method: 'log'}]}"}, ["script", "render", "{d}/ok.js", "--step", "5"],
     "step 5 does not exist"),
    ({"nope.js": "module.exports = {daemon: true}"}, ["script", "render", "{d}/nope.js"],
     "missing or invalid attribute: run"),
])
def test_bad_input_is_one_clear_line_and_exit_2(
    tmp_path: Path, home: Path, node_modules: Path, files: dict[str, str], args: list[str], message: str,
) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    snapshot = {p: p.read_text() for p in folder.iterdir()}
    done = run_cli(*[a.format(d=folder) for a in args], home=home, node_modules=node_modules,
                   PINOKIOCLOUD_CALL_TIMEOUT_S="2")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message.format(d=folder) in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.strip().startswith("error:")
    assert {p: p.read_text() for p in folder.iterdir()} == snapshot  # nothing lost or changed


def test_a_bad_timeout_setting_is_a_user_error(app: Path, home: Path, node_modules: Path) -> None:
    done = run_cli("menu", str(app), home=home, node_modules=node_modules, PINOKIOCLOUD_CALL_TIMEOUT_S="soon")
    assert done.returncode == 2
    assert "PINOKIOCLOUD_CALL_TIMEOUT_S must be a number" in done.stderr and "Traceback" not in done.stderr


def test_help_lists_the_commands(home: Path, node_modules: Path) -> None:
    done = run_cli("--help", home=home, node_modules=node_modules)
    assert done.returncode == 0
    for command in ("script", "menu", "version"):
        assert command in done.stdout


def test_render_var_reaches_the_kernel_of_function_form_scripts(home: Path, node_modules: Path) -> None:
    """Issue 17 item 6: `--var gpu=nvidia` is what `kernel.gpu` and `pip.install.torch` see, as templates do
    (bria-rmbg and moore-animateanyone pick their torch command from `kernel.gpu`)."""
    folder = home / "api" / "gpu-picker"
    folder.mkdir(parents=True)
    (folder / "install.js").write_text("""
      module.exports = async (kernel) => ({
        run: [{ method: 'shell.run', params: { message: [
          kernel.gpu === 'nvidia' ? 'pip install torch --index-url cu121' : 'pip install torch --index-url cpu',
          'echo ' + kernel.platform + ' ' + kernel.gpus.length,
          '{{pip.install.torch}}'] } }],
      })
    """)
    done = run_cli("script", "render", str(folder / "install.js"), "--var", "gpu=nvidia", "--var", "platform=win32",
                   "--json", home=home, node_modules=node_modules)
    assert done.returncode == 0, done.stderr
    message = json.loads(done.stdout)["steps"][0]["step"]["params"]["message"]
    assert message[0] == "pip install torch --index-url cu121"
    assert message[1] == "echo win32 1"
    assert "cu118" in message[2]  # the template's torch command is the NVIDIA one as well

    cpu = run_cli("script", "render", str(folder / "install.js"), "--var", "gpu=none", "--var", "platform=linux",
                  "--json", home=home, node_modules=node_modules)
    message = json.loads(cpu.stdout)["steps"][0]["step"]["params"]["message"]
    assert message[0] == "pip install torch --index-url cpu" and message[1] == "echo linux 0"
    assert "whl/cpu" in message[2]
