"""``render``: build the Markdown list from papers.yaml and the approved summaries.

The structure follows the hand-made lists curators keep: a heading and introduction, a contents
section with GitHub anchors, one table per learning setting (newest first), then per setting and
sub-topic each paper with its bullet groups. Layout lives in ``templates/list.md.j2``; this module
builds ready-escaped Markdown strings for it. Only approved summaries are published; every other
paper is reported as skipped with the reason. Rendering is deterministic: same inputs, same bytes.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import jinja2

from pipeline.core.errors import PipelineError, RenderError, StoreError
from pipeline.core.links import md_url
from pipeline.core.models import FIELD_TITLES_EN, FIELD_TITLES_ZH, FIELDS, ListInfo, ListSection, PaperEntry
from pipeline.listing.mdparts import COLUMN_KINDS, DEFAULT_COLUMNS, UNKNOWN, unescape
from pipeline.model.summary import SummaryRecord
from pipeline.storage import files
from pipeline.workspace import papers, store

log = logging.getLogger(__name__)

Lang = Literal["zh", "en", "both"]
TEMPLATES = Path(__file__).resolve().parent / "templates"
_ESCAPE = re.compile(r"([\\`*_\[\]|$~])")
CONTENTS = "📚 Contents"
REVIEW = "🧠 Literature Review"


def md_escape(text: str) -> str:
    """Inline Markdown-safe text: one line, and nothing in it can start emphasis, code, math, a link,
    HTML or a table cell boundary (``|``, ``*``, ``_``, backticks, ``$``, ``[``, ``<`` ...)."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _ESCAPE.sub(r"\\\1", text)


def github_anchor(text: str) -> str:
    """The anchor GitHub gives a heading (github-slugger's rule): lower case; letters, marks (so an
    emoji's variation selector U+FE0F stays), decimal and letter numbers, '_' and '-' kept; spaces
    become '-'; punctuation, symbols (emoji) and other numbers dropped."""
    out = []
    for ch in text.strip().lower():
        category = unicodedata.category(ch)
        if ch in " -" or category[0] in "LM" or category in ("Nd", "Nl", "Pc"):
            out.append("-" if ch == " " else ch)
    return "".join(out)


@dataclass
class Skipped:
    """A paper left out of the list and why."""

    key: str
    title: str
    reason: str


@dataclass
class RenderResult:
    """The rendered text and what was published or skipped."""

    text: str
    published: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Paper:
    key: str
    entry: PaperEntry | None
    record: SummaryRecord | None
    """The approved summary, if any; a paper that is only listed has none."""
    setting: str
    topic: str | None

    def fact(self, name: str) -> str | None:
        value = getattr(self.record.paper, name, None) if self.record is not None else None
        if value is None and self.entry is not None:
            value = getattr(self.entry, name, None)
        return str(value) if value is not None else None

    @property
    def title(self) -> str:
        if self.record is not None:
            return self.record.paper.title
        assert self.entry is not None  # a paper without a record comes from papers.yaml
        return self.entry.title or self.entry.source.removeprefix(papers.TITLE_PREFIX)

    @property
    def date(self) -> str:
        return self.fact("date") or ""

    def sort_key(self) -> tuple[str, str, str]:
        # Newest first: invert the date's digits so one ascending sort gives a stable order.
        inverted = "".join(chr(ord("9") - int(c) + ord("0")) if c.isdigit() else c for c in self.date or "0000-00")
        return inverted, self.title.casefold(), self.key

    def authors(self) -> str:
        if self.entry is not None and self.entry.authors:
            return md_escape(self.entry.authors)
        bib = self.record.paper if self.record is not None else None
        first = (bib.first_author or (bib.authors[0] if bib.authors else None) if bib else None) \
            or self.fact("first_author")
        last = (bib.last_author or (bib.authors[-1] if len(bib.authors) > 1 else None) if bib else None) \
            or self.fact("last_author")
        names = [n for n in (first, last) if n]
        if len(names) == 2 and names[0] == names[1]:
            names = names[:1]
        return " and ".join(md_escape(n) for n in names)

    def dim(self) -> str:
        if self.record is not None and self.record.summary.dim not in ("N/A", "unknown"):
            return self.record.summary.dim
        dim = self.entry.dim if self.entry is not None else None
        return dim if dim and dim != "unknown" else UNKNOWN

    def code_url(self) -> str | None:
        url = self.fact("code_url")
        return md_url(url) if url else None

    def has_code(self) -> bool:
        return bool(self.code_url()) or self.fact("has_code") == "True"

    def code_cell(self) -> str:
        url = self.code_url()
        return f"[Code]({url})" if url else "Code" if self.has_code() else "None"

    def paper_url(self) -> str | None:
        return md_url(self.entry.paper_url) if self.entry is not None and self.entry.paper_url else None

    def pdf_url(self) -> str | None:
        bib = self.record.paper if self.record is not None else None
        if bib is not None and bib.pdf_url:
            return md_url(bib.pdf_url)
        if bib is not None and bib.arxiv_id:
            return md_url(f"https://arxiv.org/pdf/{bib.arxiv_id}")
        return self.paper_url() or (md_url(bib.abs_url) if bib is not None and bib.abs_url else None)

    def reference(self) -> str:
        """The Reference cell: the venue, a link to the paper when known, further links and the note."""
        venue = md_escape(self.fact("venue") or "")
        url = self.paper_url()
        parts = [f"[{venue or 'Paper'}]({url})" if url else venue]
        links = self.entry.links if self.entry is not None else []
        text = ", ".join([p for p in parts if p] + [f"[{md_escape(x.label)}]({md_url(x.url)})" for x in links])
        note = self.entry.venue_note if self.entry is not None else None
        text = f"{text} {md_escape(note)}" if note else text
        return text or UNKNOWN

    def cell(self, column: str) -> str:
        kind = COLUMN_KINDS.get(unescape(column).strip().casefold())
        if kind == "date":
            return md_escape(self.date) or UNKNOWN
        if kind == "authors":
            return self.authors() or UNKNOWN
        if kind == "institute":
            return md_escape(self.fact("institute") or "") or UNKNOWN
        if kind == "dim":
            return md_escape(self.dim())
        if kind == "title":
            return md_escape(self.title)
        if kind == "code":
            return self.code_cell()
        if kind == "venue":
            return self.reference()
        return self.entry.cells.get(column, "") if self.entry is not None else ""

    def row(self, columns: list[str]) -> str:
        return "| " + " | ".join(self.cell(c) for c in columns) + " |"

    def line(self) -> str:
        parts = [f"- [{md_escape(self.fact('venue') or 'arXiv')}] {md_escape(self.title)}"]
        url = self.code_url()
        if url:
            parts.append(f"[code]({url})")
        elif self.has_code():
            parts.append("[code]")  # a bare marker: GitHub shows "[code]" as text when there is no URL
        if pdf := self.pdf_url():
            parts.append(f"[pdf]({pdf})")
        return " ".join(parts)

    def _links(self, paper_label: str) -> list[str]:
        out = []
        if url := self.paper_url():
            out.append(f"[[{paper_label}]]({url})")
        label = "code" if paper_label == "pdf" else "Code"
        if url := self.code_url():
            out.append(f"[[{label}]]({url})")
        elif self.has_code():
            out.append(f"[[{label}]]()")  # the list's own marker for code without a link
        links = self.entry.links if self.entry is not None else []
        out += [f"[[{md_escape(x.label)}]]({md_url(x.url)})" for x in links]
        return out

    def bullet(self) -> str:
        """One line: ``- [Venue] Title. [[Paper]](url) [[Code]](url)``."""
        venue = self.fact("venue")
        head = f"- [{md_escape(venue)}] " if venue else "- "
        return " ".join([f"{head}{md_escape(self.title)}.", *self._links("Paper")])

    def lines(self) -> list[str]:
        """A title line, link lines, and ``- Authors. *Venue*``."""
        out = [f"- {md_escape(self.title)}.", *(f"  {link}" for link in self._links("pdf"))]
        authors, venue = self.authors(), self.fact("venue")
        if authors or venue:
            tail = f" *{md_escape(venue)}*" if venue else ""
            out.append(f"  - {authors}.{tail}" if authors else f"  - *{md_escape(venue or '')}*")
        return out

    def groups(self, lang: Lang) -> list[tuple[str, list[str]]]:
        if self.record is None:
            return []
        summary = self.record.summary
        out: list[tuple[str, list[str]]] = []
        for name in FIELDS:
            if lang in ("zh", "both") and summary.zh is not None and getattr(summary.zh, name):
                out.append((FIELD_TITLES_ZH[name], [md_escape(b) for b in getattr(summary.zh, name)]))
            if lang in ("en", "both") and summary.en is not None and getattr(summary.en, name):
                out.append((FIELD_TITLES_EN[name], [md_escape(b.text) for b in getattr(summary.en, name)]))
        return out


def _name(zh: str, en: str, lang: Lang) -> str:
    if lang == "zh" or zh == en:
        return zh if lang != "en" else en
    return en if lang == "en" else f"{zh} / {en}"


class _Anchors:
    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def __call__(self, text: str) -> str:
        base = github_anchor(text)
        count = self.used.get(base, 0)
        self.used[base] = count + 1
        return base if count == 0 else f"{base}-{count}"


def _heading(text: str, anchors: _Anchors) -> dict[str, str]:
    return {"text": md_escape(text), "anchor": anchors(text)}


def _section_label(section: ListSection, lang: Lang) -> str:
    name = _name(section.name_zh, section.name_en, lang)
    return f"{section.emoji} {name}" if section.emoji else name


def collect(doc: papers.PapersDoc, summaries_dir: Path,
            records: dict[str, SummaryRecord] | None = None) -> tuple[list[_Paper], list[Skipped], list[str]]:
    """Pair each papers.yaml entry with its approved summary; the rest are skipped with a reason.

    A paper that is in the list without an approved summary is still published, without bullets: in the
    native style every entry placed in a section; in the review style the ``listed`` ones.
    """
    papers_path = doc.path
    native = doc.data.list.style == "native"
    sections = {s.id: s for s in doc.data.list.sections}
    notes: list[str] = []
    if records is None:
        errors: list[StoreError] = []
        records = {r.key: r for _, r in store.iter_records(summaries_dir, errors=errors, read_only=True)}
        notes = [f"invalid summary file not published: {e}" for e in errors]
    chosen: list[_Paper] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for entry in doc.data.papers:
        title = entry.title or entry.source
        try:
            key = papers.entry_key(entry)
        except PipelineError as exc:
            skipped.append(Skipped(entry.source, title, f"its source cannot be read: {exc}"))
            continue
        seen.add(key)
        record = records.get(key)
        approved = record if record is not None and record.status == "approved" else None
        listed = entry.setting in sections and (native or entry.status == "listed")
        if approved is None and listed:
            chosen.append(_Paper(key, entry, None, entry.setting or "", entry.topic))
        elif record is None:
            skipped.append(Skipped(key, title, "no summary yet (run summarize or batch)"))
        elif approved is None:
            skipped.append(Skipped(key, record.paper.title,
                                   f"summary is {record.status}, not approved (`review approve {key}`)"))
        elif entry.setting is None and approved.summary.setting in sections:
            # Approved with the summary's setting: place it there rather than leave it out.
            chosen.append(_Paper(key, entry, approved, approved.summary.setting, None))
            notes.append(f"{key}: no setting in {papers_path}; placed by its summary's setting "
                         f"{approved.summary.setting!r} (set `setting:` on the entry to choose another)")
        elif entry.setting is None:
            skipped.append(Skipped(key, approved.paper.title,
                                   f"no setting in {papers_path}, and its summary's setting "
                                   f"{approved.summary.setting!r} is not a section (set `setting:` on the entry)"))
        else:
            chosen.append(_Paper(key, entry, approved, entry.setting, entry.topic))
    for key, record in records.items():
        if key in seen or record.status != "approved":
            continue
        if record.summary.setting in sections:
            chosen.append(_Paper(key, None, record, record.summary.setting, None))
            notes.append(f"{key}: approved but not in {papers_path}; placed by its setting "
                         f"{record.summary.setting!r}")
        else:
            skipped.append(Skipped(key, record.paper.title, f"approved but not in {papers_path}, and its setting "
                                                            f"{record.summary.setting!r} is not a section"))
    return chosen, skipped, notes


@functools.cache  # one environment, so each template is compiled once per process (the review desk renders often)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              autoescape=False)


def _ordered(items: list[_Paper], info: ListInfo) -> list[_Paper]:
    # Source order (papers.yaml's) unless the list declares a sort.
    return sorted(items, key=_Paper.sort_key) if info.sort == "date" else items


def render_list(papers_path: Path, summaries_dir: Path, lang: Lang = "both") -> RenderResult:
    """Render the list to a string (nothing is written)."""
    doc = papers.load_papers(papers_path, read_only=True)
    return render_doc(doc, summaries_dir, lang)


def render_doc(doc: papers.PapersDoc, summaries_dir: Path, lang: Lang = "both",
               records: dict[str, SummaryRecord] | None = None) -> RenderResult:
    """Render a loaded papers file (``records``: the summaries by key, when already loaded)."""
    chosen, skipped, notes = collect(doc, summaries_dir, records)
    info = doc.data.list
    text = _native(info, chosen, lang) if info.style == "native" else _review(info, chosen, lang)
    if lang == "en":
        notes += [f"{p.key}: no English summary; only its title line is shown"
                  for p in chosen if p.record is not None and p.record.summary.en is None]
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    published = sorted(p.key for p in chosen)
    return RenderResult(text=text, published=published, skipped=skipped, notes=notes)


def _review(info: ListInfo, chosen: list[_Paper], lang: Lang) -> str:
    """Contents, one table per section, then each section's summaries by topic."""
    anchors = _Anchors()
    tables: list[dict[str, object]] = []
    bodies: list[dict[str, object]] = []
    contents_review = _heading(f"1. {REVIEW}", anchors)
    anchors(CONTENTS)
    for i, section in enumerate(info.sections, 1):
        mine = _ordered([p for p in chosen if p.setting == section.id], info)
        label = _section_label(section, lang)
        columns = section.columns or DEFAULT_COLUMNS
        tables.append({**_heading(f"1.{i} {label}", anchors), "columns": columns,
                       "rows": [p.row(columns) for p in mine]})
        summarized = [p for p in mine if p.record is not None]
        if not summarized:
            continue
        number = len(bodies) + 2
        groups: list[dict[str, object]] = []
        loose = [p for p in summarized if p.topic not in {t.id for t in section.topics}]
        if loose:
            groups.append({"text": None, "anchor": None, "papers": _papers(loose, lang)})
        for j, topic in enumerate((t for t in section.topics if any(p.topic == t.id for p in summarized)), 1):
            head = _heading(f"{number}.{j} {_name(topic.name_zh, topic.name_en, lang)}", anchors)
            groups.append({**head, "papers": _papers([p for p in summarized if p.topic == topic.id], lang)})
        bodies.append({**_heading(f"{number}. {label}", anchors), "topics": groups})
    return _environment().get_template("list.md.j2").render(
        title=md_escape(info.title), subtitle=md_escape(info.subtitle) if info.subtitle else None,
        description=(info.description or "").strip(), contents=CONTENTS, review=contents_review,
        tables=tables, bodies=bodies)


def _heading_line(markdown: str | None, level: int | None, name: str, default_level: int) -> str:
    """A heading as the list wrote it: ``## Name``, or a bold line (level 0)."""
    text = markdown or md_escape(name)
    level = default_level if level is None else level
    return text if level == 0 else f"{'#' * level} {text}"


def _native(info: ListInfo, chosen: list[_Paper], lang: Lang) -> str:
    """The imported list's own shape: its headings, layouts and columns, papers in order."""
    sections: list[dict[str, object]] = []
    for section in info.sections:
        mine = _ordered([p for p in chosen if p.setting == section.id], info)
        level = section.level if section.level is not None else 2
        blocks: list[dict[str, object]] = []
        known = {t.id for t in section.topics}
        loose = [p for p in mine if p.topic not in known]
        if loose:
            blocks.append(_block(None, section, loose, lang))
        for topic in section.topics:
            inside = [p for p in mine if p.topic == topic.id]
            if inside:
                head = _heading_line(topic.heading, topic.level, _name(topic.name_zh, topic.name_en, lang),
                                     min(level + 1, 6))
                blocks.append(_block(head, section, inside, lang))
        sections.append({"heading": _heading_line(section.heading, section.level,
                                                  _section_label(section, lang), 2), "blocks": blocks})
    return _environment().get_template("native.md.j2").render(
        title=md_escape(info.title), subtitle=md_escape(info.subtitle) if info.subtitle else None,
        description=(info.description or "").strip(), sections=sections)


def _block(heading: str | None, section: ListSection, items: list[_Paper], lang: Lang) -> dict[str, object]:
    layout = section.layout or "table"
    columns = section.columns or DEFAULT_COLUMNS
    out: dict[str, object] = {"heading": heading, "layout": layout, "columns": columns, "rows": [], "papers": [],
                              "summaries": []}
    if layout == "table":
        out["rows"] = [p.row(columns) for p in items]
        out["summaries"] = _papers([p for p in items if p.groups(lang)], lang)
    else:
        out["papers"] = [{"lines": [p.bullet()] if layout == "bullets" else p.lines(), "groups": p.groups(lang)}
                         for p in items]
    return out


def _papers(items: list[_Paper], lang: Lang) -> list[dict[str, object]]:
    return [{"line": p.line(), "groups": p.groups(lang)} for p in items]


def write_list(result: RenderResult, out: Path) -> bool:
    """Write the rendered text atomically; False when the file already holds exactly these bytes."""
    if out.exists() and out.read_bytes() == result.text.encode("utf-8"):
        return False
    files.atomic_write(out, result.text)
    return True


def render_command(out: Path, lang: Lang) -> str:
    """The command that rewrites ``out`` with these options (quoted in staleness messages)."""
    flags = "" if out == Path("LIST.md") else f" --out {out}"
    flags += "" if lang == "both" else f" --lang {lang}"
    return f"python -m pipeline render{flags}"


def stale_reason(result: RenderResult, out: Path, lang: Lang) -> str | None:
    """Why ``out`` does not hold exactly what rendering gives now, or None when it is current."""
    if not out.exists():
        return f"{out} does not exist; run `{render_command(out, lang)}`"
    if out.read_bytes() != result.text.encode("utf-8"):
        return f"{out} is stale; run `{render_command(out, lang)}`"
    return None


def check_list(result: RenderResult, out: Path, lang: Lang = "both") -> None:
    """RenderError when ``out`` does not hold exactly what rendering gives now."""
    reason = stale_reason(result, out, lang)
    if reason:
        raise RenderError(reason)
