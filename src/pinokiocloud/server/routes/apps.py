"""``/api/apps``: install, list, status, menu, run, start, stop, logs, remove, update, reinstall, and the
catalog read again (``POST /api/apps/catalog/reload``).

Bodies are bounded twice: the whole request by ``MAX_BODY_BYTES`` (413, read no further), and each
string field by a length and a ban on control characters (422), so a stray 10 MB ``src`` or a NUL in a
script name is the caller's error with a sentence, never a 500 from deep inside the daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, cast

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, Field

from pinokiocloud.kernel.runner import Run
from pinokiocloud.server.deps import AuthDep, DaemonDep
from pinokiocloud.server.models import (
    AppList,
    AppStatus,
    CatalogEntry,
    CatalogList,
    Installed,
    Logs,
    Menu,
    Reinstalled,
    Removed,
    RunSummary,
    ShareInfo,
    Stopped,
    Updated,
)

MAX_BODY_BYTES = 1024 * 1024
MAX_PATH_CHARS = 4096  # PATH_MAX on Linux: no longer file name or git URL can be used anyway
MAX_NAME_CHARS = 100


class _BoundedRequest(Request):
    """A request whose body is read only up to MAX_BODY_BYTES: a bigger one is refused, not buffered."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _too_large()
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body


def _too_large() -> HTTPException:
    return HTTPException(status_code=413, detail=f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB; "
                                                 "send the values themselves, not file contents")


