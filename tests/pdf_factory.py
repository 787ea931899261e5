"""Small PDFs (good and broken) generated at test time with fpdf2, so none is committed."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from fpdf import FPDF

FILLER = (
    "The method learns a compact representation of each image and aligns it with the text encoder "
    "so that both views agree on the labels of the unlabeled examples in every training batch."
)


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    """A valid grey-gradient PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((x * 4 + y) % 256 for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def text_pdf(path: Path, pages: list[list[str]], *, header: str | None = None,
             page_numbers: bool = True, user_password: str | None = None,
             owner_password: str | None = None) -> Path:
    """A PDF whose pages hold the given lines (Helvetica 10 pt), with an optional running header,
    page numbers at the bottom, and optional encryption."""
    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    if user_password is not None or owner_password is not None:
        pdf.set_encryption(owner_password=owner_password or "owner", user_password=user_password or "")
    for number, lines in enumerate(pages, 1):
        pdf.add_page()
        pdf.set_font("helvetica", size=9)
        if header:
            pdf.text(72, 40, header)
        pdf.set_font("helvetica", size=10)
        y = 72.0
        for line in lines:
            pdf.text(72, y, line)
            y += 13
        if page_numbers:
            pdf.set_font("helvetica", size=9)
            pdf.text(290, 810, str(number))
    pdf.output(str(path))
    return path


def paper_pages() -> list[list[str]]:
    """Three pages of a small paper: numbered sections, a hyphenated line end, references."""
    prose = [FILLER[i:i + 80].strip() for i in range(0, len(FILLER), 80)]
    return [
        ["A Small Test Paper", "Abstract", "We study how small paper-like documents are extracted with",
         "cleaning and sec-", "tion detection applied to every page of the document.", *prose,
         "1 Introduction", *prose, *prose],
        ["2 Method", *prose, *prose, "3 Experiments", *prose, *prose],
        ["4 Conclusion", *prose, "References", "[1] A. Author. A paper. 2020.", "[2] B. Author. Another. 2021."],
    ]


def image_only_pdf(path: Path, pages: int = 2) -> Path:
    """A PDF of full-page images and no text at all, like a scan."""
    image = path.with_suffix(".png")
    image.write_bytes(png_bytes(200, 280))
    pdf = FPDF(unit="pt", format="A4")
    for _ in range(pages):
        pdf.add_page()
        pdf.image(str(image), x=0, y=0, w=595, h=842)
    pdf.output(str(path))
    image.unlink()
    return path


def truncated_pdf(source: Path, path: Path, keep: float = 0.6) -> Path:
    """The first ``keep`` share of a real PDF, as an interrupted download leaves it."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def corrupt_pdf(path: Path) -> Path:
    """A file with a PDF header and end marker but garbage in between."""
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\ntrailer\n<< /Root 99 0 R >>\n%%EOF\n")
    return path


BROKEN_KINDS = ("zero-byte", "png-renamed", "html-renamed", "truncated", "corrupt", "encrypted", "image-only")
# What the one-line error must say about each kind (a regex).
BROKEN_CAUSES = {
    "zero-byte": r"is empty \(0 bytes\)",
    "png-renamed": r"is not a PDF: it starts like a PNG image",
    "html-renamed": r"is not a PDF: it is a web page",
    "truncated": r"is truncated or corrupt",
    "corrupt": r"is corrupt or truncated: pypdf cannot parse it",
    "encrypted": r"is encrypted: it needs a password",
    "image-only": r"no extractable text .*scanned or image-only",
}


def broken_pdf(kind: str, folder: Path, real_pdf: Path) -> Path:
    """One broken input of ``kind`` (see BROKEN_KINDS) in ``folder``; ``real_pdf`` is cut for 'truncated'."""
    if kind == "zero-byte":
        path = folder / "empty.pdf"
        path.write_bytes(b"")
        return path
    if kind == "png-renamed":
        path = folder / "figure.pdf"
        path.write_bytes(png_bytes())
        return path
    if kind == "html-renamed":
        path = folder / "landing.pdf"
        path.write_text("<!DOCTYPE html><html><body>Sign in</body></html>", encoding="utf-8")
        return path
    if kind == "truncated":
        return truncated_pdf(real_pdf, folder / "cut.pdf")
    if kind == "corrupt":
        return corrupt_pdf(folder / "corrupt.pdf")
    if kind == "encrypted":
        return text_pdf(folder / "locked.pdf", paper_pages(), user_password="secret")
    if kind == "image-only":
        return image_only_pdf(folder / "scan.pdf")
    raise ValueError(f"unknown broken kind {kind!r}")
