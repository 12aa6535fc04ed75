"""Two rules of the dashboard's source that no page test would notice being broken."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

UI = Path(__file__).resolve().parents[2] / "src" / "pinokiocloud" / "ui"
SCRIPTS = sorted([UI / "app.py", *(UI / "views").glob("*.py")])
DAEMON_SIDE = ("pinokiocloud.kernel", "pinokiocloud.store", "pinokiocloud.apps", "pinokiocloud.procs",
               "pinokiocloud.server", "pinokiocloud.share", "pinokiocloud.envs", "pinokiocloud.downloads")


def _bare_expressions(body: list[ast.stmt], parent: ast.AST) -> list[int]:
    """Statements Streamlit's "magic" would print on the page (anything but a call or a docstring)."""
    found = []
    for index, node in enumerate(body):
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call | ast.Await | ast.Yield):
            is_docstring = index == 0 and isinstance(parent, ast.Module | ast.FunctionDef)
            if not is_docstring:
                found.append(node.lineno)
        for field in ("body", "orelse", "finalbody"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                found += _bare_expressions(children, node)
        for handler in getattr(node, "handlers", None) or []:
            found += _bare_expressions(handler.body, handler)
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_page_scripts_have_no_stray_expressions_that_streamlit_would_print(script: Path) -> None:
    tree = ast.parse(script.read_text())
    assert _bare_expressions(tree.body, tree) == []


def test_the_dashboard_imports_nothing_of_the_daemon() -> None:
    for source in UI.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith(DAEMON_SIDE), f"{source.name} imports {name}; use the daemon's API"