class BoundedBodyRoute(APIRoute):
    """Route class for routers that take JSON bodies (FastAPI's custom-request pattern)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[object, object, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(_BoundedRequest(request.scope, request.receive))

        return bounded


def _printable(value: str) -> str:
    if any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise ValueError("must not contain control characters (a NUL, a newline, a tab)")
    return value


PathText = Annotated[str, Field(max_length=MAX_PATH_CHARS), AfterValidator(_printable)]
"""A file name, script href, folder path or git URL."""
NameText = Annotated[str, Field(max_length=MAX_NAME_CHARS), AfterValidator(_printable)]

router = APIRouter(prefix="/api/apps", tags=["apps"], dependencies=[AuthDep], route_class=BoundedBodyRoute)


class InstallIn(BaseModel):
    src: PathText = Field(description="a git URL, the absolute path of a launcher folder on the daemon's machine, "
                                      "or a catalog id")
    name: NameText | None = None
    script: PathText | None = Field(None, description="the install script, instead of the menu's default item")
    params: dict[str, object] = Field(default_factory=dict)
    answers: list[dict[str, object]] | dict[str, object] | None = None
    interactive: bool = False


class RunIn(BaseModel):
    script: PathText | None = None
    params: dict[str, object] = Field(default_factory=dict)
    answers: list[dict[str, object]] | dict[str, object] | None = None
    interactive: bool = False


class StopIn(BaseModel):
    script: PathText | None = None


RESTART_HELP = ("when the app's server dies on its own: 'no' (leave it crashed) or 'on-failure' (start it again "
                "with a growing pause; it gives up after 5 crashes in a row, counted afresh after a minute up)")


class AppSettingsIn(BaseModel):
    autorestore: bool | None = Field(None, description="start the app's daemon scripts again after a daemon "
                                                       "restart")
    restart: str | None = Field(None, max_length=20, description=RESTART_HELP + "; empty: the default setting")


class StartIn(BaseModel):
    restart: str | None = Field(None, max_length=20, description=RESTART_HELP + " (kept for the app)")


@router.get("", response_model=AppList)
async def list_apps(daemon: DaemonDep) -> AppList:
    data = cast(list[AppStatus], await daemon.apps.all_status())
    return {"data": data, "count": len(data)}


@router.post("/catalog/reload", response_model=CatalogList)
async def reload_catalog(daemon: DaemonDep) -> CatalogList:
    """Read the catalog again (bundled + PINOKIO_HOME/catalog.json) without a restart; the new catalog, as
    ``GET /api/catalog`` gives it."""
    catalog = await daemon.apps.reload_catalog()
    daemon.catalog = catalog
    entries = [cast(CatalogEntry, e.to_json()) for e in catalog.entries]
    return {"data": entries, "count": len(entries), "problems": [str(p) for p in catalog.problems]}


@router.post("", status_code=201, response_model=Installed)
async def install(body: InstallIn, daemon: DaemonDep) -> Installed:
    name, run = await daemon.apps.install(body.src, name=body.name, script=body.script, params=body.params,
                                          answers=body.answers, interactive=body.interactive)
    return {"name": name, "run": _summary(run)}


@router.get("/{name}", response_model=AppStatus)
async def status(name: str, daemon: DaemonDep) -> AppStatus:
    data = cast(AppStatus, await daemon.apps.status(name))
    shared = daemon.shares.manager.get(name)
    data["share"] = cast(ShareInfo, daemon.shares.summary(name)) if shared is not None else None
    return data


@router.patch("/{name}", response_model=AppStatus)
async def update(name: str, body: AppSettingsIn, daemon: DaemonDep) -> AppStatus:
    daemon.apps.app_dir(name)  # an unknown app is a 404 before anything is written
    if body.autorestore is not None:
        daemon.apps.set_autorestore(name, body.autorestore)
    if body.restart is not None:
        daemon.apps.set_restart(name, body.restart or None)
    return cast(AppStatus, await daemon.apps.status(name))


@router.delete("/{name}", response_model=Removed)
async def remove(name: str, daemon: DaemonDep) -> Removed:
    await daemon.apps.remove(name)
    return {"name": name, "removed": True}


@router.get("/{name}/menu", response_model=Menu)
async def menu(name: str, daemon: DaemonDep) -> Menu:
    return cast(Menu, await daemon.apps.menu(name))


@router.post("/{name}/run", status_code=201, response_model=RunSummary)
async def run(name: str, body: RunIn, daemon: DaemonDep) -> RunSummary:
    started = await daemon.apps.run(name, body.script, params=body.params, answers=body.answers,
                                    interactive=body.interactive)
    return cast(RunSummary, started.summary())


@router.post("/{name}/start", status_code=201, response_model=RunSummary)
async def start(name: str, daemon: DaemonDep, body: StartIn | None = None) -> RunSummary:
    if body is not None and body.restart:
        daemon.apps.set_restart(name, body.restart)
    return cast(RunSummary, (await daemon.apps.start(name)).summary())


@router.post("/{name}/stop", response_model=Stopped)
async def stop(name: str, body: StopIn, daemon: DaemonDep) -> Stopped:
    stopped = await daemon.apps.stop(name, body.script)
    return {"name": name, "stopped": [cast(RunSummary, r.summary()) for r in stopped]}


@router.get("/{name}/logs", response_model=Logs)
async def logs(name: str, daemon: DaemonDep, tail: int = 200) -> Logs:
    return {"name": name, "lines": daemon.apps.logs(name, tail=tail)}


@router.post("/{name}/update", status_code=201, response_model=Updated)
async def update_app(name: str, daemon: DaemonDep) -> Updated:
    """``git pull`` of the launcher (a copied launcher: its folder copied again), then its update script when it
    has one (``run``; ``null`` when it has none). Refused while the app runs."""
    return cast(Updated, await daemon.apps.update(name))


@router.post("/{name}/reinstall", status_code=201, response_model=Reinstalled)
async def reinstall_app(name: str, daemon: DaemonDep) -> Reinstalled:
    """The launcher folder as it was right after install (its venvs and downloads inside it removed), then the
    install flow again (``run``). Refused while the app runs."""
    return cast(Reinstalled, await daemon.apps.reinstall(name))


def _summary(run: Run | None) -> RunSummary | None:
    return cast(RunSummary, run.summary()) if run is not None else None
