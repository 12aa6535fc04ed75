"""QR codes: the text and the PNG show the same modules as the code for the URL."""

from __future__ import annotations

import png

from pinokiocloud.share.qr import BORDER_MODULES, PNG_BOX_PIXELS, qr_matrix, qr_png, qr_text

URL = "https://p1234-abcd1234.trycloudflare.com/?token=Zm9vYmFy"


def test_terminal_text_packs_two_rows_per_line() -> None:
    matrix = qr_matrix(URL)
    lines = qr_text(URL).splitlines()
    assert len(lines) == (len(matrix) + 1) // 2 and all(len(line) == len(matrix) for line in lines)
    glyph = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
    assert lines[1][BORDER_MODULES] == glyph[(matrix[2][BORDER_MODULES], matrix[3][BORDER_MODULES])]


def test_png_pixels_match_the_modules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = qr_png(URL, tmp_path / "qr" / "demo.png")
    assert (tmp_path / "qr" / "demo.png").read_bytes() == data
    width, height, rows, _info = png.Reader(bytes=data).read()
    pixels = [list(row) for row in rows]
    matrix = qr_matrix(URL)
    assert width == height == len(matrix) * PNG_BOX_PIXELS
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            value = pixels[y * PNG_BOX_PIXELS + PNG_BOX_PIXELS // 2][x * PNG_BOX_PIXELS + PNG_BOX_PIXELS // 2]
            assert (value == 0) == dark
