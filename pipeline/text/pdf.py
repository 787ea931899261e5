"""Reading PDFs: the only module that imports pypdf.

`read_pdf` checks a file before parsing it (`pipeline.text.pdfcheck`), opens it (trying the empty password
when it is encrypted), enforces the page limit, and returns the raw text of every page plus a title
hint: the largest-font text at the top of page 1.

Text extraction is pypdf's `PageObject.extract_text`, through its public API only, one page after the
other in this process. It costs tens of milliseconds a page, and `pipeline.text.extract` caches its
result by the PDF's sha256, so a paper is parsed once.

Two limits keep a hostile file from stalling a run: a page's content may decompress to at most
``max_page_bytes`` (pypdf's own decompression limits, set with its public `pypdf.apply_configuration`
for the extraction only; a 72 KB file whose one page inflated to 74 MB of whitespace took 7.8 s and
200 MB), and the whole extraction has a time budget of ``max_seconds``, checked between pages (one
page cannot be interrupted, which the content limit bounds).

Every failure becomes one `PdfError` that names the file and the likely cause. pypdf's log warnings
(malformed but readable files are common) are kept off stderr unless debugging.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdf
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

from pipeline.core.errors import PdfError
from pipeline.text.pdfcheck import check_file

log = logging.getLogger(__name__)

# Fewer letters than this per page on average means the text is not really there.
MIN_LETTERS_PER_PAGE = 40
_STAMP_HINT = re.compile(r"arXiv:\S+\s*\[", re.IGNORECASE)


@dataclass(frozen=True)
class PdfInfo:
    """Facts about one PDF file."""

    path: Path
    bytes: int
    pages: int
    encrypted: bool = False
    title: str | None = None
    author: str | None = None
    created: str | None = None  # YYYY-MM from the info dictionary's creation date
    pdf_version: str | None = None


@dataclass(frozen=True)
class PdfText:
    """The raw, uncleaned text of every page of one PDF."""

    info: PdfInfo
    pages: list[str]
    title_hint: str | None = None
    failed_pages: list[int] = field(default_factory=list)

    @property
    def letters(self) -> int:
        """Number of letters over all pages (a cheap 'is there text at all' measure)."""
        return sum(sum(1 for c in page if c.isalpha()) for page in self.pages)


@dataclass(frozen=True)
class _Budget:
    """The extraction limits of one file: content bytes per page, seconds for every page together."""

    path: Path
    max_page_bytes: int | None
    max_seconds: float | None
    started: float = field(default_factory=time.monotonic)

    def check_time(self, page: int, count: int) -> None:
        spent = time.monotonic() - self.started
        if self.max_seconds is not None and spent > self.max_seconds:
            raise PdfError(f"{self.path}: text extraction stopped at page {page} of {count} after {spent:.1f} s, "
                           f"over the {self.max_seconds:g} s budget",
                           hint="the PDF is unusually heavy; raise pdf.extract_seconds (PIPELINE_EXTRACT_SECONDS) "
                           "if it is genuine")

    def too_big(self, page: int, exc: LimitReachedError) -> PdfError:
        limit = f"{self.max_page_bytes / (1 << 20):g} MB" if self.max_page_bytes else "pypdf's limit"
        return PdfError(f"{self.path}: page {page} decompresses to more than {limit} of content "
                        f"({_short(exc)})",
                        hint="the PDF is broken or hostile; re-save it with a PDF viewer, or raise "
                        "pdf.max_page_content_bytes if it is genuine")

    @contextlib.contextmanager
    def limits(self) -> Iterator[None]:
        """pypdf's decompression limits set to ``max_page_bytes`` for the block (this thread only)."""
        if self.max_page_bytes is None:
            yield
            return
        limit = self.max_page_bytes
        with pypdf.apply_configuration(zlib_maximum_output_length=limit, lzw_maximum_output_length=limit,
                                       run_length_maximum_output_length=limit,
                                       brotli_maximum_output_length=limit,
                                       array_based_stream_maximum_output_length=limit):
            yield


