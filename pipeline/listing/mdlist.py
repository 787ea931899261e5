"""Pure parser of a hand-made Markdown paper list, on markdown-it-py's token stream.

Real lists come in a few shapes: a table of papers under a heading (any level, numbered or not, with
emoji or bold), one line per paper (``- [Venue] Title. [[Paper]](url) [[Code]](url)``), or a title line
with link lines and an author sub-bullet (``- Authors. *Venue Year*``); years are often bold lines used
as headings. The example list has no ``#`` at all: there plain numbered lines (``1.1 💬 Name``) are the
headings. This module turns any of them into plain data. Every table row and list item is one *entry*
and ends in exactly one of three ways: read as a paper (or a bullet of its summary), reported with its
line and why (`Note`), or ignored as navigation (a contents list). No I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token

from pipeline.core.models import FIELD_TITLES_EN, FIELD_TITLES_ZH, Layout

DIMS = ("2D", "3D", "2D+3D", "N/A")
UNKNOWN = "—"
"""What an unknown value renders as, and reads back as unknown."""
DEFAULT_COLUMNS = ["Date", "The First and Last Authors", "Dim", "Title", "Code", "Reference"]
# Group keys are "zh.problems", "en.framework", ...
_GROUP_TITLES = {**{t.casefold(): f"zh.{n}" for n, t in FIELD_TITLES_ZH.items()},
                 **{t.casefold(): f"en.{n}" for n, t in FIELD_TITLES_EN.items()}}
_COLUMNS = {
    "date": "date", "year": "date", "time": "date", "published": "date",
    "the first and last authors": "authors", "first and last authors": "authors", "authors": "authors",
    "author": "authors", "first author": "authors",
    "1st institute": "institute", "institute": "institute", "institution": "institute", "affiliation": "institute",
    "dim": "dim", "title": "title", "paper title": "title",
    "code": "code", "github": "code", "implementation": "code",
    "reference": "venue", "publication": "venue", "venue": "venue", "paper": "venue", "pdf": "venue",
    "conference": "venue", "journal": "venue", "pub.": "venue",
    "label": "tags", "labels": "tags", "tags": "tags", "tag": "tags", "keywords": "tags",
}
COLUMN_KINDS = _COLUMNS
"""What each known column header (case-folded) holds."""
_CODE_LABELS = {"code", "github", "official code", "pytorch", "tensorflow", "project code", "official"}
_PAPER_LABELS = {"paper", "pdf", "arxiv", "abs", "html", "link", "article", "preprint", "publication"}
_ARXIV = re.compile(r"arxiv\.org/(?:abs|pdf|html)/(?P<id>\d{4}\.\d{4,5})(?:v\d+)?", re.IGNORECASE)
_NUMBERED = re.compile(r"^(?:(?P<emoji>[^\w\s(\[|*\-]+)\s*)?(?P<num>\d+(?:\.\d+)*)\.?\s+(?P<rest>\S.*)$")
_YEAR = re.compile(r"^(?:19|20)\d{2}$")
_UNESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>$~])")
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

Fate = Literal["reported", "ignored"]


@dataclass
class Note:
    """Something the parser could not map, or repaired: where (1-based line) and why.

    ``fate`` says what became of the entry at that line when it was not read: ``reported`` (a row or
    bullet that is not a paper) or ``ignored`` (navigation). Notes on entries that were read (a repair,
    a second listing) have ``fate`` None.
    """

    line: int
    message: str
    fate: Fate | None = None
    count: int = 1
    """How many entries this note stands for (a contents list is one note for all its links)."""


@dataclass
class Code:
    """A code marker: a URL, 'has code' without a URL, or no code."""

    url: str | None = None
    present: bool | None = None


@dataclass
class Link:
    """A labelled link."""

    label: str
    url: str


@dataclass
class Heading:
    """A heading: Markdown level (0 for a bold line), the Markdown as written, and its plain name."""

    line: int
    level: int
    markdown: str
    name: str
    num: str | None = None
    emoji: str | None = None
    abbr: str | None = None

    @property
    def is_minor(self) -> bool:
        """A bold line or a bare year: it groups papers inside a section rather than being one."""
        return self.level == 0 or bool(_YEAR.match(self.name))


@dataclass
class TableRow:
    """One paper as the list shows it: a table row or a paper bullet, with its summary groups if any."""

    line: int
    title: str
    date: str | None = None
    first_author: str | None = None
    last_author: str | None = None
    authors: str | None = None
    institute: str | None = None
    dim: str | None = None
    code: Code = field(default_factory=Code)
    venue: str | None = None
    venue_note: str | None = None
    paper_url: str | None = None
    links: list[Link] = field(default_factory=list)
    cells: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    slid: bool = False
    section: Heading | None = None
    topic: Heading | None = None
    layout: Layout = "table"
    groups: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """Summary bullets with their lines by group key ``"zh.problems"``, ``"en.framework"``, ..."""

    @property
    def arxiv_id(self) -> str | None:
        for url in [self.paper_url, *(link.url for link in self.links)]:
            if url and (m := _ARXIV.search(url)):
                return m.group("id")
        return None


@dataclass
class Section:
    """A heading that holds papers (directly or in its topics), with how it shows them."""

    heading: Heading
    layout: Layout
    columns: list[str] | None = None
    topics: list[Heading] = field(default_factory=list)
    rows: list[TableRow] = field(default_factory=list)


@dataclass
class ParsedList:
    """Everything found in one list."""

    title: str | None = None
    subtitle: str | None = None
    description: str | None = None
    sections: list[Section] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    entries: int = 0
    """Table rows, list items and HTML tables outside the introduction."""
    plain_headings: bool = False
    """The list has no ``#`` headings: its numbered lines were read as headings (the example's shape)."""
    bullets_read: int = 0
    """Entries read as a summary's group title or bullet (the example's flattened bullet groups)."""

    @property
    def rows(self) -> list[TableRow]:
        """Every paper row and bullet, in source order."""
        return sorted((row for s in self.sections for row in s.rows), key=lambda r: r.line)

    def count(self, fate: Fate) -> int:
        return sum(n.count for n in self.notes if n.fate == fate)


