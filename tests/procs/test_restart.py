"""The restart policy: only failures come back, with growing waits, and not forever."""

from __future__ import annotations

from pinokiocloud.procs import ExitKind, RestartMode, RestartPolicy

ON_FAILURE = RestartPolicy(RestartMode.ON_FAILURE, max_attempts=3, backoff_s=0.5, factor=2, max_backoff_s=1.5)


def test_a_crashing_server_comes_back_with_exponential_backoff_then_gives_up() -> None:
    waits = [ON_FAILURE.delay(ExitKind.CRASHED, done, runtime_s=2.0) for done in range(4)]
    assert waits == [0.5, 1.0, 1.5, None]  # capped at max_backoff_s, then no fourth restart


def test_stops_and_clean_exits_are_never_restarted_and_no_means_no() -> None:
    assert ON_FAILURE.delay(ExitKind.STOPPED, 0, 100.0) is None
    assert ON_FAILURE.delay(ExitKind.OK, 0, 100.0) is None
    assert ON_FAILURE.delay(ExitKind.TOO_QUICK, 0, 0.1) == 0.5
    assert RestartPolicy().delay(ExitKind.CRASHED, 0, 100.0) is None


def test_a_long_healthy_run_starts_the_count_over() -> None:
    assert ON_FAILURE.delay(ExitKind.CRASHED, 3, runtime_s=ON_FAILURE.stable_after_s) == 0.5
