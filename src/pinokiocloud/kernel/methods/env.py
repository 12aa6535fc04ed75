"""``env.set`` and ``env.switch`` (spec §3.11): edit the app's ENVIRONMENT file."""

from __future__ import annotations

from pathlib import Path

from pinokiocloud.kernel.environment import app_root, set_env_values, switch_env_values
from pinokiocloud.kernel.methods.base import MethodError, MethodRequest, RunHandle, method


def _app_env(ctx: RunHandle) -> Path:
    root = app_root(ctx.run.path, ctx.home)
    if root is None:
        raise MethodError(f"{req_name(ctx)} works for apps under {ctx.home / 'api'}")
    return root / "ENVIRONMENT"  # the app root, not pinokio/ (as the original)


def req_name(ctx: RunHandle) -> str:
    return f"{ctx.run.path.name} step {ctx.step}"


@method("env.set")
async def env_set(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {KEY: value} → rewrite or append KEY=value (comments kept; the file must exist)."""
    set_env_values(_app_env(ctx), req.params_dict())


@method("env.switch")
async def env_switch(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {KEY: [a, b, c]} → unset: a; a: b; b: c; c: a; another value: unchanged."""
    options = {k: v for k, v in req.params_dict().items() if isinstance(v, list)}
    switch_env_values(_app_env(ctx), options)
