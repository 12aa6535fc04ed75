"""QR codes for public URLs: text for a terminal or notebook, PNG for the UI."""

from __future__ import annotations

import io
from pathlib import Path

import qrcode
from qrcode.image.pure import PyPNGImage

__all__ = ["qr_matrix", "qr_png", "qr_text"]

BORDER_MODULES = 2
PNG_BOX_PIXELS = 8


def _code(url: str) -> qrcode.QRCode[PyPNGImage]:
    code: qrcode.QRCode[PyPNGImage] = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=BORDER_MODULES, box_size=PNG_BOX_PIXELS,
        image_factory=PyPNGImage)
    code.add_data(url)
    code.make(fit=True)
    return code


def qr_matrix(url: str) -> list[list[bool]]:
    """The modules, border included (``True`` = dark)."""
    return [list(row) for row in _code(url).get_matrix()]


def qr_text(url: str) -> str:
    """Two rows per line with half-block characters, light on dark as terminals show it best."""
    rows = qr_matrix(url)
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    glyph = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
    lines = ["".join(glyph[(top, bottom)] for top, bottom in zip(upper, lower, strict=True))
             for upper, lower in zip(rows[0::2], rows[1::2], strict=True)]
    return "\n".join(lines)


def qr_png(url: str, path: Path | None = None) -> bytes:
    """PNG bytes of the code; also written to ``path`` when given."""
    buffer = io.BytesIO()
    _code(url).make_image().save(buffer)
    data = buffer.getvalue()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return data
