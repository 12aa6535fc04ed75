"""Cases for the differential test against the original template engine (jimini@0.0.8).

Three sources: the examples of spec §2, the expressions real launchers use (app-patterns C4/C8/C9),
and seeded random structures mixing pure and partial strings, throwing and undefined expressions,
escapes, conditional keys and multi-pass values. Cases that hit the spec §2.6 quirk on purpose are
tagged ``deviation``; every other case must render exactly as the original does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pinokiocloud.platform import GpuInfo, SystemFacts

MACHINES: dict[str, SystemFacts] = {
    "linux-t4": SystemFacts("linux", "x64", 13, [GpuInfo("nvidia", "tesla t4", "535.104.05", 15, "sm_75")]),
    "linux-cpu": SystemFacts("linux", "x64", 24, []),
    "win-5090": SystemFacts("win32", "x64", 64, [GpuInfo("nvidia", "nvidia geforce rtx 5090", "581.08", 32, "sm_120")]),
    "linux-amd": SystemFacts("linux", "x64", 32, [GpuInfo("amd", "radeon rx 7900 xtx", None, 24, None)]),
    "mac-arm": SystemFacts("darwin", "arm64", 16, [GpuInfo("apple", "apple m2", None, 0, None)]),
}


def memories(cwd: str) -> dict[str, dict[str, Any]]:
    base = {"cwd": cwd, "dirname": cwd, "name": "demo", "uri": "~/api/demo/start.js", "current": 0, "next": 1,
            "global": {}, "self": {"cmd": {"default": "python run.py", "fast": "python run.py --fast"},
                                   "title": "Demo"}}
    return {
        "server-up": {**base, "port": 42003,
                      "input": {"event": ["http://127.0.0.1:7860", "127.0.0.1:7860"], "id": "shell-1"},
                      "args": {"venv": "env", "path": "app", "xformers": True},
                      "local": {"url": "http://127.0.0.1:7860", "counter": 2, "mode": "fast",
                                "cmd": "python app.py --port {{port}}", "indirect": "{{local.cmd}}"}},
        "fresh": {**base, "port": 42004, "input": None, "args": {}, "local": {}},
        "menu-params": {**base, "port": 42005, "current": 2, "next": None,
                        "input": {"mode": "default", "repo": "org/model", "files": "model.safetensors",
                                  "url": "https://example.invalid/x.bin", "path": "app/models", "flags": "--lowvram"},
                        "args": {"mode": "default", "triton": True, "sageattention": False},
                        "local": {"price": "$5 $& $$", "zero": 0, "empty": "", "nothing": None}},
    }


# Expressions seen in real launchers (app-patterns C4, C8, C9 and Part A).
REAL_WHENS = [
    "{{gpu === 'nvidia'}}",
    "{{platform === 'win32' && gpu === 'amd'}}",
    "{{platform === 'linux' && gpu === 'amd'}}",
    "{{platform === 'darwin' && arch === 'arm64'}}",
    "{{platform === 'darwin' && arch !== 'arm64'}}",
    "{{gpu === 'nvidia' && kernel.gpu_model && / 50.+/.test(kernel.gpu_model)}}",
    "{{ (platform === \"linux\" || platform === \"win32\") && gpu === \"nvidia\" }}",
    "{{input && input.event && Array.isArray(input.event) && input.event.length > 0}}",
    "{{['true', '1'].includes(String(env.FLUX_AUTODOWNLOAD).toLowerCase())}}",
    "{{exists('app')}}",
    "{{!exists('app/env')}}",
    "{{which('git')}}",
    "{{which('brew')}}",
    "{{envs.MISSING}}",
    "{{local.missing}}",
    "{{input.event}}",
    "{{undeclared_thing}}",
    "{{args && args.triton}}",
    "{{gpu === 'amd' && platform === 'win32'}}",
    "{{!(gpu === 'amd' && platform === 'win32')}}",
    "{{kernel.gpus.find(x => x.name === 'nvidia')}}",
    "{{Number.parseFloat(gpu_driver||'0') >= 580}}",
    "{{gpu_model && / (10|16)\\d+/.test(gpu_model)}}",
    "{{platform !== 'win32'}}",
]

REAL_VALUES = [
    "{{args && args.venv ? args.venv : null}}",
    "{{args && args.path ? args.path : '.'}}",
    "{{args && args.xformers ? 'uv pip install xformers==0.0.30' : ''}}",
    "{{args && args.triton ? 'uv pip install -U triton-windows' : ''}}",
    "{{args && args.sageattention ? 'uv pip install sageattention' : null}}",
    "{{input.event[0]}}",
    "{{input.event[1]}}",
    "{{input.event[0].split(':').pop()}}",
    "{{local.url}}",
    "{{ input.mode }}",
    "{{ self.cmd[local.mode] }}",
    "{{platform === 'darwin' ? 'eva-decord' : 'decord'}}",
    "{{platform==='win32' ? 'dir' : 'ls'}}",
    "{{'https://huggingface.co/' + input.repo + '/resolve/main/' + input.files + '?download=true'}}",
    "{{input.url}}",
    "{{input.path}}",
    "{{path.resolve(cwd, 'app')}}",
    "{{port}}",
    "python app.py --port {{port}} {{input.flags}}",
    "uv pip install torch==2.7.0 --index-url https://download.pytorch.org/whl/"
    "{{Number.parseFloat(gpu_driver||'0') >= 580 ? 'cu130' : 'cu128'}}",
    "{{gpu_driver}}",
    "{{gpu_target}}",
    "{{kernel.path('api')}}",
    "{{Date.now() > 0}}",
    "{{Buffer.from('aGk=', 'base64').toString()}}",
    "{{JSON.stringify(args)}}",
    "{{Object.keys(local).length}}",
    "{{vram >= 12 ? 'full' : 'lowvram'}}",
    "{{ram}}",
    "{{os.EOL === '\\n'}}",
    "{{path.sep}}",
    "{{env.HF_HOME}}",
    "{{envs.PATH.split(':').length > 0}}",
    "{{which('sh')}}",
]

# Random structure material: leaves by kind.
PURE_OK = ["{{port}}", "{{local.counter}}", "{{args}}", "{{input}}", "{{self.title}}", "{{gpus}}", "{{vram}}",
           "{{current}}", "{{next}}", "{{[1, 2, port]}}", "{{ {k: platform} }}", "{{true}}", "{{0}}", "{{''}}",
           "{{null}}", "{{local.counter * 10}}", "{{name}}", "{{uri}}"]
PURE_THROW = ["{{input.event[0]}}", "{{nope.x}}", "{{args.a.b.c}}", "{{(() => { throw new Error('x') })()}}"]
PURE_UNDEF = ["{{args.missing}}", "{{local.none}}", "{{undefined}}", "{{input.nothing}}", "{{self.nope}}"]
PARTIAL = ["cd {{cwd}} && ls", "x{{port}}y{{port}}", "{{port}} is the port", "mode={{local.mode}}",
           "a {{args.missing}} b", "a {{nope.x}} b", "null {{null}}", "obj {{local}}", "arr {{[1,2]}}",
           "price {{local.price}}", "fn {{exists}}", "{{platform}}-{{arch}} end", "v {{self.cmd.default}}!",
           "n {{local.nothing}} u {{local.zero}}"]
ESCAPES = ["{{{port}}}", "docker inspect -f '{{{.Name}}}'", "x {{{port}}} y", "x {{{a}}} and {{port}}",
           "go {{.Name}} tmpl", "{{port}} {{.ID}} ."]
MULTIPASS = ["{{local.cmd}}", "{{local.indirect}}", "run: {{local.cmd}}"]
PLAIN = ["plain", "", "{ not a template }", "{single}", "}}{{", 7, 0, -1.5, True, False, None]
KEYS = ["message", "path", "venv", "env", "on", "{{platform === 'win32' ? 'WIN_KEY' : null}}",
        "{{gpu === 'nvidia' && 'CUDA_KEY'}}", "{{false}}", "{{'dyn_' + port}}", "key {{port}}", "{{{raw}}}"]
DEVIATION_STRINGS = ["{{args.venv}}/{{args.path}}", "{{local.url}} and {{port}}", "{{.Name}}", "{{a}}}{{b}}",
                     "{{{a}}} and {{port}}", "{{port}} {{.ID}}"]


@dataclass
class Case:
    id: str
    mode: str
    template: Any
    memory: str
    machine: str
    allow_undefined: bool = False
    tags: set[str] = field(default_factory=set)


def _leaf(rng: random.Random) -> Any:
    pool = rng.choice([PURE_OK, PURE_OK, PURE_THROW, PURE_UNDEF, PARTIAL, PARTIAL, ESCAPES, MULTIPASS, PLAIN,
                       REAL_VALUES])
    return rng.choice(pool)


def _structure(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth <= 0 or roll < 0.35:
        return _leaf(rng)
    if roll < 0.65:
        return [_structure(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    obj: dict[str, Any] = {}
    for _ in range(rng.randint(1, 4)):
        obj[rng.choice(KEYS)] = _structure(rng, depth - 1)
    return obj


def _step(rng: random.Random) -> dict[str, Any]:
    step: dict[str, Any] = {"method": rng.choice(["shell.run", "local.set", "fs.download", "script.start"]),
                            "params": _structure(rng, 3)}
    if rng.random() < 0.7:
        step["when"] = rng.choice([*REAL_WHENS, True, False, None, 0, "", "{{{port}}}"])
    if rng.random() < 0.3:
        step["next"] = rng.choice([None, 2, "done", "{{next}}"])
    return step


def build_cases(seed: int = 20261125) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    mems = ["server-up", "fresh", "menu-params"]

    def add(mode: str, template: Any, memory: str, machine: str, *tags: str, allow_undefined: bool = False) -> None:
        cases.append(Case(f"c{len(cases)}", mode, template, memory, machine, allow_undefined, set(tags)))

    spec_examples = ["{{port}}", "python app.py --port {{port}}", "{{local.counter+1}}", "x{{port}}y{{port}}",
                     "{{input.event[1]}}", "{{undefinedvar}}", "pre {{undefinedvar}} post", "{{null}}", "x {{null}} y",
                     "x {{local}} y", ["{{port}}", "{{args.missing}}"], "{{os.platform()}}",
                     "{{path.resolve('/a','b')}}", "{{_.sample([1])}}", "{{`t${port}`}}", "{{\nport}}",
                     {"{{platform==='win32' ? 'X' : null}}": 1, "y": 2}, "{{{x}}}", "a {{{x}}} b"]
    for t in spec_examples:
        add("render", t, "server-up", "linux-cpu", "spec")
    for w in ["{{envs.MISSING}}", "{{local.missing}}", "{{gpu === 'nvidia'}}", "{{input.event}}"]:
        for mem in ("server-up", "fresh"):
            add("step", {"method": "log", "when": w}, mem, "linux-t4", "spec")
    for machine in MACHINES:
        for w in REAL_WHENS:
            add("step", {"method": "shell.run", "when": w, "params": {"message": "x"}}, rng.choice(mems), machine,
                "real")
    for v in REAL_VALUES:
        for mem in mems:
            add("render", {"params": {"value": v}}, mem, rng.choice(list(MACHINES)), "real")
    for _ in range(160):
        add("render", _structure(rng, 4), rng.choice(mems), rng.choice(list(MACHINES)), "generated")
    for _ in range(120):
        add("step", _step(rng), rng.choice(mems), rng.choice(list(MACHINES)), "generated")
    for expr in [*PURE_OK, *PURE_UNDEF, *PURE_THROW]:
        add("render", expr, "fresh", "linux-cpu", "generated", allow_undefined=True)
    for s in DEVIATION_STRINGS:
        add("render", {"params": {"value": s, "other": "{{port}}"}}, "server-up", "linux-cpu", "deviation")
        add("step", {"method": "shell.run", "params": {"message": [s], "path": "{{cwd}}"}}, "server-up",
            "linux-cpu", "deviation")
    return cases
