"""The paper page's data: the text the model saw as numbered sentences, and what each bullet cites.

The text is the one ``validate`` grounds a draft in (`pipeline.workspace.validate.cached_text_lookup`):
the extracted document cached under ``provenance.source_sha256``, the arXiv abstract when the PDF has
none, and the title. When the cache lost the text, the cached PDF is extracted again. Sentences are
numbered by `pipeline.text.sentences.number_sentences`, as the summarizer numbered them for the model,
so ``S12`` on the page is the ``S12`` a bullet cites.

A bullet cites the sentences in its ``sentences`` ids. A draft from before sentence ids (or an
imported one) cites the sentences its evidence quotes cover, located the way grounding compares
(`pipeline.model.grounding.normalize`: case, whitespace, ligatures and quote styles do not count).
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field

from pydantic import ValidationError

from pipeline.core.config import Settings
from pipeline.core.errors import PipelineError
from pipeline.core.models import FIELD_TITLES_EN, FIELDS, ExtractedDocument
from pipeline.model import grounding
from pipeline.model.summary import EvidencedBullet, SummaryRecord, evidence_quotes
from pipeline.sources import arxiv, download
from pipeline.storage.cache import Cache, sha256_file
from pipeline.text import extract, sentences

log = logging.getLogger(__name__)

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


def _document(record: SummaryRecord, settings: Settings) -> ExtractedDocument | None:
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
    # Only the cache's copy: the desk reads nothing but summaries/, papers.yaml and the cache.
    path = cache.path_for(download.PDF_NAMESPACE, sha, ".pdf")
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


def paper_text(record: SummaryRecord, settings: Settings) -> PaperText:
    """The text ``record`` was summarized from, numbered by sentence, with each bullet's citations."""
    try:
        doc = _document(record, settings)
    except PipelineError as exc:
        return PaperText([], f"the paper text could not be extracted again: {exc}")
    if doc is None:
        return PaperText([], "the paper text is not in the cache and its PDF was not found "
                             "(run `pipeline extract SOURCE` on the paper, then reload)")
    abstract = _abstract(record, Cache.from_settings(settings))
    cut = set(record.provenance.sections_cut)
    groups: list[tuple[str, list[Sentence]]] = []  # consecutive sentences of one part, in reading order
    for numbered in sentences.number_sentences(doc, title=record.paper.title, abstract=abstract):
        if numbered.position == 0 or not groups:
            groups.append((numbered.section, []))
        groups[-1][1].append(Sentence(numbered.id, numbered.text))
    sections: list[TextSection] = []
    # The title and an abstract from arXiv come first; then every section, a heading without text too.
    while groups and len(sections) < 2 and groups[0][0] in ("", "Abstract") and \
            not any(s.title == groups[0][0] for s in doc.sections):
        title, found = groups.pop(0)
        sections.append(TextSection(title or "Title", found))
    for section in doc.sections:
        found = groups.pop(0)[1] if groups and groups[0][0] == section.title else []
        sections.append(TextSection(section.title or "Text", found, section.title in cut))
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
    """Finds a quote among the sentences: their normalized text joined by spaces, and where each starts.

    Built on the first quote looked for, so drafts that cite sentence ids never pay for it.
    """

    def __init__(self, sentences: list[Sentence]) -> None:
        self.sentences = sentences
        self.ids = {s.id for s in sentences}
        self._starts: list[int] = []
        self._text: str | None = None

    def _joined(self) -> str:
        if self._text is None:
            pieces: list[str] = []
            offset = 0
            for sentence in self.sentences:
                self._starts.append(offset)
                pieces.append(grounding.normalize(sentence.text))
                offset += len(pieces[-1]) + 1
            self._text = " ".join(pieces)
        return self._text

    def find(self, quote: str) -> list[Sentence]:
        """The sentences ``quote`` covers (none when it is not in the text)."""
        wanted = grounding.normalize(quote).strip()
        at = self._joined().find(wanted) if wanted else -1
        if at < 0:
            return []
        first = bisect.bisect_right(self._starts, at) - 1
        last = bisect.bisect_right(self._starts, at + len(wanted) - 1) - 1
        return self.sentences[first:last + 1]


def cited_ids(bullet: EvidencedBullet, located: _Located) -> list[int]:
    """The ids of the sentences ``bullet`` cites: its ``sentences``, else those its evidence quotes cover."""
    if bullet.sentences:
        return [i for i in bullet.sentences if i in located.ids]
    return sorted({s.id for quote in evidence_quotes(bullet.evidence) for s in located.find(quote)})


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
