"""Questions a run asks (``input`` steps, a script's required variables) and the one writer of ``key.json``.

A question is answered from answers given in advance, else by the UI (interactive runs), else the run fails
naming the fields (spec §1.4, §3.7). ``key.json`` (``<HOME>/key.json``: credentials by host) is written only
here, atomically (a temporary file, then ``os.replace``), so a crash mid-write never leaves half a file.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from pinokiocloud.errors import InputRequiredError
from pinokiocloud.kernel.environment import app_env_file, app_root, set_env_values
from pinokiocloud.kernel.run import Answers, Run

__all__ = ["KeyStore", "Prompter", "fill_form"]

Emit = Callable[[Run, str, object, int | None], object]
"""``emit(run, type, data, step)``: publish an event of the run."""


def _write_atomic(file: Path, text: str) -> None:
    """Replace ``file`` with ``text`` in one step: readers see the old content or the new, never a part."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class KeyStore:
    """``<HOME>/key.json``: what launchers saved per host (``set {key: {host: {...}}}``, env prompts with
    ``host``). Read fresh each time: the file is small, and another process may have changed it."""

    def __init__(self, home: Path) -> None:
        self.file = home / "key.json"

    def read(self) -> dict[str, object]:
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, store: Mapping[str, object]) -> None:
        _write_atomic(self.file, json.dumps(store, indent=2))

    def merge(self, values: Mapping[str, object]) -> None:
        """``set {key: {host: {...}}}``: an object is merged into the host's object, anything else replaces it."""
        store = self.read()
        for host, value in values.items():
            entry = store.setdefault(str(host), {})
            if isinstance(entry, dict) and isinstance(value, dict):
                entry.update(value)
            else:
                store[str(host)] = value
        self._write(store)

    def remember(self, pairs: list[tuple[str, object]]) -> None:
        """Values typed into an env prompt with ``host``: appended to the host's list, once each."""
        store = self.read()
        changed = False
        for host, value in pairs:
            entries = store.setdefault(host, [])
            if isinstance(entries, list) and value not in entries:
                entries.append(value)
                changed = True
        if changed:
            self._write(store)


class Prompter:
    """Asks the questions of runs and takes their answers."""

    def __init__(self, home: Path, emit: Emit, keys: KeyStore) -> None:
        self.home = home
        self._emit = emit
        self.keys = keys

    async def ask(self, run: Run, request: Mapping[str, object], *, step: int | None,
                  method: str | None) -> Answers:
        """Answer a form: from answers given in advance, else from the UI (interactive runs), else fail."""
        raw_form = request.get("form")
        form = [f for f in (raw_form if isinstance(raw_form, list) else []) if isinstance(f, dict) and f.get("key")]
        fields = [str(f["key"]) for f in form]
        given = run.answers.popleft() if run.answers else run.reuse_answers
        if given is not None:
            return fill_form(form, given)
        if not run.interactive:
            if not fields:  # a dialog with nothing to fill in does not hold a headless run
                self._emit(run, "input", {"request": dict(request), "fields": []}, step)
                return {}
            raise InputRequiredError(str(run.path), step, method, fields, str(request.get("title") or ""))
        future: asyncio.Future[Answers] = asyncio.get_running_loop().create_future()
        run.pending_input, run.pending_request = future, dict(request)
        self._emit(run, "input", {"request": dict(request), "fields": fields}, step)
        try:
            return fill_form(form, await future)
        finally:
            run.pending_input = run.pending_request = None

    @staticmethod
    def answer(run: Run, values: Mapping[str, object]) -> bool:
        """Give the answer a run is waiting on; False when it waits on none."""
        if run.pending_input is None or run.pending_input.done():
            return False
        run.pending_input.set_result(dict(values))
        return True

    async def require_env(self, run: Run, spec: object, envs: Mapping[str, str]) -> None:
        """The script's ``env``/``pre`` list (spec §1.4): ask for missing variables, save them in the app's
        ENVIRONMENT (the home's for a script outside ``api/``), and values with a ``host`` in ``key.json``."""
        items = [i for i in (spec if isinstance(spec, list) else []) if isinstance(i, dict)]

        def name(item: Mapping[str, object]) -> str:
            return str(item.get("key") or item.get("env") or "")

        missing = [i for i in items if name(i) and not envs.get(name(i))]
        if not missing:
            return
        keys = [name(i) for i in missing]
        form = [{"key": name(i), "title": i.get("title"), "description": i.get("description"),
                 "default": i.get("default")} for i in missing]
        values = await self.ask(run, {"title": "Required variables", "form": form}, step=None, method="env")
        empty = [k for k in keys if values.get(k) in (None, "")]
        if empty:
            raise InputRequiredError(str(run.path), None, "env", empty, "Required variables")
        root = app_root(run.path, self.home)
        target = app_env_file(root) if root else self.home / "ENVIRONMENT"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("")
        set_env_values(target, {k: values[k] for k in keys})
        self.keys.remember([(str(i["host"]), values[name(i)]) for i in missing
                            if i.get("host") and values.get(name(i))])


def fill_form(form: list[dict[str, object]], given: Mapping[str, object]) -> Answers:
    """The answer object for a form: every field's value (checkboxes as booleans), defaults for gaps."""
    if not form:
        return dict(given)
    out: Answers = {}
    for item in form:
        key = str(item["key"])
        value = given.get(key, item.get("default", ""))
        if item.get("type") == "checkbox":
            value = value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes", "on")
        out[key] = value
    return out
