"""Downloads at line speed: ours against ``curl`` (one stream) and ``aria2c -x16 -s16 -k1M``, in one run.

A loopback server (tests/downloads/servers.py, in its own process, ``sendfile``) caps each connection at
``--rate`` MB/s, as a CDN does, and serves a ``--size`` MB file with ranges (and, for the second table, a
server that refuses ranges). Each tool runs in a fresh process; the table gives wall time, MB/s, the peak RSS
of that process (``wait4``), and ratios. Debian's ``aria2`` is installed with apt-get when missing.

"download s" is the process's wall time for curl and aria2c, and for ours the download call inside the
process (a daemon has imported Python and httpx, ~1-2 s here, once at start); "process s" is the whole process.
Targets (issue 15): wall time <= 1.0x aria2c's; >= 0.95x curl's speed when ranges are refused; peak RSS
<= 200 MB; sha256 verified with <= 10 % added wall time (ours with the hash against ours without).
Every run is printed, then the best of ``--repeat`` runs and the checks; ``--no-no-ranges-case`` skips the
slow one-stream runs (curl, and ours without ranges: 40 s each at 25 MB/s) while tuning.
Run: .venv/bin/python benchmarks/bench_downloads.py [--size 1000] [--rate 25] [--repeat 1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

MB = 1_000_000
OURS = """
import asyncio, sys, time
from pathlib import Path
from pinokiocloud.downloads import download
started = time.monotonic()
r = asyncio.run(download(sys.argv[1], path=Path(sys.argv[2]), hash_files=sys.argv[3] == "hash",
                         sha256=sys.argv[4] if sys.argv[4] != "-" else None))