# --------------------------------------------------------------------------- small helpers


def unescape(text: str) -> str:
    """Undo Markdown backslash escapes and the entities `render` writes."""
    text = _UNESCAPE.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def fold(text: str) -> str:
    """Compare-form of a name or title: NFKC, case-folded, letters and digits only."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def split_name(text: str) -> tuple[str, str | None]:
    """'Semi-supervised Learning(SSL)' -> ('Semi-supervised Learning', 'SSL')."""
    m = re.match(r"^(?P<name>.*?)\s*[(（](?P<abbr>[^()（）]+)[)）]\s*$", text)
    if m and m.group("name"):
        return m.group("name").strip(), m.group("abbr").strip()
    return text.strip(), None


def split_row(line: str) -> list[str]:
    """Cells of a table row as written, honouring ``\\|`` inside cells."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def arxiv_id(url: str) -> str | None:
    """The arXiv id an abs/pdf/html link names, without version."""
    m = _ARXIV.search(url)
    return m.group("id") if m else None


@dataclass
class _Inline:
    """An inline Markdown run as plain text plus its links (with where they start in the text)."""

    text: str = ""
    links: list[tuple[int, Link]] = field(default_factory=list)
    emphasis: list[str] = field(default_factory=list)
    images: int = 0
    only_strong: bool = True


