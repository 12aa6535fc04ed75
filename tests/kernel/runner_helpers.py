"""Write launcher scripts into a test PINOKIO_HOME and run them through a real Runner."""

from __future__ import annotations

import logging
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from pinokiocloud.kernel.events import RunEvent
from pinokiocloud.kernel.runner import Run, Runner
from tests.helpers.sidecar import SyncSidecar, make_runner


def git_app(home: Path, name: str, origin: str) -> Path:
    """An app folder that is a git checkout of ``origin`` (drive peers are keyed by the app's remote)."""
    app = home / "api" / name
    app.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(app)], check=True)
    subprocess.run(["git", "-C", str(app), "remote", "add", "origin", origin], check=True)
    return app


def refused_moves(records: list[logging.LogRecord]) -> list[str]:
    """The illegal run state changes the runner refused (and logged) among ``records``."""
    return [r.getMessage() for r in records
            if r.name == "pinokiocloud.kernel.runner" and "illegal run state change" in r.getMessage()]


class Harness:
    """One Runner per test over the session's sidecar; all calls run on the sidecar's loop."""

    def __init__(self, sidecar: SyncSidecar, home: Path, **kw: Any) -> None:
        self.sidecar = sidecar
        self.home = home
        self.app = home / "api" / "app"
        self.app.mkdir(parents=True, exist_ok=True)
        self.runner: Runner = sidecar.run(self._make(kw))

    async def _make(self, kw: dict[str, Any]) -> Runner:
        return make_runner(self.sidecar, self.home, **kw)  # type: ignore[no-any-return]

    def write(self, name: str, text: str, folder: Path | None = None) -> Path:
        path = (folder or self.app) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def run(self, name: str, text: str | None = None, **kw: Any) -> Run:
        path = self.write(name, text) if text is not None else self.app / name
        return self.sidecar.run(self.runner.run_to_end(path, **kw))

    def start(self, path: Path, **kw: Any) -> Run:
        return self.sidecar.run(self.runner.start(path, **kw))

    def wait(self, run: Run, timeout: float = 60) -> Any:
        return self.sidecar.run(self.runner.wait(run), timeout)

    def stop(self, run: Run) -> None:
        self.sidecar.run(self.runner.stop(run.id))

    def events(self, run: Run, *types: str) -> list[RunEvent]:
        return self.runner.events.history(run.id, types=set(types) if types else None, attempt=run.key)

    def printed(self, run: Run) -> str:
        return "".join(e.data["raw"] for e in self.events(run, "stream"))

    def local(self, run: Run) -> dict[str, Any]:
        return self.runner.memory_local.get(run.id, {})

    def close(self) -> None:
        self.sidecar.run(self.runner.close())
