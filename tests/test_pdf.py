"""pipeline.text.pdf: checks before parsing, decryption, limits, and one clear PdfError per broken file."""

from __future__ import annotations

import gc
import logging
import os
import random
import re
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

import pypdf
import pytest
from conftest import PDFS
from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from pdf_factory import BROKEN_CAUSES, BROKEN_KINDS, broken_pdf, paper_pages, text_pdf
from pypdf.generic._font import Font

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


def test_two_processes_give_the_same_text_as_one(tmp_path: Path) -> None:
    pages = [[f"Page {i} says something different from the others, number {i}.", *paper_pages()[0]]
             for i in range(8)]
    path = text_pdf(tmp_path / "eight.pdf", pages)
    one = pdf.read_pdf(path, **LIMITS, workers=1)
    two = pdf.read_pdf(path, **LIMITS, workers=2)
    assert one.pages == two.pages
    assert [f"Page {i} says" in text for i, text in enumerate(two.pages)] == [True] * 8
    assert two.title_hint == one.title_hint


def test_a_failing_second_process_falls_back_to_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = text_pdf(tmp_path / "nine.pdf", paper_pages() * 3)

    def broken_helper(reader: object, ends: object, send: Connection) -> None:
        send.send("RuntimeError: worker broke")
        send.close()

    monkeypatch.setattr(pdf, "_helper_main", broken_helper)
    text = pdf.read_pdf(path, **LIMITS, workers=2)
    assert text.pages == pdf.read_pdf(path, **LIMITS, workers=1).pages
    assert not text.failed_pages and "Conclusion" in text.pages[8]


def test_pages_a_dying_helper_took_are_extracted_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = text_pdf(tmp_path / "nine.pdf", paper_pages() * 3)

    def dying_helper(reader: object, ends: pdf._Ends, send: Connection) -> None:
        pdf._take(ends, back=True)
        pdf._take(ends, back=True)  # claims pages 9 and 8, then dies without a word
        os._exit(3)

    monkeypatch.setattr(pdf, "_helper_main", dying_helper)
    text = pdf.read_pdf(path, **LIMITS, workers=2)
    assert text.pages == pdf.read_pdf(path, **LIMITS, workers=1).pages
    assert not text.failed_pages and "Conclusion" in text.pages[8]


def test_both_processes_extract_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = text_pdf(tmp_path / "nine.pdf", paper_pages() * 3)
    delivered: list[dict[int, str | None]] = []
    join = pdf._join_helper

    def spy(helper: pdf._Helper) -> dict[int, str | None]:
        delivered.append(join(helper))
        return delivered[-1]

    first_page = pdf._first_page

    def slow_first_page(page: object) -> tuple[str, str | None]:
        time.sleep(0.5)  # while this process is busy with page 1, the helper works from the back
        return first_page(page)

    monkeypatch.setattr(pdf, "_join_helper", spy)
    monkeypatch.setattr(pdf, "_first_page", slow_first_page)
    pdf.read_pdf(path, **LIMITS, workers=2)
    assert len(delivered) == 1 and 0 < len(delivered[0]) < 9  # the helper took some pages, not all
    assert max(delivered[0]) == 8  # from the back


def test_parallel_only_when_safe() -> None:
    assert not pdf._parallel(3, None)  # too few pages to pay for a process
    assert not pdf._parallel(50, 1)
    assert pdf._parallel(50, 2)


def test_threads_leave_the_pypdf_logger_as_they_found_it(tmp_path: Path) -> None:
    path = text_pdf(tmp_path / "paper.pdf", paper_pages())
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: pdf.read_pdf(path, **LIMITS), range(16)))
    assert all(len(r.pages) == 3 for r in results)
    assert logging.getLogger("pypdf").level == logging.NOTSET


def test_fonts_are_built_once_per_font_dictionary_and_text_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    path = PDFS / "segnext_2209.08575.pdf"
    built: list[int] = []
    build = pdf._PYPDF_FONT

    def counting(cls: type, font_dict: object) -> object:
        built.append(id(font_dict))
        return build(cls, font_dict)

    monkeypatch.setattr(pdf, "_PYPDF_FONT", counting)
    reader = pypdf.PdfReader(path)
    cached = [page.extract_text() for page in reader.pages]
    assert len(built) == len(set(built))  # each font dictionary built once over the whole paper
    with monkeypatch.context() as patch:
        patch.setattr(Font, "from_font_resource", classmethod(build))
        uncached = [page.extract_text() for page in pypdf.PdfReader(path).pages]
    assert cached == uncached
    alive = weakref.ref(reader)
    del reader
    gc.collect()
    assert alive() is None  # the cached fonts do not keep the reader (and its PDF bytes) alive
