"""Request dependencies: the daemon and the token check, written once (template 5.2)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from pinokiocloud.server.daemon import Daemon

__all__ = ["AuthDep", "DaemonDep"]


def get_daemon(request: Request) -> Daemon:
    daemon: Daemon = request.app.state.daemon
    return daemon


def check_token(request: Request, daemon: Annotated[Daemon, Depends(get_daemon)]) -> None:
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else request.query_params.get("token", "")
    if not given or not secrets.compare_digest(given, daemon.token):
        raise HTTPException(status_code=401, detail="missing or wrong token; the token is in PINOKIO_HOME/daemon.token")


DaemonDep = Annotated[Daemon, Depends(get_daemon)]
AuthDep = Depends(check_token)
