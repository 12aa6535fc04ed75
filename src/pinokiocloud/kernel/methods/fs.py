"""``fs.*`` (spec §3.3) and the virtual drive of ``fs.link``/``fs.share`` (spec §3.5).

Every touch of the disk runs in a worker thread (``ctx.run_blocking``): a tree copy or delete takes
seconds, and on the daemon's event loop it would stall every request and every other run meanwhile.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from pathlib import Path

from pinokiocloud.downloads import (
    PRIORITY_STEP,
    DownloadProgress,
    DownloadResult,
    QueuedDownload,
    Reporter,
    download,
    queue_for,
    records_for,
    tokens_from_env,
)
from pinokiocloud.envs.dedup import dedupe_venv
from pinokiocloud.envs.drive import link_folder, pick_folder, read_registry, valid_relative, write_registry
from pinokiocloud.errors import StoreError
from pinokiocloud.kernel.environment import app_root
from pinokiocloud.kernel.methods.base import MethodError, MethodRequest, RunHandle, method
from pinokiocloud.kernel.paths import git_origin
from pinokiocloud.store.blobs import blobs_for


def _path(req: MethodRequest, ctx: RunHandle, *names: str) -> Path:
    value = req.param(*names)
    if not isinstance(value, str) or not value:
        raise MethodError(f"{req.method} needs {' or '.join(names)}")
    return ctx.resolve(value.replace("\\", "/"))


def _buffer_bytes(value: object) -> bytes:
    """A Node Buffer arrives as {"type": "Buffer", "data": [...]}; a string is taken as UTF-8."""
    if isinstance(value, dict) and value.get("type") == "Buffer" and isinstance(value.get("data"), list):
        try:
            return bytes(value["data"])
        except (TypeError, ValueError) as exc:
            raise MethodError(f"buffer data must be bytes (numbers 0-255): {exc}") from exc
    if isinstance(value, str):
        return value.encode()
    raise MethodError("buffer must be a Buffer (e.g. {{Buffer.from(text, 'base64')}})")


def _content(req: MethodRequest) -> bytes | None:
    """The bytes to write, by the first truthy field, as the original picks them."""
    params = req.params_dict()
    if params.get("json"):
        return json.dumps(params["json"], separators=(",", ":")).encode()
    if params.get("json2"):
        return json.dumps(params["json2"], indent=2).encode()
    if params.get("text"):
        return str(params["text"]).encode()
    if params.get("buffer"):
        return _buffer_bytes(params["buffer"])
    return None


def _replace_file(target: Path, data: bytes | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file() or target.is_symlink():
        target.unlink()
    if data is not None:  # QUIRK kept: `text: ""` writes nothing and leaves no file
        target.write_bytes(data)


def _append_file(target: Path, data: bytes | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        with target.open("ab") as fh:
            fh.write(data)


@method("fs.write")
async def write(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {path, json | json2 | text | buffer} → replace the file (parents created)."""
    await ctx.run_blocking(_replace_file, _path(req, ctx, "path"), _content(req))


