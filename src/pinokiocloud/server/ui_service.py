"""The dashboard as the daemon runs it: Streamlit on a private port, behind an auth gateway on the UI port.

The daemon owns the Streamlit process like any other (DESIGN §1 rule 1): `pinokiocloud up` asks for it,
`down` or a daemon stop takes it away. Visitors meet the same passcode/token gateway as shared apps.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from pinokiocloud.errors import PinokioCloudError
from pinokiocloud.kernel.ports import find_free_port
from pinokiocloud.procs import ManagedProcess
from pinokiocloud.share import Gateway

__all__ = ["DEFAULT_UI_PORT", "UI_APP", "UiService", "UiUnavailableError"]

DEFAULT_UI_PORT = 8501
UI_APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"
START_TIMEOUT_S = 60.0


class UiUnavailableError(PinokioCloudError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"the dashboard could not start: {reason}")
        self.hint = "see PINOKIO_HOME/logs/ui.log"


class UiService:
    def __init__(self, *, home: Path, environ: dict[str, str], daemon_port: int, ui_port: int,
                 passcode: str | None, token: str) -> None:
        self.home = home
        self.environ = environ
        self.daemon_port = daemon_port
        self.ui_port = ui_port
        self.passcode = passcode
        self.token = token
        self._proc: ManagedProcess | None = None
        self._gateway: Gateway | None = None
        self._lock = asyncio.Lock()
        self.internal_url: str | None = None
        """Streamlit's own address (what a public share of the dashboard points at)."""

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.exit_code is None and self._gateway is not None

    def info(self) -> dict[str, Any]:
        if not self.is_running or self._gateway is None:
            return {"running": False}
        return {"running": True, "url": self._gateway.url, "token_url": self._gateway.token_link(),
                "passcode": self._gateway.passcode}

    async def start(self) -> dict[str, Any]:
        async with self._lock:
            if self.is_running:
                return self.info()
            await self._stop()
            if not UI_APP.is_file():
                raise UiUnavailableError(f"{UI_APP} is missing from this installation")
            port = find_free_port(start=self.ui_port + 1000)
            env = {**self.environ, "PINOKIO_HOME": str(self.home), "PINOKIOCLOUD_PORT": str(self.daemon_port)}
            argv = [sys.executable, "-m", "streamlit", "run", str(UI_APP), "--server.headless=true",
                    "--server.address=127.0.0.1", f"--server.port={port}", "--browser.gatherUsageStats=false",
                    "--server.fileWatcherType=none", "--server.enableXsrfProtection=false",
                    "--server.enableCORS=false"]
            log_path = self.home / "logs" / "ui.log"
            self._proc = await ManagedProcess.spawn(argv, cwd=self.home, env=env, log_path=log_path, name="dashboard")
            target = f"http://127.0.0.1:{port}"
            await self._wait_healthy(target)
            self.internal_url = target
            self._gateway = Gateway(target, passcode=self.passcode or secrets.token_hex(3), token=self.token,
                                    port=self.ui_port, name="dashboard",
                                    access_log=self.home / "logs" / "ui-access.log")
            try:
                await self._gateway.start()
            except OSError as exc:
                await self._stop()
                raise UiUnavailableError(f"port {self.ui_port} is taken ({exc.strerror}); "
                                         "set PINOKIOCLOUD_UI_PORT") from exc
            return self.info()

    async def _wait_healthy(self, target: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.exit_code is not None:
                    tail = self._proc.tail(800) if self._proc else ""
                    await self._stop()
                    raise UiUnavailableError(f"Streamlit exited: {tail.strip()[-400:]}")
                try:
                    if (await client.get(target + "/_stcore/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        await self._stop()
        raise UiUnavailableError(f"Streamlit did not answer within {START_TIMEOUT_S:g} s")

    async def stop(self) -> None:
        async with self._lock:
            await self._stop()

    async def _stop(self) -> None:
        gateway, self._gateway = self._gateway, None
        proc, self._proc = self._proc, None
        if gateway is not None:
            await gateway.stop()
        if proc is not None:
            await proc.stop()
