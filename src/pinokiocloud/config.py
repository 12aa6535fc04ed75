"""One place that reads settings from the environment, so no other module touches ``os.environ``.

Precedence everywhere: a command-line flag, then the environment variable, then the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pinokiocloud.errors import BadParamError

__all__ = ["DAEMON_ONLY_VARIABLES", "DEFAULT_CALL_TIMEOUT_S", "DEFAULT_PORT", "Settings"]

DEFAULT_CALL_TIMEOUT_S = 10.0
DEFAULT_PORT = 42000
DEFAULT_UI_PORT = 8501
DAEMON_ONLY_VARIABLES: frozenset[str] = frozenset({"NGROK_AUTHTOKEN", "PINOKIOCLOUD_BORE_SECRET"})
"""Secrets for the daemon's own tunnel clients. They are kept out of :attr:`Settings.environ`, so no
launcher, app shell, Node sidecar or dashboard process inherits them; the share layer hands each one to
the one client that needs it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Paths and overrides PinokioCloud runs with."""

    home: Path
    """``PINOKIO_HOME``: apps, tools, caches and logs (same layout as the original)."""
    node: Path | None
    """``PINOKIOCLOUD_NODE``: a node executable to use instead of searching for one."""
    node_modules: Path
    """``PINOKIOCLOUD_NODE_MODULES``: npm packages launcher code may ``require`` (lodash for ``_``)."""
    call_timeout_s: float
    """``PINOKIOCLOUD_CALL_TIMEOUT_S``: how long launcher code (a menu, a function export) may run."""
    environ: Mapping[str, str]
    """The process environment launchers see as ``envs`` (layered ENVIRONMENT files come later), without
    :data:`DAEMON_ONLY_VARIABLES`."""
    cloud_platform: str | None = None
    """``PINOKIOCLOUD_PLATFORM``: the cloud to assume instead of detecting it (``colab``, ``runpod`` …).
    Checked by ``platform.detect_cloud``, where an unknown name is a warning, not an error."""
    persist: Path | None = None
    """``PINOKIOCLOUD_PERSIST``: a persistent folder (Google Drive, a volume) that outlives the session."""
    is_home_set: bool = False
    """Whether ``PINOKIO_HOME`` was given; when not, ``doctor`` suggests the platform's recommended home."""
    port: int = DEFAULT_PORT
    """``PINOKIOCLOUD_PORT``: the daemon's port on 127.0.0.1."""
    ui_port: int = DEFAULT_UI_PORT
    """``PINOKIOCLOUD_UI_PORT``: the dashboard's port (its auth gateway) on 127.0.0.1."""
    daemon_only: Mapping[str, str] = field(default_factory=dict)
    """The :data:`DAEMON_ONLY_VARIABLES` that were set (``NGROK_AUTHTOKEN`` …), apart from ``environ``."""

    @property
    def process_environ(self) -> dict[str, str]:
        """The whole environment, secrets included: what a daemon started for these settings must inherit."""
        return {**self.environ, **self.daemon_only}

    @property
    def token_file(self) -> Path:
        """The daemon's API token (mode 0600); clients read it to authenticate."""
        return self.home / "daemon.token"

    @property
    def daemon_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_dir(self) -> Path:
        return self.home / "api"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("PINOKIO_HOME") or Path.home() / "pinokio").expanduser().resolve()
        node = env.get("PINOKIOCLOUD_NODE")
        modules = env.get("PINOKIOCLOUD_NODE_MODULES")
        timeout = env.get("PINOKIOCLOUD_CALL_TIMEOUT_S", "")
        try:
            call_timeout_s = float(timeout) if timeout else DEFAULT_CALL_TIMEOUT_S
        except ValueError:
            raise BadParamError(f"PINOKIOCLOUD_CALL_TIMEOUT_S must be a number of seconds, got {timeout!r}") from None
        if call_timeout_s <= 0:
            raise BadParamError(f"PINOKIOCLOUD_CALL_TIMEOUT_S must be above 0, got {timeout!r}")
        port_text = env.get("PINOKIOCLOUD_PORT", "").strip()
        ui_port_text = env.get("PINOKIOCLOUD_UI_PORT", "").strip()
        for name, text in (("PINOKIOCLOUD_PORT", port_text), ("PINOKIOCLOUD_UI_PORT", ui_port_text)):
            if text and not (text.isdigit() and 0 < int(text) < 65536):
                raise BadParamError(f"{name} must be a port number (1-65535), got {text!r}")
        return cls(
            home=home,
            node=Path(node).expanduser() if node else None,
            node_modules=Path(modules).expanduser().resolve() if modules else home / "bin" / "sidecar" / "node_modules",
            call_timeout_s=call_timeout_s,
            environ={k: v for k, v in env.items() if k not in DAEMON_ONLY_VARIABLES},
            cloud_platform=env.get("PINOKIOCLOUD_PLATFORM", "").strip() or None,
            persist=Path(persist).expanduser().absolute() if (persist := env.get("PINOKIOCLOUD_PERSIST")) else None,
            is_home_set=bool(env.get("PINOKIO_HOME")),
            port=int(port_text) if port_text else DEFAULT_PORT,
            ui_port=int(ui_port_text) if ui_port_text else DEFAULT_UI_PORT,
            daemon_only={k: v for k, v in env.items() if k in DAEMON_ONLY_VARIABLES},
        )
