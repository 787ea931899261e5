"""The paper page's data: the text the model saw as numbered sentences, and what each bullet cites.

The text is the one ``validate`` grounds a draft in (`pipeline.workspace.validate.cached_text_lookup`):
the extracted document cached under ``provenance.source_sha256``, the arXiv abstract when the PDF has
none, and the title. When the cache lost it, the PDF is extracted again from the cache or from the
papers.yaml entry that names it.

A bullet cites the sentences its evidence quote covers: the quote is located in the text the way
grounding compares (`pipeline.model.grounding.normalize`: case, whitespace, ligatures and quote styles
do not count). Drafts that cite sentence ids directly need only `cited_ids` to change.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from pipeline.core.config import Settings
from pipeline.core.errors import PipelineError
from pipeline.core.models import FIELD_TITLES_EN, FIELDS, ExtractedDocument
from pipeline.model import grounding
from pipeline.model.summary import EvidencedBullet, SummaryRecord
from pipeline.sources import arxiv, download
from pipeline.storage.cache import Cache, sha256_file
from pipeline.text import extract

log = logging.getLogger(__name__)

# A sentence ends at . ! ? before a capital, a bracket or a quote, unless an abbreviation ends there.
_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[\"'“])")
_ABBREVIATION = re.compile(r"(?:\b(?:al|e\.g|i\.e|etc|vs|cf|Fig|Eq|Sec|Tab|No)\.|\b[A-Z]\.)$")


@dataclass
class Sentence:
    """One numbered sentence of the paper text; ``cited_by`` lists the bullets citing it (``problems-1``)."""

    id: int
    text: str
    cited_by: list[str] = field(default_factory=list)


@dataclass
class TextSection:
    """A section of the paper text as the page shows it."""

    title: str
    sentences: list[Sentence]
    cut: bool = False
    """Trimmed or left out of what the model was sent (``provenance.sections_cut``)."""


@dataclass
class PaperText:
    """The paper text by section, or why it is not available (``missing``)."""

    sections: list[TextSection]
    missing: str | None = None

    def sentences(self) -> list[Sentence]:
        return [s for section in self.sections for s in section.sentences]


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``; paragraphs (lines) are never joined."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = " ".join(paragraph.split())
        pieces: list[str] = []
        for piece in _END.split(paragraph) if paragraph else ():
            if pieces and _ABBREVIATION.search(pieces[-1]):
                pieces[-1] = f"{pieces[-1]} {piece}"
            else:
                pieces.append(piece)
        out.extend(pieces)
    return out


def _document(record: SummaryRecord, settings: Settings, papers_sources: list[str]) -> ExtractedDocument | None:
    sha = record.provenance.source_sha256
    if not sha:
        return None
    cache = Cache.from_settings(settings)
    data = cache.get_json(extract.CACHE_NAMESPACE, extract.cache_key(sha))
    if data is not None:
        try:
            return ExtractedDocument.model_validate(data)
        except ValidationError:
            log.warning("ignoring stale extracted text of %s in the cache", record.key)
    candidates = [cache.path_for(download.PDF_NAMESPACE, sha, ".pdf")]
    candidates += [Path(source) for source in papers_sources]
    for path in candidates:
        if path.is_file() and sha256_file(path) == sha:
            log.info("extracting %s again: its text is not in the cache", path)
            return extract.extract_document(path, settings)
    return None


def _abstract(record: SummaryRecord, cache: Cache) -> str | None:
    paper = record.paper
    for key in (f"{paper.arxiv_id}v{paper.version}", paper.arxiv_id) if paper.arxiv_id else ():
        meta = cache.get_json(arxiv.NAMESPACE, key)
        if isinstance(meta, dict) and meta.get("abstract"):
            return str(meta["abstract"])
    return None


def paper_text(record: SummaryRecord, settings: Settings, papers_sources: Sequence[str] = ()) -> PaperText:
    """The text ``record`` was summarized from, numbered by sentence, with each bullet's citations."""
    try:
        doc = _document(record, settings, list(papers_sources))
    except PipelineError as exc:
        return PaperText([], f"the paper text could not be extracted again: {exc}")
    if doc is None:
        return PaperText([], "the paper text is not in the cache and its PDF was not found "
                             "(run `pipeline extract SOURCE` on the paper, then reload)")
    parts: list[tuple[str, str]] = [("Title", record.paper.title)]
    abstract = _abstract(record, Cache.from_settings(settings))
    if abstract and not any(s.kind == "abstract" for s in doc.sections):
        parts.append(("Abstract", abstract))
    parts += [(s.title or "Text", s.text) for s in doc.sections]
    cut = set(record.provenance.sections_cut)
    sections: list[TextSection] = []
    number = 0
    for title, text in parts:
        sentences = []
        for sentence in split_sentences(text):
            number += 1
            sentences.append(Sentence(number, sentence))
        sections.append(TextSection(title, sentences, title in cut))
    result = PaperText(sections)
    _cite(record, result)
    return result


def bullet_id(group: str, index: int) -> str:
    """The page's id of English bullet ``index`` (0-based) of ``group``: ``problems-1``."""
    return f"{group}-{index + 1}"


def bullet_label(bullet: str) -> str:
    """``problems-1`` as people read it: ``Problems addressed 1``."""
    group, number = bullet.rsplit("-", 1)
    return f"{FIELD_TITLES_EN.get(group, group)} {number}"


class _Located:
    """The normalized text of every sentence joined by spaces, and where each sentence starts in it."""

    def __init__(self, sentences: list[Sentence]) -> None:
        self.sentences = sentences
        self.starts: list[int] = []
        pieces: list[str] = []
        offset = 0
        for sentence in sentences:
            self.starts.append(offset)
            piece = grounding.normalize(sentence.text)
            pieces.append(piece)
            offset += len(piece) + 1
        self.text = " ".join(pieces)

    def find(self, quote: str) -> list[Sentence]:
        wanted = grounding.normalize(quote).strip()
        at = self.text.find(wanted) if wanted else -1
        if at < 0:
            return []
        first = bisect.bisect_right(self.starts, at) - 1
        last = bisect.bisect_right(self.starts, at + len(wanted) - 1) - 1
        return self.sentences[first:last + 1]


def cited_ids(bullet: EvidencedBullet, located: _Located) -> list[int]:
    """The ids of the sentences ``bullet`` cites (those its evidence quote covers)."""
    return [s.id for s in located.find(bullet.evidence)]


def _cite(record: SummaryRecord, text: PaperText) -> None:
    if record.summary.en is None:
        return
    located = _Located(text.sentences())
    by_id = {s.id: s for s in located.sentences}
    for group in FIELDS:
        for index, bullet in enumerate(getattr(record.summary.en, group)):
            for sid in cited_ids(bullet, located):
                by_id[sid].cited_by.append(bullet_id(group, index))


def citations(text: PaperText) -> dict[str, list[int]]:
    """Bullet id -> the sentence ids it cites."""
    out: dict[str, list[int]] = {}
    for sentence in text.sentences():
        for bullet in sentence.cited_by:
            out.setdefault(bullet, []).append(sentence.id)
    return out
