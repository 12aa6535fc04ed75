"""The share lifecycle table: STOPPED is final, a failing online share goes through RECOVERING, and a move the
table does not list is refused (tests/share/conftest.py also fails any share test whose manager was refused)."""

from __future__ import annotations

import pytest

from pinokiocloud.share import ShareState
from pinokiocloud.share.states import LIVE, TRANSITIONS, can_move, move


def test_every_state_has_a_row_stopped_is_final_and_every_state_is_reachable() -> None:
    assert set(TRANSITIONS) == set(ShareState)
    assert set(ShareState) - {ShareState.STOPPED} == LIVE
    assert not TRANSITIONS[ShareState.STOPPED]
    assert all(ShareState.STOPPED in TRANSITIONS[state] for state in LIVE)
    reached, frontier = {ShareState.STARTING}, [ShareState.STARTING]
    while frontier:
        for new in TRANSITIONS[frontier.pop()] - reached:
            reached.add(new)
            frontier.append(new)
    assert reached == set(ShareState)


def test_an_online_share_that_fails_is_recovering_before_it_is_local_only() -> None:
    assert can_move(ShareState.ONLINE, ShareState.RECOVERING)
    assert not can_move(ShareState.ONLINE, ShareState.LOCAL_ONLY)
    assert can_move(ShareState.RECOVERING, ShareState.LOCAL_ONLY)
    assert can_move(ShareState.LOCAL_ONLY, ShareState.ONLINE)  # a retry from local-only found a tunnel
    assert not can_move(ShareState.ONLINE, ShareState.ONLINE)  # staying is no move


def test_an_illegal_move_is_refused_with_the_share_named() -> None:
    assert move(ShareState.STARTING, ShareState.ONLINE, app="demo") is ShareState.ONLINE
    with pytest.raises(RuntimeError, match="share demo: illegal state change stopped -> online"):
        move(ShareState.STOPPED, ShareState.ONLINE, app="demo")
    with pytest.raises(RuntimeError, match="starting -> recovering"):
        move(ShareState.STARTING, ShareState.RECOVERING, app="demo")
