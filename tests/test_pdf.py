"""pipeline.text.pdf: checks before parsing, decryption, limits, and one clear PdfError per broken file."""

from __future__ import annotations

import logging
import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import PDFS
from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from pdf_factory import BROKEN_CAUSES, BROKEN_KINDS, broken_pdf, paper_pages, text_pdf

from pipeline.core.errors import PdfError
from pipeline.text import pdf, pdfcheck

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pages": 300}


def test_every_broken_kind_has_a_cause() -> None:
    assert set(BROKEN_CAUSES) == set(BROKEN_KINDS)


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_broken_files_raise_one_clear_error(kind: str, tmp_path: Path) -> None:
    path = broken_pdf(kind, tmp_path, PDFS / "segnext_2209.08575.pdf")
    cause = BROKEN_CAUSES[kind]
    with pytest.raises(PdfError) as info:
        pdf.read_pdf(path, **LIMITS)
    message = str(info.value)
    assert str(path) in message
    assert re.search(cause, message), message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PdfError, match="PDF file not found"):
        pdf.read_pdf(tmp_path / "nope.pdf", **LIMITS)


def test_size_limit_is_checked_before_parsing(tmp_path: Path) -> None:
    path = text_pdf(tmp_path / "big.pdf", paper_pages())
    with pytest.raises(PdfError, match=r"over the 0 MB limit"):
        pdf.read_pdf(path, max_bytes=100, max_pages=300)


def test_page_limit(tmp_path: Path) -> None:
    path = text_pdf(tmp_path / "long.pdf", paper_pages())
    with pytest.raises(PdfError, match=r"has 3 pages, over the 2-page limit"):
        pdf.read_pdf(path, max_bytes=LIMITS["max_bytes"], max_pages=2)


@pytest.mark.parametrize("method", [EncryptionMethod.RC4, EncryptionMethod.AES_128, EncryptionMethod.AES_256])
def test_owner_password_only_opens_with_the_empty_password(method: EncryptionMethod, tmp_path: Path) -> None:
    path = tmp_path / "restricted.pdf"
    writer = FPDF(unit="pt", format="A4")
    writer.set_encryption(owner_password="owner", user_password="", encryption_method=method)
    writer.add_page()
    writer.set_font("helvetica", size=10)
    for i, line in enumerate(paper_pages()[0]):
        writer.text(72, 72 + 13 * i, line)
    writer.output(str(path))
    text = pdf.read_pdf(path, **LIMITS)
    assert text.info.encrypted
    assert "Introduction" in text.pages[0]


def test_reads_pages_info_and_title_hint() -> None:
    text = pdf.read_pdf(PDFS / "refinenet_1611.06612.pdf", **LIMITS)
    assert text.info.pages == len(text.pages) == 10
    assert text.info.title and text.info.title.startswith("RefineNet")
    assert text.title_hint is not None and "Multi-Path" in text.title_hint
    assert "Semantic segmentation" in text.pages[0]


def test_pypdf_warnings_stay_off_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = text_pdf(tmp_path / "good.pdf", paper_pages())
    data = good.read_bytes()
    # A wrong startxref offset: pypdf recovers, but warns about it.
    broken = re.sub(rb"startxref\s+\d+", b"startxref\n12", data)
    assert broken != data
    path = tmp_path / "offset.pdf"
    path.write_bytes(broken)
    with caplog.at_level(logging.WARNING):
        text = pdf.read_pdf(path, **LIMITS)
    assert "Introduction" in text.pages[0]
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert logging.getLogger("pypdf").level == logging.NOTSET


def test_check_file_names_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "paper.pdf"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(PdfError, match="ZIP archive"):
        pdfcheck.check_file(path, max_bytes=10_000)


