"""Cheap checks on a PDF file before anyone parses it: present, non-empty, not too large, really a
PDF (and if not, what it is instead), and complete (ends with %%EOF)."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.core.errors import PdfError

_MB = 1024 * 1024
# The PDF spec allows junk before the header; readers look within the first 1 KiB.
_HEADER_WINDOW = 1024
# A complete file ends with %%EOF, possibly followed by a little whitespace or junk.
_EOF_WINDOW = 2048

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"PK\x03\x04", "a ZIP archive (e.g. .docx or .epub)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%!PS", "a PostScript file"),
    (b"{\\rtf", "an RTF document"),
)
_HTML = re.compile(rb"^\s*(<!doctype html|<html|<\?xml|<head|<body)", re.IGNORECASE)


def check_file(path: Path, *, max_bytes: int) -> int:
    """Cheap checks before parsing; returns the size in bytes.

    Raises `PdfError` for a missing, empty, oversized, non-PDF or truncated file.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(_HEADER_WINDOW)
            handle.seek(max(0, size - _EOF_WINDOW))
            tail = handle.read()
    except FileNotFoundError as exc:
        raise PdfError(f"PDF file not found: {path}", hint="check the path") from exc
    except IsADirectoryError as exc:
        raise PdfError(f"{path} is a folder, not a PDF file", hint="give the path of one PDF file") from exc
    except OSError as exc:
        raise PdfError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise PdfError(f"{path} is empty (0 bytes)",
                       hint="the download or copy was probably interrupted; fetch the PDF again")
    if size > max_bytes:
        raise PdfError(f"{path} is {size / _MB:.1f} MB, over the {max_bytes / _MB:.0f} MB limit",
                       hint="raise pdf.max_bytes in the settings if this PDF is genuine")
    if b"%PDF-" not in head:
        raise PdfError(f"{path} is not a PDF: {_describe(head)}, not with %PDF-",
                       hint="a .pdf name alone does not make a PDF; get the real PDF file")
    if b"%%EOF" not in tail:
        raise PdfError(f"{path} is truncated or corrupt: it does not end with the %%EOF marker",
                       hint="the download was probably cut off; fetch the PDF again")
    return size


def _describe(head: bytes) -> str:
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return f"it starts like {name}"
    if _HTML.match(head):
        return "it is a web page (HTML), probably a landing or login page"
    if not head.strip():
        return "it holds only blank bytes"
    return f"it starts with {head[:8]!r}"
