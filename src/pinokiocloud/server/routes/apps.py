"""``/api/apps``: install, list, status, menu, run, start, stop, logs, remove."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pinokiocloud.server.deps import AuthDep, DaemonDep

router = APIRouter(prefix="/api/apps", tags=["apps"], dependencies=[AuthDep])


class InstallIn(BaseModel):
    src: str = Field(description="a git URL, a launcher folder on the daemon's machine, or a catalog id")
    name: str | None = None
    script: str | None = Field(None, description="the install script, instead of the menu's default item")
    params: dict[str, Any] = Field(default_factory=dict)
    answers: list[dict[str, Any]] | dict[str, Any] | None = None
    interactive: bool = False


class RunIn(BaseModel):
    script: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    answers: list[dict[str, Any]] | dict[str, Any] | None = None
    interactive: bool = False


class StopIn(BaseModel):
    script: str | None = None


class AppSettingsIn(BaseModel):
    autorestore: bool = Field(description="start the app's daemon scripts again after a daemon restart")


@router.get("")
async def list_apps(daemon: DaemonDep) -> dict[str, Any]:
    data = await daemon.apps.all_status()
    return {"data": data, "count": len(data)}


@router.post("", status_code=201)
async def install(body: InstallIn, daemon: DaemonDep) -> dict[str, Any]:
    name, run = await daemon.apps.install(body.src, name=body.name, script=body.script, params=body.params,
                                          answers=body.answers, interactive=body.interactive)
    return {"name": name, "run": run.summary() if run else None}


@router.get("/{name}")
async def status(name: str, daemon: DaemonDep) -> dict[str, Any]:
    data = await daemon.apps.status(name)
    shared = daemon.shares.manager.get(name)
    data["share"] = shared.to_dict() if shared is not None else None
    return data


@router.patch("/{name}")
async def update(name: str, body: AppSettingsIn, daemon: DaemonDep) -> dict[str, Any]:
    folder = daemon.apps.app_dir(name)
    if daemon.store.app(name) is None:  # a launcher put in api/ by hand: record it first
        daemon.store.put_app(name, str(folder), folder, {"kind": "folder"})
    daemon.store.set_autorestore(name, body.autorestore)
    return await daemon.apps.status(name, usage=False)


@router.delete("/{name}")
async def remove(name: str, daemon: DaemonDep) -> dict[str, Any]:
    await daemon.apps.remove(name)
    return {"name": name, "removed": True}


@router.get("/{name}/menu")
async def menu(name: str, daemon: DaemonDep) -> dict[str, Any]:
    return await daemon.apps.menu(name)


@router.post("/{name}/run", status_code=201)
async def run(name: str, body: RunIn, daemon: DaemonDep) -> dict[str, Any]:
    started = await daemon.apps.run(name, body.script, params=body.params, answers=body.answers,
                                    interactive=body.interactive)
    return started.summary()


@router.post("/{name}/start", status_code=201)
async def start(name: str, daemon: DaemonDep) -> dict[str, Any]:
    return (await daemon.apps.start(name)).summary()


@router.post("/{name}/stop")
async def stop(name: str, body: StopIn, daemon: DaemonDep) -> dict[str, Any]:
    stopped = await daemon.apps.stop(name, body.script)
    return {"name": name, "stopped": [r.summary() for r in stopped]}


@router.get("/{name}/logs")
async def logs(name: str, daemon: DaemonDep, tail: int = 200) -> dict[str, Any]:
    return {"name": name, "lines": daemon.apps.logs(name, tail=tail)}
