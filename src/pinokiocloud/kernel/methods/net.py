"""``net`` (an HTTP request, spec §3.9) and ``exec`` (a plain shell command outside any run shell)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from pinokiocloud.kernel.methods.base import MethodError, MethodRequest, RunHandle, method

NET_TIMEOUT_S = 60.0


def _headers(value: object) -> dict[str, str] | None:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


_Primitive = str | int | float | bool | None


def _primitive(value: object) -> _Primitive:
    """A query value as httpx writes it (true/false, numbers, empty for null); objects as their text."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else json.dumps(value)


def _query(value: object) -> dict[str, _Primitive | list[_Primitive]] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): [_primitive(i) for i in v] if isinstance(v, list) else _primitive(v) for k, v in value.items()}


def _millis(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MethodError(f"{what} must be a number of milliseconds, got {value!r}")
    try:
        return float(value) / 1000
    except ValueError as exc:
        raise MethodError(f"{what} must be a number of milliseconds, got {value!r}") from exc


@method("net")
async def net(req: MethodRequest, ctx: RunHandle) -> object:
    """params: axios-style {url, method, headers, data, params, responseType, timeout(ms)} → response data.
    A non-2xx answer fails the step."""
    params = req.params_dict()
    url = params.get("url")
    if not url:
        raise MethodError("net needs url")
    data = params.get("data")
    body = data if isinstance(data, (dict, list)) else None
    content = str(data) if data is not None and body is None else None
    timeout = _millis(params["timeout"], "timeout") if params.get("timeout") else NET_TIMEOUT_S
    import httpx  # here, not at the top: the daemon starts without it (tests/server/test_import_cost.py)

    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            response = await client.request(str(params.get("method") or "GET").upper(), str(url),
                                            headers=_headers(params.get("headers")),
                                            params=_query(params.get("params")), json=body, content=content)
    except httpx.HTTPError as exc:
        raise MethodError(f"net: {url} could not be reached: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise MethodError(f"net: {url} answered {response.status_code}: {response.text[:300]}")
    kind = params.get("responseType")
    if kind in ("text", "document"):
        return response.text
    if kind in ("arraybuffer", "blob", "stream"):
        return {"type": "Buffer", "data": list(response.content)}
    try:
        return response.json()
    except (json.JSONDecodeError, ValueError):
        return response.text


@method("exec")
async def exec_(req: MethodRequest, ctx: RunHandle) -> dict[str, object]:
    """params: {message, path|cwd, env, timeout(ms)} → {stdout, stderr, error}; never fails the step.
    As in the original, a relative path is relative to the daemon's folder, not the script's."""
    params = req.params_dict()
    command = params.get("message")
    if not command:
        raise MethodError("exec needs message")
    cwd = params.get("path") or params.get("cwd")
    extra = params.get("env")
    env = {**ctx.daemon_env, **({str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {})}
    timeout = _millis(params["timeout"], "timeout") if params.get("timeout") else None
    try:
        proc = await asyncio.create_subprocess_shell(
            str(command), cwd=Path(os.path.expanduser(str(cwd))) if cwd else None, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        return {"stdout": "", "stderr": "", "error": str(exc)}
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return {"stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace"),
                "error": f"timed out after {timeout} s"}
    error = None if proc.returncode == 0 else f"Command failed with exit code {proc.returncode}: {command}"
    return {"stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace"), "error": error}
