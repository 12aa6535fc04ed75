"""Errors as JSON: ``{"error": {"type", "message", "hint", "fields"}}`` with 4xx for the user's mistakes, so
the client can raise the same class again with the same fields (STYLE §6, ``errors.rebuild``)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from pinokiocloud.errors import (
    AppExistsError,
    AppNotFoundError,
    DaemonRunningError,
    DownloadNotFoundError,
    NotSharedError,
    PinokioCloudError,
    RunNotFoundError,
    UserError,
)

__all__ = ["install_error_handlers", "status_for"]


def status_for(exc: PinokioCloudError) -> int:
    if isinstance(exc, (AppNotFoundError, NotSharedError, RunNotFoundError, DownloadNotFoundError)):
        return 404
    if isinstance(exc, (AppExistsError, DaemonRunningError)):
        return 409
    if isinstance(exc, UserError):
        return 400
    return 500


def _body(type_: str, message: str, hint: str = "", fields: Mapping[str, object] | None = None) -> dict[str, object]:
    return {"error": {"type": type_, "message": message, "hint": hint, "fields": dict(fields or {})}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PinokioCloudError)
    async def known(_: Request, exc: PinokioCloudError) -> JSONResponse:
        return JSONResponse(_body(type(exc).__name__, str(exc), exc.hint, exc.details()),
                            status_code=status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse(_body("BadParamError", f"the request body is not valid: {problems}"), status_code=422)
