"""What launchers keep inside an app's folder after the install, kept by class on the persistent root.

The environment archive holds what the install made; what the app makes later would be lost with the
machine. Each file is put in one class:

- **models** — files of a model format (``.safetensors``, ``.ckpt``, ``.pt``, ``.gguf`` …) of at least
  ``MODEL_MIN_BYTES``, and any file of that size under a ``models/`` folder (ComfyUI ``models/``, A1111
  ``models/Stable-diffusion``): big, identical across apps, never edited. They go through the blob store
  (kept once by sha256, the app's path a link) and a restore links them back.
- **outputs** — everything under ``output/``, ``outputs/`` (ComfyUI, A1111, Fooocus: what the user made) and
  ``input/`` (ComfyUI: what the user uploaded).
- **configs** — ComfyUI ``user/`` (settings, saved workflows), and the settings files apps write next to their
  code (A1111 ``config.json``, ``ui-config.json``, ``styles.csv``, Fooocus ``config.txt``) when they changed
  after the last archive (before it, the archive has them).

Outputs and user files are copied to ``ROOT/appdata/<app>/files/<path>`` (a file is copied again when its size
or mtime changed; one that was deleted in the app stays on the root: nothing a user could still need is
removed) and copied back over the app's folder on a new machine, after its archive was extracted or its
install ran. Venvs, conda envs, ``node_modules``, ``.git`` and caches are never looked into.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pinokiocloud.errors import StoreError
from pinokiocloud.store.atomic import write_atomic
from pinokiocloud.store.blobs import BlobStore, hash_file

__all__ = ["MODEL_MIN_BYTES", "MODEL_SUFFIXES", "SyncResult", "backup_drive_registry", "classify",
           "restore_app_data", "restore_drive_registry", "sync_app_data"]

log = logging.getLogger(__name__)

MODEL_MIN_BYTES = 8 * 1024 * 1024
MODEL_SUFFIXES = frozenset({".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".onnx", ".sft", ".pkl",
                            ".h5", ".msgpack", ".npz", ".tflite", ".engine", ".trt"})
OUTPUT_DIRS = frozenset({"output", "outputs", "input"})
CONFIG_DIRS = frozenset({"user"})
SETTINGS_FILES = frozenset({"config.json", "ui-config.json", "styles.csv", "config.txt", "user.css",
                            "webui-user.sh", "settings.json"})
SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", "site-packages", ".cache", "cache", ".venv",
                       "venv", "env", "conda", "miniconda", "miniforge"})
MODEL_SETTLE_S = 60.0
"""A model file changed this recently may still be being written (an app's own download): it is taken into
the store on a later sync, never half-written (the store's blob would be the same inode as the partial)."""
MAX_DEPTH = 4
"""How deep under the app folder class folders are looked for (``api/comfyui/app/output`` is depth 2)."""
REGISTRY_FILE = "drives.json"


@dataclass(frozen=True, slots=True)
class SyncResult:
    copied: int
    copied_bytes: int
    adopted: int
    adopted_bytes: int


def classify(rel: str, size: int) -> str | None:
    """``models``, ``outputs``, ``configs`` (a folder of them), ``settings`` (a settings file: a config when it
    changed after the archive) or None (part of the environment: the archive has it)."""
    parts = Path(rel).parts
    folders = parts[:-1]
    if Path(rel).suffix.lower() in MODEL_SUFFIXES and size >= MODEL_MIN_BYTES:
        return "models"
    if "models" in folders and size >= MODEL_MIN_BYTES:
        return "models"
    if any(p in OUTPUT_DIRS for p in folders[:MAX_DEPTH]):
        return "outputs"
    if any(p in CONFIG_DIRS for p in folders[:MAX_DEPTH]):
        return "configs"
    if parts[-1] in SETTINGS_FILES and len(folders) <= 2:
        return "settings"
    return None


def _walk(app_dir: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(path inside the app, lstat) of every regular file, venvs and the like left out."""
    for dirpath, dirnames, filenames in os.walk(app_dir):
        base = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not (base / d / "pyvenv.cfg").exists()
                       and not (base / d / "conda-meta").exists()]
        for name in filenames:
            path = base / name
            with contextlib.suppress(OSError):
                info = path.lstat()
                if stat.S_ISREG(info.st_mode):
                    yield path.relative_to(app_dir).as_posix(), info


def _folder(root: Path, name: str) -> Path:
    return root / "appdata" / name


def _read_index(folder: Path) -> dict[str, list[int]]:
    try:
        data = json.loads((folder / "index.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): [int(x) for x in v] for k, v in data.items() if isinstance(v, list) and len(v) == 2}


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def sync_app_data(app_dir: Path, root: Path, name: str, blobs: BlobStore, *, home: Path | None = None,
                  settings_after: float = 0.0, settle_s: float = MODEL_SETTLE_S) -> SyncResult:
    """Keep ``name``'s models in the blob store and copy its outputs and user files to the root (only what
    changed since the last sync). Settings files count when changed after ``settings_after`` (the archive's
    time: before it, the archive has them). Blocking; raises :class:`StoreError` with one sentence when the
    root cannot take them (full, read-only, gone)."""
    folder = _folder(root, name)
    index = _read_index(folder)
    copied = copied_bytes = adopted = adopted_bytes = 0
    changed = False
    try:
        for rel, info in _walk(app_dir):
            kind = classify(rel, info.st_size)
            if kind is None or (kind == "settings" and info.st_mtime <= settings_after):
                continue
            path = app_dir / rel
            if kind == "models":
                if info.st_nlink > 1 and blobs.use_of(path) is not None:
                    continue  # already a link into the store
                if time.time() - info.st_mtime < settle_s:
                    continue  # perhaps still being written: the next sync takes it
                blob = blobs.adopt(path, hash_file(path), [f"app://{name}/{rel}"], app=name, home=home)
                adopted += 1
                adopted_bytes += blob.size
                continue
            facts = [info.st_size, info.st_mtime_ns]
            if index.get(rel) == facts and (folder / "files" / rel).is_file():
                continue
            _copy(path, folder / "files" / rel)
            index[rel] = facts
            changed = True
            copied += 1
            copied_bytes += info.st_size
        if changed:
            write_atomic(folder / "index.json", json.dumps(index).encode())
    except OSError as exc:
        reason = "it is full" if exc.errno == 28 else str(exc.strerror or exc)
        raise StoreError(f"the files {name} made could not be kept on the persistent root {root} ({reason}); "
                         "what was kept before stays") from exc
    return SyncResult(copied, copied_bytes, adopted, adopted_bytes)


def restore_app_data(root: Path, name: str, app_dir: Path) -> tuple[int, int]:
    """Copy ``name``'s outputs and user files from the root back into ``app_dir``; (files, bytes). A file the
    app folder already has with the same size and mtime is left alone."""
    files = _folder(root, name) / "files"
    count = total = 0
    if not files.is_dir():
        return 0, 0
    for dirpath, _dirs, filenames in os.walk(files):
        for fname in filenames:
            if fname.startswith(".") and fname.endswith(".tmp"):
                continue
            src = Path(dirpath) / fname
            rel = src.relative_to(files)
            dest = app_dir / rel
            info = src.stat()
            with contextlib.suppress(OSError):
                mine = dest.stat()
                if (mine.st_size, mine.st_mtime_ns) == (info.st_size, info.st_mtime_ns):
                    continue
            os.makedirs(os.path.realpath(dest.parent), exist_ok=True)
            _copy(src, dest)
            count += 1
            total += info.st_size
    return count, total


def _move_paths(value: object, old: str, new: str) -> object:
    if isinstance(value, str) and (value == old or value.startswith(old.rstrip("/") + "/")):
        return new + value[len(old):]
    if isinstance(value, dict):
        return {k: _move_paths(v, old, new) for k, v in value.items()}
    return value


def backup_drive_registry(home: Path, root: Path) -> bool:
    """Copy the drive registry (``drive/drives.json``: which launcher owns which drive folder) to the root."""
    source = home / "drive" / REGISTRY_FILE
    if not source.is_file():
        return False
    data = {"home": str(home), "at": time.time(), "registry": json.loads(source.read_text() or "{}")}
    write_atomic(root / "state" / REGISTRY_FILE, json.dumps(data, indent=2).encode())
    return True


def restore_drive_registry(home: Path, root: Path) -> bool:
    """Put the registry back into a home that has none, its folders moved to the new home."""
    target = home / "drive" / REGISTRY_FILE
    try:
        saved = json.loads((root / "state" / REGISTRY_FILE).read_text())
    except (OSError, ValueError):
        return False
    if target.exists() or not isinstance(saved, dict) or not isinstance(saved.get("registry"), dict):
        return False
    registry = _move_paths(saved["registry"], str(saved.get("home") or home), str(home))
    write_atomic(target, json.dumps(registry, indent=2).encode())
    return True
