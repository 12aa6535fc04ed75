"""``net`` (an HTTP request, spec §3.9) and ``exec`` (a plain shell command outside any run shell)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx

from pinokiocloud.kernel.methods.base import MethodContext, MethodError, MethodRequest, method

NET_TIMEOUT_S = 60.0


@method("net")
async def net(req: MethodRequest, ctx: MethodContext) -> Any:
    """params: axios-style {url, method, headers, data, params, responseType, timeout(ms)} → response data.
    A non-2xx answer fails the step."""
    params = req.params_dict()
    url = params.get("url")
    if not url:
        raise MethodError("net needs url")
    data = params.get("data")
    kwargs: dict[str, Any] = {"headers": params.get("headers"), "params": params.get("params")}
    if isinstance(data, (dict, list)):
        kwargs["json"] = data
    elif data is not None:
        kwargs["content"] = str(data)
    timeout = float(params["timeout"]) / 1000 if params.get("timeout") else NET_TIMEOUT_S
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            response = await client.request(str(params.get("method") or "GET").upper(), str(url), **kwargs)
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
async def exec_(req: MethodRequest, ctx: MethodContext) -> dict[str, Any]:
    """params: {message, path|cwd, env, timeout(ms)} → {stdout, stderr, error}; never fails the step.
    As in the original, a relative path is relative to the daemon's folder, not the script's."""
    params = req.params_dict()
    command = params.get("message")
    if not command:
        raise MethodError("exec needs message")
    cwd = params.get("path") or params.get("cwd")
    env = {**ctx.runner.environ, **{k: str(v) for k, v in (params.get("env") or {}).items()}}
    timeout = float(params["timeout"]) / 1000 if params.get("timeout") else None
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
