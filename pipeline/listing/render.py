"""``render``: build the Markdown list from papers.yaml and the approved summaries.

The structure follows the hand-made lists curators keep: a heading and introduction, a contents
section with GitHub anchors, one table per learning setting (newest first), then per setting and
sub-topic each paper with its bullet groups. Layout lives in ``templates/list.md.j2``; this module
builds ready-escaped Markdown strings for it. Only approved summaries are published; every other
paper is reported as skipped with the reason. Rendering is deterministic: same inputs, same bytes.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import jinja2

from pipeline.core.errors import PipelineError, RenderError, StoreError
from pipeline.core.models import FIELD_TITLES_EN, FIELD_TITLES_ZH, FIELDS, ListSection, PaperEntry
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
    record: SummaryRecord
    setting: str
    topic: str | None

    def fact(self, name: str) -> str | None:
        value = getattr(self.record.paper, name, None)
        if value is None and self.entry is not None:
            value = getattr(self.entry, name, None)
        return str(value) if value is not None else None

    @property
    def title(self) -> str:
        return self.record.paper.title

    @property
    def date(self) -> str:
        return self.fact("date") or ""

    def sort_key(self) -> tuple[str, str, str]:
        # Newest first: invert the date's digits so one ascending sort gives a stable order.
        inverted = "".join(chr(ord("9") - int(c) + ord("0")) if c.isdigit() else c for c in self.date or "0000-00")
        return inverted, self.title.casefold(), self.key

    def authors(self) -> str:
        bib = self.record.paper
        first = bib.first_author or (bib.authors[0] if bib.authors else None) or self.fact("first_author")
        last = bib.last_author or (bib.authors[-1] if len(bib.authors) > 1 else None) or self.fact("last_author")
        names = [n for n in (first, last) if n]
        if len(names) == 2 and names[0] == names[1]:
            names = names[:1]
        return " and ".join(md_escape(n) for n in names)

    def dim(self) -> str:
        if self.record.summary.dim != "N/A":
            return self.record.summary.dim
        return self.fact("dim") or "N/A"

    def code_url(self) -> str | None:
        return self.fact("code_url")

    def has_code(self) -> bool:
        return bool(self.code_url()) or self.fact("has_code") == "True"

    def pdf_url(self) -> str | None:
        bib = self.record.paper
        if bib.pdf_url:
            return bib.pdf_url
        if bib.arxiv_id:
            return f"https://arxiv.org/pdf/{bib.arxiv_id}"
        return bib.abs_url

    def row(self) -> str:
        url = self.code_url()
        code = f"[Code]({url})" if url else "Code" if self.has_code() else "None"
        cells = [md_escape(self.date), self.authors(), md_escape(self.dim()), md_escape(self.title), code,
                 md_escape(self.fact("venue") or "")]
        return "| " + " | ".join(cells) + " |"

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

    def groups(self, lang: Lang) -> list[tuple[str, list[str]]]:
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


def collect(doc: papers.PapersDoc, summaries_dir: Path) -> tuple[list[_Paper], list[Skipped], list[str]]:
    """Pair each papers.yaml entry with its approved summary; the rest are skipped with a reason."""
    papers_path = doc.path
    sections = {s.id: s for s in doc.data.list.sections}
    errors: list[StoreError] = []
    records = {r.key: r for _, r in store.iter_records(summaries_dir, errors=errors)}
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
        if record is None:
            skipped.append(Skipped(key, title, "no summary yet (run summarize or batch)"))
        elif record.status != "approved":
            skipped.append(Skipped(key, record.paper.title,
                                   f"summary is {record.status}, not approved (`review approve {key}`)"))
        elif entry.setting is None and record.summary.setting in sections:
            # Approved with the summary's setting: place it there rather than leave it out.
            chosen.append(_Paper(key, entry, record, record.summary.setting, None))
            notes.append(f"{key}: no setting in {papers_path}; placed by its summary's setting "
                         f"{record.summary.setting!r} (set `setting:` on the entry to choose another)")
        elif entry.setting is None:
            skipped.append(Skipped(key, record.paper.title,
                                   f"no setting in {papers_path}, and its summary's setting "
                                   f"{record.summary.setting!r} is not a section (set `setting:` on the entry)"))
        else:
            chosen.append(_Paper(key, entry, record, entry.setting, entry.topic))
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


def render_list(papers_path: Path, summaries_dir: Path, lang: Lang = "both") -> RenderResult:
    """Render the list to a string (nothing is written)."""
    doc = papers.load_papers(papers_path)
    chosen, skipped, notes = collect(doc, summaries_dir)
    anchors = _Anchors()
    info = doc.data.list
    tables: list[dict[str, object]] = []
    bodies: list[dict[str, object]] = []
    contents_review = _heading(f"1. {REVIEW}", anchors)
    anchors(CONTENTS)
    for i, section in enumerate(info.sections, 1):
        mine = sorted((p for p in chosen if p.setting == section.id), key=_Paper.sort_key)
        label = _section_label(section, lang)
        tables.append({**_heading(f"1.{i} {label}", anchors), "rows": [p.row() for p in mine]})
        if not mine:
            continue
        number = len(bodies) + 2
        groups: list[dict[str, object]] = []
        loose = [p for p in mine if p.topic not in {t.id for t in section.topics}]
        if loose:
            groups.append({"text": None, "anchor": None, "papers": _papers(loose, lang)})
        for j, topic in enumerate((t for t in section.topics if any(p.topic == t.id for p in mine)), 1):
            head = _heading(f"{number}.{j} {_name(topic.name_zh, topic.name_en, lang)}", anchors)
            groups.append({**head, "papers": _papers([p for p in mine if p.topic == topic.id], lang)})
        bodies.append({**_heading(f"{number}. {label}", anchors), "topics": groups})
    if lang == "en":
        notes += [f"{p.key}: no English summary; only its title line is shown"
                  for p in chosen if p.record.summary.en is None]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    text = env.get_template("list.md.j2").render(
        title=md_escape(info.title), subtitle=md_escape(info.subtitle) if info.subtitle else None,
        description=(info.description or "").strip(), contents=CONTENTS, review=contents_review,
        tables=tables, bodies=bodies)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    published = sorted(p.key for p in chosen)
    return RenderResult(text=text, published=published, skipped=skipped, notes=notes)


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
