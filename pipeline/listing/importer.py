"""``import``: adopt an existing hand-made Markdown list.

The list's sections and topics become ``list.sections`` of papers.yaml (with their headings, layout and
table columns, so `render` gives the list back), every paper becomes an entry: keyed by its arXiv id
when a link names one, else by title (``source: "title:<title>"``). A paper the list summarizes (bullet
groups under it) also gets an approved summary record with provenance ``imported``, unless
``summaries_dir`` is None; every other paper is ``listed``: in the list, not yet summarized.
Every row or bullet that could not be mapped is reported with its line and why, and the counts of
imported, reported and ignored entries add up to the entries in the file. Nothing existing is
overwritten (entries and records already present are left untouched and reported).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from pipeline import __version__
from pipeline.core.errors import ImportListError, PipelineError
from pipeline.core.models import (
    FIELDS,
    Bibliography,
    ListInfo,
    ListSection,
    ListTopic,
    PaperEntry,
    PapersFile,
    Provenance,
    ReviewEvent,
)
from pipeline.listing import cleanlinks
from pipeline.listing.mdlist import parse_list
from pipeline.listing.mdparts import DEFAULT_COLUMNS, Heading, ParsedList, TableRow, fold, split_name
from pipeline.model.summary import ChineseSummary, ImportedChineseSummary, PaperSummary, SummaryRecord
from pipeline.sources.ids import slug
from pipeline.workspace import papers, store

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    """What `import_list` did; ``notes`` are ``(line, message)`` about the imported file."""

    source: Path
    papers_path: Path
    papers_found: int = 0
    entries_added: list[str] = field(default_factory=list)
    records_written: list[Path] = field(default_factory=list)
    sections_added: list[str] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
    entries: int = 0
    """Table rows, list items and HTML tables of the file (its introduction aside)."""
    imported: int = 0
    """Entries read into papers: paper rows and bullets (a paper listed twice counts twice) and summary lines."""
    reported: int = 0
    """Entries not mapped, each with a note naming its line."""
    ignored: int = 0
    """Navigation (contents) and empty items."""
    listed: int = 0
    """Papers in the list without a summary (status ``listed``)."""


@dataclass
class _Paper:
    row: TableRow
    """The first listing: its facts are the paper's."""
    section: str | None = None
    topic: str | None = None
    summary: TableRow | None = None
    """The listing that carries bullet groups, if any."""
    by_title: bool = False
    """Keyed by title although a link names an arXiv id (another paper of the list has that link)."""

    @property
    def title(self) -> str:
        return self.row.title

    @property
    def line(self) -> int:
        return self.row.line


def _section_id(name: str, taken: set[str]) -> str:
    base = slug(split_name(name)[0], 40).replace("_", "-")
    # "Semi-supervised Learning" -> "semi-supervised", matching the summary's `setting` vocabulary.
    if base.endswith("-learning") and "-" in base.removesuffix("-learning"):
        base = base.removesuffix("-learning")
    if base == "paper" or not base[0].isalnum():
        base = "section"
    ident, n = base, 2
    while ident in taken:
        ident, n = f"{base}-{n}", n + 1
    return ident


def _topic_id(name: str, taken: set[str]) -> str:
    base = slug(name, 40).replace("_", "-") if name.isascii() else "topic"
    base = base if base != "paper" else "topic"
    ident, n = (base, 2) if base != "topic" else (f"topic-{len(taken) + 1}", len(taken) + 2)
    while ident in taken:
        ident, n = f"{base}-{n}", n + 1
    return ident


