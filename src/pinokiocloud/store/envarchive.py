"""One compressed archive per installed app (its code, venvs and conda envs), for a restore by extracting.

``ROOT/envs/NAME.tar.zst`` is one large sequential file (Google Drive and network volumes are slow with many
small files), and ``ROOT/envs/NAME.json`` says what it was made from: platform, architecture, the Python of
each venv, the app's folder, the files left out because the model store links them again. A restore refuses
an archive for another platform or a Python this machine cannot provide, or a damaged one, in one sentence;
the caller then runs the launcher's install flow instead. A venv made in another ``PINOKIO_HOME`` is moved:
its ``pyvenv.cfg``, scripts' shebangs, activation scripts and ``.pth`` files are rewritten to the new folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import zstandard

from pinokiocloud.store.atomic import write_atomic

__all__ = ["ARCHIVE_FORMAT", "Extracted", "Unpacked", "archive_paths", "check_archive", "commit_unpacked",
           "discard_unpacked", "extract_archive", "save_archive", "unpack_archive"]

ARCHIVE_FORMAT = 2
"""2: the archive is parts, one zstd frame and tar stream each (``parts`` in the manifest); 1: one part."""
READABLE_FORMATS = (1, 2)
ARCHIVE_PARTS = 4
"""Parts of a new archive: a restore extracts them at once, one per core (measured on a 2-core machine: a
numpy/scipy/pillow venv in 3.0 s with 2 or 4 parts at once, 5.5 s in one)."""
_TEXT_LIMIT = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Extracted:
    files: int
    bytes: int
    seconds: float


def archive_paths(root: Path, name: str) -> tuple[Path, Path]:
    """(archive, manifest) of app ``name`` under the persistent root."""
    folder = root / "envs"
    return folder / f"{name}.tar.zst", folder / f"{name}.json"


def platform_tag() -> str:
    return f"{sys.platform}-{platform.machine()}"


def _venvs(app_dir: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for cfg in sorted(app_dir.glob("**/pyvenv.cfg")):
        if len(cfg.relative_to(app_dir).parts) > 5:
            continue
        values = _read_cfg(cfg)
        version = values.get("version_info") or values.get("version") or ""
        found.append({"path": str(cfg.parent.relative_to(app_dir)), "version": ".".join(version.split(".")[:2]),
                      "home": values.get("home", "")})
    return found


def _read_cfg(cfg: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        for line in cfg.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
    except OSError:
        pass
    return values


def _conda_envs(app_dir: Path) -> list[str]:
    return sorted(str(m.parent.relative_to(app_dir)) for m in app_dir.glob("**/conda-meta")
                  if len(m.relative_to(app_dir).parts) <= 5)


@dataclass(frozen=True, slots=True)
class _Entry:
    path: str
    arcname: str
    weight: int
    """Its share of a restore's work: creating a file costs about as much as writing 256 KiB on the disks
    measured."""
    folder: bool


def _entries(app_dir: Path, skipped: set[str]) -> list[_Entry]:
    """Every file, folder and link of the app, folders before what they hold."""
    found = [_Entry(str(app_dir), "app", 1, True)]
    for dirpath, dirnames, filenames in os.walk(app_dir):
        rel_dir = os.path.relpath(dirpath, app_dir)
        dirnames.sort()
        names = sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))])
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for entry in names + dirnames:
            rel = entry if rel_dir == "." else f"{rel_dir}/{entry}"
            if rel in skipped:
                continue
            path = os.path.join(dirpath, entry)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                continue  # sockets, pipes, devices: nothing a restored app needs
            weight = 1 + info.st_size // (256 * 1024) if stat.S_ISREG(info.st_mode) else 1
            found.append(_Entry(path, f"app/{rel}", weight, stat.S_ISDIR(info.st_mode)))
        dirnames[:] = [d for d in dirnames if (d if rel_dir == "." else f"{rel_dir}/{d}") not in skipped]
    return found


def _split(entries: list[_Entry], parts: int) -> list[list[_Entry]]:
    """Runs of ``entries`` of about equal weight, in order (each part is a run of folders next to each other)."""
    total = sum(e.weight for e in entries)
    share = max(1, -(-total // max(1, parts)))
    out: list[list[_Entry]] = [[]]
    weight = 0
    for entry in entries:
        if weight >= share and len(out) < parts:
            out.append([])
            weight = 0
        out[-1].append(entry)
        weight += entry.weight
    return [p for p in out if p]


def save_archive(app_dir: Path, root: Path, name: str, *, exclude: Iterable[str] = (), state_id: str | None = None,
                 level: int = 3, parts: int = ARCHIVE_PARTS) -> dict[str, Any]:
    """Write the archive of ``app_dir`` (atomically: a temporary file renamed into place) and its manifest;
    ``exclude`` are paths inside the app that the model store links again. Returns the manifest.

    The archive is zstd frames one after the other, each a whole tar stream: first every folder (the
    ``folders`` part), then ``parts`` runs of the other entries; the manifest says where each starts. A
    restore makes the folders, extracts the runs at once (one tar per core; with the folders there, no two
    tars ever make or replace the same folder), then the folders part again for their modes and times.
    Read as a whole (``zstd -dc NAME.tar.zst | tar -xi``) it is still the app's folder."""
    archive, manifest_file = archive_paths(root, name)
    archive.parent.mkdir(parents=True, exist_ok=True)
    skipped = {str(Path(p)) for p in exclude}
    tmp = archive.with_name(f".{archive.name}.{uuid.uuid4().hex[:8]}.tmp")
    started = time.monotonic()
    _compile(app_dir)
    entries = _entries(app_dir, skipped)
    spans: list[dict[str, int | bool]] = []
    runs = [[e for e in entries if e.folder], *_split([e for e in entries if not e.folder], parts)]
    try:
        # the frame checksum makes a restore notice bytes changed on the root (incompressible data is stored
        # raw, so without it a flipped byte in a model-sized file would pass unseen)
        compressor = zstandard.ZstdCompressor(level=level, threads=-1, write_checksum=True)
        with open(tmp, "wb") as raw:
            for index, run in enumerate(runs):
                offset = raw.tell()
                with compressor.stream_writer(raw, closefd=False) as packed, \
                        tarfile.open(fileobj=packed, mode="w|") as tar:
                    for entry in run:
                        tar.add(entry.path, arcname=entry.arcname, recursive=False)
                spans.append({"offset": offset, "size": raw.tell() - offset, "entries": len(run),
                              "folders": index == 0})
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, archive)
    finally:
        tmp.unlink(missing_ok=True)
    manifest = {
        "format": ARCHIVE_FORMAT, "name": name, "id": state_id or uuid.uuid4().hex, "app_dir": str(app_dir),
        "platform": platform_tag(), "venvs": _venvs(app_dir), "conda": _conda_envs(app_dir),
        "excluded": sorted(skipped), "files": len(entries), "size": archive.stat().st_size, "parts": spans,
        "created": time.time(), "seconds": round(time.monotonic() - started, 3),
    }
    write_atomic(manifest_file, json.dumps(manifest, indent=2).encode())
    return manifest


