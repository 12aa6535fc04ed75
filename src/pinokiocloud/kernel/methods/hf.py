"""``hf.download`` (spec §3.10): the Hugging Face CLI run as a ``shell.run`` of the app.

``{path, env, _: [repo, files...], "local-dir": ..., include, exclude, ...}`` becomes
``hf download <positional> --<key> <value> ... ; ls`` (values unquoted, as the original builds it),
with the app's full environment, so HF_HOME and HF_TOKEN_PATH apply. The command runs as one entry of the
home's download queue: its progress reaches the queue and the run's ``download`` events, and every file it
wrote is hashed and recorded (``downloads.hf``).
"""

from __future__ import annotations

from pathlib import Path

from pinokiocloud.downloads import QueuedDownload, queue_for, records_for
from pinokiocloud.downloads.hf import HfTarget, hub_repo_folder, run_hf_download
from pinokiocloud.kernel.methods.base import MethodError, MethodRequest, RunHandle, method
from pinokiocloud.kernel.methods.shell import run_shell
from pinokiocloud.kernel.shell_command import js_string, unparse

_SHELL_KEYS = ("path", "env", "venv", "conda", "on", "input", "shell")


def _patterns(value: object) -> tuple[str, ...]:
    """``--include``/``--exclude`` as a launcher writes them: one pattern or a list of them."""
    if isinstance(value, list):
        return tuple(str(v) for v in value if v is not None)
    return (str(value),) if value else ()


def _target(params: dict[str, object], ctx: RunHandle, positional: list[object]) -> HfTarget:
    """Where ``hf download`` puts the files (``--local-dir`` from the step's folder, else the hub cache) and which
    files it asked for, so the model store links only those."""
    repo = str(positional[0])
    revision = str(params.get("revision") or "main")
    wanted = {"files": tuple(str(p) for p in positional[1:]), "include": _patterns(params.get("include")),
              "exclude": _patterns(params.get("exclude"))}
    local = params.get("local-dir") or params.get("local_dir")
    if local:
        cwd = ctx.resolve(str(params.get("path") or ".").replace("\\", "/"))
        return HfTarget(repo, revision, (cwd / str(local)).resolve(), local_dir=True, **wanted)
    env = ctx.env()
    hf_home = Path(env.get("HF_HOME") or ctx.home / "cache" / "HF_HOME")
    kind = str(params.get("repo-type") or params.get("repo_type") or "model")
    return HfTarget(repo, revision, hub_repo_folder(hf_home, repo, kind), local_dir=False, **wanted)


@method("hf.download")
async def download(req: MethodRequest, ctx: RunHandle) -> dict[str, object]:
    """params: {path?, env?, _: [repo, ...files], <flag>: value} → the shell.run result."""
    params = req.params_dict()
    positional = params.get("_")
    if not isinstance(positional, list) or not positional:
        raise MethodError('hf.download needs _: ["<repo id>", ...files]')
    argv = {k: v for k, v in params.items() if k not in _SHELL_KEYS}
    command = " ".join(js_string(part) for part in unparse({**argv, "_": ["hf", "download", *positional]}))
    shell = {k: params[k] for k in _SHELL_KEYS if k in params}
    target = _target(params, ctx, positional)

    def event(entry: QueuedDownload) -> None:
        ctx.emit("download", entry.to_json())

    try:
        app = ctx.run.path.relative_to(ctx.home / "api").parts[0]
    except (ValueError, IndexError):
        app = None
    return await run_hf_download(queue_for(ctx.home), records_for(ctx.home), target,
                                 lambda: run_shell(req, ctx, {**shell, "message": command + " ; ls"}),
                                 app=app, on_update=event, home=ctx.home, on_log=ctx.print)
