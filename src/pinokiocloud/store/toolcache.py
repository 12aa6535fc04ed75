"""Tool folders a new home needs before anything runs, kept on the persistent root as one archive each.

The Node sidecar's npm packages (lodash: templates reach it as ``_``) live in ``PINOKIO_HOME/bin/sidecar``. A
new home installed them with npm before its daemon answered, so before any restored app could start: 2 s
on this machine with npm's cache warm, a download on a new cloud machine. ``ROOT/tools/NAME.tar.zst`` keeps a
copy (about a thousand small files as one sequential file) and ``ROOT/tools/NAME.json`` says what it holds
(``key``: the package list). A new home puts the folder back by extracting it, and installs only when the
copy is missing, holds other packages, or is damaged (one line says which).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import time
import uuid
from pathlib import Path
from typing import IO, Any, cast

import zstandard

from pinokiocloud.store.atomic import write_atomic

__all__ = ["restore_tool", "save_tool", "tool_paths"]

_MEMBER = "tool"


def tool_paths(root: Path, name: str) -> tuple[Path, Path]:
    """(archive, manifest) of tool folder ``name`` on the persistent root."""
    folder = root / "tools"
    return folder / f"{name}.tar.zst", folder / f"{name}.json"


def _manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_tool(folder: Path, root: Path, name: str, key: str) -> bool:
    """Keep ``folder`` on the root as ``name``, unless the copy there already holds ``key``; whether it wrote
    one. The archive is written to a temporary file and renamed, then its manifest: a reader sees the old
    copy or the whole new one."""
    archive, manifest = tool_paths(root, name)
    if archive.is_file() and _manifest(manifest).get("key") == key:
        return False
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f".{archive.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as raw:
            compressor = zstandard.ZstdCompressor(level=3, write_checksum=True)
            with compressor.stream_writer(raw, closefd=False) as packed, tarfile.open(fileobj=packed, mode="w|") as tar:
                tar.add(folder, arcname=_MEMBER)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, archive)
    finally:
        tmp.unlink(missing_ok=True)
    write_atomic(manifest, json.dumps({"name": name, "key": key, "size": archive.stat().st_size,
                                       "created": time.time()}, indent=2).encode())
    return True


def restore_tool(root: Path, name: str, key: str, folder: Path) -> str | None:
    """Put the root's copy of ``name`` at ``folder`` (which must not exist yet); ``None`` when it is there,
    else why not, in one line. A damaged copy leaves nothing behind and is left as it is."""
    archive, manifest = tool_paths(root, name)
    if not archive.is_file():
        return f"the persistent root holds no copy of {name}"
    kept = _manifest(manifest).get("key")
    if kept != key:
        return f"the copy of {name} on the persistent root holds {kept!r}, this version needs {key!r}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = folder.with_name(f".{folder.name}.restore-{uuid.uuid4().hex[:8]}")
    try:
        work.mkdir()
        with open(archive, "rb") as raw, \
                zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], raw), read_across_frames=True) as data, \
                tarfile.open(fileobj=data, mode="r|") as tar:
            for member in tar:
                if member.name == _MEMBER or member.name.startswith(_MEMBER + "/"):
                    tar.extract(member, work, set_attrs=True, filter="data")
        os.replace(work / _MEMBER, folder)
    except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:
        return f"the copy of {name} on the persistent root could not be extracted ({exc})"
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    return None
