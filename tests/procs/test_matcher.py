"""The `on` handler rules of spec §3.1.6, fed real-looking output chunk by chunk."""

from __future__ import annotations

import pytest

from pinokiocloud.procs.matcher import BadPatternError, Matcher, collect_errors, compile_js_regex, shortest_errors


def test_done_captures_the_url_with_groups() -> None:
    m = Matcher([{"event": "/starting server.+(http://[a-zA-Z0-9.]+:[0-9]+)/i", "done": True}])
    assert m.feed("loading models...\r\n").finish is None
    verdict = m.feed("Starting server\r\nTo see the GUI go to: http://127.0.0.1:8188\r\n")
    assert verdict.finish is None  # `.` does not cross the newline
    m2 = Matcher([{"event": "/starting server.+(http://[a-zA-Z0-9.]+:[0-9]+)/i", "done": True}])
    verdict = m2.feed("Starting server at http://127.0.0.1:8188 now\n")
    assert verdict.finish == "done"
    assert verdict.event == ["Starting server at http://127.0.0.1:8188", "http://127.0.0.1:8188"]


def test_the_common_gradio_patterns() -> None:
    for pattern, expected in [
        ("/http://\\S+/", "http://127.0.0.1:7860"),
        ("/http://[0-9.:]+/", "http://127.0.0.1:7860"),
        ("/http:\\/\\/[^\\s\\/]+:\\d{2,5}(?=[^\\w]|$)/", "http://127.0.0.1:7860"),
        ("/(http:\\/\\/[0-9.:]+)/", "http://127.0.0.1:7860"),
    ]:
        m = Matcher([{"event": pattern, "done": True}])
        verdict = m.feed("Running on local URL:  http://127.0.0.1:7860\n")
        assert verdict.finish == "done" and verdict.event is not None and verdict.event[0] == expected, pattern


def test_a_match_split_across_chunks_is_found_once() -> None:
    m = Matcher([{"event": "/http://\\S+:\\d+/"}])
    assert m.feed("url http://127.0.").event is None
    first = m.feed("0.1:7860 ready\n")
    assert first.event == ["http://127.0.0.1:7860"]
    assert m.feed("more output\n").event is None  # no double firing on old text


def test_window_is_300_characters() -> None:
    m = Matcher([{"event": "/MARK.*END/", "done": True}])
    m.feed("MARK" + "x" * 400)
    assert m.feed("END\n").finish is None  # MARK slid out of the window
    m2 = Matcher([{"event": "/MARK.*END/", "done": True}])
    m2.feed("MARK" + "x" * 200)
    assert m2.feed("END\n").finish == "done"


def test_default_error_patterns_break_and_whitelists_remove_them() -> None:
    verdict = Matcher([]).feed("ModuleNotFoundError: No module named 'torch'\n")
    assert verdict.finish == "break" and "Error:" in verdict.buffer
    assert Matcher([{"event": "/error:/i", "break": False}]).feed("ERROR: pip failed\n").finish is None
    assert Matcher([]).feed("Error: triton is not available\n").finish is None  # default whitelist


def test_errors_are_not_live_in_interactive_shells() -> None:
    assert Matcher([], interactive=True).feed("Error: oops\n").finish is None


def test_kill_and_once_and_plain_capture() -> None:
    m = Matcher([{"event": "/ready (\\d)/", "once": True}, {"event": "/(http://[0-9.:]+)/", "kill": True}])
    assert m.feed("ready 1\n").event == ["ready 1", "1"]
    assert m.feed("ready 2\n").event is None  # once
    verdict = m.feed("http://127.0.0.1:1\n")
    assert verdict.finish == "kill"


def test_final_errors_are_collected_and_shortened() -> None:
    text = "Traceback...\nModuleNotFoundError: No module named x\nERROR: Could not install\n[Errno 2] gone\n"
    m = Matcher([])
    errors = collect_errors(text, m.handlers)
    assert errors == ["Error:", "ERROR:", "Errno "]
    assert shortest_errors(text, errors) == ["Error:", "ERROR:", "Errno "]


def test_bad_patterns_are_clear_errors() -> None:
    with pytest.raises(BadPatternError, match="not a \"/pattern/flags\" string"):
        compile_js_regex("http://")
    with pytest.raises(BadPatternError, match="cannot be used"):
        compile_js_regex("/(unclosed/")
    assert compile_js_regex("/(?<url>http\\S+)/").search("http://x").group("url") == "http://x"