class _Builder:
    def __init__(self, parsed: ParsedList, existing: PapersFile | None, native: bool) -> None:
        self.parsed = parsed
        self.native = native
        self.notes: list[tuple[int, str]] = [(n.line, n.message) for n in parsed.notes]
        self.rejected = 0
        self.sections: list[ListSection] = list(existing.list.sections) if existing else []
        self.new_sections: list[str] = []
        self.by_name: dict[str, ListSection] = {}
        for section in self.sections:
            self._remember(section)

    def _remember(self, section: ListSection) -> None:
        for name in (section.name_en, section.name_zh, split_name(section.name_en)[0]):
            self.by_name.setdefault(fold(name), section)

    def section_for(self, heading: Heading) -> ListSection:
        found = self.by_name.get(fold(heading.name))
        if found is not None:
            return found
        full = f"{heading.name} ({heading.abbr})" if heading.abbr else heading.name
        section = ListSection(id=_section_id(heading.name, {s.id for s in self.sections}), name_zh=full,
                              name_en=full, emoji=heading.emoji)
        parsed = next(s for s in self.parsed.sections if s.heading is heading)
        if self.native:
            section.heading, section.level = cleanlinks.heading(heading, self.notes), heading.level
        if parsed.layout != "table":
            section.layout = parsed.layout
        columns = cleanlinks.columns(parsed, self.notes)
        if columns is not None and columns != DEFAULT_COLUMNS:
            section.columns = columns
        self.sections.append(section)
        self.new_sections.append(section.id)
        self._remember(section)
        if not self.native:
            self.notes.append((heading.line, f"setting {full!r} has no Chinese name; name_zh set to the English "
                                             f"one (id {section.id!r}; edit papers.yaml to rename)"))
        return section

    def topic_for(self, section: ListSection, heading: Heading) -> ListTopic:
        name = heading.name
        for topic in section.topics:
            if fold(topic.name_zh) == fold(name) or fold(topic.name_en) == fold(name):
                return topic
        topic = ListTopic(id=_topic_id(name, {t.id for t in section.topics}), name_zh=name, name_en=name)
        if self.native:
            topic.heading, topic.level = cleanlinks.heading(heading, self.notes), heading.level
        section.topics.append(topic)
        if not self.native:
            note = f"topic {name!r} added to setting {section.id!r} as {topic.id!r}"
            if not name.isascii():
                note += "; it has no English name, so name_en repeats the Chinese one"
            self.notes.append((heading.line, note))
        return topic

    def build_structure(self) -> None:
        for parsed in self.parsed.sections:
            section = self.section_for(parsed.heading)
            for topic in parsed.topics:
                self.topic_for(section, topic)

    def collect_papers(self) -> list[_Paper]:
        """One paper per arXiv id or title; a second listing confirms the first or brings its summary."""
        by_title: dict[str, _Paper] = {}
        by_arxiv: dict[str, _Paper] = {}
        found: list[_Paper] = []
        for row in self.parsed.rows:
            assert row.section is not None  # the parser places every paper
            cleanlinks.paper_links(row, self.notes)
            section = self.section_for(row.section)
            topic = self.topic_for(section, row.topic).id if row.topic is not None else None
            arxiv = row.arxiv_id
            paper = by_arxiv.get(arxiv) if arxiv else None
            shared_link = paper is not None and fold(paper.title) != fold(row.title)
            if shared_link and paper is not None:
                self.notes.append((row.line, f"{row.title[:50]!r} links arXiv {arxiv} like the paper at line "
                                             f"{paper.line} with another title; imported by its title (check the "
                                             "link)"))
                paper = None
            paper = paper or by_title.get(fold(row.title))
            if paper is None:
                paper = _Paper(row=row, section=section.id, topic=topic, by_title=shared_link)
                found.append(paper)
                by_title[fold(row.title)] = paper
                if arxiv and not shared_link:
                    by_arxiv[arxiv] = paper
                if row.groups:
                    paper.summary = row
                    if row.layout != "table" and not self.native:
                        self.notes.append((row.line, f"{row.title[:50]!r} is in no table: its date, authors "
                                                     "and Dim are unknown"))
                continue
            if self._other_paper(paper.row, row):
                continue
            if row.groups:
                if paper.summary is not None:
                    self.notes.append((row.line, f"{row.title[:50]!r} is summarized twice (first at line "
                                                 f"{paper.summary.line}); the second summary is ignored"))
                    continue
                paper.summary = row
                if paper.section != section.id:
                    self.notes.append((row.line, f"{row.title[:50]!r} is in the {paper.section!r} table "
                                                 f"but summarized under {section.id!r}; using {section.id!r}"))
                paper.section, paper.topic = section.id, topic
                if paper.row.venue and row.venue and paper.row.venue != row.venue:
                    self.notes.append((row.line, f"venue {row.venue!r} differs from the table's "
                                                 f"{paper.row.venue!r} (line {paper.row.line}); using the table's"))
                continue
            self.notes.append((row.line, f"{row.title[:50]!r} is listed again (first at line {paper.line}, "
                                         f"section {paper.section!r}); papers.yaml holds one section per "
                                         "paper, so this row only confirms it"))
            self._compare(paper.row, row)
        return found

    def _other_paper(self, first: TableRow, again: TableRow) -> bool:
        """Same title, but another paper (other authors and another link): reported, not merged."""
        differs = [name for name in ("authors", "paper_url")
                   if getattr(first, name) and getattr(again, name) and getattr(first, name) != getattr(again, name)]
        if len(differs) < 2:
            return False
        self.rejected += 1
        self.notes.append((again.line, f"{again.title[:50]!r} has the title of the paper at line {first.line} but "
                                       "other authors and another link: a second paper with that title cannot be "
                                       "keyed by title; not imported (add it with its arXiv id or PDF)"))
        return True

    def _compare(self, first: TableRow, again: TableRow) -> None:
        for name in ("date", "first_author", "last_author", "venue"):
            a, b = getattr(first, name), getattr(again, name)
            if a and b and a != b:
                self.notes.append((again.line, f"{name} {b!r} differs from {a!r} at line {first.line}; "
                                               "kept the first"))


