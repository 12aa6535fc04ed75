"""Template rendering speed: ours (Python → Node sidecar) against the original engine in Node.

Renders 10,000 realistic ``shell.run`` steps (``when``, ``venv``, ``path``, ``message`` arrays, ``on``
handlers) and prints a table: steps/s batched end to end, p50/p99 of one-step calls, the sidecar's
RSS, and the same steps through jimini@0.0.8 in-process, with the ratio.

Targets (issue 2): >= 5,000 steps/s end to end, p99 <= 2 ms, sidecar RSS <= 80 MB.
Run: .venv/bin/python benchmarks/bench_templates.py
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.npm_cache import ensure_test_packages  # noqa: E402

from pinokiocloud.kernel import KernelContext, NodeSidecar, find_node  # noqa: E402
from pinokiocloud.platform import GpuInfo, SystemFacts  # noqa: E402

STEPS = 10_000
BATCH = 250
TARGET_STEPS_PER_S = 5_000
TARGET_P99_MS = 2.0
TARGET_RSS_MB = 80

WHENS = ["{{gpu === 'nvidia'}}", "{{platform === 'linux' && gpu === 'amd'}}", "{{platform === 'win32'}}",
         "{{input && input.event && Array.isArray(input.event) && input.event.length > 0}}",
         "{{gpu === 'nvidia' && kernel.gpu_model && / 50.+/.test(kernel.gpu_model)}}"]


def make_steps(n: int) -> list[dict[str, Any]]:
    steps = []
    for i in range(n):
        steps.append({
            "method": "shell.run",
            "when": WHENS[i % len(WHENS)],
            "params": {
                "venv": "{{args && args.venv ? args.venv : null}}",
                "path": "{{args && args.path ? args.path : '.'}}",
                "env": {"PYTORCH_ENABLE_MPS_FALLBACK": "1", "STEP": f"{i}"},
                "message": [
                    f"uv pip install -r requirements-{i % 7}.txt",
                    "{{args && args.xformers ? 'uv pip install xformers==0.0.30' : ''}}",
                    "python app.py --port {{port}} --listen {{platform === 'win32' ? '0.0.0.0' : '127.0.0.1'}}",
                ],
                "on": [{"event": "/http:\\/\\/[^\\s\\/]+:\\d{2,5}(?=[^\\w]|$)/", "done": True},
                       {"event": "/error:/i", "break": False}],
            },
        })
    return steps


MEMORY = {"input": {"event": ["http://127.0.0.1:7860", "127.0.0.1:7860"]}, "args": {"venv": "env", "path": "app"},
          "local": {"url": "http://127.0.0.1:7860"}, "global": {}, "cwd": "/root/pinokio/api/demo",
          "dirname": "/root/pinokio/api/demo", "name": "demo", "uri": "~/api/demo/install.js", "current": 0,
          "next": 1, "port": 42003}
SYSTEM = SystemFacts("linux", "x64", 13, [GpuInfo("nvidia", "tesla t4", "535.104.05", 15, "sm_75")])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure_ours(node_modules: Path, steps: list[dict[str, Any]]) -> dict[str, float]:
    ctx = KernelContext(home=Path("/root/pinokio"), system=SYSTEM, envs={"PATH": "/usr/bin:/bin"})
    wire = ctx.to_wire()
    async with NodeSidecar(node_modules=node_modules, install_packages=False) as sc:
        base = {"step": True, "vars": MEMORY, "context": wire}
        await sc.call("render", {**base, "templates": steps[:BATCH]})  # warm up: compile, JIT
        started = time.perf_counter()
        for i in range(0, len(steps), BATCH):
            await sc.call("render", {**base, "templates": steps[i:i + BATCH]})
        batched_s = time.perf_counter() - started
        latencies = []
        started = time.perf_counter()
        for s in steps:
            t0 = time.perf_counter()
            await sc.call("render", {**base, "templates": [s]})
            latencies.append((time.perf_counter() - t0) * 1000)
        single_s = time.perf_counter() - started
        assert sc.pid is not None
        rss = rss_mb(sc.pid)
    q = statistics.quantiles(latencies, n=100)
    return {"batched_s": batched_s, "single_s": single_s, "p50": q[49], "p99": q[98], "rss": rss}


def measure_jimini(node_modules: Path, steps: list[dict[str, Any]]) -> float:
    payload = json.dumps({"steps": steps, "memory": MEMORY, "sys": SYSTEM.template_values(), "envs": {}})
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    done = subprocess.run([str(find_node()), str(Path(__file__).with_name("jimini_bench.js"))], input=payload,
                          capture_output=True, text=True, env=env, check=True)
    return float(json.loads(done.stdout)["seconds"])


def main() -> int:
    node_modules = ensure_test_packages()
    steps = make_steps(STEPS)
    ours = asyncio.run(measure_ours(node_modules, steps))
    jimini_s = measure_jimini(node_modules, steps)
    batched_rate = STEPS / ours["batched_s"]
    single_rate = STEPS / ours["single_s"]
    jimini_rate = STEPS / jimini_s
    rows = [
        ("ours, batched (250 steps/call), end to end", f"{batched_rate:,.0f} steps/s",
         f"{batched_rate / jimini_rate:.2f}x jimini", batched_rate >= TARGET_STEPS_PER_S),
        ("ours, one step per call, end to end", f"{single_rate:,.0f} steps/s",
         f"{single_rate / jimini_rate:.2f}x jimini", None),
        ("ours, one-step call latency p50", f"{ours['p50']:.3f} ms", "", None),
        ("ours, one-step call latency p99", f"{ours['p99']:.3f} ms", f"target <= {TARGET_P99_MS} ms",
         ours["p99"] <= TARGET_P99_MS),
        ("sidecar RSS after the runs", f"{ours['rss']:.1f} MB", f"target <= {TARGET_RSS_MB} MB",
         ours["rss"] <= TARGET_RSS_MB),
        ("jimini@0.0.8 in-process (baseline)", f"{jimini_rate:,.0f} steps/s", "1.00x", None),
    ]
    print(f"{'measure':<46} {'value':>16}  {'compare':<20} ok")
    print("-" * 90)
    for name, value, compare, ok in rows:
        print(f"{name:<46} {value:>16}  {compare:<20} {'' if ok is None else ('yes' if ok else 'NO')}")
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
