"""What a daemon and the CLI import before they can answer. Each check runs a fresh interpreter and reads its
``sys.modules``: a heavy library imported at the top of some module again would add its import time to every
daemon start (issue 16: the start is half of a restore) and every CLI command, and no timing would show it
reliably on a shared machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

DAEMON_LAZY = (
    "aiohttp",  # the share gateway's server and client: imported when a share or the dashboard starts
    "httpx",  # app runs' fetches, downloads, web-UI probes: imported where a request is made
    "httpcore",
    "rich",  # pulled in by httpx (its command-line tool), with pygments (and click, which uvicorn needs anyway)
    "pygments",
    "qrcode",  # a share's QR code
    "PIL",
    "pinokiocloud.share.gateway",
    "pinokiocloud.share.qr",
)
CLI_LAZY = (
    "pydantic",
    "fastapi",
    "starlette",
    "httpx",
    "aiohttp",
    "asyncio",
    "psutil",
    "pinokiocloud.server",
    "pinokiocloud.kernel",
    "pinokiocloud.procs.supervisor",
    "pinokiocloud.downloads.engine",
    "pinokiocloud.platform.cloud",
)
LAZY_PACKAGES = ("pinokiocloud", "pinokiocloud.share", "pinokiocloud.procs", "pinokiocloud.platform", "pinokiocloud.store")


def loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    """The ``names`` a fresh interpreter holds after running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([n for n in {list(names)!r} if n in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_daemon_starts_without_the_libraries_only_sharing_and_requests_need() -> None:
    code = "import uvicorn\nimport pinokiocloud.server.app\nimport pinokiocloud.server.daemon"
    assert loaded_after(code, DAEMON_LAZY) == []


def test_the_cli_starts_without_the_daemons_libraries() -> None:
    assert loaded_after("import pinokiocloud.cli.main", CLI_LAZY) == []


def test_a_fresh_machines_first_start_loads_little_before_the_daemon_runs() -> None:
    """The chain that starts a restore: the CLI's early start (no HTTP client), the watchdog (nothing of ours
    before it starts ``serve``), the restore's worker (no event loop, no store)."""
    assert loaded_after("import pinokiocloud.daemon_start", ("urllib.request", "http.client", "pinokiocloud.cli.main",
                                                             "typer", "asyncio")) == []
    assert loaded_after("import pinokiocloud.watchdog", ("pinokiocloud.home_lock", "pinokiocloud.errors")) == []
    assert loaded_after("import pinokiocloud.store.unpack_worker", ("asyncio", "pinokiocloud.store.db")) == []


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_a_lazy_package_still_exports_every_name(package: str) -> None:
    """Every name in ``__all__`` resolves to the object its own module holds, and a wrong name still fails
    (a name left out of the package's table would otherwise fail only when first used)."""
    code = f"""
import importlib, {package} as p
homes = {{name: module for module, names in p._HOMES.items() for name in names}}
own = [n for n in p.__all__ if n not in homes]
for name in p.__all__:
    home = homes.get(name)
    value = getattr(p, name)
    if home is not None:
        assert value is getattr(importlib.import_module(p.__name__ + "." + home), name), name
    assert name in dir(p), name
assert set(homes) <= set(p.__all__), set(homes) - set(p.__all__)
try:
    from {package} import NoSuchName
except ImportError:
    pass
else:
    raise AssertionError("a wrong name was imported")
print("ok", len(p.__all__), *own)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[0] == "ok" and int(words[1]) > 0
    assert words[2:] == (["load_gateway", "load_probes"] if package == "pinokiocloud.share" else [])  # defined there
