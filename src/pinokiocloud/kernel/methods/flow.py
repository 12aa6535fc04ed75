"""``jump``/``goto`` and ``process.wait`` (spec §3.8)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from pinokiocloud.kernel.methods.base import MethodError, MethodRequest, RunHandle, method
from pinokiocloud.kernel.ports import answers

DEFAULT_INTERVAL_S = 1.0


@method("jump", "goto")
async def jump(req: MethodRequest, ctx: RunHandle) -> object:
    """params: {index} | {id}, params?|input? → go there next; {index: null} ends the script."""
    params = req.params_dict()
    value = params.get("params") or params.get("input")
    if "id" in params:
        ids = ctx.step_ids
        target = params["id"]
        if isinstance(target, str) and target in ids:
            return ctx.jump(ids.index(target), value)
        return value  # an unknown id just continues with the next step, as in the original
    if "index" in params:
        index = params["index"]
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise MethodError(f"jump index must be a step number or null, got {index!r}")
        return ctx.jump(index, value)
    return value


def _number(value: object, what: str) -> float:
    """A duration or count from the launcher: a number or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MethodError(f"{what} must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError as exc:
        raise MethodError(f"{what} must be a number, got {value!r}") from exc


async def _sleep_or_stop(ctx: RunHandle, seconds: float | None) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(ctx.run.stopping.wait(), seconds)


async def _http_ok(url: str, method_: str, timeout: float) -> bool:
    import httpx  # here, not at the top: the daemon starts without it (tests/server/test_import_cost.py)

    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            response = await client.request(method_, url)
        return 200 <= response.status_code < 300
    except httpx.HTTPError:
        return False


async def _resource_ready(resource: str, timeout: float) -> bool:
    """One wait-on resource: file:, http(s):// (HEAD), http-get://, tcp:host:port, socket:path."""
    if resource.startswith(("http://", "https://")):
        return await _http_ok(resource, "HEAD", timeout)
    if resource.startswith(("http-get://", "https-get://")):
        return await _http_ok(resource.replace("-get://", "://", 1), "GET", timeout)
    if resource.startswith("tcp:"):
        rest = resource[4:].lstrip("/")
        host, _, port = rest.rpartition(":")
        return await answers(host or "localhost", int(port), timeout)
    if resource.startswith("socket:"):
        try:
            _, writer = await asyncio.open_unix_connection(resource[7:])
        except OSError:
            return False
        writer.close()
        return True
    return Path(resource[5:] if resource.startswith("file:") else resource).exists()


@method("process.wait")
async def wait(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {sec} | {min} | {url|uri, interval?, message?} | {on: wait-on options} | nothing (until stop)."""
    params = req.params_dict()
    banner = params.get("title") or params.get("description") or params.get("message")
    if banner:
        ctx.emit("wait", {"title": params.get("title"), "description": params.get("description"),
                          "message": params.get("message")})
    if "sec" in params or "min" in params:
        seconds = _number(params.get("sec") or 0, "sec") + 60 * _number(params.get("min") or 0, "min")
        await _sleep_or_stop(ctx, seconds)
        return
    url = params.get("url") or params.get("uri")
    if url:
        interval = _number(params.get("interval") or DEFAULT_INTERVAL_S, "interval")
        while not ctx.run.stopping.is_set():
            if await _http_ok(str(url), "GET", interval):
                return
            if params.get("message"):
                ctx.print(str(params["message"]))
            await _sleep_or_stop(ctx, interval)
        return
    on = params.get("on")
    if isinstance(on, dict):
        await _wait_on(ctx, on)
        return
    if any(k in params for k in ("app", "id", "name")):
        raise MethodError("process.wait for desktop applications is not available on a cloud machine")
    ctx.emit("wait", {"title": "Waiting"})
    await ctx.run.stopping.wait()  # wait forever: until the run is stopped


async def _wait_on(ctx: RunHandle, options: dict[str, object]) -> None:
    listed = options.get("resources")
    resources = [str(r) for r in (listed if isinstance(listed, list) else [])]
    if not resources:
        raise MethodError("process.wait on: needs resources, e.g. ['tcp:127.0.0.1:7860']")
    interval = _number(options.get("interval") or 250, "interval") / 1000
    timeout_ms = options.get("timeout")
    reverse = bool(options.get("reverse"))
    deadline = time.monotonic() + _number(timeout_ms, "timeout") / 1000 if timeout_ms else None
    while not ctx.run.stopping.is_set():
        states = [await _resource_ready(r, max(interval, 1.0)) for r in resources]
        if all((not s) if reverse else s for s in states):
            return
        if deadline is not None and time.monotonic() > deadline:
            raise MethodError(f"timed out waiting for {', '.join(resources)}")
        await _sleep_or_stop(ctx, interval)