_UNCOMPILED = r"[/\\]site-packages[/\\](.*[/\\])?tests?[/\\]"
"""Packages' own test suites (``scipy/*/tests/``) are left as sources: an app's start does not import them,
and in a numpy/scipy/pillow venv their ``.pyc`` files were 625 of the archive's 6,455 entries (23 of 260 MB),
each one more file for a restore to write. A test run compiles what it imports, as without an archive. (The
pattern starts at ``site-packages``: a home under a folder named ``tests`` still gets everything compiled.)"""


def _compile(app_dir: Path) -> None:
    """Byte-compile each venv's packages before archiving: the first start after a restore then imports from
    ``.pyc`` files instead of compiling every module (measured: 10 s of a 20 s restore for a scipy/pandas/
    sklearn venv). ``.pyc`` files stay valid after a move (they check the source's size and mtime, which the
    archive keeps). A failure only costs that speed."""
    for venv in _venvs(app_dir):
        python = app_dir / venv["path"] / "bin" / "python"
        lib = app_dir / venv["path"] / "lib"
        if python.exists() and lib.is_dir():
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", "-x", _UNCOMPILED, str(lib)],
                               capture_output=True, timeout=900, check=False)


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else (shutil.which("uv") or "uv")


def _find_python(version: str, *, allow_download: bool) -> Path | None:
    """An interpreter of ``version`` (``3.10``) on this machine, asking uv (which may download one)."""
    commands = [[_uv(), "python", "find", "--no-python-downloads", version]]
    if allow_download:
        commands.append([_uv(), "python", "install", version])
        commands.append([_uv(), "python", "find", "--no-python-downloads", version])
    for command in commands:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if command[2] == "find" and done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip().splitlines()[-1])
    return None