@pytest.mark.parametrize("seed", range(12))
def test_damaged_bytes_give_text_or_pdferror_never_another_exception(seed: int, tmp_path: Path) -> None:
    data = bytearray(text_pdf(tmp_path / "good.pdf", paper_pages()).read_bytes())
    rng = random.Random(seed)
    for _ in range(1 + seed * 4):  # from one flipped byte to dozens, never in the header or %%EOF
        data[rng.randrange(16, len(data) - 16)] = rng.randrange(256)
    path = tmp_path / "damaged.pdf"
    path.write_bytes(bytes(data))
    try:
        text = pdf.read_pdf(path, **LIMITS)
    except PdfError as exc:
        assert str(path) in str(exc)
    else:
        assert len(text.pages) == 3


def test_no_text_and_no_images_is_not_called_a_scan(tmp_path: Path) -> None:
    writer = FPDF(unit="pt", format="A4")
    writer.add_page()
    writer.rect(50, 50, 200, 100)
    path = tmp_path / "drawing.pdf"
    writer.output(str(path))
    with pytest.raises(PdfError, match=r"no extractable text and no images .*damaged or its fonts"):
        pdf.read_pdf(path, **LIMITS)


def test_every_page_keeps_its_own_text_in_order(tmp_path: Path) -> None:
    pages = [[f"Page {i} says something different from the others, number {i}.", *paper_pages()[0]]
             for i in range(8)]
    path = text_pdf(tmp_path / "eight.pdf", pages)
    text = pdf.read_pdf(path, **LIMITS)
    assert [f"Page {i} says" in page for i, page in enumerate(text.pages)] == [True] * 8
    assert not text.failed_pages


def test_threads_leave_the_pypdf_logger_as_they_found_it(tmp_path: Path) -> None:
    path = text_pdf(tmp_path / "paper.pdf", paper_pages())
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: pdf.read_pdf(path, **LIMITS), range(16)))
    assert all(len(r.pages) == 3 for r in results)
    assert logging.getLogger("pypdf").level == logging.NOTSET


# --------------------------------------------------------------------------- hostile pages (issue 12, row 11)


def whitespace_pdf(path: Path, pages: int, blank_bytes: int) -> Path:
    """A PDF of ``pages`` pages, each a line of text followed by ``blank_bytes`` spaces of content,
    Flate-compressed (74 MB of spaces pack into about 72 KB)."""
    import zlib

    content = zlib.compress(b"BT /F1 10 Tf 72 740 Td (A line of real text on the page.) Tj ET\n"
                            + b" " * blank_bytes, 9)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    font = 3 + 2 * pages
    for i in range(pages):
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 "
                       f"{font} 0 R >> >> /Contents {4 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def test_a_page_that_inflates_past_the_content_limit_stops_the_extraction(tmp_path: Path) -> None:
    import time

    path = whitespace_pdf(tmp_path / "inflates.pdf", 1, 74_000_000)
    assert path.stat().st_size < 100_000
    started = time.monotonic()
    with pytest.raises(PdfError, match=r"inflates\.pdf: page 1 decompresses to more than 8 MB of content"):
        pdf.read_pdf(path, **LIMITS, max_page_bytes=8 << 20)
    assert time.monotonic() - started < 2  # before: 7.8 s and 200 MB for this page


def test_the_time_budget_is_checked_between_pages(tmp_path: Path) -> None:
    import time

    path = whitespace_pdf(tmp_path / "slow.pdf", 6, 1_500_000)
    started = time.monotonic()
    with pytest.raises(PdfError, match=r"slow\.pdf: text extraction stopped at page \d of 6 after [\d.]+ s, "
                                       r"over the 0\.2 s budget .*PIPELINE_EXTRACT_SECONDS"):
        pdf.read_pdf(path, **LIMITS, max_seconds=0.2)
    assert time.monotonic() - started < 2


def test_extract_stops_a_hostile_pdf_with_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from pipeline.cli import main

    path = whitespace_pdf(tmp_path / "six.pdf", 6, 74_000_000)
    started = time.monotonic()
    assert main(["extract", str(path)]) == 1  # before: 44 s for these six pages, then exit 0
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "page 1 decompresses to more than 8 MB" in err
    assert len(err.strip().splitlines()) == 1