def _inline(children: list[Token]) -> _Inline:
    out = _Inline()
    href: str | None = None
    label = ""
    start = 0
    depth = {"strong": 0, "em": 0}
    em_text = ""
    for tok in children:
        kind = tok.type
        text = tok.content if kind in ("text", "code_inline", "html_inline") else " " if kind in (
            "softbreak", "hardbreak") else ""
        if kind in ("text", "code_inline") and text.strip() and depth["strong"] == 0:
            out.only_strong = False
        if kind == "image":
            out.images += 1
            out.only_strong = False
            continue
        if kind == "link_open":
            href, label, start = str(tok.attrs.get("href", "")), "", len(out.text)
            out.only_strong = False
            continue
        if kind == "link_close":
            out.links.append((start, Link(label.strip(), href or "")))
            href = None
            continue
        if kind in ("strong_open", "em_open"):
            depth[kind[:-5]] += 1
            continue
        if kind in ("strong_close", "em_close"):
            depth[kind[:-6]] -= 1
            if kind == "em_close" and depth["em"] == 0:
                out.emphasis.append(em_text.strip())
                em_text = ""
            continue
        if depth["em"]:
            em_text += text
        if href is not None:
            label += text
        out.text += text
    return out


def _plain(markdown: str) -> str:
    tokens = _MD.parseInline(markdown)
    return " ".join(_inline(tokens[0].children or []).text.split()) if tokens else markdown


def _bracketed(label: str) -> str:
    return label.strip().removeprefix("[").removesuffix("]").strip()


def parse_code(cell: str) -> Code:
    """'Code' / '[Code](url)' / 'None' / '-' / '' -> `Code`."""
    cell = cell.strip()
    tokens = _MD.parseInline(cell) if cell else []
    run = _inline(tokens[0].children or []) if tokens else _Inline()
    if run.links:
        return Code(url=run.links[0][1].url or None, present=True)
    text = run.text.strip().casefold()
    if text in ("code", "[code]", "yes", "✓", "github"):
        return Code(present=True)
    if text in ("none", "no", "-", "n/a", "", UNKNOWN, "✗"):
        return Code(present=False)
    return Code()


# --------------------------------------------------------------------------- the example's plain-line headings


def _plain_line_markdown(lines: list[str], out: ParsedList) -> list[str]:
    """A list written without ``#`` (the example): its title, subtitle and introduction are the first
    lines, its contents list is navigation, and numbered lines are the headings. Turn those lines into
    the Markdown they stand for, line for line, so the token stream keeps the file's line numbers."""
    md = list(lines)
    first_heading = next((i for i, line in enumerate(lines)
                          if (m := _NUMBERED.match(line.strip())) and not m.group("emoji")), len(lines))
    contents = next((i for i, line in enumerate(lines[:first_heading])
                     if "contents" in line.casefold() or "目录" in line), first_heading)
    preamble = [line.strip() for line in lines[:contents] if line.strip()]
    if preamble:
        out.title = preamble[0].lstrip("#").strip()
        rest = preamble[1:]
        if rest and len(rest[0]) < 120:
            out.subtitle = rest.pop(0).strip("*_>").strip()
        out.description = "\n\n".join(rest) or None
    links = sum(1 for line in lines[contents + 1:first_heading] if line.strip())
    if contents < first_heading:
        out.entries += links
        out.notes.append(Note(contents + 1, f"contents ({links} lines) ignored: render writes its own",
                              "ignored", links))
    for i in range(first_heading):
        md[i] = ""
    for i in range(first_heading, len(lines)):
        line = lines[i].strip()
        if (m := _NUMBERED.match(line)) and not line.startswith("|"):
            md[i] = "#" * min(6, m.group("num").count(".") + 2) + " " + line
    return md


def _heading(line: int, level: int, markdown: str) -> Heading:
    name = _plain(markdown)
    num = emoji = None
    if m := _NUMBERED.match(name):
        num, emoji, name = m.group("num"), m.group("emoji"), m.group("rest")
    if em := re.match(r"^(?P<emoji>[^\w\s(\[]+)\s+(?P<name>\S.*)$", name):
        emoji, name = emoji or em.group("emoji"), em.group("name")
    name, abbr = split_name(name)
    return Heading(line=line, level=level, markdown=markdown.strip(), name=name,
                   num=num, emoji=emoji.strip() if emoji else None, abbr=abbr)


# --------------------------------------------------------------------------- the walk


@dataclass
class _Item:
    """A list item: its first paragraph's inline tokens, line span and nested items."""

    line: int
    end: int
    inline: list[Token]
    children: list[_Item]
    depth: int


