"""Creating a conda env with 20 packages (py-rattler, through the ``conda`` command of app shells) against a
Python venv with 20 wheels of the same size (``uv venv`` + ``uv pip install``, and ``pip install``).

Both sides install from local files (a conda channel served from a folder, a folder of wheels with
``--no-index``), so the network is out of the picture: what is measured is solving, fetching from a local
source, extracting and linking. Cold = empty package cache; warm = the cache of the previous round.
Claim (issue 14): solving and installing are fast, i.e. not slower than the uv baseline by a large factor.
Run: .venv/bin/python benchmarks/bench_conda_env.py
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.envs.channel import Package, index_with_rattler, make_package, script  # noqa: E402

from pinokiocloud.envs import conda  # noqa: E402
from pinokiocloud.envs.venv import uv_path  # noqa: E402

COUNT, FILES, FILE_BYTES, ROUNDS = 20, 10, 20_000, 3


def _payload(i: int, j: int) -> str:
    return (f"# package {i} file {j}\n" + hashlib.sha256(f"{i}-{j}".encode()).hexdigest() * (FILE_BYTES // 64))


def make_channel(root: Path) -> Path:
    """pkg0 … pkg19, each with a command and FILES data files; pkg0 depends on all others (one solve)."""
    channel = root / "channel"
    for i in range(COUNT):
        files = {f"bin/pkg{i}": script(f"echo pkg{i}")}
        files |= {f"share/pkg{i}/data{j}.txt": _payload(i, j) for j in range(FILES)}
        depends = [f"pkg{k}" for k in range(1, COUNT)] if i == 0 else []
        make_package(channel, Package(f"pkg{i}", "1.0", files, depends))
    index_with_rattler(channel)
    return channel


def _wheel(folder: Path, i: int) -> None:
    name = f"pkg{i}"
    files = {f"{name}/__init__.py": "", **{f"{name}/data{j}.txt": _payload(i, j) for j in range(FILES)}}
    requires = "".join(f"Requires-Dist: pkg{k}\n" for k in range(1, COUNT)) if i == 0 else ""
    info = f"{name}-1.0.dist-info"
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{requires}"
    files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{name} = {name}:main\n"
    files[f"{name}/__init__.py"] = f"def main():\n    print('{name}')\n"
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)


def make_wheels(root: Path) -> Path:
    folder = root / "wheels"
    folder.mkdir()
    for i in range(COUNT):
        _wheel(folder, i)
    return folder


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} failed: {done.stdout[-800:]}{done.stderr[-800:]}")
    return took


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-conda-") as tmp:
        root = Path(tmp)
        channel, wheels = make_channel(root), make_wheels(root)
        base = conda.ensure_base(root / "home")
        env = {"PATH": "/usr/bin:/bin", "PINOKIOCLOUD_CONDA_CHANNELS": channel.as_uri(), "HOME": str(root)}
        uv_cache = root / "uvcache"
        uv_env = {**env, "UV_CACHE_DIR": str(uv_cache), "UV_PYTHON_DOWNLOADS": "never", "UV_LINK_MODE": "copy"}
        rows: dict[str, list[float]] = {k: [] for k in ("conda cold", "conda warm", "uv cold", "uv warm", "pip")}
        for n in range(ROUNDS):
            shutil.rmtree(base / "pkgs", ignore_errors=True)
            shutil.rmtree(uv_cache, ignore_errors=True)
            for label in ("conda cold", "conda warm"):
                prefix = root / f"env-{label.split()[1]}-{n}"
                rows[label].append(_timed([str(base / "bin" / "conda"), "create", "-y", "-p", str(prefix), "pkg0"],
                                          env))
                assert (prefix / "bin" / "pkg19").exists()
            for label in ("uv cold", "uv warm"):
                venv = root / f"venv-{label.split()[1]}-{n}"
                started = time.perf_counter()
                _timed([uv_path(), "venv", "--quiet", "--python", sys.executable, str(venv)], uv_env)
                _timed([uv_path(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                        "--no-index", "--find-links", str(wheels), "pkg0"], uv_env)
                rows[label].append(time.perf_counter() - started)
                assert (venv / "bin" / "pkg19").exists()
            venv = root / f"venv-pip-{n}"
            started = time.perf_counter()
            _timed([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
            _timed([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-index", "--find-links", str(wheels), "--no-cache-dir", "pkg0"],
                   {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
            rows["pip"].append(time.perf_counter() - started)
        size = sum(f.stat().st_size for f in (root / "env-cold-0").rglob("*") if f.is_file())
        print(f"{COUNT} packages, {COUNT * FILES} data files, {size / 1e6:.1f} MB installed per env; "
              f"median of {ROUNDS} rounds (wall time, process start included)\n")
        uv_cold = statistics.median(rows["uv cold"])
        print(f"| {'how':<32} | {'median s':>8} | {'vs uv cold':>10} |")
        print(f"|{'-' * 34}|{'-' * 10}|{'-' * 12}|")
        names = {"conda cold": "conda create (py-rattler), cold", "conda warm": "conda create (py-rattler), warm",
                 "uv cold": "uv venv + uv pip install, cold", "uv warm": "uv venv + uv pip install, warm",
                 "pip": "venv + pip install (no cache)"}
        for key, label in names.items():
            median = statistics.median(rows[key])
            print(f"| {label:<32} | {median:>8.2f} | {median / uv_cold:>9.2f}x |")
        if os.environ.get("BENCH_RAW"):
            print(rows)


if __name__ == "__main__":
    main()
