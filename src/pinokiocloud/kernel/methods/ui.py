"""What a run shows or asks the user (spec §3.7, §3.8): terminal lines, notifications, pages to open,
and questions that block the run until they are answered."""

from __future__ import annotations

import json
from urllib.parse import urlencode, urlsplit, urlunsplit

from pinokiocloud.kernel.methods.base import MethodError, MethodRequest, RunHandle, method


@method("log")
async def log(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {raw | text} | {json} | {json2} → a line in the run's terminal."""
    params = req.params if isinstance(req.params, dict) else {"text": req.params}
    if "json" in params:
        text = json.dumps(params["json"], separators=(",", ":"))
    elif "json2" in params:
        text = json.dumps(params["json2"], indent=2)
    else:
        text = str(params.get("raw", params.get("text", "")))
    ctx.emit("stream", {"raw": text + "\r\n"})


@method("notify", "push")
async def notify(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {html, href, target, features, type} (push: {title, message, image, sound}) → a toast."""
    ctx.emit("notify", {"kind": req.method, **req.params_dict()})


@method("web.open", "browser.open", "tab.open")
async def web_open(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {uri | url, target?, features?} → the UI offers to open the page."""
    uri = req.param("uri", "url")
    if not uri:
        raise MethodError(f"{req.method} needs uri")
    ctx.emit("web.open", {"kind": req.method, "uri": str(uri), "target": req.param("target"),
                          "type": req.param("type", default="web")})


@method("uri.open")
async def uri_open(req: MethodRequest, ctx: RunHandle) -> dict[str, object]:
    """params: {uri, params?} → the URI with params as a query string (null dropped, arrays repeated,
    objects as JSON), shown to the user."""
    uri = req.param("uri")
    if not isinstance(uri, str) or not uri:
        raise MethodError("uri.open needs uri")
    pairs: list[tuple[str, str]] = []
    given = req.param("params", default={}) or {}
    for key, value in (given.items() if isinstance(given, dict) else ()):
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            pairs.append((key, json.dumps(item) if isinstance(item, dict) else str(item).lower()
                          if isinstance(item, bool) else str(item)))
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(pairs)) if q)
    full = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    ctx.emit("web.open", {"kind": "uri.open", "uri": full})
    return {"uri": full, "result": "shown"}


@method("input", "modal")
async def input_(req: MethodRequest, ctx: RunHandle) -> dict[str, object]:
    """params: {title, description, type, form: [{key, title, default, type, items}]} → {key: value}."""
    return await ctx.ask({"method": req.method, **req.params_dict()}, method=req.method)


@method("htmlmodal.open")
async def htmlmodal_open(req: MethodRequest, ctx: RunHandle) -> object:
    """params: {id, title, html, status, actions, await?} → with await, the chosen {action}."""
    params = req.params_dict()
    if params.get("await"):
        return await ctx.ask({"method": req.method, **params}, method=req.method)
    ctx.emit("htmlmodal", {"op": "open", **params})
    return None


@method("htmlmodal.update", "htmlmodal.close")
async def htmlmodal_other(req: MethodRequest, ctx: RunHandle) -> None:
    ctx.emit("htmlmodal", {"op": req.method.split(".")[1], **req.params_dict()})


@method("proxy.start", "proxy.stop")
async def proxy(req: MethodRequest, ctx: RunHandle) -> None:
    """Deprecated in the original: as a step it is ignored (sharing is done by PinokioCloud itself)."""
    ctx.print(f"DEPRECATED API {req.method}. Ignored")
