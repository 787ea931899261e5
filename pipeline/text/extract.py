"""The `extract` service: PDF -> cleaned, sectioned text (cached) -> token-budgeted selection.

`extract_document` is cached by the PDF's sha256 plus `EXTRACTOR_VERSION` in the cache namespace
``text``, so a second run over the same file re-extracts nothing. Bump the version whenever cleaning
or section detection changes what a document looks like.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from pipeline.core.config import Settings
from pipeline.core.errors import PdfError
from pipeline.core.models import ExtractedDocument, PaperMetadata, Section, SectionKind, TextSelection
from pipeline.sources import fetch_metadata, fetch_pdf, parse_source
from pipeline.storage.cache import Cache, sha256_file
from pipeline.text import clean as textclean
from pipeline.text import front, pdf, pdfcheck, sections
from pipeline.text.budget import estimate_tokens, select_text

log = logging.getLogger(__name__)

EXTRACTOR_VERSION = "9"
CACHE_NAMESPACE = "text"
_CUT_KINDS: frozenset[SectionKind] = frozenset({"references", "acknowledgements", "appendix"})


@dataclass(frozen=True)
class ExtractStats:
    """Figures for the stat line of `pipeline extract`."""

    pages: int
    chars: int
    tokens: int
    selected_tokens: int
    budget: int
    sections: int
    milliseconds: int
    cached: bool

    def line(self) -> str:
        """One human-readable line, for stderr."""
        source = " (cached)" if self.cached else ""
        return (f"pages={self.pages} chars={self.chars} tokens~{self.tokens} "
                f"selected~{self.selected_tokens}/{self.budget} sections={self.sections} "
                f"ms={self.milliseconds}{source}")


def cache_key(sha256: str) -> str:
    """Key of a PDF's extracted text in the ``text`` namespace: its sha256 plus the extractor version."""
    return f"{sha256}:{EXTRACTOR_VERSION}"


def extract_document(path: Path, settings: Settings) -> ExtractedDocument:
    """The cleaned, sectioned text of the PDF at ``path``, from the cache when it was extracted before.

    Raises `PdfError` naming the file and the cause when it cannot be read.
    """
    document, _ = _extract(path, settings)
    return document


def _extract(path: Path, settings: Settings) -> tuple[ExtractedDocument, bool]:
    pdfcheck.check_file(path, max_bytes=settings.pdf.max_bytes)
    digest = sha256_file(path)
    cache = Cache.from_settings(settings)
    key = cache_key(digest)
    cached = cache.get_json(CACHE_NAMESPACE, key)
    if cached is not None:
        try:
            document = ExtractedDocument.model_validate(cached)
        except ValidationError as exc:
            log.warning("ignoring stale extracted text for %s in the cache: %s", path, exc)
        else:
            if document.pages <= settings.pdf.max_pages:
                log.debug("extracted text of %s from the cache", path)
                return document, True
    raw = pdf.read_pdf(path, max_bytes=settings.pdf.max_bytes, max_pages=settings.pdf.max_pages,
                       max_page_bytes=settings.pdf.max_page_content_bytes,
                       max_seconds=settings.pdf.extract_seconds)
    document = build_document(raw, digest)
    cache.put_json(CACHE_NAMESPACE, key, document.model_dump(mode="json"))
    return document, False


def build_document(raw: pdf.PdfText, digest: str) -> ExtractedDocument:
    """Clean the raw page texts, find the sections, and cut references, acknowledgements, appendices."""
    cleaned = textclean.clean_pages(raw.pages, keep=sections.looks_like_heading)
    removed = dict(cleaned.removed)
    lines: list[str] = []
    page_of: list[int] = []
    for number, page_lines in enumerate(cleaned.pages, 1):
        lines.extend(page_lines)
        page_of.extend([number] * len(page_lines))
    vocab = textclean.vocabulary(lines)
    vocab.update(textclean.hyphenated_vocabulary(lines))
    joined_lines, joins = textclean.dehyphenate(lines, vocab)
    removed["hyphenation_joins"] = joins
    pairs = [(line, page) for line, page in zip(joined_lines, page_of, strict=True) if line]
    lines = [line for line, _ in pairs]
    page_of = [page for _, page in pairs]

    headings = sections.find_headings(lines)
    kinds = sections.assign_kinds(headings)
    found: list[Section] = []
    front_end = headings[0].index if headings else len(lines)
    if "abstract" not in kinds:
        abstract = sections.abstract_from_front(lines[:front_end])
        if abstract:
            found.append(_section("Abstract", "abstract", None, 1, abstract, page_of[0] if page_of else None))
    removed["front_matter_lines"] = front_end - sum(len(s.text.splitlines()) for s in found) if found \
        else front_end
    if not headings and lines:
        found.append(_section("", "other", None, 1, lines, page_of[0]))
    for k, (heading, kind) in enumerate(zip(headings, kinds, strict=True)):
        end = headings[k + 1].index if k + 1 < len(headings) else len(lines)
        body = lines[heading.index + heading.lines:end]
        if heading.run_in:
            body = [heading.run_in, *body]
        found.append(_section(heading.title, kind, heading.number, heading.level, body,
                              page_of[heading.index]))
    kept = [s for s in found if s.kind not in _CUT_KINDS]
    for s in found:
        if s.kind in _CUT_KINDS:
            removed[f"{s.kind}_sections"] = removed.get(f"{s.kind}_sections", 0) + 1
    info_title = textclean.metadata_text(raw.info.title)
    first_page = cleaned.pages[0] if cleaned.pages else []
    title = front.complete_title(sections.guess_title(
        textclean.normalize_chars(raw.title_hint) if raw.title_hint else None,
        textclean.normalize_chars(info_title) if info_title else None, first_page), first_page)
    authors = [name for name in (front.clean_author(a) for a in
                                 split_authors(textclean.metadata_text(raw.info.author))) if name]
    document = ExtractedDocument(sha256=digest, pages=raw.info.pages, chars=0, sections=kept, title=title,
                                 authors=authors or front.authors_from_front(first_page, title),
                                 front="\n".join(lines[:front_end]) if headings else "",
                                 date=raw.info.created,
                                 removed={k: v for k, v in removed.items() if v})
    document.chars = len(document.text)
    if not document.chars:
        raise PdfError(f"{raw.info.path} has no text left after cleaning",
                       hint="it is probably a scanned or image-only PDF; run OCR on it first")
    return document


