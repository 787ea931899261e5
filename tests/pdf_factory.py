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


def front_page_pdf(path: Path, title: list[str], front_lines: list[str], body: list[str], *,
                   later_size: float = 15.5) -> Path:
    """Page 1 of a paper: the title in bold 17 pt (its later lines at ``later_size``, as when a line is
    set in another font of the family), then the front matter and the body in 10 pt."""
    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    y = 80.0
    for k, line in enumerate(title):
        pdf.set_font("helvetica", style="B", size=17 if k == 0 else later_size)
        pdf.text(72, y, line)
        y += 22
    pdf.set_font("helvetica", size=10)
    for line in [*front_lines, *body]:
        y += 13
        pdf.text(72, y, line)
    pdf.output(str(path))
    return path


def ieee_journal_pdf(path: Path, *, heading_gap: float = 14.0) -> Path:
    """An IEEE Transactions layout: 'Abstract—' and 'Index Terms—' run in after the title, then
    headings in capitals ('1 INTRODUCTION', '3 METHODS') whose number stands ``heading_gap`` pt before
    the name, and a drop cap opening the introduction ('S EMANTIC')."""
    prose = [FILLER[i:i + 80].strip() for i in range(0, len(FILLER), 80)]
    pdf = FPDF(unit="pt", format="A4")
    pdf.core_fonts_encoding = "cp1252"  # the em dash of 'Index Terms—'
    pdf.set_auto_page_break(False)
    blocks: list[tuple[str, list[str]]] = [
        ("", ["Abstract\u2014We present a method for semantic segmentation that aligns two views.", *prose,
              "Index Terms\u2014Semantic segmentation, attention, transformers."]),
        ("1 INTRODUCTION", ["S EMANTIC segmentation assigns a class to every pixel of an image.", *prose * 6]),
        ("2 RELATED WORK", prose * 4), ("3 METHODS", prose * 2), ("3.1 Overview", prose * 4),
        ("3.2 Decoder", prose * 4), ("4 EXPERIMENTS", prose * 6), ("5 CONCLUSION", prose * 2),
        ("REFERENCES", ["[1] A. Author, \u201cA paper,\u201d in Proc. CVPR, 2020, pp. 1\u20139."]),
    ]
    pdf.add_page()
    pdf.set_font("helvetica", style="B", size=20)
    pdf.text(72, 70, "Aligned Views for Semantic Segmentation")
    pdf.set_font("helvetica", size=10)
    pdf.text(72, 95, "Wei Zhang, Member, IEEE, and Maria Rossi, Fellow, IEEE")
    y = 130.0
    for heading, lines in blocks:
        if heading:
            number, _, name = heading.partition(" ")
            pdf.set_font("helvetica", style="B", size=11)
            if name and number[0].isdigit():
                pdf.text(72, y, number)
                pdf.text(72 + heading_gap, y, name)
            else:
                pdf.text(72, y, heading)
            y += 16
        pdf.set_font("helvetica", size=10)
        for line in lines:
            if y > 780:
                pdf.add_page()
                y = 72.0
            pdf.text(72, y, line)
            y += 13
    pdf.output(str(path))
    return path


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
