"""The parts of a Markdown paper list and how one cell or one bullet is read.

Data types the parser fills (`TableRow`, `Section`, `ParsedList`, ...), the known columns, and the
inline reading built on markdown-it-py's inline tokens: a cell's plain text and links, a code
marker, and a paper bullet (``- [Venue] Title. [[Paper]](url)``, or a title line with link lines and
an ``Authors. *Venue*`` sub-bullet). The walk over a whole list is `pipeline.listing.mdlist`.
No I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from markdown_it.token import Token

from pipeline.core.links import markdown_parser
from pipeline.core.models import FIELD_TITLES_EN, FIELD_TITLES_ZH, Layout

DIMS = ("2D", "3D", "2D+3D", "N/A")
UNKNOWN = "—"
"""What an unknown value renders as, and reads back as unknown."""
DEFAULT_COLUMNS = ["Date", "The First and Last Authors", "Dim", "Title", "Code", "Reference"]
# Group keys are "zh.problems", "en.framework", ...
GROUP_TITLES = {**{t.casefold(): f"zh.{n}" for n, t in FIELD_TITLES_ZH.items()},
                 **{t.casefold(): f"en.{n}" for n, t in FIELD_TITLES_EN.items()}}
COLUMN_KINDS = {  # what each known column header (case-folded) holds
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
_CODE_LABELS = {"code", "github", "official code", "pytorch", "tensorflow", "project code", "official"}
_PAPER_LABELS = {"paper", "pdf", "arxiv", "abs", "html", "link", "article", "preprint", "publication"}
_ARXIV = re.compile(r"arxiv\.org/(?:abs|pdf|html)/(?P<id>\d{4}\.\d{4,5})(?:v\d+)?", re.IGNORECASE)
NUMBERED = re.compile(r"^(?:(?P<emoji>[^\w\s(\[|*\-]+)\s*)?(?P<num>\d+(?:\.\d+)*)\.?\s+(?P<rest>\S.*)$")
_YEAR = re.compile(r"^(?:19|20)\d{2}$")
_UNESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>$~])")


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
    columns_line: int = 0
    """The 1-based line of the table header ``columns`` come from."""
    topics: list[Heading] = field(default_factory=list)
    rows: list[TableRow] = field(default_factory=list)


@dataclass
class ParsedList:
    """Everything found in one list."""

    title: str | None = None
    subtitle: str | None = None
    description: str | None = None
    description_lines: list[int] = field(default_factory=list)
    """The 1-based line of the list each line of ``description`` comes from."""
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
    return "".join(filter(str.isalnum, text))


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
class InlineRun:
    """An inline Markdown run as plain text plus its links (with where they start in the text)."""

    text: str = ""
    links: list[tuple[int, Link]] = field(default_factory=list)
    emphasis: list[str] = field(default_factory=list)
    images: int = 0
    only_strong: bool = True


def inline_run(children: list[Token]) -> InlineRun:
    out = InlineRun()
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


# Characters that start inline Markdown (escape, code, emphasis, strikethrough, link, image, autolink or
# HTML, entity) or that the parser rewrites (line breaks, NUL). Text without any of them is its own plain
# text: most table cells (dates, authors, titles, venues) are, and parsing each took a third of `import`'s
# Markdown time at 1,000 papers.
_INLINE_SYNTAX = frozenset("\\`*_~[]!<&\n\r\0")


def read_inline(markdown: str) -> InlineRun:
    """One line of inline Markdown (a table cell) as text and links."""
    if _INLINE_SYNTAX.isdisjoint(markdown):
        return InlineRun(text=markdown, only_strong=not markdown.strip())
    tokens = markdown_parser().parseInline(markdown)
    return inline_run(tokens[0].children or []) if tokens else InlineRun(text=markdown)


def plain_text(markdown: str) -> str:
    """The text a reader sees in an inline Markdown run, whitespace collapsed."""
    return " ".join(read_inline(markdown).text.split())


def _bracketed(label: str) -> str:
    return label.strip().removeprefix("[").removesuffix("]").strip()


def parse_code(cell: str) -> Code:
    """'Code' / '[Code](url)' / 'None' / '-' / '' -> `Code`."""
    cell = cell.strip()
    run = read_inline(cell)
    if run.links:
        return Code(url=run.links[0][1].url or None, present=True)
    text = run.text.strip().casefold()
    if text in ("code", "[code]", "yes", "✓", "github"):
        return Code(present=True)
    if text in ("none", "no", "-", "n/a", "", UNKNOWN, "✗"):
        return Code(present=False)
    return Code()



@dataclass
class Item:
    """A list item: its first paragraph's inline tokens, line span and nested items."""

    line: int
    end: int
    inline: list[Token]
    children: list[Item]
    depth: int

def split_lines(children: list[Token]) -> list[list[Token]]:
    lines: list[list[Token]] = [[]]
    for tok in children:
        if tok.type in ("softbreak", "hardbreak"):
            lines.append([])
        else:
            lines[-1].append(tok)
    return lines


def is_bold_line(children: list[Token]) -> bool:
    kinds = [t.type for t in children if not (t.type == "text" and not t.content.strip())]
    return len(kinds) >= 3 and kinds[0] == "strong_open" and kinds[-1] == "strong_close" and \
        kinds.count("strong_open") == 1 and "link_open" not in kinds and "image" not in kinds


def bold_markdown(children: list[Token]) -> str:
    """The Markdown of a bold line (only strong text): ``**text**``."""
    return "**" + "".join(t.content for t in children if t.type in ("text", "code_inline")).strip() + "**"


def is_contents(name: str) -> bool:
    return bool(re.search(r"\bcontents?\b|目录", name, re.IGNORECASE))


def outside_links(run: InlineRun) -> str:
    text, cut = run.text, 0
    pieces = []
    for start, link in run.links:
        pieces.append(text[cut:start])
        cut = start + len(link.label)
    pieces.append(text[cut:])
    return "".join(pieces)


def looks_like_paper(children: list[Token]) -> bool:
    run = inline_run(children)
    text = run.text.strip()
    if re.match(r"^\[[^\]]+\]\s+\w", text) and not any(s == 0 for s, _ in run.links):
        return True
    return any(_bracketed(link.label).casefold() in _PAPER_LABELS | _CODE_LABELS for _, link in run.links) \
        and bool(outside_links(run).strip(" ,.;:[]"))


def paper_bullet(item: Item, own: list[Token], run: InlineRun) -> TableRow | None:
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
        row.first_author, row.last_author = first_last(authors)
        row.venue = row.venue or sub_venue
        item.children = item.children[1:]
    return row


def _authors_line(item: Item) -> tuple[str, str | None] | None:
    """``Authors. *Venue Year*`` -> (authors, venue); None for any other sub-bullet."""
    run = inline_run(item.inline)
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


def first_last(authors: str) -> tuple[str | None, str | None]:
    parts = [p.strip() for p in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*", authors) if p.strip()]
    if not parts:
        return None, None
    return parts[0], (parts[-1] if len(parts) > 1 else None)


def is_code_cell(cell: str) -> bool:
    return cell.strip() != "" and parse_code(cell).present is not None