def _items(tokens: list[Token], start: int, depth: int) -> tuple[list[_Item], int]:
    """The items of the list opening at ``tokens[start]``; returns them and the index after the list."""
    items: list[_Item] = []
    i = start + 1
    while i < len(tokens) and tokens[i].type not in ("bullet_list_close", "ordered_list_close"):
        tok = tokens[i]
        if tok.type != "list_item_open":
            i += 1
            continue
        span = tok.map or [0, 0]
        item = _Item(line=span[0] + 1, end=span[1], inline=[], children=[], depth=depth)
        i += 1
        while tokens[i].type != "list_item_close":
            inner = tokens[i]
            if inner.type in ("bullet_list_open", "ordered_list_open"):
                nested, i = _items(tokens, i, depth + 1)
                item.children.extend(nested)
                continue
            if inner.type == "inline" and not item.inline and not item.children:
                item.inline = inner.children or []
            i += 1
        items.append(item)
        i += 1
    return items, i + 1


def _split_lines(children: list[Token]) -> list[list[Token]]:
    lines: list[list[Token]] = [[]]
    for tok in children:
        if tok.type in ("softbreak", "hardbreak"):
            lines.append([])
        else:
            lines[-1].append(tok)
    return lines


def _is_bold_line(children: list[Token]) -> bool:
    kinds = [t.type for t in children if not (t.type == "text" and not t.content.strip())]
    return len(kinds) >= 3 and kinds[0] == "strong_open" and kinds[-1] == "strong_close" and \
        kinds.count("strong_open") == 1 and "link_open" not in kinds and "image" not in kinds


