"""ENVIRONMENT files and the merged environment of a script (spec §4.8, §3.11).

Two dotenv files feed every script: ``<HOME>/ENVIRONMENT`` (system) and the app's own file. Values
starting with ``./`` are absolute paths under the folder that owns the file (``<HOME>`` for the
system file, the app root for an app file); empty values count as unset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pinokiocloud.errors import BadParamError

__all__ = [
    "APP_DEFAULTS",
    "SYSTEM_DEFAULTS",
    "app_env_file",
    "app_root",
    "ensure_app_env",
    "ensure_system_env",
    "merged_env",
    "parse_env_text",
    "read_env",
    "set_env_values",
    "switch_env_values",
]

_CACHE_KEYS = ("HOMEBREW_CACHE", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME",
               "PIP_CACHE_DIR", "UV_CACHE_DIR", "PIP_TMPDIR", "TMPDIR", "TEMP", "TMP")
_SHARED_CACHE_KEYS = ("GRADIO_TEMP_DIR", "HF_HOME", "TORCH_HOME")

SYSTEM_DEFAULTS: dict[str, str] = {
    **{key: f"./cache/{key}" for key in _CACHE_KEYS},
    "PIP_CONFIG_FILE": "./pipconfig",
    "CONDARC": "./condarc",
    "PS1": "<<PINOKIO_SHELL>> ",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "GRADIO_ALLOWED_PATHS": "./",
    **{key: f"./cache/{key}" for key in _SHARED_CACHE_KEYS},
    "PINOKIO_SHARE_VAR": "url",
    "PINOKIO_SHARE_CLOUDFLARE": "false",
    "PINOKIO_SHARE_LOCAL": "false",
    "PINOKIO_SHARE_LOCAL_PORT": "",
    "PINOKIO_SCRIPT_DEFAULT": "true",
    "PINOKIO_DRIVE": "./drive",
}
"""The system file's keys and defaults, in the order they are written."""

APP_DEFAULTS: dict[str, str] = {
    **{key: f"./cache/{key}" for key in _SHARED_CACHE_KEYS},
    "PINOKIO_SHARE_CLOUDFLARE": "false",
    "PINOKIO_SHARE_PASSCODE": "",
    "PINOKIO_SHARE_LOCAL": "false",
    "PINOKIO_SHARE_LOCAL_PORT": "",
    "PINOKIO_SCRIPT_DEFAULT": "true",
    "PINOKIO_SCRIPT_AUTOLAUNCH": "",
    "PINOKIO_SCRIPT_REQUIRES": "",
}
"""Keys a new app file gets; in the app file ``./cache/X`` means a per-app cache folder."""

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$")


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig", errors="replace")


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner.replace("\\n", "\n").replace('\\"', '"') if value[0] == '"' else inner
    if " #" in value:
        value = value.split(" #", 1)[0].rstrip()
    return value


def parse_env_text(text: str) -> dict[str, str]:
    """Dotenv: ``KEY=VALUE`` lines, ``#`` comments, optional quotes and ``export``."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = _unquote(match.group(2))
    return values


def read_env(file: Path, owner: Path) -> dict[str, str]:
    """The file's values with ``./`` made absolute against ``owner`` and empty values dropped."""
    try:
        text = _decode(file.read_bytes())
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return {}
    out: dict[str, str] = {}
    for key, value in parse_env_text(text).items():
        if value == "":
            continue
        out[key] = str((owner / value[2:]).resolve()) if value.startswith("./") else value
    return out


def app_root(script: Path, home: Path) -> Path | None:
    """``<HOME>/api/<name>`` for a script under it, else None."""
    try:
        rel = script.resolve().relative_to((home / "api").resolve())
    except ValueError:
        return None
    return (home / "api" / rel.parts[0]) if rel.parts else None


