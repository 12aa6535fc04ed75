"""``/api/runs``: every run, their events (replayed, then followed as server-sent events), answers to
``input`` questions and typing into ``input: true`` shells."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from pinokiocloud.errors import BadParamError, RunNotFoundError
from pinokiocloud.kernel.runner import Run
from pinokiocloud.server.daemon import Daemon
from pinokiocloud.server.deps import AuthDep, DaemonDep
from pinokiocloud.server.routes.apps import BoundedBodyRoute, PathText

# bodies bounded as in routes/apps.py: answers and typed input are small
router = APIRouter(prefix="/api/runs", tags=["runs"], dependencies=[AuthDep], route_class=BoundedBodyRoute)

KEEPALIVE_S = 15.0
END_TYPES = frozenset({"stop"})


class AnswerIn(BaseModel):
    values: dict[str, Any] = Field(default_factory=dict)


class StdinIn(BaseModel):
    data: str  # control characters are the point here (Enter, Ctrl-C): only the body size bounds it
    shell: PathText | None = None


def _find(daemon: Daemon, key: str) -> Run:
    run = daemon.runner.by_key.get(key)
    if run is not None:
        return run
    for run in daemon.runner.runs.values():
        if run.id == key:
            return run
    raise RunNotFoundError(key)


@router.get("")
async def list_runs(daemon: DaemonDep) -> dict[str, Any]:
    live = [r.summary() for r in daemon.runner.by_key.values()]
    keys = {r["key"] for r in live}
    stored = [{"id": r.id, "key": r.key, "path": r.path, "state": r.state, "daemon": r.daemon, "error": r.error,
               "started_at": r.started_at, "ended_at": r.ended_at}
              for r in daemon.store.runs(limit=200) if r.key not in keys]
    data = live + stored
    return {"data": data, "count": len(data)}


@router.get("/{key}")
async def get_run(key: str, daemon: DaemonDep) -> dict[str, Any]:
    return _find(daemon, key).summary()


@router.get("/{key}/usage")
async def usage(key: str, daemon: DaemonDep) -> dict[str, Any]:
    """CPU %, RSS, GPU memory and listening ports of the run's live processes."""
    run = _find(daemon, key)
    return {"key": run.key, **await daemon.runner.usage(run.id, gpu=True)}


@router.post("/{key}/input")
async def answer(key: str, body: AnswerIn, daemon: DaemonDep) -> dict[str, Any]:
    run = _find(daemon, key)
    if run.pending_input is None:
        raise BadParamError(f"{run.id} is not waiting for an answer")
    daemon.runner.answer(run.id, body.values)
    return {"answered": True}


@router.post("/{key}/stdin")
async def stdin(key: str, body: StdinIn, daemon: DaemonDep) -> dict[str, Any]:
    run = _find(daemon, key)
    daemon.runner.write_input(run.id, body.data, body.shell)
    return {"written": len(body.data)}


@router.post("/{key}/stop")
async def stop(key: str, daemon: DaemonDep) -> dict[str, Any]:
    run = _find(daemon, key)
    await daemon.runner.stop(run.id)
    return run.summary()


def _sse(event: dict[str, Any]) -> bytes:
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event, default=str)}\n\n".encode()


@router.get("/{key}/events")
async def events(key: str, request: Request, daemon: DaemonDep, after: int = 0,
                 follow: bool = True) -> StreamingResponse:
    """Server-sent events: what the run did so far (after ``after``), then live until it ends."""
    run = _find(daemon, key)
    log = daemon.runner.events
    queue = log.subscribe(run.id) if follow else None

    async def stream() -> AsyncIterator[bytes]:
        last = after
        try:
            async for event in log.replay(run.id, attempt=run.key, after=after):
                if event.seq > last:
                    last = event.seq
                    yield _sse(event.as_dict())
            if queue is None or (not run.is_alive and run.settled.is_set()):
                return
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if event.attempt != run.key or event.seq <= last:
                    continue
                last = event.seq
                yield _sse(event.as_dict())
                if event.type in END_TYPES:
                    return
        finally:
            if queue is not None:
                log.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
