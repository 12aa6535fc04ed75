"""A local conda channel for tests: small noarch packages made here (a script in ``bin/``, data files,
activate.d scripts), indexed by py-rattler's own indexer or by writing ``repodata.json`` by hand, served
from the folder (``file://``) or by a loopback HTTP server that can hold back chosen packages."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.server
import io
import json
import socketserver
import tarfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Package:
    name: str
    version: str
    files: Mapping[str, str]
    depends: Sequence[str] = ()
    build: str = "0"


def script(text: str) -> str:
    return "#!/bin/sh\n" + text + "\n"


def make_package(channel: Path, pkg: Package) -> Path:
    """One ``.tar.bz2`` noarch package in ``channel/noarch``."""
    subdir = channel / "noarch"
    subdir.mkdir(parents=True, exist_ok=True)
    path = subdir / f"{pkg.name}-{pkg.version}-{pkg.build}.tar.bz2"
    stamp = int(time.time() * 1000)
    index = {"name": pkg.name, "version": pkg.version, "build": pkg.build, "build_number": 0,
             "depends": list(pkg.depends), "noarch": "generic", "subdir": "noarch", "timestamp": stamp,
             "license": "MIT"}
    paths = []
    with tarfile.open(path, "w:bz2") as tar:
        def add(name: str, data: bytes, mode: int) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))

        for rel, text in pkg.files.items():
            data = text.encode()
            add(rel, data, 0o755 if rel.startswith("bin/") else 0o644)
            paths.append({"_path": rel, "path_type": "hardlink", "sha256": hashlib.sha256(data).hexdigest(),
                          "size_in_bytes": len(data)})
        add("info/index.json", json.dumps(index).encode(), 0o644)
        add("info/paths.json", json.dumps({"paths": paths, "paths_version": 1}).encode(), 0o644)
        add("info/files", ("\n".join(pkg.files) + "\n").encode(), 0o644)
    return path


def index_with_rattler(channel: Path) -> None:
    from rattler.index import index_fs

    (channel / "linux-64").mkdir(parents=True, exist_ok=True)
    asyncio.run(index_fs(channel))


def write_repodata(channel: Path) -> None:
    """``repodata.json`` written by hand: what a minimal mirror serves (no shards, no zst)."""
    for subdir in ("noarch", "linux-64"):
        folder = channel / subdir
        folder.mkdir(parents=True, exist_ok=True)
        packages = {}
        for file in sorted(folder.glob("*.tar.bz2")):
            with tarfile.open(file) as tar:
                member = tar.extractfile("info/index.json")
                assert member is not None
                index = json.loads(member.read())
            data = file.read_bytes()
            packages[file.name] = {**index, "md5": hashlib.md5(data).hexdigest(),
                                   "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        (folder / "repodata.json").write_text(json.dumps(
            {"info": {"subdir": subdir}, "packages": packages, "packages.conda": {}, "repodata_version": 1}))


def hello(version: str) -> Package:
    return Package("hello", version, {"bin/hello": script(f"echo hello {version}")})


def standard(channel: Path, *, index: str = "rattler") -> Path:
    """The channel most tests use: hello 1.0/2.0, world (needs hello), a fake python 3.10.20/3.12.0 whose
    ``python`` says its version, and envvar (an activate.d script)."""
    for pkg in (
        hello("1.0"), hello("2.0"),
        Package("world", "1.0", {"bin/world": script("echo world; hello"), "share/world.txt": "data\n"},
                ["hello >=1"]),
        Package("python", "3.10.20", {"bin/python": script('echo "Python 3.10.20 (fake)"')}),
        Package("python", "3.12.0", {"bin/python": script('echo "Python 3.12.0 (fake)"')}),
        Package("envvar", "1.0", {"etc/conda/activate.d/envvar.sh": "export ENVVAR_ACTIVE=yes\n"}),
    ):
        make_package(channel, pkg)
    if index == "rattler":
        index_with_rattler(channel)
    else:
        write_repodata(channel)
    return channel


@dataclass
class Served:
    url: str
    requests: list[str] = field(default_factory=list)
    held: set[str] = field(default_factory=set)
    """File names answered only once released."""
    release: threading.Event = field(default_factory=threading.Event)
    asked_held: threading.Event = field(default_factory=threading.Event)


@contextmanager
def serve(channel: Path, held: Sequence[str] = ()) -> Iterator[Served]:
    """The channel over HTTP on 127.0.0.1; requests for ``held`` files wait until ``release`` is set."""
    state = Served(url="", held=set(held))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, directory=str(channel), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.rsplit("/", 1)[-1]
            state.requests.append(self.path)
            if name in state.held:
                state.asked_held.set()
                state.release.wait(30)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client killed on purpose
                super().do_GET()

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
