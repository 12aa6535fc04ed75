"""``/api/runs``: every run, their events (replayed, then followed as server-sent events), answers to
``input`` questions and typing into ``input: true`` shells."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from pinokiocloud.errors import BadParamError, RunNotFoundError
from pinokiocloud.kernel.runner import Run
from pinokiocloud.server.daemon import Daemon
from pinokiocloud.server.deps import AuthDep, DaemonDep
from pinokiocloud.server.models import AnswerResult, RunEvent, RunList, RunSummary, RunUsage, StdinResult
from pinokiocloud.server.routes.apps import BoundedBodyRoute, PathText

# bodies bounded as in routes/apps.py: answers and typed input are small
router = APIRouter(prefix="/api/runs", tags=["runs"], dependencies=[AuthDep], route_class=BoundedBodyRoute)

KEEPALIVE_S = 15.0
END_TYPES = frozenset({"stop"})


class AnswerIn(BaseModel):
    values: dict[str, object] = Field(default_factory=dict)


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


@router.get("", response_model=RunList)
async def list_runs(daemon: DaemonDep) -> RunList:
    live = [cast(RunSummary, r.summary()) for r in daemon.runner.by_key.values()]
    keys = {r["key"] for r in live}
    stored: list[RunSummary] = [
        {"id": r.id, "key": r.key, "path": r.path, "state": r.state, "daemon": r.daemon, "error": r.error,
         "started_at": r.started_at, "ended_at": r.ended_at}
        for r in daemon.store.runs(limit=200) if r.key not in keys]
    data = live + stored
    return {"data": data, "count": len(data)}


@router.get("/{key}", response_model=RunSummary)
async def get_run(key: str, daemon: DaemonDep) -> RunSummary:
    return cast(RunSummary, _find(daemon, key).summary())


@router.get("/{key}/usage", response_model=RunUsage)
async def usage(key: str, daemon: DaemonDep) -> RunUsage:
    """CPU %, RSS, GPU memory and listening ports of the run's live processes."""
    run = _find(daemon, key)
    return cast(RunUsage, {"key": run.key, **await daemon.runner.usage(run.id, gpu=True)})


@router.post("/{key}/input", response_model=AnswerResult)
async def answer(key: str, body: AnswerIn, daemon: DaemonDep) -> AnswerResult:
    run = _find(daemon, key)
    if run.pending_input is None:
        raise BadParamError(f"{run.id} is not waiting for an answer")
    daemon.runner.answer(run.id, body.values)
    return {"answered": True}


@router.post("/{key}/stdin", response_model=StdinResult)
async def stdin(key: str, body: StdinIn, daemon: DaemonDep) -> StdinResult:
    run = _find(daemon, key)
    daemon.runner.write_input(run.id, body.data, body.shell)
    return {"written": len(body.data)}


@router.post("/{key}/stop", response_model=RunSummary)
async def stop(key: str, daemon: DaemonDep) -> RunSummary:
    run = _find(daemon, key)
    await daemon.runner.stop(run.id)
    return cast(RunSummary, run.summary())


def _sse(event: RunEvent) -> bytes:
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event, default=str)}\n\n".encode()


class EventStream(StreamingResponse):
    """Server-sent events: one ``event: TYPE`` / ``data: JSON`` block per event (a ``RunEvent``), and a
    ``: keep-alive`` comment while the run is quiet."""

    media_type = "text/event-stream"


_ONE_EVENT: dict[int | str, dict[str, object]] = {200: {
    "description": "Server-sent events; the `data:` line of each is one RunEvent",
    # "type" overrides the "string" FastAPI gives a non-JSON response class
    "content": {"text/event-stream": {"schema": {"type": "object", "$ref": "#/components/schemas/RunEvent"}}}}}


@router.get("/{key}/events", response_class=EventStream, response_model=RunEvent, responses=_ONE_EVENT)
async def events(key: str, request: Request, daemon: DaemonDep, after: int = 0,
                 follow: bool = True) -> EventStream:
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
                    yield _sse(cast(RunEvent, event.as_dict()))
            if queue is None:
                return
            if not run.is_alive and run.settled.is_set():
                # the run ended; what it said while the replay was sent (its end among it) is in the queue
                while not queue.empty():
                    event = queue.get_nowait()
                    if event.attempt == run.key and event.seq > last:
                        last = event.seq
                        yield _sse(cast(RunEvent, event.as_dict()))
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
                yield _sse(cast(RunEvent, event.as_dict()))
                if event.type in END_TYPES:
                    return
        finally:
            if queue is not None:
                log.unsubscribe(queue)

    return EventStream(stream(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
