"""shell.run costs: spawn overhead, and streaming a lot of output through the `on` matcher.

1. Spawn: a 40-step script of `shell.run` `true` (method time: from the step's start to its result)
   against a bare `bash -c true` started from asyncio, in the same run. Target: <= 30 ms more at p50.
2. Streaming: a child writes 500 MB of log-like lines; shell.run reads them through the PTY, strips
   ANSI, feeds the matcher (three `on` handlers plus the default error patterns) and emits stream
   events. Baselines: `... > /dev/null` (generation alone) and the same child in a bare PTY whose output
   is read and dropped (what any terminal-based runner must pay). Target ratio <= 1.5.
Run: .venv/bin/python benchmarks/bench_shell.py [MB]
"""

from __future__ import annotations

import asyncio
import os
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

SPAWNS = 40
LINE = "2026-11-25 12:00:00 INFO model.layers.12 loaded in 0.013 s (shard 3 of 8) [ok]"
HANDLERS = '[{ event: "/http:\\\\/\\\\/[0-9.:]+/", done: true }, { event: "/Started server process/i" }, ' \
           '{ event: "/error:.*harmless/i", break: false }]'


def generator(mb: int) -> str:
    return f"yes '{LINE}' | head -c {mb * 1_000_000}"


async def bare_bash(n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec("bash", "-c", "true")
        await proc.wait()
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def bare_pty(command: str) -> float:
    master, slave = os.openpty()
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec("bash", "-c", command, stdin=slave, stdout=slave, stderr=slave,
                                                start_new_session=True)
    os.close(slave)
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def readable() -> None:
        try:
            if not os.read(master, 65536):
                raise OSError
        except OSError:
            loop.remove_reader(master)
            if not done.done():
                done.set_result(None)

    loop.add_reader(master, readable)
    await done
    await proc.wait()
    os.close(master)
    return time.perf_counter() - t0


async def plain(command: str) -> float:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec("bash", "-c", command + " > /dev/null")
    await proc.wait()
    return time.perf_counter() - t0


async def measure(home: Path, mb: int) -> dict[str, float]:
    app = home / "api" / "bench"
    app.mkdir(parents=True)
    steps = ",\n".join('{ method: "shell.run", params: { message: "true" } }' for _ in range(SPAWNS))
    (app / "spawn.js").write_text(f"module.exports = {{ run: [{steps}] }}\n")
    step = f'{{ method: "shell.run", params: {{ message: "{generator(mb)}", on: {HANDLERS} }} }}'
    (app / "stream.js").write_text(f"module.exports = {{ run: [{step}] }}\n")
    async with NodeSidecar(node_modules=ensure_test_packages(), install_packages=False) as sidecar:
        runner = Runner(sidecar, home=home, system=SystemFacts("linux", "x64", 24, []),
                        environ={"PATH": os.environ["PATH"], "HOME": str(home)})
        run = await runner.run_to_end(app / "spawn.js")
        assert run.state is RunState.DONE, run.error
        starts = {e.step: e.ts for e in runner.events.history(run.id, types={"step"})}
        ends = {e.step: e.ts for e in runner.events.history(run.id, types={"result"})}
        ours = [(ends[i] - starts[i]) * 1000 for i in starts]
        bare = await bare_bash(SPAWNS)
        t0 = time.perf_counter()
        run = await runner.run_to_end(app / "stream.js")
        stream_s = time.perf_counter() - t0
        assert run.state is RunState.DONE, run.error
        await runner.close()
    return {"ours_p50": statistics.median(ours), "bare_p50": statistics.median(bare), "stream_s": stream_s,
            "plain_s": await plain(generator(mb)), "pty_s": await bare_pty(generator(mb))}


def main() -> int:
    mb = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as tmp:
        m = asyncio.run(measure(Path(tmp) / "pinokio", mb))
    extra = m["ours_p50"] - m["bare_p50"]
    ratio_plain = m["stream_s"] / m["plain_s"]
    ratio_pty = m["stream_s"] / m["pty_s"]
    rows = [
        ("spawn: shell.run `true`, p50", f"{m['ours_p50']:.1f} ms", ""),
        ("spawn: bare `bash -c true`, p50", f"{m['bare_p50']:.1f} ms", ""),
        ("spawn overhead", f"{extra:+.1f} ms", f"target <= 30 ms: {'yes' if extra <= 30 else 'NO'}"),
        (f"stream {mb} MB through shell.run + matcher", f"{m['stream_s']:.2f} s", f"{mb / m['stream_s']:.0f} MB/s"),
        ("same output > /dev/null", f"{m['plain_s']:.2f} s", f"ratio {ratio_plain:.1f} (target <= 1.5: "
                                                               f"{'yes' if ratio_plain <= 1.5 else 'NO'})"),
        ("same output read from a bare PTY", f"{m['pty_s']:.2f} s", f"ratio {ratio_pty:.2f}"),
    ]
    print(f"{'measure':<44} {'value':>10}  compare")
    print("-" * 96)
    for name, value, compare in rows:
        print(f"{name:<44} {value:>10}  {compare}")
    return 0 if extra <= 30 and ratio_plain <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
