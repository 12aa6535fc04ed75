"""``hf.download`` (spec §3.10): the Hugging Face CLI run as a ``shell.run`` of the app.

``{path, env, _: [repo, files...], "local-dir": ..., include, exclude, ...}`` becomes
``hf download <positional> --<key> <value> ... ; ls`` (values unquoted, as the original builds it),
with the app's full environment, so HF_HOME and HF_TOKEN_PATH apply.
"""

from __future__ import annotations

from typing import Any

from pinokiocloud.kernel.methods.base import MethodContext, MethodError, MethodRequest, method
from pinokiocloud.kernel.methods.shell import run_shell
from pinokiocloud.kernel.shell_command import js_string, unparse

_SHELL_KEYS = ("path", "env", "venv", "conda", "on", "input", "shell")


@method("hf.download")
async def download(req: MethodRequest, ctx: MethodContext) -> dict[str, Any]:
    """params: {path?, env?, _: [repo, ...files], <flag>: value} → the shell.run result."""
    params = req.params_dict()
    positional = params.get("_")
    if not isinstance(positional, list) or not positional:
        raise MethodError('hf.download needs _: ["<repo id>", ...files]')
    argv = {k: v for k, v in params.items() if k not in _SHELL_KEYS}
    command = " ".join(js_string(part) for part in unparse({**argv, "_": ["hf", "download", *positional]}))
    shell = {k: params[k] for k in _SHELL_KEYS if k in params}
    return await run_shell(req, ctx, {**shell, "message": command + " ; ls"})