def check_archive(root: Path, name: str, app_dir: Path, *, expected_id: str | None = None,
                  allow_python_download: bool = True) -> tuple[dict[str, Any] | None, str | None]:
    """(manifest, None) when the archive can be restored to ``app_dir`` here, else (manifest or None, the
    one-line reason). Pythons are looked for here (``pythons`` in the manifest returned: version → path)."""
    archive, manifest_file = archive_paths(root, name)
    if not archive.is_file():
        return None, f"there is no environment archive of {name} on the persistent root"
    try:
        manifest = json.loads(manifest_file.read_text())
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as exc:
        return None, f"the manifest {manifest_file} of the archive is missing or damaged ({exc})"
    if manifest.get("format") not in READABLE_FORMATS:
        return manifest, (f"the archive of {name} has format {manifest.get('format')!r}, this version reads "
                          f"{' and '.join(map(str, READABLE_FORMATS))}")
    if manifest.get("platform") != platform_tag():
        return manifest, (f"the archive of {name} was made on {manifest.get('platform')}, this machine is "
                          f"{platform_tag()}")
    if expected_id is not None and manifest.get("id") != expected_id:
        return manifest, f"the archive of {name} is stale: it is not from the app's last successful install or update"
    if manifest.get("conda") and str(manifest.get("app_dir")) != str(app_dir):
        return manifest, (f"the archive of {name} holds a conda environment made in {manifest.get('app_dir')}, which "
                          f"cannot be moved to {app_dir}")
    pythons: dict[str, str] = {}
    for venv in manifest.get("venvs", []):
        version, home = str(venv.get("version", "")), str(venv.get("home", ""))
        if version in pythons:
            continue
        exe = _interpreter_in(Path(home), version) if home and version else None
        if exe is None:
            exe = _find_python(version, allow_download=allow_python_download) if version else None
        if exe is None:
            return manifest, (f"the archive of {name} was made for Python {version or '?'} ({home or 'unknown'}), "
                              "which this machine does not have")
        pythons[version] = str(exe)
    manifest["pythons"] = pythons
    return manifest, None


def _interpreter_in(home: Path, version: str) -> Path | None:
    """The venv's base interpreter in ``home`` if it is still Python ``version``. An executable named for its
    version (``python3.11``, how CPython installs itself and what uv and pyenv ship) is taken at its word;
    only a bare ``python3``/``python`` is asked (a subprocess: ~50 ms a restore would wait for)."""
    named = home / f"python{version}"
    if os.access(named, os.X_OK) and named.is_file():
        return named
    for name in ("python3", "python"):
        exe = home / name
        if exe.exists() and _version_of(exe) == version:
            return exe
    return None