def _markdown_of(children: list[Token]) -> str:
    """The Markdown of a bold line (only strong text): ``**text**``."""
    return "**" + "".join(t.content for t in children if t.type in ("text", "code_inline")).strip() + "**"


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.out = ParsedList()
        self.stack: list[Heading] = []
        self.title_heading: Heading | None = None
        self.sections: dict[int, Section] = {}
        self.paper: TableRow | None = None
        self.group: str | None = None
        self.in_contents = False

    def note(self, line: int, message: str, fate: Fate | None = None, count: int = 1) -> None:
        self.out.notes.append(Note(line, message, fate, count))

    def run(self) -> ParsedList:
        plain = self.out.plain_headings = not any(re.match(r"^#{1,6}\s", line) for line in self.lines)
        md_lines = _plain_line_markdown(self.lines, self.out) if plain else self.lines
        tokens = _MD.parse("\n".join(md_lines) + "\n")
        intro_end = len(self.lines) if plain else self._intro_end(tokens)
        if not plain:
            self._title_and_intro(tokens, intro_end)
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            line = (tok.map[0] + 1) if tok.map else 0
            if not plain and line and line <= intro_end:
                i += 1
                continue
            if tok.type == "heading_open":
                self._on_heading(_heading(line, int(tok.tag[1]), tokens[i + 1].content))
                i += 3
            elif tok.type == "paragraph_open":
                children = tokens[i + 1].children or []
                if _is_bold_line(children) and tokens[i + 1].content.count("\n") == 0:
                    self._on_heading(_heading(line, 0, _markdown_of(children)))
                i += 3
            elif tok.type == "table_open":
                i = self._table(tokens, i)
            elif tok.type in ("bullet_list_open", "ordered_list_open"):
                items, i = _items(tokens, i, 0)
                self._list(items)
            elif tok.type == "html_block" and "<table" in tok.content.casefold():
                self.out.entries += 1
                self.note(line, "HTML table (results, not papers) not imported", "reported")
                i += 1
            else:
                i += 1
        return self.out

    # -- introduction

    def _holds_papers(self, tokens: list[Token], start: int) -> bool:
        """Whether a table with a Title column or a paper-like list item follows ``start`` before the
        next heading of the same or a higher level."""
        level = int(tokens[start].tag[1]) if tokens[start].type == "heading_open" else 7
        for tok in tokens[start + 3:]:
            if tok.type == "heading_open" and int(tok.tag[1]) <= level:
                return False
            if tok.type == "table_open":
                return True
            if tok.type == "inline" and tok.level >= 1 and _looks_like_paper(tok.children or []):
                return True
        return False

    def _intro_end(self, tokens: list[Token]) -> int:
        """Last line of the introduction: just before the first heading that is a contents heading or
        holds papers."""
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open" and tok.map and not (i == 0 and tok.tag == "h1") and \
                    (_is_contents(tokens[i + 1].content) or self._holds_papers(tokens, i)):
                return tok.map[0]
        return 0

    def _title_and_intro(self, tokens: list[Token], intro_end: int) -> None:
        first = next((i for i, t in enumerate(tokens) if t.type == "heading_open"), None)
        span = tokens[first].map if first is not None else None
        start = 0
        if first is not None and span is not None and tokens[first].tag == "h1" and span[0] < max(intro_end, 1):
            self.out.title = _plain(tokens[first + 1].content)
            start = span[1]
            self.title_heading = _heading(start, 1, tokens[first + 1].content)
        for tok_index in range(first + 3 if first is not None and start else len(tokens), len(tokens)):
            tok = tokens[tok_index]
            if tok.map and tok.map[0] >= intro_end:
                break
            if tok.type == "paragraph_open" and tok.map:
                # A bold line first in the introduction is the list's sub-title (how render writes one).
                children = tokens[tok_index + 1].children or []
                if _is_bold_line(children) and tokens[tok_index + 1].content.count("\n") == 0:
                    self.out.subtitle = _plain(tokens[tok_index + 1].content)
                    start = tok.map[1]
                break
            if tok.level == 0:
                break
        intro = "\n".join(self.lines[start:intro_end]).strip()
        self.out.description = intro or None

    # -- headings and sections

    def _on_heading(self, heading: Heading) -> None:
        self.paper, self.group = None, None
        self.in_contents = _is_contents(heading.name)
        while self.stack and (self.stack[-1].level == 0 or self.stack[-1].level >= heading.level > 0):
            self.stack.pop()
        self.stack.append(heading)

    def _place(self, layout: Layout, line: int, columns: list[str] | None = None) -> tuple[Section, Heading | None]:
        """The section (and topic) the papers at ``line`` belong to, by the headings above them."""
        stack = [h for h in self.stack if h is not self.title_heading]
        if not stack:
            heading = Heading(line=line, level=2, markdown="Papers", name="Papers")
            self.stack.append(heading)
            stack = [heading]
            self.note(line, "papers before any heading: placed in a section 'Papers'")
        leaf, parent = stack[-1], (stack[-2] if len(stack) > 1 else None)
        known = {fold(s.heading.name): s for s in self.out.sections}
        if parent is not None and (leaf.is_minor or fold(parent.name) in known):
            section_heading, topic = parent, leaf
        else:
            section_heading, topic = leaf, None
        section = known.get(fold(section_heading.name)) if section_heading.line not in self.sections else \
            self.sections[section_heading.line]
        if section is None:
            section = Section(heading=section_heading, layout=layout, columns=columns)
            self.sections[section_heading.line] = section
            self.out.sections.append(section)
        elif section.columns is None and columns is not None and section.layout == "table":
            section.columns = columns
        if topic is not None and all(t.line != topic.line for t in section.topics):
            section.topics.append(topic)
        return section, topic

    # -- tables

    def _table(self, tokens: list[Token], i: int) -> int:
        self.paper, self.group = None, None
        start = tokens[i].map or [0, 0]
        j = i
        while tokens[j].type != "table_close":
            j += 1
        header_line = start[0]
        header = split_row(self.lines[header_line])
        names = [_COLUMNS.get(_plain(c).casefold().strip()) for c in header]
        rows = [n for n in range(header_line + 2, start[1]) if self.lines[n].strip()]
        self.out.entries += len(rows)
        if "title" not in names:
            for n in rows:
                self.note(n + 1, f"row of a table without a Title column ({' | '.join(header)[:60]}) is not a "
                                 "paper; not imported", "reported")
            return j + 1
        if self.in_contents:
            for n in rows:
                self.note(n + 1, "table row in the contents; not imported", "reported")
            return j + 1
        columns = [_plain(c) if names[k] else c for k, c in enumerate(header)]
        section, topic = self._place("table", header_line + 1, columns)
        for n in rows:
            row = self._row(n + 1, header, names, split_row(self.lines[n]))
            if row is not None:
                row.section, row.topic, row.layout = section.heading, topic, "table"
                section.rows.append(row)
        return j + 1

    def _row(self, lineno: int, header: list[str], names: list[str | None], cells: list[str]) -> TableRow | None:
        filled = [c for c in cells if c]
        if len(filled) <= 1:
            self.note(lineno, f"table row {(filled or [''])[0][:40]!r} is not a paper (one cell); skipped",
                      "reported")
            return None
        while len(cells) > len(names) and not cells[-1]:
            cells.pop()
        values = {name: cells[k] for k, name in enumerate(names) if name and k < len(cells)}
        slid = False
        if "dim" in names:
            dim_at = names.index("dim")
            shifted = {name: cells[dim_at + k] if dim_at + k < len(cells) else ""
                       for k, name in enumerate(names[dim_at + 1:])}
            dim_cell = values.get("dim", "")
            if dim_cell and dim_cell not in (*DIMS, UNKNOWN) and _is_code_cell(shifted.get("code", "")) \
                    and not _is_code_cell(dim_cell) and not values.get("venue"):
                values = {**values, **{k: v for k, v in shifted.items() if k}, "dim": ""}
                slid = True
                self.note(lineno, f"columns slid: the Dim cell is missing, so Title/Code/Reference sit one "
                                  f"column left; recovered title {_plain(values.get('title', ''))[:50]!r}, "
                                  f"code and venue {_plain(values.get('venue', ''))!r}; Dim left unknown")
            elif dim_cell and dim_cell not in (*DIMS, UNKNOWN):
                self.note(lineno, f"Dim {dim_cell!r} is not one of {', '.join(DIMS)}; row skipped "
                                  "(columns may have slid in a way that is not unambiguous)", "reported")
                return None
        if len(cells) > len(names):
            self.note(lineno, f"row has {len(cells)} cells but the header {len(names)}; row skipped", "reported")
            return None
        title = _plain(values.get("title", ""))
        if not title:
            self.note(lineno, "row has no title; skipped", "reported")
            return None
        row = TableRow(line=lineno, title=title, slid=slid)
        date = _plain(values.get("date", ""))
        if date and date != UNKNOWN and not re.fullmatch(r"\d{4}(-\d{2})?", date):
            self.note(lineno, f"date {date!r} is not YYYY-MM or YYYY; left empty")
        elif date and date != UNKNOWN:
            row.date = date
        authors = _plain(values.get("authors", ""))
        if authors and authors != UNKNOWN:
            row.authors = authors
            row.first_author, row.last_author = _first_last(authors)
        institute = _plain(values.get("institute", ""))
        row.institute = institute if institute and institute != UNKNOWN else None
        dim = values.get("dim", "").strip()
        row.dim = dim if dim in DIMS else None
        row.code = parse_code(values.get("code", ""))
        if values.get("code") and row.code.present is None:
            self.note(lineno, f"code cell {values['code'][:40]!r} not understood; left empty")
        self._reference(row, values.get("venue", ""))
        for k, name in enumerate(names):
            if name in (None, "tags") and k < len(cells) and cells[k]:
                row.cells[header[k]] = cells[k]
            if name == "tags" and k < len(cells):
                row.tags = [t for t in re.split(r"[\s,]+", _plain(cells[k])) if t]
        return row

    @staticmethod
    def _reference(row: TableRow, cell: str) -> None:
        cell = cell.strip()
        if not cell or cell == UNKNOWN:
            return
        tokens = _MD.parseInline(cell)
        run = _inline(tokens[0].children or [])
        if not run.links:
            row.venue = " ".join(run.text.split())
            return
        before = run.text[:run.links[0][0]].strip(" ,;")
        after_start = run.links[-1][0] + len(run.links[-1][1].label)
        after = run.text[after_start:].strip(" ,;")
        links = [link for _, link in run.links]
        row.venue = before or links[0].label
        row.paper_url = links[0].url
        row.links = links[1:]
        row.venue_note = " ".join(after.split()) or None

    # -- lists

    def _list(self, items: list[_Item]) -> None:
        for item in items:
            self.out.entries += 1
            if self.in_contents:
                self.note(item.line, "contents entry ignored: render writes its own contents", "ignored")
                continue
            self._item(item)

    def _item(self, item: _Item) -> None:
        lines = _split_lines(item.inline)
        # A bold line right under an item, with no blank line between, is read by Markdown as part of the
        # item's paragraph; on GitHub it still looks like (and is meant as) a heading.
        bold_at = next((k for k, line in enumerate(lines) if k > 0 and _is_bold_line(line)), None)
        own = [tok for line in lines[:bold_at] for tok in (*line, Token("softbreak", "", 0))][:-1] \
            if bold_at is not None else item.inline
        run = _inline(own)
        text = run.text.strip()
        group = _GROUP_TITLES.get(text.rstrip(":：").strip().casefold()) if text.endswith((":", "：")) else None
        paper = _paper_from(item, own, run)
        if paper is not None:
            self._add_paper(paper, item, any(t.type == "softbreak" for t in own))
        elif group is not None:
            self._group(item.line, text, group)
            for child in item.children:
                self._bullet_of_group(child)
        elif not text:
            self.note(item.line, "empty list item", "ignored")
        elif self.paper is not None and self.group is not None:
            self.paper.groups[self.group].append((item.line, text))
            self.out.bullets_read += 1
        else:
            why = "a link, not a paper (no title outside the link)" if run.links and not \
                _outside_links(run).strip(" ,.;:") else "not a paper (no venue, paper or code link)"
            self.note(item.line, f"list item {text[:50]!r} is {why}; not imported", "reported")
        if bold_at is not None:
            self._on_heading(_heading(item.line + bold_at, 0, _markdown_of(lines[bold_at])))

    def _group(self, line: int, text: str, group: str) -> None:
        self.out.bullets_read += 1
        if self.paper is None:
            self.note(line, f"group {text!r} outside any paper; ignored", "reported")
            self.out.bullets_read -= 1
            self.group = None
        elif group in self.paper.groups:
            self.note(line, f"second {text!r} group under the paper at line {self.paper.line}; "
                            "its bullets (if any) are added to the first")
            self.group = group
        else:
            self.paper.groups[group] = []
            self.group = group

    def _bullet_of_group(self, item: _Item) -> None:
        text = _inline(item.inline).text.strip()
        if self.paper is not None and self.group is not None and text:
            self.paper.groups[self.group].append((item.line, text))

    def _add_paper(self, paper: TableRow, item: _Item, several_lines: bool) -> None:
        layout: Layout = "lines" if several_lines or paper.authors else "bullets"
        section, topic = self._place(layout, item.line)
        paper.section, paper.topic, paper.layout = section.heading, topic, layout
        section.rows.append(paper)
        self.paper, self.group = paper, None
        for child in item.children:
            child_run = _inline(child.inline)
            child_text = child_run.text.strip()
            group = _GROUP_TITLES.get(child_text.rstrip(":：").strip().casefold()) \
                if child_text.endswith((":", "：")) else None
            if group is not None:
                self._group(child.line, child_text, group)
                for grandchild in child.children:
                    self._bullet_of_group(grandchild)
            elif self.group is not None and child_text:
                paper.groups[self.group].append((child.line, child_text))
            elif child_text:
                self.note(child.line, f"sub-bullet {child_text[:50]!r} of the paper at line {item.line} "
                                      "not understood; not imported")