def app_env_file(root: Path) -> Path:
    """The app's ENVIRONMENT: in ``pinokio/`` when the launcher lives there, else at the app root."""
    return root / "pinokio" / "ENVIRONMENT" if (root / "pinokio").is_dir() else root / "ENVIRONMENT"


def _render_defaults(defaults: Mapping[str, str], existing: Mapping[str, str]) -> str:
    lines = []
    for key, value in defaults.items():
        lines.append(f"{key}={existing.get(key, value)}")
    return "\n".join(lines) + "\n"


def ensure_system_env(home: Path) -> Path:
    """Write ``<HOME>/ENVIRONMENT`` with the defaults when it does not exist yet."""
    file = home / "ENVIRONMENT"
    if not file.exists():
        home.mkdir(parents=True, exist_ok=True)
        file.write_text(_render_defaults(SYSTEM_DEFAULTS, {}))
    return file


def ensure_app_env(root: Path, home: Path) -> Path:
    """Generate the app file once: ``_ENVIRONMENT`` (if shipped) + the app defaults, taking values the
    system file already sets, plus the system file's custom keys."""
    file = app_env_file(root)
    if file.exists():
        return file
    template = file.parent / "_ENVIRONMENT"
    head = _decode(template.read_bytes()) if template.is_file() else ""
    system_file = home / "ENVIRONMENT"
    system_raw = parse_env_text(_decode(system_file.read_bytes())) if system_file.is_file() else {}
    shipped = parse_env_text(head)
    defaults = {k: v for k, v in APP_DEFAULTS.items() if k not in shipped}
    # Shared cache keys stay per-app (./cache/X under the app) unless the user changed them system-wide.
    existing = {k: v for k, v in system_raw.items() if k in defaults and not (
        k in _SHARED_CACHE_KEYS and v == SYSTEM_DEFAULTS.get(k))}
    custom = {k: v for k, v in system_raw.items()
              if k not in SYSTEM_DEFAULTS and k not in defaults and k not in shipped}
    body = _render_defaults({**defaults, **custom}, existing)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text((head.rstrip("\n") + "\n" if head.strip() else "") + body)
    return file


def merged_env(script: Path, home: Path, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (the process env) ← system file ← app file, for a script path (spec §4.8 ``get2``)."""
    env = dict(base)
    env.update(read_env(home / "ENVIRONMENT", home))
    root = app_root(script, home)
    if root is not None:
        env.update(read_env(app_env_file(root), root))
    return env


def _escape(value: object) -> str:
    return str(value).replace("\r\n", "\\n").replace("\n", "\\n")


def set_env_values(file: Path, values: Mapping[str, object]) -> None:
    """Rewrite or append ``KEY=value`` lines, keeping comments and order (``env.set``)."""
    if not file.is_file():
        raise BadParamError(f"{file} does not exist; open the app once so its ENVIRONMENT file is created")
    lines = _decode(file.read_bytes()).splitlines()
    pending = {k: _escape(v) for k, v in values.items()}
    for i, line in enumerate(lines):
        match = _LINE.match(line)
        if match and match.group(1) in pending and not line.lstrip().startswith("#"):
            lines[i] = f"{match.group(1)}={pending.pop(match.group(1))}"
    lines.extend(f"{k}={v}" for k, v in pending.items())
    file.write_text("\n".join(lines) + "\n")


def switch_env_values(file: Path, options: Mapping[str, list[object]]) -> dict[str, str]:
    """``env.switch``: unset → first option; a current option → the next one (cyclic); else unchanged."""
    current = parse_env_text(_decode(file.read_bytes())) if file.is_file() else {}
    changes: dict[str, str] = {}
    for key, choices in options.items():
        texts = [str(c) for c in choices]
        if not texts:
            continue
        value = current.get(key, "")
        if value == "":
            changes[key] = texts[0]
        elif value in texts:
            changes[key] = texts[(texts.index(value) + 1) % len(texts)]
    if changes:
        set_env_values(file, changes)
    return changes
