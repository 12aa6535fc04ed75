"""ngrok: the ngrok agent with ``NGROK_AUTHTOKEN`` (ngrok refuses anonymous use).

The agent is ``PINOKIOCLOUD_NGROK`` or ``ngrok`` on PATH; nothing is downloaded, since ngrok publishes
no pinned, checksummed release URL. Its local API listens on a port we choose (a config file sets
``web_addr``), so two shares never fight over 4040. The public URL comes from the agent's JSON log
("started tunnel") or from ``/api/tunnels``; health is that API listing our URL. Probes and the
share's links add ``ngrok-skip-browser-warning``, which skips ngrok's interstitial page for clients
that can send headers.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pinokiocloud.share.providers.base import (
    ProcessProvider,
    ProviderContext,
    register,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["NgrokProvider"]

START_TIMEOUT_S = 30.0
API_TIMEOUT_S = 3.0
POLL_INTERVAL_S = 0.25


@register
class NgrokProvider(ProcessProvider):
    name = "ngrok"
    probe_headers: ClassVar[Mapping[str, str]] = {"ngrok-skip-browser-warning": "1"}

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        configured = self.settings.ngrok
        self._agent = str(configured) if configured is not None else shutil.which(
            "ngrok", path=self.settings.environ.get("PATH"))
        self._api: str | None = None
        self._config_dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def reason(self) -> str | None:
        if not self.settings.ngrok_authtoken:
            return "NGROK_AUTHTOKEN is not set (ngrok needs a free account's authtoken)"
        if self._agent is None:
            return "no ngrok agent: put ngrok on PATH or set PINOKIOCLOUD_NGROK to the agent executable"
        if not Path(self._agent).is_file():
            return f"PINOKIOCLOUD_NGROK={self._agent} does not exist"
        return None

    async def start(self, target_url: str) -> str:
        if (why := self.reason) is not None:
            raise self.fail(why)
        assert self._agent is not None and self.settings.ngrok_authtoken is not None
        agent, token = self._agent, self.settings.ngrok_authtoken
        env = dict(self.settings.environ)
        env["NGROK_AUTHTOKEN"] = token

        async def launch(address: str) -> None:
            self._api = address
            if self._config_dir is not None:  # an agent that could not bind its last address
                self._config_dir.cleanup()
            self._config_dir = tempfile.TemporaryDirectory(prefix="pinokiocloud-ngrok-")
            config = Path(self._config_dir.name) / "ngrok.yml"
            config.write_text(f'version: "2"\nauthtoken: {json.dumps(token)}\nweb_addr: {address}\n')
            config.chmod(0o600)
            await self.spawn([agent, "http", target_url, "--config", str(config), "--log", "stdout",
                              "--log-format", "json"], env=env)

        self.public_url = await self.start_on_free_port(launch, self._wait_for_url)
        return self.public_url

    def _log(self) -> list[dict[str, object]]:
        """The agent's JSON log records so far (``--log-format json``: one object a line)."""
        records: list[dict[str, object]] = []
        for line in self.output().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def _url_from_log(self) -> str | None:
        for record in self._log():
            if record.get("msg") == "started tunnel":
                url = record.get("url")
                if isinstance(url, str) and url.startswith("https://"):
                    return url
        return None

    def _log_error(self) -> str | None:
        for record in self._log():
            if record.get("lvl") in ("eror", "crit") and record.get("err"):
                return str(record["err"]).splitlines()[0]
        return None

    async def _tunnels(self, http: httpx.AsyncClient) -> list[str]:
        response = await http.get(f"http://{self._api}/api/tunnels")
        if response.status_code != 200:
            return []
        tunnels = response.json().get("tunnels", [])
        return [t["public_url"] for t in tunnels if isinstance(t, dict) and isinstance(t.get("public_url"), str)]

    async def _wait_for_url(self) -> str:
        import httpx  # here, not at the top: the daemon starts without it (tests/server/test_import_cost.py)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=API_TIMEOUT_S, trust_env=False) as http:
            while True:
                if url := self._url_from_log():
                    return url
                try:
                    urls = await self._tunnels(http)
                    https = [u for u in urls if u.startswith("https://")]
                    if https or urls:
                        return (https or urls)[0]
                except (httpx.HTTPError, ValueError, AttributeError):
                    pass
                if not self.is_running():
                    raise self.fail(self._log_error() or f"the agent exited with code {self.exit_code}: "
                                    f"{self.output_tail()}")
                if loop.time() > deadline:
                    raise self.fail(f"no tunnel URL within {START_TIMEOUT_S:g} s: "
                                    f"{self._log_error() or self.output_tail()}")
                await asyncio.sleep(POLL_INTERVAL_S)

    async def health(self) -> bool:
        import httpx

        if not self.is_running():
            return False
        try:
            async with httpx.AsyncClient(timeout=API_TIMEOUT_S, trust_env=False) as http:
                return self.public_url in await self._tunnels(http)
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    async def stop(self) -> None:
        await super().stop()
        if self._config_dir is not None:
            self._config_dir.cleanup()
            self._config_dir = None