def _entry(paper: _Paper, status: str) -> PaperEntry:
    row = paper.row
    arxiv = None if paper.by_title else row.arxiv_id
    code = row.code if row.code.present is not None or paper.summary is None else paper.summary.code
    data: dict[str, object] = {
        "source": arxiv or papers.title_source(paper.title), "title": paper.title, "date": row.date,
        "authors": row.authors, "first_author": row.first_author, "last_author": row.last_author,
        "institute": row.institute, "venue": row.venue or (paper.summary.venue if paper.summary else None),
        "venue_note": row.venue_note, "paper_url": row.paper_url, "dim": row.dim,
    }
    if row.links:
        data["links"] = [{"label": link.label, "url": link.url} for link in row.links]
    if row.cells:
        data["cells"] = dict(row.cells)
    if row.tags:
        data["tags"] = list(row.tags)
    if code.url:
        data["code_url"] = code.url
    elif code.present is not None:
        data["has_code"] = code.present
    data.update(setting=paper.section, topic=paper.topic, status=status)
    return PaperEntry.model_validate({k: v for k, v in data.items() if v is not None})


def _whole(block: TableRow) -> ChineseSummary | None:
    """All the Chinese bullets of a block validated at once, when each is valid, none repeats another
    and no group is over the limit: the usual case, one validation instead of one per bullet. None
    otherwise: then each bullet is checked alone, to name the bad ones."""
    groups = {name: [text for _, text in block.groups.get(f"zh.{name}", [])] for name in FIELDS}
    texts = [fold(text) for bullets in groups.values() for text in bullets]
    if len(set(texts)) != len(texts):
        return None
    model = ChineseSummary if all(groups.values()) else ImportedChineseSummary
    try:
        return model.model_validate(groups)
    except ValidationError:
        return None


