"""`shell.run` message forms (spec §3.1.2): strings, arrays, chains, structured argv."""

from __future__ import annotations

from pinokiocloud.kernel.shell_command import build_commands, quote_bash, unparse


def test_strings_and_arrays() -> None:
    assert build_commands("echo hi", None).commands == ["echo hi"]
    assert build_commands(["a", "", None, "b"], None).commands == ["a", "b"]
    assert build_commands(None, None).commands == [""]


def test_chains() -> None:
    assert build_commands(["a", " ", "b"], True).commands == ["a && b"]
    assert build_commands(["a", "b"], "&").commands == ["a && b"]
    assert build_commands(["a", "b"], "|").commands == ["a || b"]
    assert build_commands(["a", "b"], "*").commands == ["a ; b"]


def test_unparse_like_yargs() -> None:
    argv = {"_": ["hf", "download", "org/model"], "local-dir": "fuyu", "v": True, "progress": False,
            "include": ["*.json", "*.bin"], "n": 2, "skip": None}
    assert unparse(argv) == ["hf", "download", "org/model", "--local-dir", "fuyu", "-v", "--no-progress",
                             "--include", "*.json", "--include", "*.bin", "-n", "2"]
    assert unparse({"_": [], "--already": "x", "nested": {"a": 1}}) == ["--already", "x", "--nested.a", "1"]


def test_structured_message_is_quoted_and_unrendered_templates_dropped() -> None:
    built = build_commands({"_": ["python", "app.py"], "prompt": "it's {{x}} here", "seed": "{{args.seed}}"}, None)
    assert built.commands == ["'python' 'app.py' '--prompt' 'it'\"'\"'s {{x}} here'"]


def test_multiline_values_travel_as_env_args() -> None:
    built = build_commands([{"_": ["echo", "line1\nline2"]}, "plain"], None)
    assert built.commands == ["'echo' \"$PINOKIO_ARG_0\"", "plain"]
    assert built.env_args == {"PINOKIO_ARG_0": "line1\nline2"}


def test_quote_bash() -> None:
    assert quote_bash("") == "''"
    assert quote_bash("a b") == "'a b'"
