"""How long ``pinokiocloud doctor --json`` takes, against baselines measured in the same run.

Runs each command several times as a fresh process (what a user waits for) and prints a table: median,
fastest and slowest wall time, and the ratio to ``pinokiocloud --help`` (the cost of starting the CLI at
all). A second table times the parts of the report in-process, to show where the time goes.

Target (issue 6): ``doctor --json`` <= 1.5 s on the 2-core development machine.
Run: .venv/bin/python benchmarks/bench_doctor.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from pinokiocloud.platform.cloud import detect_cloud  # noqa: E402
from pinokiocloud.platform.gpu import probe_gpus  # noqa: E402
from pinokiocloud.platform.report import build_report  # noqa: E402
from pinokiocloud.platform.system import (  # noqa: E402
    disk_info,
    find_tools,
    read_cpu,
    read_interfaces,
    read_memory,
    read_mounts,
)

TARGET_S = 1.5
BIN = Path(sys.executable).parent / "pinokiocloud"


def wall_times(argv: list[str], runs: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k != "PINOKIOCLOUD_DEBUG"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return times


def best_of(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    home = Path.home() / "pinokio"
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "pinokiocloud --help": [str(BIN), "--help"],
        "pinokiocloud doctor --json": [str(BIN), "doctor", "--json"],
        "pinokiocloud doctor": [str(BIN), "doctor"],
    }
    results = {name: wall_times(argv, runs) for name, argv in commands.items()}
    baseline = statistics.median(results["pinokiocloud --help"])

    print(f"doctor wall time, {runs} runs each, {os.cpu_count()} CPUs (fresh process per run)\n")
    print(f"| {'command':<28} | {'median s':>8} | {'min s':>6} | {'max s':>6} | {'vs --help':>9} |")
    print(f"|{'-' * 30}|{'-' * 9}:|{'-' * 7}:|{'-' * 7}:|{'-' * 10}:|")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"| {name:<28} | {median:8.3f} | {min(times):6.3f} | {max(times):6.3f} | {median / baseline:8.2f}x |")

    env = dict(os.environ)
    parts: dict[str, Callable[[], Any]] = {
        "detect_cloud": lambda: detect_cloud(env),
        "probe_gpus (NVML, tools)": lambda: probe_gpus(env.get("PATH")),
        "find_tools (5 versions)": lambda: find_tools(env.get("PATH")),
        "cpu + memory + mounts": lambda: (read_cpu(), read_memory(), read_mounts()),
        "disk_info (home)": lambda: disk_info(home),
        "read_interfaces": read_interfaces,
        "build_report (all, parallel)": lambda: build_report(env, home=home),
    }
    print(f"\nin-process parts, median of {runs}\n")
    print(f"| {'part':<30} | {'ms':>8} |")
    print(f"|{'-' * 32}|{'-' * 9}:|")
    for name, fn in parts.items():
        print(f"| {name:<30} | {best_of(fn, runs) * 1000:8.1f} |")

    doctor_s = statistics.median(results["pinokiocloud doctor --json"])
    verdict = "meets" if doctor_s <= TARGET_S else "MISSES"
    print(f"\ndoctor --json median {doctor_s:.3f} s: {verdict} the {TARGET_S} s target "
          f"({doctor_s - baseline:+.3f} s over starting the CLI)")
    if doctor_s > TARGET_S:
        sys.exit(1)


if __name__ == "__main__":
    main()