def _is_contents(name: str) -> bool:
    return bool(re.search(r"\bcontents?\b|目录", name, re.IGNORECASE))


def _outside_links(run: _Inline) -> str:
    text, cut = run.text, 0
    pieces = []
    for start, link in run.links:
        pieces.append(text[cut:start])
        cut = start + len(link.label)
    pieces.append(text[cut:])
    return "".join(pieces)


def _looks_like_paper(children: list[Token]) -> bool:
    run = _inline(children)
    text = run.text.strip()
    if re.match(r"^\[[^\]]+\]\s+\w", text) and not any(s == 0 for s, _ in run.links):
        return True
    return any(_bracketed(link.label).casefold() in _PAPER_LABELS | _CODE_LABELS for _, link in run.links) \
        and bool(_outside_links(run).strip(" ,.;:[]"))


def _paper_from(item: _Item, own: list[Token], run: _Inline) -> TableRow | None:
    """A paper bullet: ``[Venue] Title`` with markers or links, or a title with paper/code links, or a
    title with an author sub-bullet ``Authors. *Venue*``."""
    text = run.text
    venue = None
    first_link = run.links[0][0] if run.links else len(text)
    m = re.match(r"^\s*\[(?P<venue>[^\]]+)\]\s+", text)
    if m and m.end() <= first_link:
        venue = m.group("venue").strip()
        head = text[m.end():first_link]
    else:
        head = text[:first_link]
    markers = re.search(r"(?:\s*\[(?:code|pdf)\](?!\())+\s*$", head, re.IGNORECASE)
    code = Code()
    if markers:
        for mm in re.finditer(r"\[(code|pdf)\]", markers.group(0), re.IGNORECASE):
            if mm.group(1).casefold() == "code":
                code = Code(present=True)
        head = head[:markers.start()]
    title = " ".join(head.split()).strip(" ,;[")
    if title.endswith(".") and not title.endswith(".."):
        title = title[:-1].rstrip()
    authors_line = _authors_line(item.children[0]) if item.children else None
    kinds = {_bracketed(link.label).casefold() for _, link in run.links}
    if not title or not (venue or markers or authors_line or kinds & (_PAPER_LABELS | _CODE_LABELS)):
        return None
    row = TableRow(line=item.line, title=title, venue=venue, code=code if markers else Code(present=False))
    for _, link in run.links:
        label = _bracketed(link.label)
        kind = label.casefold()
        if kind in _CODE_LABELS and row.code.url is None:
            row.code = Code(url=link.url or None, present=True)
        elif kind in _PAPER_LABELS and row.paper_url is None:
            row.paper_url = link.url or None
        else:
            row.links.append(Link(label, link.url))
    if authors_line is not None:
        authors, sub_venue = authors_line
        row.authors = authors
        row.first_author, row.last_author = _first_last(authors)
        row.venue = row.venue or sub_venue
        item.children = item.children[1:]
    return row


