"""Installed apps: their launchers, menus, runs and states, and the catalog of apps to install."""

from __future__ import annotations

from pinokiocloud.apps.manager import AppExistsError, AppManager, AppNotFoundError, AppState, InstallError

__all__ = ["AppExistsError", "AppManager", "AppNotFoundError", "AppState", "InstallError"]