def read_pdf(path: Path, *, max_bytes: int, max_pages: int, max_page_bytes: int | None = None,
             max_seconds: float | None = None) -> PdfText:
    """Check, open and extract the text of every page of ``path``.

    Raises `PdfError` naming the file and the cause: missing, empty, not a PDF, too large, truncated or
    corrupt, encrypted with a password, over ``max_pages``, or without extractable text (scanned); a
    page whose content decompresses to more than ``max_page_bytes``; an extraction that took more than
    ``max_seconds`` (checked between pages).
    """
    size = check_file(path, max_bytes=max_bytes)
    budget = _Budget(path, max_page_bytes, max_seconds)
    with _quiet_pypdf():
        try:
            return _read(path, size, max_pages, budget)
        except PdfError:
            raise
        except DependencyError as exc:
            raise PdfError(f"{path} is encrypted with a cipher that needs an extra library: {exc}",
                           hint="pip install cryptography, or save an unencrypted copy") from exc
        except FileNotDecryptedError as exc:
            raise _encrypted(path) from exc
        # pypdf raises far more than its own PyPdfError on damaged files (KeyError, struct.error,
        # zlib.error, RecursionError, LookupError ...); every one of them means "cannot parse".
        except Exception as exc:
            raise PdfError(f"{path} is corrupt or truncated: pypdf cannot parse it "
                           f"({type(exc).__name__}: {_short(exc)})",
                           hint="fetch the PDF again, or re-save it with a PDF viewer") from exc


def _read(path: Path, size: int, max_pages: int, budget: _Budget) -> PdfText:
    reader = pypdf.PdfReader(path, strict=False)
    encrypted = bool(reader.is_encrypted)
    # Many papers carry owner-password encryption only (print/copy flags); those open with "".
    if encrypted and not reader.decrypt(""):
        raise _encrypted(path)
    count = len(reader.pages)
    if count == 0:
        raise PdfError(f"{path} has no pages", hint="the file is damaged; fetch the PDF again")
    if count > max_pages:
        raise PdfError(f"{path} has {count} pages, over the {max_pages}-page limit",
                       hint="raise pdf.max_pages in the settings if this is really one paper")
    title = _metadata_title(reader)
    with budget.limits():
        texts, title_hint = _extract_pages(reader, count, budget)
    failed = [number for number, text in enumerate(texts, 1) if text is None]
    pages = [text or "" for text in texts]
    if len(failed) == count:
        raise PdfError(f"{path} is corrupt: pypdf could read none of its {count} pages",
                       hint="fetch the PDF again, or re-save it with a PDF viewer")
    author, created = _metadata_author_and_date(reader)
    info = PdfInfo(path=path, bytes=size, pages=count, encrypted=encrypted, title=title, author=author,
                   created=created, pdf_version=reader.pdf_header.removeprefix("%PDF-") or None)
    result = PdfText(info=info, pages=pages, title_hint=title_hint, failed_pages=failed)
    if result.letters < MIN_LETTERS_PER_PAGE * count and failed:
        raise PdfError(f"{path} is damaged: pypdf could not read the text of {len(failed)} of its {count} pages "
                       f"and found almost none on the others",
                       hint="fetch the PDF again, or re-save it with a PDF viewer")
    if result.letters < MIN_LETTERS_PER_PAGE * count:
        if _has_images(reader):
            raise PdfError(f"{path} has no extractable text ({count} pages, {result.letters} letters): "
                           "it is probably a scanned or image-only PDF",
                           hint="run OCR on it first, e.g. with ocrmypdf, then extract the OCR'd copy")
        raise PdfError(f"{path} has no extractable text and no images ({count} pages, {result.letters} "
                       "letters): it is damaged or its fonts cannot be decoded",
                       hint="fetch the PDF again, or re-save it with a PDF viewer")
    return result


def _has_images(reader: pypdf.PdfReader) -> bool:
    """True when some page draws an image (what a scan is made of)."""
    try:
        for page in reader.pages:
            resources = page.get("/Resources")
            xobjects = resources.get_object().get("/XObject") if resources is not None else None
            if xobjects is None:
                continue
            for ref in xobjects.get_object().values():
                if ref.get_object().get("/Subtype") == "/Image":
                    return True
    except Exception:  # damaged resources: no evidence of images
        return False
    return False