def _authors_line(item: _Item) -> tuple[str, str | None] | None:
    """``Authors. *Venue Year*`` -> (authors, venue); None for any other sub-bullet."""
    run = _inline(item.inline)
    text = run.text.strip()
    if run.links or not text or text.endswith((":", "：")):
        return None
    if run.emphasis and text.endswith(run.emphasis[-1]):
        venue = run.emphasis[-1]
        authors = text[:-len(venue)].strip().rstrip(".").strip()
        return (authors, venue) if authors else None
    if "," in text and len(text) < 400 and not re.search(r"[。；]", text):
        return text.rstrip(".").strip(), None
    return None


def _first_last(authors: str) -> tuple[str | None, str | None]:
    parts = [p.strip() for p in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*", authors) if p.strip()]
    if not parts:
        return None, None
    return parts[0], (parts[-1] if len(parts) > 1 else None)


def _is_code_cell(cell: str) -> bool:
    return cell.strip() != "" and parse_code(cell).present is not None


def parse_list(text: str) -> ParsedList:
    """Parse a hand-made Markdown list into plain data plus notes on what could not be mapped."""
    return _Parser(text).run()


def iter_notes(parsed: ParsedList) -> Iterator[Note]:
    """The notes in line order."""
    yield from sorted(parsed.notes, key=lambda n: n.line)
