"""The environment of a ``shell.run`` process (spec §3.1.4).

Built from the daemon's environment minus inherited activation state, plus the ENVIRONMENT files,
PINOKIO_HOME's tool folders (``bin/tools/bin`` first), the step's own ``env`` (arrays prepend to the
existing value, PATH must be an array) and a few defaults. Keys that are not identifiers are dropped and
newlines flattened.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from pinokiocloud.envs.tools import tools_bin
from pinokiocloud.errors import BadParamError
from pinokiocloud.kernel.environment import app_env_file, app_root, read_env

__all__ = ["build_shell_env"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NO_MKDIR = frozenset({"PIP_CONFIG_FILE", "CONDARC", "HF_TOKEN_PATH"})
_FIXED = {
    "CONDA_SHORTCUTS": "0",
    "CMAKE_OBJECT_PATH_MAX": "1024",
    "PYTORCH_ENABLE_MPS_FALLBACK": "1",
    "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",
}
_ACTIVATION = {"CONDA_AUTO_ACTIVATE_BASE": "false", "PYTHONNOUSERSITE": "1"}


def _inherited_is_dropped(key: str) -> bool:
    return (key.startswith(("BLUEFAIRY_", "CONDA_PREFIX", "CUDA")) or key in (
        "CONDA_SHLVL", "CONDA_DEFAULT_ENV", "CONDA_EXE", "CONDA_PYTHON_EXE", "_CE_CONDA", "_CE_M",
        "PYTHONPATH", "CMAKE_MAKE_PROGRAM", "CMAKE_GENERATOR", "VIRTUAL_ENV", "PYTHONHOME")
            or "SSH" in key or ("SSL" in key and not _is_trust_setting(key)))


def _is_trust_setting(key: str) -> bool:
    """CA certificate settings (SSL_CERT_FILE, GIT_SSL_CAINFO …) are kept, unlike the original: without
    them HTTPS fails on machines behind a TLS proxy (docs/compat.md)."""
    return "CERT" in key or "CAINFO" in key or "CAPATH" in key or "CA_BUNDLE" in key


def _js_value(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _apply_user_env(env: dict[str, str], user: Mapping[str, object]) -> None:
    for key, value in user.items():
        if key.upper() == "PATH" and not isinstance(value, list):
            raise BadParamError("env.PATH must be an array of folders to put in front of PATH, e.g. [\"bin\"]")
        if isinstance(value, list):
            target = "PATH" if key.upper() == "PATH" else key
            existing = env.get(target)
            parts = [_js_value(v) for v in value if v is not None] + ([existing] if existing else [])
            env[target] = os.pathsep.join(parts)
        elif value is None:
            continue
        else:
            env[key] = _js_value(value)


def build_shell_env(
    *,
    base: Mapping[str, str],
    home: Path,
    script: Path,
    user_env: Mapping[str, object] | None,
    remove: list[str] | None = None,
) -> dict[str, str]:
    """The complete environment for one shell of ``script``."""
    env = {k: v for k, v in base.items() if not _inherited_is_dropped(k)}
    env.update(_FIXED)
    files = read_env(home / "ENVIRONMENT", home)
    root = app_root(script, home)
    if root is not None:
        files.update(read_env(app_env_file(root), root))
    for key, value in files.items():
        # Folders named by the files are created (caches, temp dirs), as the original does; values that
        # look like files (with a suffix) are left alone.
        if key not in _NO_MKDIR and value.startswith("/") and not Path(value).suffix and not Path(value).exists():
            with contextlib.suppress(OSError):
                Path(value).mkdir(parents=True, exist_ok=True)
    env.update(files)
    # The tools PinokioCloud ships or installed on demand (envs.tools) come first, as the original puts
    # its own node/conda first; conda activation (envs.activate) then goes in front of them.
    ours = str(tools_bin(home))
    path_parts = [ours, *(p for p in (base.get("PATH") or os.defpath).split(os.pathsep) if p and p != ours)]
    if str(home / "bin") not in path_parts:
        path_parts.append(str(home / "bin"))
    env["PATH"] = os.pathsep.join(path_parts)
    env["HISTFILE"] = str(home / "history" / "bash_history")
    gxx = shutil.which("g++", path=env["PATH"])
    if gxx:
        env["NVCC_PREPEND_FLAGS"] = f"-ccbin {gxx}"
    env.update(_ACTIVATION)
    env.setdefault("UV_PYTHON_DOWNLOADS", "automatic")
    if user_env:
        _apply_user_env(env, user_env)
    env.setdefault("HF_HUB_DISABLE_UPDATE_CHECK", "1")
    env.setdefault("HF_TOKEN_PATH", str(home / "cache" / "HF_AUTH" / "token"))
    cleaned = {k: (v if k.startswith("PINOKIO_ARG_") else v.replace("\r\n", " ").replace("\n", " "))
               for k, v in env.items() if _IDENTIFIER.match(k)}
    for key in remove or []:
        cleaned.pop(key, None)
    return cleaned
