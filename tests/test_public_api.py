"""The package's front door: exactly these names, sorted (STYLE §6 "Public surface")."""

from __future__ import annotations

import pinokiocloud


def test_exported_names_are_launch_client_and_the_errors() -> None:
    assert pinokiocloud.__all__ == sorted(pinokiocloud.__all__)
    errors = {
        "BadParamError", "CatalogError", "DaemonUnavailableError", "DiskFullError", "DownloadError", "InputRequiredError", "LauncherNotFoundError",
        "NodeNotFoundError", "PinokioCloudError", "ScriptLoadError", "ScriptTimeoutError", "SidecarError",
        "StepError", "TunnelError", "UserError",
    }
    assert set(pinokiocloud.__all__) == errors | {"Client", "launch"}
    for name in errors:
        assert issubclass(getattr(pinokiocloud, name), pinokiocloud.PinokioCloudError)
    assert callable(pinokiocloud.launch) and pinokiocloud.Client.__module__ == "pinokiocloud.client"


def test_user_errors_are_the_ones_that_exit_2() -> None:
    for cls in (pinokiocloud.BadParamError, pinokiocloud.CatalogError, pinokiocloud.LauncherNotFoundError, pinokiocloud.ScriptLoadError,
                pinokiocloud.ScriptTimeoutError):
        assert issubclass(cls, pinokiocloud.UserError)
    assert not issubclass(pinokiocloud.SidecarError, pinokiocloud.UserError)
    assert not issubclass(pinokiocloud.DownloadError, pinokiocloud.UserError)


def test_disk_full_is_a_download_error_and_an_os_error() -> None:
    err = pinokiocloud.DiskFullError("https://example.invalid/m.bin", needed=6_200_000_000, free=1_100_000_000,
                                     where="/content")
    assert isinstance(err, pinokiocloud.DownloadError)
    assert isinstance(err, OSError)
    assert str(err).endswith("needs 6.2 GB, /content has 1.1 GB free; free space or set PINOKIOCLOUD_PERSIST")


def test_tunnel_error_names_provider_and_reason() -> None:
    err = pinokiocloud.TunnelError("ngrok", "NGROK_AUTHTOKEN is not set")
    assert (err.provider, err.reason) == ("ngrok", "NGROK_AUTHTOKEN is not set")
    assert not isinstance(err, pinokiocloud.UserError)
    assert "ngrok" in str(err) and "NGROK_AUTHTOKEN" in str(err)