def _extract_pages(reader: pypdf.PdfReader, count: int,
                   budget: _Budget) -> tuple[list[str | None], str | None]:
    """The text of every page (None for a page pypdf fails on) and page 1's title hint."""
    try:
        first, title_hint = _first_page(reader.pages[0])
    except LimitReachedError as exc:
        raise budget.too_big(1, exc) from exc
    except Exception as exc:  # one damaged page should not lose the others
        log.debug("page 1: no text (%s: %s)", type(exc).__name__, exc)
        first, title_hint = None, None
    texts = [first]
    for index in range(1, count):
        budget.check_time(index + 1, count)
        texts.append(_page_text(reader, index, budget))
    return texts, title_hint


def _page_text(reader: pypdf.PdfReader, index: int, budget: _Budget) -> str | None:
    try:
        return reader.pages[index].extract_text() or ""
    except LimitReachedError as exc:
        raise budget.too_big(index + 1, exc) from exc
    except Exception as exc:  # one damaged page should not lose the others
        log.debug("page %d: no text (%s: %s)", index + 1, type(exc).__name__, exc)
        return None


def _encrypted(path: Path) -> PdfError:
    return PdfError(f"{path} is encrypted: it needs a password to open (the empty password did not work)",
                    hint="open it with its password in a PDF viewer and save an unencrypted copy")


def _metadata_author_and_date(reader: pypdf.PdfReader) -> tuple[str | None, str | None]:
    """The info dictionary's /Author and creation month (YYYY-MM), when present and sane."""
    try:
        meta = reader.metadata
        author = meta.author if meta is not None else None
        created = meta.creation_date if meta is not None else None
    except Exception:  # a damaged info dictionary only costs us these hints
        return None, None
    author = " ".join(author.split()) if isinstance(author, str) and author.strip() else None
    month = f"{created.year:04d}-{created.month:02d}" if created is not None and created.year > 1990 else None
    return author, month


def _metadata_title(reader: pypdf.PdfReader) -> str | None:
    try:
        meta = reader.metadata
        title = meta.title if meta is not None else None
    except Exception:  # a damaged info dictionary only costs us the title hint
        return None
    if not isinstance(title, str):
        return None
    title = " ".join(title.split())
    return title or None


def _first_page(page: Any) -> tuple[str, str | None]:
    """Page 1's text plus the first run of its largest-font text (the title, in nearly every paper)."""
    chunks: list[tuple[float, str]] = []

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], font: Any, size: float) -> None:
        if text.strip():
            scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])
            chunks.append((float(size) * scale, text))

    text = page.extract_text(visitor_text=visit)
    return text, _title_from_chunks(chunks)


def _title_from_chunks(chunks: list[tuple[float, str]], *, window: int = 80) -> str | None:
    candidates = [(s, t) for s, t in chunks[:window] if not _STAMP_HINT.search(t)]
    if not candidates:
        return None
    biggest = max(s for s, _ in candidates)
    parts: list[str] = []
    for size, text in candidates:
        # The title's later lines may be a little smaller (another font of the family, a scale that
        # rounds differently); the authors under it are at most 5/6 of a \Large title (CVPR).
        if size >= 0.95 * biggest or (parts and size >= 0.86 * biggest):
            parts.append(text)
        elif parts:
            break
    title = " ".join(" ".join(parts).split())
    return title if 3 <= len(title) <= 300 else None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no details"
    return text if len(text) <= 120 else text[:117] + "..."


_QUIET_LOCK = threading.Lock()
_quiet_users = 0
_saved_level = logging.NOTSET


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Keep pypdf's log warnings about malformed-but-readable files off stderr unless debugging.

    Reference-counted under a lock: batch runs extract in several threads at once, and a plain
    save/restore would let one thread restore another's raised level and silence pypdf for good.
    (pypdf's only `warnings.warn` calls are deprecations of our own calls, so those stay visible.)
    """
    global _quiet_users, _saved_level
    pypdf_log = logging.getLogger("pypdf")
    with _QUIET_LOCK:
        if _quiet_users == 0:
            _saved_level = pypdf_log.level
            if not log.isEnabledFor(logging.DEBUG):
                pypdf_log.setLevel(logging.CRITICAL + 1)
        _quiet_users += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet_users -= 1
            if _quiet_users == 0:
                pypdf_log.setLevel(_saved_level)
