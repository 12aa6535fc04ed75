"""The share manager's and the limiter's numbers: one keyword each, checked, and an unknown one refused as a
mistyped keyword argument would be (``share.knobs``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinokiocloud.errors import BadParamError
from pinokiocloud.share import GuessLimiter, LimiterPolicy, ShareManager, ShareSettings, ShareTimings


def test_keyword_numbers_override_the_defaults_and_are_normalised(tmp_path: Path) -> None:
    manager = ShareManager(ShareSettings(home=tmp_path), probe_interval_s=1.0, tick_s=5.0, failures_before_recovery=0)
    assert manager.timings == ShareTimings(probe_interval_s=1.0, tick_s=1.0, failures_before_recovery=1)
    assert manager.timings.attempt_timeout_s == ShareTimings().attempt_timeout_s
    limiter = GuessLimiter(LimiterPolicy(burst=7), max_wait_s=2)
    assert (limiter.policy.burst, limiter.policy.max_wait_s) == (7, 2)


def test_unknown_or_bad_numbers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="ShareTimings has no setting 'probe_intervals'"):
        ShareManager(ShareSettings(home=tmp_path), probe_intervals=1.0)
    with pytest.raises(BadParamError, match=r"probe_interval_s must be in \(0, 30\]"):
        ShareManager(ShareSettings(home=tmp_path), probe_interval_s=31)
    with pytest.raises(ValueError, match="burst >= 1"):
        GuessLimiter(burst=0)
