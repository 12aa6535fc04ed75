"""Plain text from terminal output: what the ``on`` matcher and ``tail()`` see."""

from __future__ import annotations

import pytest

from pinokiocloud.procs import TextDecoder, strip_ansi


@pytest.mark.parametrize(("raw", "text"), [
    ("\x1b[1;32mRunning on http://127.0.0.1:7860\x1b[0m\r\n", "Running on http://127.0.0.1:7860\n"),
    ("\x1b]0;window title\x07prompt$ ", "prompt$ "),
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("\x1b[2K\x1b[1G 10%|#   |\r 20%|##  |\r", " 10%|#   |\n 20%|##  |\n"),
    ("\x1b(Bplain\x1b=", "plain"),
    ("a\tb\x07\x08c", "a\tbc"),
    ("ünïcødé ✓\r\n", "ünïcødé ✓\n"),
])
def test_strip_ansi_leaves_the_words_a_person_reads(raw: str, text: str) -> None:
    assert strip_ansi(raw) == text


def test_decoder_joins_what_chunk_boundaries_split() -> None:
    raw = "\x1b[31mError: ✓ failed\x1b[0m\r\nnext\r\n".encode()
    decoder = TextDecoder()
    pieces = [decoder.feed(raw[i:i + 1]) for i in range(len(raw))]  # the worst case: one byte at a time
    assert "".join(pieces) + decoder.flush() == "Error: ✓ failed\nnext\n"
    assert not any("\x1b" in p or "[31m" in p for p in pieces)


def test_decoder_holds_a_final_carriage_return_until_it_knows_what_follows() -> None:
    decoder = TextDecoder()
    assert decoder.feed(b"line\r") == "line"
    assert decoder.feed(b"\nprogress 50%\r") == "\nprogress 50%"
    assert decoder.feed(b"progress 100%") == "\nprogress 100%"
    assert decoder.flush() == ""


def test_decoder_drops_an_escape_left_unfinished_at_the_end() -> None:
    decoder = TextDecoder()
    assert decoder.feed(b"done\x1b[") == "done"
    assert decoder.flush() == ""


def test_decoder_holds_a_hyperlink_cut_inside_its_terminator() -> None:
    decoder = TextDecoder()
    assert decoder.feed(b"see \x1b]8;;http://x\x1b") == "see "
    assert decoder.feed(b"\\docs\x1b]8;;\x1b\\ now\n") == "docs now\n"
