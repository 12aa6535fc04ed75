"""The port pool: two runs are never handed the same port, a run keeps its ports, a taken port is skipped."""

from __future__ import annotations

import socket

from pinokiocloud.kernel.ports import PortPool, find_free_port


def test_two_runs_get_different_ports_and_a_run_gets_its_own_again() -> None:
    alive = {"a", "b"}
    pool = PortPool(alive.__contains__)
    a, b = pool.pool("a"), pool.pool("b")
    assert len(a) == len(b) == 4 and not set(a) & set(b)
    assert pool.pool("a") == a
    extra = pool.take("b")
    assert extra not in a and extra not in b
    assert pool.reserved(except_owner="a") == {*b, extra}


def test_a_port_something_listens_on_is_skipped() -> None:
    start = find_free_port(start=45000)
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", start))
        server.listen(1)
        pool = PortPool(lambda owner: True, start=start)
        assert start not in pool.pool("a")


def test_a_dead_runs_ports_go_back_once_their_hold_ends() -> None:
    alive = {"a"}
    pool = PortPool(alive.__contains__, hold_s=0.0)
    first = pool.pool("a")
    assert not set(first) & set(pool.pool("b"))  # held while "a" is alive, hold or not
    alive.clear()
    assert set(first) - pool.reserved() == set(first)
