"""Per-step overhead of the runner: a 500-step script of cheap steps (local.set, log, jump).

Each step costs: a free-port probe, the merged environment, one sidecar call that re-loads the
script (for `self`) and renders the step, and the method itself. The table compares the per-step
time with the bare sidecar round trip measured in the same run (the floor for any step).

Target (issue 3): per-step overhead p50 <= 5 ms.
Run: .venv/bin/python benchmarks/bench_runner.py
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.npm_cache import ensure_test_packages  # noqa: E402

from pinokiocloud.kernel import NodeSidecar  # noqa: E402
from pinokiocloud.kernel.runner import Runner, RunState  # noqa: E402
from pinokiocloud.platform import SystemFacts  # noqa: E402

STEPS = 500
TARGET_P50_MS = 5.0


def script_text(n: int) -> str:
    steps = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            steps.append(f'{{ method: "local.set", params: {{ "step{i}": "{{{{port}}}}", counter: {i} }} }}')
        elif kind == 1:
            steps.append(f'{{ method: "log", params: {{ text: "step {i}: {{{{local.counter}}}}" }} }}')
        else:
            steps.append(f'{{ method: "jump", params: {{ index: {i + 1 if i + 1 < n else "null"} }} }}')
    return "module.exports = { daemon: true, run: [\n  " + ",\n  ".join(steps) + "\n] }\n"


async def measure(home: Path, node_modules: Path) -> dict[str, float]:
    app = home / "api" / "bench"
    app.mkdir(parents=True)
    script = app / "bench.js"
    script.write_text(script_text(STEPS))
    async with NodeSidecar(node_modules=node_modules, install_packages=False) as sidecar:
        rtt = []
        for _ in range(300):
            t0 = time.perf_counter()
            await sidecar.call("render", {"template": "{{1}}"})
            rtt.append((time.perf_counter() - t0) * 1000)
        runner = Runner(sidecar, home=home, system=SystemFacts("linux", "x64", 24, []),
                        environ={"PATH": "/usr/bin:/bin", "HOME": str(home)})
        started = time.perf_counter()
        run = await runner.run_to_end(script)
        total_s = time.perf_counter() - started
        assert run.state is RunState.IDLE, run.error
        stamps = [e.ts for e in runner.events.history(run.id, types={"step"})]
        await runner.close()
    deltas = [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]
    q = statistics.quantiles(deltas, n=100)
    return {"p50": q[49], "p95": q[94], "total_s": total_s, "steps": len(stamps),
            "rtt_p50": statistics.median(rtt)}


def main() -> int:
    node_modules = ensure_test_packages()
    with tempfile.TemporaryDirectory() as tmp:
        m = asyncio.run(measure(Path(tmp) / "pinokio", node_modules))
    ok = m["p50"] <= TARGET_P50_MS
    rows = [
        ("steps run", f"{m['steps']:.0f}", ""),
        ("whole run", f"{m['total_s'] * 1000:.0f} ms", f"{m['steps'] / m['total_s']:.0f} steps/s"),
        ("per-step time p50", f"{m['p50']:.2f} ms", f"target <= {TARGET_P50_MS} ms: {'yes' if ok else 'NO'}"),
        ("per-step time p95", f"{m['p95']:.2f} ms", ""),
        ("baseline: bare sidecar round trip p50", f"{m['rtt_p50']:.2f} ms",
         f"step / round trip = {m['p50'] / m['rtt_p50']:.1f}x"),
    ]
    print(f"{'measure':<40} {'value':>12}  compare")
    print("-" * 80)
    for name, value, compare in rows:
        print(f"{name:<40} {value:>12}  {compare}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
