"""The package's front door: exactly these names, sorted (STYLE §6 "Public surface")."""

from __future__ import annotations

import pinokiocloud


def test_exported_names_are_exactly_the_public_errors() -> None:
    assert pinokiocloud.__all__ == sorted(pinokiocloud.__all__)
    assert set(pinokiocloud.__all__) == {
        "BadParamError", "LauncherNotFoundError", "NodeNotFoundError", "PinokioCloudError", "ScriptLoadError",
        "ScriptTimeoutError", "SidecarError", "UserError",
    }
    for name in pinokiocloud.__all__:
        assert issubclass(getattr(pinokiocloud, name), pinokiocloud.PinokioCloudError)


def test_user_errors_are_the_ones_that_exit_2() -> None:
    for cls in (pinokiocloud.BadParamError, pinokiocloud.LauncherNotFoundError, pinokiocloud.ScriptLoadError,
                pinokiocloud.ScriptTimeoutError):
        assert issubclass(cls, pinokiocloud.UserError)
    assert not issubclass(pinokiocloud.SidecarError, pinokiocloud.UserError)
