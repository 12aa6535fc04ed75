"""``local``, ``global``, ``set``, ``rm``, ``json.*``, ``self.*`` and ``load`` (spec §3.4)."""

from __future__ import annotations

import json
from pathlib import Path

from pinokiocloud.kernel.keypath import delete_path, set_path
from pinokiocloud.kernel.methods.base import MethodError, MethodRequest, RunHandle, method


def _memory(ctx: RunHandle, scope: str) -> dict[str, object]:
    return ctx.memory(scope)


def _set_memory(ctx: RunHandle, scope: str, values: object) -> None:
    if values is None:
        return
    if not isinstance(values, dict):
        raise MethodError(f"{scope}.set needs an object of key: value pairs")
    target = _memory(ctx, scope)
    for key, value in values.items():
        set_path(target, key, value)
    ctx.print(json.dumps(target, indent=2, default=str))


def _rm_memory(ctx: RunHandle, scope: str, keys: object) -> None:
    target = _memory(ctx, scope)
    for key in keys if isinstance(keys, list) else [keys] if keys else []:
        delete_path(target, str(key))


@method("local.set")
async def local_set(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {key: value, "a.b": value, ...} → sets the run's local variables."""
    _set_memory(ctx, "local", req.params)
    share_var = ctx.env().get("PINOKIO_SHARE_VAR", "url")
    if isinstance(req.params, dict) and share_var in req.params:
        ctx.emit("local.url", {"key": share_var, "value": req.params[share_var]})


@method("local.rm")
async def local_rm(req: MethodRequest, ctx: RunHandle) -> None:
    """params: ["key", "a.b", ...]"""
    _rm_memory(ctx, "local", req.params)


@method("global.set")
async def global_set(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {key: value, ...} → the script's global variables (kept across runs until restart)."""
    _set_memory(ctx, "global", req.params)


@method("global.rm")
async def global_rm(req: MethodRequest, ctx: RunHandle) -> None:
    _rm_memory(ctx, "global", req.params)


def _json_file(ctx: RunHandle, name: str) -> Path | None:
    if not name.endswith(".json"):
        return None  # the original ignores other files silently
    return ctx.resolve(name)


def _read_json(file: Path) -> object:
    try:
        return json.loads(file.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, ValueError) as exc:
        raise MethodError(f"cannot read {file} as JSON: {exc}") from exc


def _write_json(file: Path, data: object) -> None:
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(data, indent=2))
    except OSError as exc:
        raise MethodError(f"cannot write {file}: {exc.strerror or exc}") from exc


def _json_set(ctx: RunHandle, params: object) -> None:
    if not isinstance(params, dict):
        raise MethodError('json.set needs {"file.json": {key: value}}')
    for name, values in params.items():
        file = _json_file(ctx, str(name))
        if file is None or not isinstance(values, dict):
            continue
        data = _read_json(file)
        if not isinstance(data, dict):
            data = {}
        for key, value in values.items():
            set_path(data, key, value)
        _write_json(file, data)


def _json_rm(ctx: RunHandle, params: object) -> None:
    if not isinstance(params, dict):
        raise MethodError('json.rm needs {"file.json": ["key", ...]}')
    for name, keys in params.items():
        file = _json_file(ctx, str(name))
        if file is None or not file.exists():
            continue
        data = _read_json(file)
        for key in keys if isinstance(keys, list) else [keys]:
            delete_path(data, str(key))
        _write_json(file, data)


@method("json.set", "self.set")
async def json_set(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {"<file>.json": {keypath: value}} → patch JSON files (keys may contain "/")."""
    _json_set(ctx, req.params)


@method("json.rm", "self.rm")
async def json_rm(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {"<file>.json": ["keypath", ...]}"""
    _json_rm(ctx, req.params)


@method("json.get")
async def json_get(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {name: "<file>.json"} → local[name] = the parsed file (null when unreadable)."""
    target = _memory(ctx, "local")
    for name, file_name in req.params_dict().items():
        file = _json_file(ctx, str(file_name))
        if file is None:
            continue
        try:
            target[name] = json.loads(file.read_text())
        except (OSError, ValueError):
            target[name] = None


@method("set")
async def set_(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {local: {}, global: {}, self: {file: {}}, json: {file: {}}, key: {host: {}}}"""
    params = req.params_dict()
    _set_memory(ctx, "local", params.get("local"))
    _set_memory(ctx, "global", params.get("global"))
    for scope in ("self", "json"):
        if params.get(scope):
            _json_set(ctx, params[scope])
    keys = params.get("key")
    if isinstance(keys, dict):
        await ctx.run_blocking(ctx.keys.merge, keys)


@method("rm")
async def rm(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {local: [keys], global: [keys], self|json: {file: [keys]}}"""
    params = req.params_dict()
    _rm_memory(ctx, "local", params.get("local"))
    _rm_memory(ctx, "global", params.get("global"))
    for scope in ("self", "json"):
        if params.get(scope):
            _json_rm(ctx, params[scope])


@method("load")
async def load(req: MethodRequest, ctx: RunHandle) -> dict[str, object]:
    """params: {name: path} → {name: the loaded JSON/JS value} (JS through the sidecar)."""
    out: dict[str, object] = {}
    for name, uri in req.params_dict().items():
        file = ctx.resolve(str(uri))
        out[name] = await ctx.load(file)
    return out