def _section(title: str, kind: SectionKind, number: str | None, level: int, body: list[str],
             page: int | None) -> Section:
    text = textclean.reflow(body)
    return Section(title=title, kind=kind, number=number, level=level, text=text,
                   tokens=estimate_tokens(f"{title}\n{text}" if title else text), page=page)


def extract_source(text: str, settings: Settings, *, budget: int | None = None
                   ) -> tuple[ExtractedDocument, TextSelection, ExtractStats]:
    """The `pipeline extract` command: resolve ``text`` (arXiv id, URL or PDF path), get the PDF,
    extract it and select text within ``budget`` tokens (default ``settings.pdf.budget_tokens``)."""
    started = time.perf_counter()
    source = parse_source(text)
    metadata: PaperMetadata | None = None
    if source.kind == "arxiv":
        metadata = fetch_metadata(source, settings)
    path = fetch_pdf(source, settings, metadata)
    try:
        document, cached = _extract(path, settings)
    except PdfError as exc:
        if source.kind == "pdf":
            raise
        raise PdfError(f"{source.raw}: {exc.message}", hint=exc.hint) from exc
    limit = budget if budget is not None else settings.pdf.budget_tokens
    selection = select_text(document, limit, title=metadata.title if metadata else None,
                            abstract=metadata.abstract if metadata else None)
    stats = ExtractStats(
        pages=document.pages, chars=document.chars, tokens=sum(s.tokens for s in document.sections),
        selected_tokens=selection.tokens, budget=limit, sections=len(document.sections),
        milliseconds=round((time.perf_counter() - started) * 1000), cached=cached)
    return document, selection, stats


def cached_document(cache_dir: Path, sha256: str) -> ExtractedDocument | None:
    """The extracted document of the PDF with this sha256, if this extractor version cached it."""
    value = Cache(cache_dir).get_json(CACHE_NAMESPACE, cache_key(sha256))
    if value is None:
        return None
    try:
        return ExtractedDocument.model_validate(value)
    except ValidationError:
        return None


def selection_report(document: ExtractedDocument, selection: TextSelection) -> dict[str, object]:
    """JSON-ready data for `pipeline extract --json`: every section, its token estimate and fate."""
    rows: list[dict[str, object]] = []
    pending = list(document.sections)
    for part in selection.parts:
        # Parts follow the document's sections in order, after the title and a metadata abstract.
        section = pending.pop(0) if pending and pending[0].title == part.title else None
        rows.append({
            "title": part.title, "kind": part.kind, "tokens": part.tokens, "kept": part.kept,
            "trimmed_to": part.trimmed_to,
            "number": section.number if section else None, "level": section.level if section else None,
            "page": section.page if section else None,
        })
    return {
        "sha256": document.sha256, "title": document.title, "pages": document.pages,
        "chars": document.chars, "removed": document.removed,
        "budget": selection.budget, "tokens": selection.tokens,
        "used": selection.used, "cut": selection.cut, "sections": rows, "text": selection.text,
    }


def split_authors(field: str | None) -> list[str]:
    """Authors from a PDF /Author entry: "A. Smith, B. Jones and C. Lee" -> three names."""
    if not field:
        return []
    parts = re.split(r"\s*(?:,|;|\band\b|&)\s*", field)
    return [p for p in (" ".join(part.split()) for part in parts) if p]