print(time.monotonic() - started, r.sha256 or "")
"""


@dataclass(frozen=True)
class Row:
    run: int
    case: str
    tool: str
    seconds: float
    """The download itself: the process's wall time, less (for ours) the interpreter's start and imports,
    which the daemon pays once when it starts, not per download."""
    process_s: float
    rss_mb: float
    ok: bool


def ensure_aria2() -> str:
    found = shutil.which("aria2c")
    if found:
        return found
    print("aria2c is missing: installing Debian's aria2 with apt-get", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "aria2"], env=env).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "aria2"], env=env, check=True)
    found = shutil.which("aria2c")
    if not found:
        raise SystemExit("could not install aria2c")
    return found


def make_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 8 << 20))
            fh.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def start_server(file: Path, rate: float, *, ranges: bool) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "tests.downloads.servers", str(file), str(rate)] + ([] if ranges else ["norange"])
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def timed(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the process, and its stdout."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed with exit code {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024, out


def _sha256_of(path: Path) -> str:
    """Streamed: a benchmark process holding the file would lend its RSS to every child it forks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def run_case(run: int, case: str, url: str, out_dir: Path, expected: str,
             tools: dict[str, list[str]]) -> list[Row]:
    rows = []
    for tool, argv in tools.items():
        target = out_dir / "out.bin"
        for leftover in out_dir.iterdir():
            leftover.unlink()
        process_s, rss, said = timed([part.replace("{url}", url).replace("{out}", str(target)) for part in argv])
        digest = _sha256_of(target) if target.exists() else ""
        words = said.split()
        seconds = float(words[0]) if words else process_s
        reported = words[1] if len(words) > 1 else None
        ok = digest == expected and reported in (None, expected)
        rows.append(Row(run, case, tool, seconds, process_s, rss, ok))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1000, help="file size in MB (default 1000)")
    parser.add_argument("--rate", type=float, default=25, help="per-connection cap in MB/s (default 25)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-ranges-case", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the server that refuses ranges (ours and curl, one stream: slow)")
    opts = parser.parse_args()
    load_before = os.getloadavg()[0]
    aria2 = ensure_aria2()
    size = opts.size * MB
    with tempfile.TemporaryDirectory(prefix="bench-downloads-", dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp)
        source = root / "model.bin"
        expected = make_file(source, size)
        out_dir = root / "out"
        out_dir.mkdir()
        py = sys.executable
        ranged = {
            "ours (sha256)": [py, "-c", OURS, "{url}", "{out}", "hash", expected],
            "ours (no hash)": [py, "-c", OURS, "{url}", "{out}", "nohash", "-"],
            "aria2c -x16 -s16 -k1M": [aria2, "-x16", "-s16", "-k1M", "--file-allocation=none", "-q",
                                      "--allow-overwrite=true", "--auto-file-renaming=false",
                                      "-d", str(out_dir), "-o", "out.bin", "{url}"],
            "curl": ["curl", "-sS", "-o", "{out}", "{url}"],
        }
        single = {"ours (sha256)": ranged["ours (sha256)"], "curl": ranged["curl"]}
        if not opts.no_ranges_case:
            del ranged["curl"]  # 40 s of one stream at 25 MB/s that says nothing new while tuning
        rows: list[Row] = []
        cases = [(True, ranged, "ranges")] + ([(False, single, "no ranges")] if opts.no_ranges_case else [])
        for ranges, tools, case in cases:
            server, url = start_server(source, opts.rate * MB, ranges=ranges)
            try:
                for run in range(1, opts.repeat + 1):
                    rows += run_case(run, case, url, out_dir, expected, tools)
            finally:
                server.kill()
                server.wait()
    best: dict[tuple[str, str], Row] = {}
    for row in rows:
        key = (row.case, row.tool)
        if key not in best or row.seconds < best[key].seconds:
            best[key] = row
    print(f"\n{opts.size} MB over loopback, {opts.rate:g} MB/s per connection, {os.cpu_count()} CPUs, "
          f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; every run")
    print("| run | case | tool | download s | process s | MB/s | peak RSS MB | file sha256 ok |")
    print("|---:|---|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(f"| {row.run} | {row.case} | {row.tool} | {row.seconds:.2f} | {row.process_s:.2f} "
              f"| {size / row.seconds / MB:.0f} | {row.rss_mb:.0f} | {'yes' if row.ok else 'NO'} |")
    by_run = {(row.run, row.case, row.tool): row for row in rows}
    print("\n| run | ours (sha256) / aria2c | ours (sha256) / ours (no hash) - 1 |")
    print("|---:|---:|---:|")
    for run in range(1, opts.repeat + 1):
        hashed, plain = by_run[(run, "ranges", "ours (sha256)")], by_run[(run, "ranges", "ours (no hash)")]
        aria_run = by_run[(run, "ranges", "aria2c -x16 -s16 -k1M")]
        print(f"| {run} | {hashed.seconds / aria_run.seconds:.2f} | {hashed.seconds / plain.seconds - 1:+.2f} |")
    print(f"\nbest of {opts.repeat}")
    print("| case | tool | download s | process s | MB/s | peak RSS MB | file sha256 ok |")
    print("|---|---|---:|---:|---:|---:|---|")
    for row in best.values():
        print(f"| {row.case} | {row.tool} | {row.seconds:.2f} | {row.process_s:.2f} | {size / row.seconds / MB:.0f} "
              f"| {row.rss_mb:.0f} | {'yes' if row.ok else 'NO'} |")
    ours = best[("ranges", "ours (sha256)")]
    aria = best[("ranges", "aria2c -x16 -s16 -k1M")]
    nohash = best[("ranges", "ours (no hash)")]
    print("\n| check | value | target | met |")
    print("|---|---:|---:|---|")
    checks = [("wall time, ours / aria2c", ours.seconds / aria.seconds, "<= 1.00", ours.seconds <= aria.seconds)]
    peak = ours.rss_mb
    if opts.no_ranges_case:
        ours_single, curl_single = best[("no ranges", "ours (sha256)")], best[("no ranges", "curl")]
        checks.append(("speed without ranges, ours / curl", curl_single.seconds / ours_single.seconds, ">= 0.95",
                       curl_single.seconds / ours_single.seconds >= 0.95))
        peak = max(peak, ours_single.rss_mb)
    checks += [
        ("peak RSS of ours, MB", peak, "<= 200", peak <= 200),
        ("wall time added by sha256", ours.seconds / nohash.seconds - 1, "<= 0.10",
         ours.seconds / nohash.seconds - 1 <= 0.10),
    ]
    for name, value, target, met in checks:
        print(f"| {name} | {value:.2f} | {target} | {'yes' if met else 'NO'} |")


if __name__ == "__main__":
    main()