@method("fs.append")
async def append(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {path, json | json2 | text | buffer} → append to the file."""
    await ctx.run_blocking(_append_file, _path(req, ctx, "path"), _content(req))


@method("fs.read")
async def read(req: MethodRequest, ctx: RunHandle) -> object:
    """params: {path, encoding?} → text in that encoding, or a Buffer ({type, data}) without one."""
    return await ctx.run_blocking(_read, _path(req, ctx, "path"), req.param("encoding"))


def _read(path: Path, encoding: object) -> object:
    data = path.read_bytes()
    if not encoding:
        return {"type": "Buffer", "data": list(data)}
    encoding = str(encoding).lower()
    if encoding == "base64":
        return base64.b64encode(data).decode()
    if encoding == "hex":
        return data.hex()
    try:
        return data.decode({"utf8": "utf-8", "utf-8": "utf-8", "latin1": "latin-1", "binary": "latin-1",
                            "ascii": "ascii", "utf16le": "utf-16-le", "ucs2": "utf-16-le"}.get(encoding, encoding))
    except LookupError as exc:
        raise MethodError(f"unknown encoding {encoding!r}") from exc


@method("fs.cat")
async def cat(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {path} → print the file into the run's terminal."""
    ctx.print(await ctx.run_blocking(_path(req, ctx, "path").read_text, errors="replace"))


@method("fs.rm", "fs.remove")
async def rm(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {path} → delete a file or a folder tree; a missing path is fine (no globbing)."""
    await ctx.run_blocking(_remove, _path(req, ctx, "path"))


def _remove(target: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)


@method("fs.make")
async def make(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {path} → mkdir -p."""
    await ctx.run_blocking(_path(req, ctx, "path").mkdir, parents=True, exist_ok=True)


@method("fs.copy")
async def copy(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {src, dest, options?} → Node's fs.cp: a folder needs options.recursive (spec §3.3 MUST)."""
    src, dest = _path(req, ctx, "src"), _path(req, ctx, "dest")
    options = req.param("options", default={}) or {}
    await ctx.run_blocking(_copy, src, dest, isinstance(options, dict) and bool(options.get("recursive")))


def _copy(src: Path, dest: Path, recursive: bool) -> None:
    if not src.exists():
        raise MethodError(f"fs.copy: {src} does not exist")
    if src.is_dir():
        if not recursive:
            raise MethodError(f"ERR_FS_EISDIR: Recursive option is required to copy a directory: {src}; "
                              'add "options": {"recursive": true}')
        shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_dir():
        raise MethodError(f"fs.copy: cannot overwrite the folder {dest} with the file {src}")
    shutil.copy2(src, dest)


@method("fs.open")
async def open_(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {path, action|command|mode} → shown by the UI (view, open, or a command)."""
    target = _path(req, ctx, "path")
    action = req.param("action", "command", "mode", default="view")
    ctx.emit("fs.open", {"path": str(target), "action": action})


@method("fs.download")
async def fs_download(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {uri|url: str | [str], dir | path, sha256?} → through the home's download queue: parallel
    ranges, resume, sha256 checked (``sha256``, Hugging Face's hash, or an earlier download of the URL) and
    recorded; an existing file is skipped. Progress goes to the terminal and as ``download`` events."""
    source = req.param("uri", "url")
    folder, exact = req.param("dir"), req.param("path")
    if not source:
        raise MethodError("fs.download needs uri (or url)")
    if bool(folder) == bool(exact):
        raise MethodError("fs.download needs exactly one of dir (a folder) or path (a file)")
    expected = req.param("sha256")
    if expected is not None:
        if not isinstance(expected, str) or len(expected.strip()) != 64 or any(
                c not in "0123456789abcdefABCDEF" for c in expected.strip()):
            raise MethodError(f"fs.download: sha256 must be 64 hexadecimal digits, got {expected!r}")
        if isinstance(source, list) and len(source) != 1:
            raise MethodError("fs.download: sha256 is the hash of one file; give one uri with it")
    if exact and not isinstance(source, str):
        raise MethodError("fs.download with path takes one uri; use dir for a list")
    queue = queue_for(ctx.home)
    civitai = await ctx.run_blocking(queue.setting, "civitai_token") if queue.setting is not None else None
    tokens = tokens_from_env(ctx.env(), home=ctx.home,
                             civitai_setting=civitai if isinstance(civitai, str) else None)
    records = records_for(ctx.home)
    blobs = blobs_for(ctx.home)
    app = _app_of(ctx)
    last_line = [0.0]

    def progress(p: DownloadProgress) -> None:
        now = time.monotonic()
        if p.done or now - last_line[0] >= 1.0:
            last_line[0] = now
            ctx.print(p.line())

    def event(entry: QueuedDownload) -> None:
        ctx.emit("download", entry.to_json())

    async def one(url: str, *, path: Path | None, into: Path | None) -> None:
        async def work(reporter: Reporter) -> DownloadResult:
            def both(p: DownloadProgress) -> None:
                reporter.progress(p)
                progress(p)

            return await download(url, path=path, dir=into, on_progress=both, on_log=ctx.print,
                                  sha256=str(expected).strip() if expected else None, tokens=tokens,
                                  records=records)

        # check before fetch: a source (or hash) the model store holds is linked, no bytes downloaded
        digest = str(expected).strip() if expected else None
        try:
            linked = await ctx.run_blocking(blobs.fetch_from_store, url, path=path, dir=into, sha256=digest,
                                             app=app, home=ctx.home)
        except StoreError as exc:  # an unusable store never stops a download
            ctx.print(f"[store] {exc}")
            linked = None
        if linked is not None:
            ctx.print(f"[Download Skipped] {linked}: already in the model store ({blobs.folder}), linked")
            return
        result = await queue.run(work, url=url, path=path, app=app, priority=PRIORITY_STEP, on_update=event)
        if result.sha256 and not result.skipped:
            try:
                await ctx.run_blocking(blobs.adopt, result.path, result.sha256, [url], app=app, home=ctx.home)
            except StoreError as exc:  # the file is where the app wants it; only the store's copy is missing
                ctx.print(f"[store] {exc}")

    if exact:
        await one(str(source), path=ctx.resolve(str(exact)), into=None)
        return
    target = ctx.resolve(str(folder))
    await ctx.run_blocking(target.mkdir, parents=True, exist_ok=True)
    for url in source if isinstance(source, list) else [source]:
        await one(str(url), path=None, into=target)  # one after the other: the first failure ends the step


def _app_of(ctx: RunHandle) -> str | None:
    """The app a run belongs to (its first folder under ``api/``), for the queue's listing."""
    try:
        return ctx.run.path.relative_to(ctx.home / "api").parts[0]
    except (ValueError, IndexError):
        return None


# ---- fs.link / fs.share: shared model folders (spec §3.5) ----

def _drive_home(ctx: RunHandle) -> Path:
    env = ctx.env()
    value = env.get("PINOKIO_DRIVE")
    if not value:
        return ctx.home / "drive"
    root = app_root(ctx.run.path, ctx.home) or ctx.run.cwd
    return (root / value).resolve()


async def _link_drive(req: MethodRequest, ctx: RunHandle, drive: dict[str, object]) -> None:
    home = _drive_home(ctx)
    registry_file = home / "drives.json"
    registry = await ctx.run_blocking(read_registry, registry_file)
    listed = req.param("peers")
    peers = [str(p) for p in (listed if isinstance(listed, list) else []) if p]
    root = app_root(ctx.run.path, ctx.home)
    uri = git_origin(root) if root else None
    candidates = peers + ([uri] if uri else [])
    for route, links in drive.items():
        if not valid_relative(str(route)):
            ctx.print(f"[fs.link] invalid route {route!r}: routes must be relative names; stopping here")
            break  # QUIRK kept (spec §3.5): an invalid route ends the processing of the rest
        folder = pick_folder(registry, candidates, str(route), home / "drives")
        await ctx.run_blocking(folder.mkdir, parents=True, exist_ok=True)
        for link in links if isinstance(links, list) else [links]:
            if not isinstance(link, str) or not valid_relative(link):
                ctx.print(f"[fs.link] skipping invalid link path {link!r}")
                continue
            said = await ctx.run_blocking(link_folder, ctx.resolve(link), folder)
            if said:
                ctx.print(said)
        if uri:
            registry.setdefault(uri, {})[str(route)] = str(folder)
            for peer in peers:
                registry.setdefault(peer, {})[str(route)] = str(folder)
    if uri:
        await ctx.run_blocking(write_registry, registry_file, registry)


@method("fs.link", "fs.share")
async def link(req: MethodRequest, ctx: RunHandle) -> None:
    """params: {drive: {route: link | [links]}, peers?: [git urls]} | {venv: dir}"""
    params = req.params_dict()
    drive = params.get("drive")
    if isinstance(drive, dict):
        await _link_drive(req, ctx, drive)
    if params.get("venv"):
        # Identical files across app venvs become hard links of one copy (envs.dedup), the disk saving the
        # original gets from moving packages into a shared drive (docs/compat.md).
        venv = ctx.resolve(str(params["venv"]))
        result = await ctx.run_blocking(dedupe_venv, venv, ctx.home)
        ctx.print(result.line())
