"""``script.*`` (spec §3.6): start other scripts and wait for them, stop, restart, clone by git URI."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from pinokiocloud.kernel.methods.base import MethodError, MethodRequest, RunHandle, method
from pinokiocloud.kernel.paths import clone_folder_name, find_clone, run_id, split_git_uri
from pinokiocloud.procs.captured import run_captured

GIT_TIMEOUT_S = 1800


async def _git(*args: str, cwd: Path | None = None) -> None:
    """git through ``procs.run_captured``: a timeout kills git's whole group and waits for it."""
    done = await run_captured(["git", *args], timeout_s=GIT_TIMEOUT_S, cwd=cwd)
    if done.timed_out:
        raise MethodError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s")
    if done.code != 0:
        raise MethodError(f"git {' '.join(args)} failed: {done.output.strip()[-500:]}")


async def _clone(ctx: RunHandle, url: str, params: dict[str, object]) -> Path:
    """Clone a launcher given by git URL into api/ (once), then apply branch/hash/pull."""
    folder = find_clone(ctx.home, url) or ctx.home / "api" / clone_folder_name(url)
    if not folder.exists():
        ctx.print(f"[script] cloning {url} into {folder}")
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            await _git("clone", url, str(folder))
        except (MethodError, asyncio.CancelledError):
            await ctx.run_blocking(shutil.rmtree, folder, ignore_errors=True)  # no half-cloned launcher
            raise
    if params.get("branch"):
        await _git("switch", str(params["branch"]), cwd=folder)
    if params.get("hash"):
        await _git("switch", "--detach", str(params["hash"]), cwd=folder)
    if params.get("pull"):
        await _git("pull", cwd=folder)
    return folder


async def _target(req: MethodRequest, ctx: RunHandle, uri: object) -> Path:
    if not isinstance(uri, str) or not uri:
        raise MethodError(f"{req.method} needs uri")
    git = split_git_uri(uri)
    if git is not None:
        folder = await _clone(ctx, git[0], req.params_dict())
        return (folder / git[1]).resolve()
    return ctx.resolve(uri)


@method("script.start", "script.run")
async def start(req: MethodRequest, ctx: RunHandle) -> object:
    """params: {uri, params?, branch?, hash?, pull?} → run the script and wait for it; its last result."""
    target = await _target(req, ctx, req.param("uri"))
    if not target.is_file():
        raise MethodError(f"script.start: {target} does not exist")
    if ctx.is_running(run_id(target)):
        ctx.print(f"{target} already running. Continuing...")
        return None
    child = await ctx.start(target, args=req.param("params", default={}), uri=str(req.param("uri")))
    return await ctx.wait(child)


@method("script.return")
async def return_(req: MethodRequest, ctx: RunHandle) -> object:
    """params: any → becomes the caller's input."""
    return req.params


@method("script.stop")
async def stop(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {uri: str | [str]} → stop each (not awaited: the stop may be this run's own)."""
    uris = req.param("uri")
    for uri in uris if isinstance(uris, list) else [uris]:
        target = await _target(req, ctx, uri)
        ctx.spawn(ctx.stop(run_id(target)), f"script.stop {uri}")


@method("script.restart")
async def restart(req: MethodRequest, ctx: RunHandle) -> dict[str, object]:
    """params: {uri?, params?} → stop the script (default: this one) and start it again."""
    uri = req.param("uri")
    target = await _target(req, ctx, uri) if uri else ctx.run.path
    args = req.param("params", default=ctx.run.args if target == ctx.run.path else {})
    is_self = target == ctx.run.path

    async def again() -> None:
        await ctx.stop(run_id(target))
        await ctx.start(target, args=args, child=False)

    ctx.spawn(again(), f"script.restart {uri or ctx.run.uri}")
    return {"uri": str(uri or ctx.run.uri), "scheduled": True, "self": is_self, "params": args}


@method("script.download")
async def download(req: MethodRequest, ctx: RunHandle) -> str:
    """params: {uri: git URL, branch?, hash?, pull?} → clone only; the local folder."""
    uri = req.param("uri")
    git = split_git_uri(uri) if isinstance(uri, str) else None
    if git is None:
        raise MethodError("script.download needs a git URI like https://github.com/owner/repo.git")
    return str(await _clone(ctx, git[0], req.params_dict()))


@method("script.ready")
async def ready(req: MethodRequest, ctx: RunHandle) -> bool:
    """params: {uri} | "uri" → has that script reached its ready state."""
    uri = req.params if isinstance(req.params, str) else req.param("uri")
    target = ctx.resolve(str(uri))
    run = ctx.find(run_id(target))
    return bool(run and run.is_ready)
