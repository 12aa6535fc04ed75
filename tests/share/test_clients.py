"""Tunnel clients run under the one supervisor (procs.ManagedProcess): a share that ends takes the client's
whole tree with it, and waits for it, so nothing keeps a tunnel open and no zombie stays behind."""

from __future__ import annotations

from pathlib import Path

import psutil

from pinokiocloud.share import ShareState
from tests.share.conftest import run
from tests.share.edge import Edge
from tests.share.origin import Origin
from tests.share.test_manager import _manager, _settings


def _gone(pid: int) -> bool:
    """Ended (a zombie under a PID 1 that does not reap counts: it holds nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_unshare_ends_the_client_and_a_helper_that_left_its_process_group(tmp_path: Path) -> None:
    helper_file = tmp_path / "helper.pid"

    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            manager = _manager(_settings(tmp_path, edge, STANDIN_HELPER_PID_FILE=str(helper_file)))
            try:
                info = await manager.share("demo", origin.url, providers=["cloudflare"])
                assert info.state is ShareState.ONLINE and info.client_pid is not None
                helper = int(helper_file.read_text())
                assert not _gone(info.client_pid) and not _gone(helper)
                assert await manager.unshare("demo")
                # when unshare returns, the client has been waited for (not even a zombie is left) and
                # the helper, which a kill of the client's process group would miss, has ended too
                assert not psutil.pid_exists(info.client_pid)
                assert _gone(helper)
            finally:
                await manager.close()

    run(scenario())


def test_a_client_whose_executable_cannot_run_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "cloudflared"
    broken.write_text("not a program")
    broken.chmod(0o644)

    async def scenario() -> None:
        async with Origin() as origin:
            manager = _manager(_settings(tmp_path, None, PINOKIOCLOUD_CLOUDFLARED=str(broken)))
            try:
                info = await manager.share("demo", origin.url, providers=["cloudflare"])
                assert info.state is ShareState.LOCAL_ONLY
                assert info.reasons["cloudflare"].startswith(f"cannot run {broken}: Permission denied")
            finally:
                await manager.close()

    run(scenario())
