"""Reading PDFs: the only module that imports pypdf.

`read_pdf` checks a file before parsing it (`pipeline.text.pdfcheck`), opens it (trying the empty password
when it is encrypted), enforces the page limit, and returns the raw text of every page plus a title
hint: the largest-font text at the top of page 1.

Text extraction is pypdf's, made faster in two ways that do not change its result: content streams are
tokenized by `pipeline.text.contentstream` (pypdf's own parser reads them a byte at a time), and on a
multi-core machine a forked process extracts pages from the back while this one goes from the front.

Every failure becomes one `PdfError` that names the file and the likely cause. pypdf's log warnings
(malformed but readable files are common) are kept off stderr unless debugging.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import multiprocessing.process
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import pypdf
from pypdf import generic
from pypdf.errors import DependencyError, FileNotDecryptedError
from pypdf.generic._font import Font

from pipeline.core.errors import PdfError
from pipeline.text import contentstream
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


def read_pdf(path: Path, *, max_bytes: int, max_pages: int, workers: int | None = None) -> PdfText:
    """Check, open and extract the text of every page of ``path``.

    ``workers=2`` extracts the second half of the pages in a forked process while this one does the
    first half; ``None`` does so when it is safe and worth it (see `_parallel`), ``1`` never does.

    Raises `PdfError` naming the file and the cause: missing, empty, not a PDF, too large, truncated or
    corrupt, encrypted with a password, over ``max_pages``, or without extractable text (scanned).
    """
    size = check_file(path, max_bytes=max_bytes)
    with _quiet_pypdf():
        try:
            return _read(path, size, max_pages, workers)
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


def _read(path: Path, size: int, max_pages: int, workers: int | None) -> PdfText:
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
    texts, title_hint = _extract_pages(reader, count, parallel=_parallel(count, workers))
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


# Below this many pages a second process costs about what it saves.
PARALLEL_MIN_PAGES = 6


def _parallel(count: int, workers: int | None) -> bool:
    """Whether to extract in two processes. pypdf is pure Python, so a second process is the only way
    to use a second core. Forking is only safe while this process runs a single thread (a forked
    child inherits other threads' locks, e.g. a batch run's or the embedded model's, but not the
    threads that would release them)."""
    if workers is not None:
        return workers > 1 and count >= 2 and "fork" in multiprocessing.get_all_start_methods()
    return (count >= PARALLEL_MIN_PAGES and (os.cpu_count() or 1) >= 2 and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods())


class _Ends(Protocol):
    """A shared [front, back) pair of page indices (a `multiprocessing.Array` with its lock)."""

    def __getitem__(self, index: int) -> int: ...
    def __setitem__(self, index: int, value: int) -> None: ...
    def get_lock(self) -> Any: ...


def _take(ends: _Ends, *, back: bool) -> int | None:
    """The next page index to extract from the front or the back, or None when the two ends met."""
    with ends.get_lock():
        if ends[0] >= ends[1]:
            return None
        if back:
            ends[1] -= 1
            return ends[1]
        ends[0] += 1
        return ends[0] - 1


def _extract_pages(reader: pypdf.PdfReader, count: int, *, parallel: bool) -> tuple[list[str | None], str | None]:
    """The text of every page (None for a page pypdf fails on) and page 1's title hint.

    In parallel, a forked process takes pages from the back while this one takes them from the front,
    so pages of very different cost (a figure can cost five plain pages) still split evenly. Any page
    the helper took but did not deliver (it crashed, could not start...) is extracted here.
    """
    texts: list[str | None] = [None] * count
    done = [False] * count
    context = multiprocessing.get_context("fork") if parallel and count > 1 else None
    ends: _Ends | None = context.Array("i", [1, count]) if context is not None else None
    helper = _start_helper(context, reader, ends) if context is not None and ends is not None else None
    log.debug("extracting %d pages in %s", count, "two processes" if helper is not None else "one process")
    delivered: dict[int, str | None] = {}
    try:
        try:
            texts[0], title_hint = _first_page(reader.pages[0])
        except Exception as exc:  # one damaged page should not lose the others
            log.debug("page 1: no text (%s: %s)", type(exc).__name__, exc)
            title_hint = None
        done[0] = True
        if helper is not None and ends is not None:
            while (index := _take(ends, back=False)) is not None:
                texts[index], done[index] = _page_text(reader, index), True
            delivered = _join_helper(helper)
    finally:
        if helper is not None and helper.process.is_alive():  # interrupted: leave no process behind
            helper.process.terminate()
            helper.process.join(timeout=5)
    for index, text in delivered.items():
        if 0 <= index < count and not done[index]:
            texts[index], done[index] = text, True
    for index in range(count):
        if not done[index]:
            texts[index] = _page_text(reader, index)
    return texts, title_hint


@dataclass
class _Helper:
    process: multiprocessing.process.BaseProcess
    conn: Connection


def _start_helper(context: Any, reader: pypdf.PdfReader, ends: _Ends) -> _Helper | None:
    try:
        receive, send = context.Pipe(duplex=False)
        # Forked, the helper shares this process's parsed reader: nothing is read or parsed twice.
        process = context.Process(target=_helper_main, args=(reader, ends, send), daemon=True)
        process.start()
    except (OSError, ValueError) as exc:
        log.debug("extracting in one process: cannot fork (%s)", exc)
        return None
    send.close()
    return _Helper(process, receive)


def _helper_main(reader: pypdf.PdfReader, ends: _Ends, send: Connection) -> None:
    """Entry point of the forked process: extract pages from the back, send {index: text} at the end."""
    texts: dict[int, str | None] = {}
    try:
        with _quiet_pypdf():
            while (index := _take(ends, back=True)) is not None:
                texts[index] = _page_text(reader, index)
    finally:
        send.send(texts)
        send.close()


def _join_helper(helper: _Helper) -> dict[int, str | None]:
    """The helper's page texts; empty (and a debug log) when it sent nothing."""
    try:
        result = helper.conn.recv()
    except (EOFError, OSError) as exc:
        result = f"no answer ({type(exc).__name__})"
    finally:
        helper.conn.close()
        helper.process.join(timeout=5)
    if isinstance(result, dict):
        return result
    log.debug("the second extraction process failed (%s); extracting its pages here", result)
    return {}


