"""``import``: adopt an existing hand-made Markdown list.

Sections and topics become ``list.sections`` of papers.yaml, every paper becomes an entry (keyed by
title: ``source: "title:<title>"``) and, unless ``summaries_dir`` is None, an approved summary
record with provenance ``imported`` holding the list's Chinese bullets and the table row's facts.
Every row, section or bullet that could not be mapped is reported with its line and why; nothing
existing is overwritten (entries and records already present are left untouched and reported).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

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
    Setting,
)
from pipeline.listing.mdlist import Heading, PaperBlock, ParsedList, TableRow, fold, parse_list, split_name
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


@dataclass
class _Paper:
    title: str
    line: int
    row: TableRow | None = None
    block: PaperBlock | None = None
    section: str | None = None
    topic: str | None = None


def _section_id(name: str, taken: set[str]) -> str:
    base = slug(split_name(name)[0], 40)
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
    base = slug(name, 40) if name.isascii() else "topic"
    base = base if base != "paper" else "topic"
    ident, n = (base, 2) if base != "topic" else (f"topic-{len(taken) + 1}", len(taken) + 2)
    while ident in taken:
        ident, n = f"{base}-{n}", n + 1
    return ident


class _Builder:
    def __init__(self, parsed: ParsedList, existing: PapersFile | None) -> None:
        self.parsed = parsed
        self.notes: list[tuple[int, str]] = [(n.line, n.message) for n in parsed.notes]
        self.sections: list[ListSection] = list(existing.list.sections) if existing else []
        self.new_sections: list[str] = []
        self.by_name: dict[str, ListSection] = {}
        for section in self.sections:
            self._remember(section)

    def _remember(self, section: ListSection) -> None:
        for name in (section.name_en, section.name_zh, split_name(section.name_en)[0]):
            self.by_name.setdefault(fold(name), section)

    def section_for(self, heading: Heading | None, name: str | None = None, emoji: str | None = None,
                    line: int = 0) -> ListSection | None:
        if heading is not None:
            name, emoji, line = heading.name, heading.emoji, heading.line
            full = f"{heading.name} ({heading.abbr})" if heading.abbr else heading.name
        else:
            full = name or ""
        if not name:
            return None
        found = self.by_name.get(fold(name))
        if found is not None:
            return found
        section = ListSection(id=_section_id(name, {s.id for s in self.sections}), name_zh=full,
                              name_en=full, emoji=emoji)
        self.sections.append(section)
        self.new_sections.append(section.id)
        self._remember(section)
        self.notes.append((line, f"setting {full!r} has no Chinese name; name_zh set to the English one "
                                 f"(id {section.id!r}; edit papers.yaml to rename)"))
        return section

    def topic_for(self, section: ListSection, name: str, line: int, why: str = "") -> ListTopic:
        for topic in section.topics:
            if fold(topic.name_zh) == fold(name) or fold(topic.name_en) == fold(name):
                return topic
        topic = ListTopic(id=_topic_id(name, {t.id for t in section.topics}), name_zh=name, name_en=name)
        section.topics.append(topic)
        note = f"topic {name!r} added to setting {section.id!r} as {topic.id!r}{why}"
        if not name.isascii():
            note += "; it has no English name, so name_en repeats the Chinese one"
        self.notes.append((line, note))
        return topic

    def build_structure(self) -> None:
        for setting in self.parsed.settings:
            self.section_for(setting.heading)
        for heading in self.parsed.body_settings:
            self.section_for(heading)
        for parent, heading in self.parsed.topics:
            section = self.section_for(parent)
            if section is not None:
                self.topic_for(section, heading.name, heading.line)
        current: ListSection | None = None
        containers = {fold(h.name) for h in self.parsed.containers}
        for entry in self.parsed.contents:
            if fold(entry.name) in self.by_name:
                current = self.by_name[fold(entry.name)]
                continue
            if fold(entry.name) in containers:
                current = None
                continue
            if not entry.is_topic:
                current = self.section_for(None, entry.name, entry.emoji, entry.line)
                continue
            known = [s for s in self.sections for t in s.topics
                     if fold(entry.name) in (fold(t.name_zh), fold(t.name_en))]
            if known:
                if current is None:
                    self.notes.append((entry.line, f"contents topic {entry.name!r} has no setting heading "
                                                   f"before it; matched by name to setting {known[0].id!r}"))
                continue
            if current is None:
                self.notes.append((entry.line, f"contents topic {entry.name!r} has no setting heading before it "
                                               "and no section in the body; ignored"))
                continue
            self.topic_for(current, entry.name, entry.line,
                           f" from the contents only (it follows the heading of {current.id!r}; no papers under it)")

    def collect_papers(self) -> list[_Paper]:
        found: dict[str, _Paper] = {}
        for setting in self.parsed.settings:
            section = self.section_for(setting.heading)
            for row in setting.rows:
                key = fold(row.title)
                if key in found:
                    first = found[key]
                    self.notes.append((row.line, f"{row.title[:50]!r} is listed again (first at line {first.line}, "
                                                 f"setting {first.section!r}); papers.yaml holds one setting per "
                                                 "paper, so this row only confirms it"))
                    if first.row is not None:
                        self._compare(first.row, row)
                    continue
                found[key] = _Paper(title=row.title, line=row.line, row=row,
                                    section=section.id if section else None)
        for block in self.parsed.papers:
            key = fold(block.title)
            paper = found.get(key)
            section = self.section_for(block.setting)
            topic = self.topic_for(section, block.topic.name, block.topic.line) \
                if section is not None and block.topic is not None else None
            if paper is None:
                paper = found[key] = _Paper(title=block.title, line=block.line)
                self.notes.append((block.line, f"{block.title[:50]!r} is in no table: its date, authors and "
                                               "Dim are unknown"))
            elif paper.block is not None:
                self.notes.append((block.line, f"{block.title[:50]!r} is summarized twice (first at line "
                                               f"{paper.block.line}); the second summary is ignored"))
                continue
            paper.block = block
            if section is not None:
                if paper.section is not None and paper.section != section.id:
                    self.notes.append((block.line, f"{block.title[:50]!r} is in the {paper.section!r} table "
                                                   f"but summarized under {section.id!r}; using {section.id!r}"))
                paper.section = section.id
                paper.topic = topic.id if topic else None
            if paper.row is not None and paper.row.venue and paper.row.venue != block.venue:
                self.notes.append((block.line, f"venue {block.venue!r} differs from the table's "
                                               f"{paper.row.venue!r} (line {paper.row.line}); using the table's"))
        return list(found.values())

    def _compare(self, first: TableRow, again: TableRow) -> None:
        for name in ("date", "first_author", "last_author", "venue"):
            a, b = getattr(first, name), getattr(again, name)
            if a and b and a != b:
                self.notes.append((again.line, f"{name} {b!r} differs from {a!r} at line {first.line}; "
                                               "kept the first"))


def _entry(paper: _Paper, status: str) -> PaperEntry:
    row, block = paper.row, paper.block
    code = row.code if row is not None else block.code if block is not None else None
    data: dict[str, object] = {"source": papers.title_source(paper.title), "title": paper.title}
    if row is not None:
        data.update(date=row.date, first_author=row.first_author, last_author=row.last_author,
                    venue=row.venue, dim=row.dim)
    if data.get("venue") is None and block is not None:
        data["venue"] = block.venue
    if code is not None and code.url:
        data["code_url"] = code.url
    elif code is not None and code.present is not None:
        data["has_code"] = code.present
    data.update(setting=paper.section, topic=paper.topic, status=status)
    return PaperEntry.model_validate({k: v for k, v in data.items() if v is not None})


def _zh_summary(paper: _Paper, notes: list[tuple[int, str]]) -> ChineseSummary:
    groups: dict[str, list[str]] = {name: [] for name in FIELDS}
    seen: set[str] = set()
    block = paper.block
    if block is None:
        return ImportedChineseSummary()
    for key, bullets in block.groups.items():
        lang, name = key.split(".")
        if lang != "zh":
            if bullets:
                notes.append((bullets[0][0], "English bullets not imported: an English summary needs an "
                                             "evidence quote per bullet; run summarize for it"))
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
    empty = [name for name in FIELDS if not groups[name]]
    if empty and block.groups:
        notes.append((block.line, f"{paper.title[:50]!r}: empty group(s) {', '.join(empty)} imported as empty"))
    if not empty:
        return ChineseSummary.model_validate(groups)
    return ImportedChineseSummary.model_validate(groups)


def _record(paper: _Paper, key: str, source: Path, notes: list[tuple[int, str]],
            now: dt.datetime) -> SummaryRecord:
    entry = _entry(paper, "approved")
    setting = entry.setting if entry.setting in get_args(Setting) else "other"
    bib = Bibliography(title=paper.title, first_author=entry.first_author, last_author=entry.last_author,
                       date=entry.date, venue=entry.venue or "arXiv", code_url=entry.code_url,
                       has_code=entry.has_code, pdf_url=paper.block.pdf_url if paper.block else None)
    summary = PaperSummary(zh=_zh_summary(paper, notes), dim=entry.dim or "N/A",
                           setting=setting)
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
  title, subtitle, description   heading, sub-heading and introduction (Markdown)
  sections:                  learning settings, in order; one table and one block of summaries each
    - id                     stable id (a-z, 0-9, -) that papers use as `setting`
      name_zh, name_en       names shown with --lang zh / en (both: "name_zh / name_en")
      emoji                  optional, shown before the name
      topics:                sub-topics of the setting, in order: - id, name_zh, name_en
papers:                      one entry per paper
  - source                   arXiv id (2506.01234), arXiv/PDF URL, local PDF path, or
                             "title:<title>" for a paper known only by its title (key: title slug + hash)
    key                      optional summary key (summaries/<key>.yaml); derived from source
    title                    the known title
    date                     YYYY-MM; with first_author, last_author, venue (CVPR2025, arXiv, ...),
    dim                      2D | 3D | 2D+3D | N/A, code_url, has_code: facts when no summary holds them
    setting, topic           ids from list.sections
    tags, priority           short tags; higher priority runs first in `batch` (default 0)
    status                   backlog | drafted | approved | rejected | failed
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
    if not parsed.settings and not parsed.papers:
        raise ImportListError(f"{source}: no setting table and no paper line found",
                              hint="expected tables '| Date | ... | Title | ... |' or lines '- [VENUE] Title'")
    result = ImportResult(source=source, papers_path=papers_path)
    with papers.locked(papers_path):
        doc = papers.load_papers(papers_path) if papers_path.exists() else None
        builder = _Builder(parsed, doc.data if doc else None)
        builder.build_structure()
        found = builder.collect_papers()
        notes = builder.notes
        result.papers_found = len(found)
        if doc is None:
            info = ListInfo(title=parsed.title or source.stem, subtitle=parsed.subtitle,
                            description="\n\n".join(parsed.description) or None, sections=builder.sections)
            doc = papers.new_papers(papers_path, PapersFile(list=info), SCHEMA_HEADER)
        else:
            doc.data.list.sections = builder.sections
        result.sections_added = builder.new_sections
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        status = "approved" if summaries_dir is not None else "backlog"
        records: list[SummaryRecord] = []
        for paper in sorted(found, key=lambda p: p.line):
            entry = _entry(paper, status)
            key = papers.entry_key(entry)
            if key in _keys(doc.data.papers):
                notes.append((paper.line, f"{paper.title[:50]!r} is already in {papers_path}; left untouched"))
            else:
                doc.data.papers.append(entry)
                result.entries_added.append(key)
            if summaries_dir is None:
                continue
            if store.record_path(summaries_dir, key).exists():
                notes.append((paper.line, f"{store.record_path(summaries_dir, key)} exists; left untouched"))
                continue
            records.append(_record(paper, key, source, notes, now))
        papers.save_papers(doc)
    for record in records:
        assert summaries_dir is not None  # records are only built when there is a folder for them
        result.records_written.append(store.save_record(summaries_dir, record))
    result.notes = sorted(notes, key=lambda n: n[0])
    log.info("imported %d papers from %s", result.papers_found, source)
    return result
