"""A slow subscriber costs the daemon a bounded queue: it loses old terminal output, never a state change."""

from __future__ import annotations

import asyncio

from pinokiocloud.kernel.events import EventLog, RunEvent

LIMIT = 50


async def _flood_and_read_slowly(log: EventLog, *, limit: int) -> tuple[list[RunEvent], int, int]:
    """Publish 2000 output events with a state change every 100, while a reader takes 1 ms per event."""
    queue = log.subscribe("app/start.js", limit=limit)
    seen: list[RunEvent] = []
    most_waiting = 0

    async def slow_reader() -> None:
        while True:
            event = await queue.get()
            seen.append(event)
            if event.type == "stop":
                return
            await asyncio.sleep(0.001)

    reader = asyncio.create_task(slow_reader())
    for i in range(2000):
        if i % 100 == 0:
            log.publish(RunEvent("app/start.js", "state", {"state": f"s{i}"}))
        log.publish(RunEvent("app/start.js", "stream", {"raw": f"line {i}\n"}))
        most_waiting = max(most_waiting, queue.qsize())
        if i % 500 == 0:
            await asyncio.sleep(0)  # the publisher yields now and then, as the runner does between reads
    log.publish(RunEvent("app/start.js", "stop", {"state": "done"}))
    await asyncio.wait_for(reader, 30)
    log.unsubscribe(queue)
    return seen, most_waiting, queue.dropped


def test_a_slow_subscriber_loses_old_output_but_every_state_change_in_order() -> None:
    seen, most_waiting, dropped = asyncio.run(_flood_and_read_slowly(EventLog(), limit=LIMIT))
    states = [e.data["state"] for e in seen if e.type == "state"]
    assert states == [f"s{i}" for i in range(0, 2000, 100)]  # all 20, in order
    assert seen[-1].type == "stop"
    assert most_waiting <= LIMIT
    output = [e.data["raw"] for e in seen if e.type == "stream"]
    assert dropped > 1000 and len(output) == 2000 - dropped
    assert output[-1] == "line 1999\n"  # the newest output is what a follower gets
    seqs = [e.seq for e in seen]
    assert seqs == sorted(seqs)  # what arrives still arrives in order


def test_a_subscriber_that_keeps_up_gets_everything() -> None:
    async def main() -> tuple[int, int]:
        log = EventLog()
        queue = log.subscribe(None, limit=LIMIT)
        got = 0
        for i in range(1000):
            log.publish(RunEvent("app/start.js", "stream", {"raw": f"{i}\n"}))
            while not queue.empty():
                queue.get_nowait()
                got += 1
        return got, queue.dropped

    assert asyncio.run(main()) == (1000, 0)


def test_state_events_are_kept_even_past_the_bound() -> None:
    async def main() -> list[tuple[str, object]]:
        log = EventLog()
        queue = log.subscribe(None, limit=5)
        for i in range(20):
            log.publish(RunEvent(f"app{i}/start.js", "state", {"state": "running"}))
            log.publish(RunEvent(f"app{i}/start.js", "info", {"title": str(i)}))
        out = []
        while not queue.empty():
            event = queue.get_nowait()
            out.append((event.type, event.data))
        return out

    got = asyncio.run(main())
    assert [t for t, _ in got].count("state") == 20  # none dropped: the info events made room for them
    assert [d for t, d in got if t == "info"] == [{"title": "19"}]  # only the newest info is left


def test_a_type_filter_queues_only_what_the_subscriber_asked_for() -> None:
    async def main() -> list[str]:
        log = EventLog()
        queue = log.subscribe(None, types={"state", "stop"})
        for kind in ("stream", "state", "stream", "info", "stop"):
            log.publish(RunEvent("app/start.js", kind, None))
        return [queue.get_nowait().type for _ in range(queue.qsize())]

    assert asyncio.run(main()) == ["state", "stop"]
