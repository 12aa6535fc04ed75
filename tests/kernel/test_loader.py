"""Loading script files (spec §1.3): every export form, real require, fresh content, the kernel facade."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from pinokiocloud.errors import ScriptLoadError
from pinokiocloud.kernel import KernelContext, load_script
from pinokiocloud.kernel.ports import PORT_START, port_start
from pinokiocloud.platform import GpuInfo, SystemFacts
from tests.helpers.sidecar import SyncSidecar, make_context


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _load(sidecar: SyncSidecar, path: Path, ctx: KernelContext) -> tuple[str, object]:
    loaded = sidecar.run(load_script(sidecar.sidecar, path, ctx))
    return loaded.kind, loaded.data


def test_json_script(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    f = _write(home / "api/a/install.json", json.dumps({"run": [{"method": "shell.run", "params": {"message": "x"}}]}))
    assert _load(sidecar, f, ctx) == ("json", {"run": [{"method": "shell.run", "params": {"message": "x"}}]})


def test_js_object_with_comments_and_inline_function(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    f = _write(home / "api/a/start.js", """
      // a comment
      module.exports = {
        daemon: true,
        run: [{ method: async (req, ondata, kernel) => 1, params: { message: 'hi' } }],
      }
    """)
    kind, data = _load(sidecar, f, ctx)
    assert kind == "object"
    assert data == {"daemon": True, "run": [{"method": "[function]", "params": {"message": "hi"}}]}


def test_async_function_gets_the_kernel_facade(sidecar: SyncSidecar, home: Path) -> None:
    gpu = GpuInfo("nvidia", "nvidia geforce rtx 5090", "580.65", 32, "sm_120")
    ctx = make_context(home, system=SystemFacts(platform="linux", arch="x64", ram=64, gpus=[gpu]),
                       envs={"PATH": "/usr/bin:/bin", "HF_HOME": "/cache/hf"})
    (home / "marker").write_text("")
    f = _write(home / "api/a/install.js", """
      module.exports = async (kernel) => ({
        facts: {
          platform: kernel.platform, arch: kernel.arch, gpu: kernel.gpu, gpu_model: kernel.gpu_model,
          gpus: kernel.gpus, vram: kernel.vram, ram: kernel.ram, homedir: kernel.homedir,
          hf: kernel.envs.HF_HOME, rtx50: / 50.+/.test(kernel.gpu_model),
          port: await kernel.port(), ports: await kernel.ports(3),
          exists: await kernel.exists('marker'), missing: await kernel.exists('nope'),
          sh: kernel.which('sh'), none: kernel.which('surely-not-a-command'),
          path: kernel.path('api', 'a'), bin: kernel.bin.path('miniforge'),
        },
        run: [],
      })
    """)
    kind, data = _load(sidecar, f, ctx)
    assert kind == "function"
    facts = data["facts"]  # type: ignore[index]
    ports = facts.pop("ports")
    port = facts.pop("port")
    assert facts == {
        "platform": "linux", "arch": "x64", "gpu": "nvidia", "gpu_model": "nvidia geforce rtx 5090",
        "gpus": [{"name": "nvidia", "model": "nvidia geforce rtx 5090", "driver": "580.65", "vram": 32}],
        "vram": 32, "ram": 64, "homedir": str(home), "hf": "/cache/hf", "rtx50": True,
        "exists": True, "missing": False, "sh": shutil.which("sh", path="/usr/bin:/bin"), "none": None,
        "path": str(home / "api" / "a"), "bin": str(home / "bin" / "miniforge"),
    }
    assert port >= PORT_START and len(set(ports)) == 3 and all(p >= PORT_START for p in ports)
    with socket.socket() as s:  # the port it handed out is really free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))


def test_kernel_port_skips_ports_in_use_and_reserved(sidecar: SyncSidecar, home: Path) -> None:
    ctx = make_context(home, reserved_ports=[PORT_START])
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            busy.bind(("0.0.0.0", PORT_START + 1))
        except OSError:
            pytest.fail(f"test needs port {PORT_START + 1} free")
        busy.listen()
        f = _write(home / "api/a/p.js", "module.exports = async (k) => ({ run: [], p: await k.port() })")
        _, data = _load(sidecar, f, ctx)
    assert data["p"] > PORT_START + 1  # type: ignore[index]


def test_kernel_state_comes_from_the_snapshot(sidecar: SyncSidecar, home: Path) -> None:
    app = home / "api" / "a"
    start = str(app / "start.js")
    ctx = make_context(home, running=[start + "?session=1"], ready=[start],
                       local={start: {"url": "http://127.0.0.1:7860"}}, global_={start: {"count": 3}})
    f = _write(app / "menu_state.js", """
      const path = require('path')
      module.exports = async (kernel) => ({
        run: [],
        running: kernel.running(__dirname, 'start.js'), idle: kernel.running(__dirname, 'install.js'),
        local: kernel.local(__dirname, 'start.js'), none: kernel.local(__dirname, 'install.js'),
        memory: kernel.memory.local[path.resolve(__dirname, 'start.js')],
        g: kernel.script.global(__dirname, 'start.js'), ready: kernel.script.ready(__dirname, 'start.js'),
        sl: kernel.script.local('~/api/a', 'start.js'),
      })
    """)
    _, data = _load(sidecar, f, ctx)
    assert data == {
        "run": [], "running": True, "idle": False,
        "local": {"url": "http://127.0.0.1:7860"}, "none": {},
        "memory": {"url": "http://127.0.0.1:7860"}, "g": {"count": 3}, "ready": True,
        "sl": {"url": "http://127.0.0.1:7860"},
    }


def test_plain_function_export_is_called_with_kernel(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    # A non-async `function (kernel)` is constructible; the original `new`s it first (spec §1.3 QUIRK).
    # We call it like an async export instead (docs/compat.md).
    f = _write(home / "api/a/s.js", "module.exports = function (kernel) { return { run: [], p: kernel.platform } }")
    assert _load(sidecar, f, ctx) == ("function", {"run": [], "p": "linux"})


def test_no_argument_arrow_export(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    f = _write(home / "api/a/s.js", "module.exports = () => ({ run: [{ method: 'log' }] })")
    assert _load(sidecar, f, ctx) == ("function", {"run": [{"method": "log"}]})


def test_esm_default_object_and_function(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    obj = _write(home / "api/esm/a.js", "import path from 'path'\nexport default { run: [], sep: path.sep }\n")
    fn = _write(home / "api/esm/b.js", "export default async (kernel) => ({ run: [], arch: kernel.arch })\n")
    assert _load(sidecar, obj, ctx) == ("esm-object", {"run": [], "sep": "/"})
    assert _load(sidecar, fn, ctx) == ("esm-function", {"run": [], "arch": "x64"})
    fn.write_text("export default async (kernel) => ({ run: [], edited: true })\n")
    assert _load(sidecar, fn, ctx) == ("esm-function", {"run": [], "edited": True})


def test_class_export_is_instantiated(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    f = _write(home / "api/a/index.js", """
      module.exports = class { constructor () { this.ready = true } async config (req, ondata, kernel) { return 1 } }
    """)
    assert _load(sidecar, f, ctx) == ("class", {"ready": True})


def test_real_require_of_builtins_and_local_modules(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    app = home / "api" / "a"
    _write(app / "lib/helper.js", "module.exports = { cmd: (p) => p === 'win32' ? 'dir' : 'ls' }")
    _write(app / "models.json", '{"vae": ["a.safetensors"]}')
    f = _write(app / "install.js", """
      const path = require('path'); const os = require('os'); const fs = require('fs')
      const helper = require('./lib/helper'); const models = require('./models.json')
      module.exports = async (kernel) => ({
        run: [], dir: __dirname, cmd: helper.cmd(kernel.platform), models,
        here: fs.existsSync(path.join(__dirname, 'models.json')), eol: os.EOL,
      })
    """)
    assert _load(sidecar, f, ctx) == ("function", {
        "run": [], "dir": str(app), "cmd": "ls", "models": {"vae": ["a.safetensors"]}, "here": True, "eol": "\n",
    })


def test_each_load_sees_the_current_content(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    app = home / "api" / "a"
    dep = _write(app / "dep.js", "module.exports = 1")
    f = _write(app / "s.js", "module.exports = { run: [], v: require('./dep.js') }")
    assert _load(sidecar, f, ctx)[1] == {"run": [], "v": 1}
    dep.write_text("module.exports = 2")
    assert _load(sidecar, f, ctx)[1] == {"run": [], "v": 2}
    f.write_text("module.exports = { run: [], v: require('./dep.js') * 10 }")
    assert _load(sidecar, f, ctx)[1] == {"run": [], "v": 20}


def test_syntax_error_names_file_line_and_column(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    f = _write(home / "api/a/bad.js", "module.exports = {\n  run: [\n    { method: 'x' ]\n}\n")
    with pytest.raises(ScriptLoadError) as info:
        _load(sidecar, f, ctx)
    err = info.value
    assert (err.file, err.line, err.kind) == (str(f), 3, "SyntaxError")
    assert err.column is not None and err.column > 1
    assert str(err).startswith(f"cannot load {f}:3:")


def test_json_syntax_error_names_the_line(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    f = _write(home / "api/a/bad.json", '{\n  "run": [\n    {"method": "x",}\n  ]\n}\n')
    with pytest.raises(ScriptLoadError) as info:
        _load(sidecar, f, ctx)
    assert (info.value.file, info.value.line, info.value.kind) == (str(f), 3, "SyntaxError")


def test_missing_module_names_the_requiring_line(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    text = "const x = 1\nconst g = require('not-a-real-package')\nmodule.exports = {run: []}\n"
    f = _write(home / "api/a/s.js", text)
    with pytest.raises(ScriptLoadError, match="Cannot find module 'not-a-real-package'") as info:
        _load(sidecar, f, ctx)
    assert (info.value.file, info.value.line, info.value.kind) == (str(f), 2, "ModuleNotFound")


def test_throwing_function_export_names_the_throw(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    f = _write(home / "api/a/s.js", "module.exports = async (kernel) => {\n  throw new TypeError('no gpu')\n}\n")
    with pytest.raises(ScriptLoadError, match="TypeError: no gpu") as info:
        _load(sidecar, f, ctx)
    assert (info.value.line, info.value.column) == (2, 9)
    # the sidecar survives all of the above
    f.write_text("module.exports = { run: [] }")
    assert _load(sidecar, f, ctx) == ("object", {"run": []})


def test_missing_file_is_a_clear_error(sidecar: SyncSidecar, home: Path, ctx: KernelContext) -> None:
    with pytest.raises(ScriptLoadError, match="no such file"):
        _load(sidecar, home / "api/a/nope.js", ctx)


def test_the_port_search_starts_above_the_ephemeral_range_when_42003_is_inside_it(tmp_path: Path) -> None:
    proc_file = tmp_path / "ip_local_port_range"
    proc_file.write_text("32768\t60999\n")  # Linux's default
    assert port_start(proc_file) == 61000
    proc_file.write_text("49152 60999\n")  # 42003 below the range: the original's start
    assert port_start(proc_file) == 42003
    proc_file.write_text("1024 64999\n")  # no room above: keep the original's
    assert port_start(proc_file) == 42003
    assert port_start(tmp_path / "missing") == 42003