def _bullet_by_bullet(block: TableRow, notes: list[tuple[int, str]]) -> dict[str, list[str]]:
    """The Chinese bullets of a block that are valid alone, each other one noted with its line."""
    groups: dict[str, list[str]] = {name: [] for name in FIELDS}
    seen: set[str] = set()
    for key, bullets in block.groups.items():
        lang, name = key.split(".")
        if lang != "zh":
            continue
        for line, text in bullets:
            try:
                ImportedChineseSummary.model_validate({name: [text]})
            except ValidationError as exc:
                why = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
                notes.append((line, f"bullet not imported ({why})"))
                continue
            if fold(text) in seen:
                notes.append((line, "bullet repeats an earlier bullet of the same paper; not imported"))
                continue
            if len(groups[name]) == 6:
                notes.append((line, "more than 6 bullets in the group; not imported"))
                continue
            seen.add(fold(text))
            groups[name].append(text)
    return groups


def _zh_summary(paper: _Paper, notes: list[tuple[int, str]]) -> ChineseSummary:
    block = paper.summary
    if block is None:
        return ImportedChineseSummary()
    for key, bullets in block.groups.items():
        if not key.startswith("zh.") and bullets:
            notes.append((bullets[0][0], "English bullets not imported: an English summary needs an "
                                         "evidence quote per bullet; run summarize for it"))
    whole = _whole(block)
    groups = {name: list(getattr(whole, name)) for name in FIELDS} if whole is not None \
        else _bullet_by_bullet(block, notes)
    empty = [name for name in FIELDS if not groups[name]]
    if empty and block.groups:
        notes.append((block.line, f"{paper.title[:50]!r}: empty group(s) {', '.join(empty)} imported as empty"))
    if whole is not None:
        return whole
    if not empty:
        return ChineseSummary.model_validate(groups)
    return ImportedChineseSummary.model_validate(groups)


def _record(paper: _Paper, entry: PaperEntry, key: str, source: Path, notes: list[tuple[int, str]],
            now: dt.datetime) -> SummaryRecord:
    pdf_url = entry.paper_url
    date = entry.date if entry.date and len(entry.date) == 7 else None
    bib = Bibliography(title=paper.title, arxiv_id=papers.entry_arxiv_id(entry), first_author=entry.first_author,
                       last_author=entry.last_author, date=date, venue=entry.venue or "arXiv",
                       code_url=entry.code_url, has_code=entry.has_code, pdf_url=pdf_url)
    summary = PaperSummary(zh=_zh_summary(paper, notes), dim=entry.dim or "N/A", setting=entry.setting or "other")
    provenance = Provenance(backend="imported", passes="imported", pipeline_version=__version__,
                            created_at=now, imported_from=str(source))
    return SummaryRecord(key=key, status="approved", paper=bib, summary=summary, provenance=provenance,
                         review=[ReviewEvent(action="approve", by="import", at=now,
                                             note=f"approved in the imported list {source}")])


def _keys(entries: list[PaperEntry]) -> set[str]:
    keys = set()
    for entry in entries:
        try:
            keys.add(papers.entry_key(entry))
        except PipelineError:
            continue  # e.g. a PDF path that moved; it cannot collide with a title key
    return keys


SCHEMA_HEADER = """\
papers.yaml: the reading backlog and the structure of the rendered list (LIST.md).

list:                        what `render` builds
  title, subtitle, description   heading, sub-heading and introduction (Markdown, kept as written;
                             links: http(s), #anchors, relative paths or mailto: only)
  style                      review (contents, tables, then summaries) | native (the imported list's shape)
  sort                       date: newest first; default: the order of papers below
  sections:                  the list's sections, in order (the only sections there are)
    - id                     stable id (a-z, 0-9, -) that papers use as `setting`
      name_zh, name_en       names shown with --lang zh / en (both: "name_zh / name_en")
      emoji                  optional, shown before the name
      heading, level         the heading as the list wrote it (Markdown; level 0: a bold line)
      layout, columns        table | bullets | lines; a table's header cells
      topics:                sub-topics or years, in order: - id, name_zh, name_en, heading, level
papers:                      one entry per paper
  - source                   arXiv id (2506.01234), arXiv/PDF URL, local PDF path, or
                             "title:<title>" for a paper known only by its title (key: title slug + hash)
    key                      optional summary key (summaries/<key>.yaml); derived from source
    title                    the known title
    date                     YYYY-MM; with authors (as written), first_author, last_author, institute,
                             venue (CVPR2025, arXiv, ...), venue_note, paper_url, links (label, url),
    dim                      2D | 3D | 2D+3D | N/A, code_url, has_code: facts when no summary holds them
    cells                    a table's other columns, Markdown as written, by header
    setting, topic           ids from list.sections
    tags, priority           short tags; higher priority runs first in `batch` (default 0)
    status                   backlog | listed (in the list, not yet summarized) | drafted | approved |
                             rejected | failed
    last_error, notes        why the last batch run failed; free text for curators
Comments and order are kept by every command. `python -m pipeline lint` checks the whole list.
"""