def _version_of(exe: Path) -> str | None:
    try:
        done = subprocess.run([str(exe), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@dataclass(frozen=True, slots=True)
class Unpacked:
    """An archive written out next to the app's folder, moved for this home, not yet in place."""

    work: Path
    folder: Path
    files: int
    bytes: int
    seconds: float


def unpack_archive(root: Path, name: str, app_dir: Path, manifest: dict[str, Any],
                   on_progress: Callable[[int, int], None] | None = None) -> Unpacked:
    """Write the archive out into a temporary folder next to ``app_dir`` (which is not touched) and move it to
    this home; :func:`commit_unpacked` then renames it into place. A damaged archive raises
    ``OSError``/``tarfile.TarError``/``zstandard.ZstdError``, leaving nothing behind and the archive untouched.
    ``on_progress(done_bytes, total_bytes)`` counts compressed bytes.

    The parts are extracted at once (after the folders: see ``save_archive``), one GNU ``tar`` per core fed
    with a stream this process decompresses: creating thousands of small files is what a restore spends its
    time on (the kernel's work, so it scales with cores), and tar does it about 3x faster than ``tarfile``
    (measured: a numpy/scipy/pillow venv, 6,400 files, 2.8 s against 7.4 s). Without ``tar``, ``tarfile``,
    one part after the other."""
    archive, _ = archive_paths(root, name)
    started = time.monotonic()
    work = app_dir.with_name(f".{app_dir.name}.restore-{uuid.uuid4().hex[:8]}")
    total = archive.stat().st_size
    old_home = str(Path(str(manifest.get("app_dir", ""))).parent.parent) if manifest.get("app_dir") else ""
    new_home = str(app_dir.parent.parent)
    _check_size(archive, manifest)
    spans = _spans(manifest, total)
    progress = _Progress(total, on_progress)
    try:
        work.mkdir(parents=True)
        tar_bin = shutil.which("tar")
        folders = [s for s in spans if s.folders]
        others = [s for s in spans if not s.folders]
        for span in folders:
            _extract_span(archive, span, progress, tar_bin, work)
        workers = max(1, min(len(others), os.cpu_count() or 1)) if tar_bin is not None and folders else 1
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix=f"unpack {name}") as pool:
                done = [pool.submit(_extract_span, archive, span, progress, tar_bin, work) for span in others]
                for future in done:
                    future.result()  # the first part that failed raises (after every part has ended)
        else:  # one core, no tar, or parts without a folders part: one after the other, in order
            for span in others:
                _extract_span(archive, span, progress, tar_bin, work)
        for span in folders:  # the folders' modes and times, now that their files are in
            _extract_span(archive, span, _Progress(total, None), tar_bin, work)
        progress.report(force=True)
        unpacked_dir = work / "app"
        if not unpacked_dir.is_dir():
            raise tarfile.TarError("the archive holds no app folder")
        files, size = _walk(unpacked_dir, old_home if old_home != new_home else "", new_home)
        _relocate(unpacked_dir, Path(str(manifest.get("app_dir", ""))), app_dir, manifest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Unpacked(work, unpacked_dir, files, size, time.monotonic() - started)


def commit_unpacked(unpacked: Unpacked, app_dir: Path) -> Extracted:
    """Rename what :func:`unpack_archive` wrote into place (``app_dir`` must not exist)."""
    try:
        os.replace(unpacked.folder, app_dir)
    finally:
        shutil.rmtree(unpacked.work, ignore_errors=True)
    return Extracted(unpacked.files, unpacked.bytes, unpacked.seconds)


def discard_unpacked(unpacked: Unpacked) -> None:
    shutil.rmtree(unpacked.work, ignore_errors=True)


def extract_archive(root: Path, name: str, app_dir: Path, manifest: dict[str, Any],
                    on_progress: Callable[[int, int], None] | None = None) -> Extracted:
    """:func:`unpack_archive`, then :func:`commit_unpacked`."""
    return commit_unpacked(unpack_archive(root, name, app_dir, manifest, on_progress), app_dir)


@dataclass(frozen=True, slots=True)
class _Span:
    offset: int
    size: int
    folders: bool = False
    """The part holding every folder (made before the others are extracted at once)."""


def _spans(manifest: Mapping[str, object], total: int) -> list[_Span]:
    """Each part; an archive of format 1 is one part."""
    parts = manifest.get("parts")
    if not parts:
        return [_Span(0, total)]
    spans: list[_Span] = []
    at = 0
    for part in parts if isinstance(parts, list) else [None]:
        offset = part.get("offset") if isinstance(part, dict) else None
        size = part.get("size") if isinstance(part, dict) else None
        if not isinstance(offset, int) or not isinstance(size, int) or offset != at or size <= 0:
            raise tarfile.TarError("its manifest's list of parts is damaged")
        spans.append(_Span(offset, size, isinstance(part, dict) and part.get("folders") is True))
        at += size
    if at != total:
        raise tarfile.TarError(f"its parts cover {at} bytes of its {total}: a copy cut off or changed")
    return spans


def _extract_span(archive: Path, span: _Span, progress: _Progress, tar_bin: str | None, work: Path) -> None:
    with open(archive, "rb") as raw:
        raw.seek(span.offset)
        reader = _Range(raw, span.size, progress)
        if tar_bin is not None:
            _extract_with_tar(tar_bin, reader, work)
        else:
            _extract_with_tarfile(reader, work)


_PIPE_BLOCK = 1 << 20


def _extract_with_tar(tar_bin: str, reader: _Range, work: Path) -> None:
    """Decompress here, write with GNU tar (members under ``app/`` only; tar refuses ``..`` and absolute
    names by itself)."""
    proc = subprocess.Popen([tar_bin, "-x", "-f", "-", "-C", str(work), "--no-same-owner", "app"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    failed: BaseException | None = None
    try:
        for block in _decompressed(reader):
            proc.stdin.write(block)
    except (zstandard.ZstdError, BrokenPipeError) as exc:
        failed = exc
    finally:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        error = proc.stderr.read().decode(errors="replace").strip()
        code = proc.wait()
    if isinstance(failed, zstandard.ZstdError):
        raise failed
    if code != 0 or failed is not None:
        raise tarfile.TarError(_first_error(error) or f"tar exited with code {code}")


def _first_error(stderr: str) -> str:
    """tar's first complaint (its last line only says that there were some)."""
    lines = [line for line in stderr.splitlines() if line.strip() and "Exiting with failure status" not in line]
    return lines[0] if lines else stderr.strip()


def _decompressed(reader: _Range) -> Iterator[bytes]:
    """The part's bytes, frame after frame; a stream that ends inside a frame raises ``ZstdError`` (the
    library's own readers stop there without a word, so a truncated archive would pass for a short one)."""
    dctx = zstandard.ZstdDecompressor()
    dobj = dctx.decompressobj(write_size=_PIPE_BLOCK)
    started = False
    while chunk := reader.read(_PIPE_BLOCK):
        while chunk:
            out = dobj.decompress(chunk)
            started = True
            if out:
                yield out
            chunk = b""
            if dobj.eof:  # one frame ended: what follows starts the next one
                chunk, dobj, started = dobj.unused_data, dctx.decompressobj(write_size=_PIPE_BLOCK), False
    if started and not dobj.eof:
        raise zstandard.ZstdError("the compressed stream ends inside a frame (the archive was cut off)")


def _check_size(archive: Path, manifest: Mapping[str, object]) -> None:
    """A copy of the archive that was cut off (a full Drive, a sync that stopped) is named as such."""
    expected, actual = manifest.get("size"), archive.stat().st_size
    if isinstance(expected, int) and expected != actual:
        raise tarfile.TarError(f"it has {actual} bytes, its manifest says {expected}: a copy cut off or changed")


def _extract_with_tarfile(reader: _Range, work: Path) -> None:
    with zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], reader), read_across_frames=True) as unpacked, \
            tarfile.open(fileobj=unpacked, mode="r|") as tar:
        for member in tar:
            if not member.name.startswith("app") or ".." in Path(member.name).parts:
                continue
            tar.extract(member, work, set_attrs=True, filter="tar")


def _walk(folder: Path, old_home: str, new_home: str) -> tuple[int, int]:
    """One pass over what was written: (files and folders, bytes), counted rather than taken from the
    manifest; and with ``old_home``, symlinks into the old home (an app's ``models/`` into a drive folder, a
    shared cache) pointed into the new one."""
    files = size = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        files += len(filenames) + len(dirnames)
        for entry in (*dirnames, *filenames):
            path = os.path.join(dirpath, entry)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISLNK(info.st_mode):
                size += info.st_size if stat.S_ISREG(info.st_mode) else 0
                continue
            target = os.readlink(path)
            if old_home and (target == old_home or target.startswith(old_home + "/")):
                os.unlink(path)
                os.symlink(new_home + target[len(old_home):], path)
    return files, size


class _Progress:
    """Compressed bytes read by every part's reader, told to ``on_progress`` at most twice a second."""

    def __init__(self, total: int, on_progress: Callable[[int, int], None] | None) -> None:
        self.total, self.on_progress, self.done, self.last = total, on_progress, 0, 0.0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
        self.report()

    def report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress is not None and (force or now - self.last >= 0.5):
            self.last = now
            self.on_progress(self.done, self.total)


class _Range:
    """``size`` bytes of an open file from where it stands (one part), counted into ``progress``."""

    def __init__(self, raw: IO[bytes], size: int, progress: _Progress) -> None:
        self.raw, self.left, self.progress = raw, size, progress

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.raw.read(n) if n > 0 else b""
        self.left -= len(data)
        self.progress.add(len(data))
        return data


def _relocate(folder: Path, old: Path, new: Path, manifest: dict[str, Any]) -> None:
    """Point moved venvs at their new folder and at this machine's Python."""
    pythons: dict[str, str] = manifest.get("pythons", {})
    old_b, new_b = str(old).encode(), str(new).encode()
    for venv in manifest.get("venvs", []):
        venv_dir = folder / str(venv["path"])
        cfg = venv_dir / "pyvenv.cfg"
        exe = pythons.get(str(venv.get("version")))
        if exe and cfg.is_file():
            text = cfg.read_text()
            text = re.sub(r"(?m)^home\s*=.*$", f"home = {Path(exe).parent}", text)
            cfg.write_text(text.replace(str(old), str(new)) if old != new else text)
            for link in ("python", "python3", f"python{venv.get('version')}"):
                target = venv_dir / "bin" / link
                if target.is_symlink() and not target.exists():
                    target.unlink()
                    target.symlink_to(exe)
        if old == new:
            continue
        candidates = [p for p in (venv_dir / "bin").glob("*") if p.is_file() and not p.is_symlink()]
        candidates += list(venv_dir.glob("lib/python*/site-packages/*.pth"))
        candidates += list(venv_dir.glob("lib/python*/site-packages/*.dist-info/direct_url.json"))
        for file in candidates:
            try:
                if file.stat().st_size > _TEXT_LIMIT:
                    continue
                data = file.read_bytes()
            except OSError:
                continue
            if old_b in data and b"\0" not in data[:1024]:
                file.write_bytes(data.replace(old_b, new_b))
