"""Errors keep their identity across HTTP: a client rebuilds the daemon's class with its fields, whatever the
client imported (issue 13: the CLI received AppNotFoundError as a plain UserError, `.name`/`.url` lost)."""

from __future__ import annotations

import subprocess
import sys

from pinokiocloud.errors import (
    AppNotFoundError,
    DaemonRunningError,
    PinokioCloudError,
    UserError,
    rebuild,
)


def test_every_error_class_lives_in_errors_py() -> None:
    code = ("import pinokiocloud.errors as e, pinokiocloud\n"
            "import pkgutil, importlib\n"
            "for m in pkgutil.walk_packages(pinokiocloud.__path__, 'pinokiocloud.'):\n"
            "    if '.ui.' not in m.name and not m.name.endswith(('__main__', '.watchdog', '.serve')):\n"
            "        importlib.import_module(m.name)\n"
            "outside = sorted(f'{c.__module__}.{c.__name__}' for c in e.registry().values()\n"
            "                 if c.__module__ != 'pinokiocloud.errors')\n"
            "print(outside)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_a_rebuilt_error_is_the_same_class_with_its_fields() -> None:
    original = DaemonRunningError("/root/pinokio", 4242, "http://127.0.0.1:42000")
    sent = {"type": type(original).__name__, "message": str(original), "hint": original.hint,
            "fields": original.details()}
    again = rebuild(sent["type"], sent["message"], sent["hint"], sent["fields"], user_error=True)
    assert type(again) is DaemonRunningError and isinstance(again, UserError)
    assert (again.pid, again.url, again.home) == (4242, "http://127.0.0.1:42000", "/root/pinokio")
    assert str(again) == str(original) and again.hint == original.hint


def test_a_client_that_imported_nothing_else_still_knows_app_not_found() -> None:
    code = ("from pinokiocloud.client import _rebuild\n"
            "exc = _rebuild(404, {'error': {'type': 'AppNotFoundError', 'message': 'no app named x',"
            " 'hint': '', 'fields': {'name': 'x'}}})\n"
            "print(type(exc).__name__, exc.name)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["AppNotFoundError", "x"]


def test_an_unknown_type_falls_back_by_status() -> None:
    assert type(rebuild("NoSuchError", "m", user_error=True)) is UserError
    assert type(rebuild("NoSuchError", "m", user_error=False)) is PinokioCloudError
    assert AppNotFoundError("demo").details() == {"name": "demo"}