def _page_text(reader: pypdf.PdfReader, index: int) -> str | None:
    try:
        return reader.pages[index].extract_text() or ""
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
        if size >= 0.95 * biggest:
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


_PYPDF_PARSE = generic.ContentStream._parse_content_stream


def _parse_content_stream(self: generic.ContentStream, stream: Any) -> None:
    """pypdf's content-stream parser, with the tokenizing done by `contentstream.parse_operations`.

    Installed in place of pypdf's own method at import. It handles the streams text extraction reads
    (strings as bytes) and gives the very same operations; pypdf's parser does every other stream, any
    stream large enough to approach pypdf's parsing-work limit, and whatever the tokenizer declines.
    """
    data = stream.getvalue() if isinstance(stream, BytesIO) else None
    limit = getattr(pypdf.get_configuration(), "stream_parsing_work_maximum_count", 0)
    if data is None or self.forced_encoding != "bytes" or 2 * len(data) >= limit:
        _PYPDF_PARSE(self, stream)
        return
    try:
        operations = _fast_operations(data)
    except Exception:  # contentstream.Unsupported, or a malformed object: pypdf decides what it means
        _PYPDF_PARSE(self, stream)
        return
    self._operations.extend(operations)


def _fast_operations(data: bytes) -> list[contentstream.Operation]:
    """The operations of content stream ``data`` read by the fast tokenizer with pypdf's objects."""
    reader = BytesIO(data)

    def read_object(offset: int) -> tuple[Any, int]:
        reader.seek(offset)
        value = generic.read_object(reader, None, "bytes")
        return value, reader.tell()

    return contentstream.parse_operations(data, contentstream.Builders(
        integer=generic.NumberObject, real=generic.FloatObject, name=generic.NameObject,
        string=generic.ByteStringObject, array=generic.ArrayObject, read_object=read_object,
        max_array=pypdf.get_configuration().array_maximum_element_count))


_PYPDF_FONT = Font.from_font_resource.__func__  # type: ignore[attr-defined]
_FONT_ATTRIBUTE = "_pipeline_font"


def _font_from_resource(cls: type[Font], font_dict: Any) -> Font:
    """pypdf's `Font` of a font dictionary, built once per dictionary rather than once per page.

    pypdf builds the Font of every font in a page's resources for every page (and form); the pages
    of a paper share a handful of font dictionaries (pypdf resolves each indirect object once, so a
    shared font is one object). The Font is kept on the dictionary itself, so it lives and dies with
    the reader (a global cache would keep every reader alive through the Font's references). The Font
    is not changed by extraction, except for the space width pypdf sets on it before each use.
    """
    known = getattr(font_dict, _FONT_ATTRIBUTE, None)
    if isinstance(known, Font):
        return known
    font: Font = _PYPDF_FONT(cls, font_dict)
    with contextlib.suppress(AttributeError, TypeError):  # an object that takes no attributes
        setattr(font_dict, _FONT_ATTRIBUTE, font)
    return font


generic.ContentStream._parse_content_stream = _parse_content_stream  # type: ignore[method-assign]
Font.from_font_resource = classmethod(_font_from_resource)  # type: ignore[method-assign,assignment]
