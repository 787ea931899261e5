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