def import_list(source: Path, papers_path: Path, summaries_dir: Path | None) -> ImportResult:
    """Import the Markdown list at ``source`` into ``papers_path`` (and records into ``summaries_dir``)."""
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImportListError(f"cannot read the list {source}: {exc.strerror or exc}",
                              hint="give the path of a Markdown file") from exc
    parsed = parse_list(text)
    if not parsed.sections:
        why = "; ".join(f"line {n.line}: {n.message}" for n in parsed.notes[:3])
        raise ImportListError(f"{source}: no paper table and no paper line found" + (f" ({why})" if why else ""),
                              hint="expected a table with a Title column under a heading, or lines "
                                   "'- [VENUE] Title [[Paper]](url)'")
    result = ImportResult(source=source, papers_path=papers_path)
    # Numbered section headings (1.1, 2.) are the review layout's, which render numbers itself.
    native = not all(section.heading.num for section in parsed.sections)
    with papers.locked(papers_path):
        doc = papers.load_papers(papers_path) if papers_path.exists() else None
        builder = _Builder(parsed, doc.data if doc else None, native)
        builder.build_structure()
        found = builder.collect_papers()
        notes = builder.notes
        result.papers_found = len(found)
        if doc is None:
            info = ListInfo(title=parsed.title or source.stem, subtitle=parsed.subtitle,
                            description=cleanlinks.description(parsed, notes), sections=builder.sections)
            if native:
                info.style = "native"
            doc = papers.new_papers(papers_path, PapersFile(list=info), SCHEMA_HEADER)
        else:
            doc.data.list.sections = builder.sections
        result.sections_added = builder.new_sections
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        records: list[SummaryRecord] = []
        known = _keys(doc.data.papers)
        for paper in found:
            summarized = summaries_dir is not None and paper.summary is not None
            entry = _entry(paper, "approved" if summarized else "listed")
            key = papers.entry_key(entry)
            if key in known:
                notes.append((paper.line, f"{paper.title[:50]!r} is already in {papers_path}; left untouched"))
            else:
                doc.data.papers.append(entry)
                known.add(key)
                result.entries_added.append(key)
                result.listed += entry.status == "listed"
            if summaries_dir is None or not summarized:
                continue
            if store.record_path(summaries_dir, key).exists():
                notes.append((paper.line, f"{store.record_path(summaries_dir, key)} exists; left untouched"))
                continue
            records.append(_record(paper, entry, key, source, notes, now))
        papers.save_papers(doc)
    if records:
        assert summaries_dir is not None  # records are only built when there is a folder for them
        result.records_written.extend(store.save_new_records(summaries_dir, records))
    result.notes = sorted(notes, key=lambda n: n[0])
    result.entries = parsed.entries
    result.reported = parsed.count("reported") + builder.rejected
    result.ignored = parsed.count("ignored")
    result.imported = len(parsed.rows) - builder.rejected + parsed.bullets_read
    log.info("imported %d papers from %s", result.papers_found, source)
    return result
