"""Pure parser of a hand-made Markdown paper list (the shape of ``awesome-list-example.md``).

Such lists are rarely clean Markdown: headings may be plain numbered lines (``1.1 💬 Semi-supervised
Learning(SSL)``), table rows may have lost a cell so the later columns slid left, and bullet groups
(``- 文章考虑的问题:``) may be flattened to the same level as their bullets. This module turns the
text into plain data and records a `Note` (line + why) for everything it could not map or had to
repair. No I/O; the importer turns the result into papers.yaml entries and summary records.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from pipeline.core.models import FIELD_TITLES_EN, FIELD_TITLES_ZH

DIMS = ("2D", "3D", "2D+3D", "N/A")
_HEADING = re.compile(r"^#{0,6}\s*(?:(?P<emoji1>[^\w\s(]+)\s*)?(?P<num>\d+(?:\.\d+)*)\.?\s+(?P<rest>\S.*)$")
_CONTENTS_ENTRY = re.compile(r"^(?:(?P<emoji>[^\w\s(\-\[]+)\s*)?(?:(?P<num>\d+(?:\.\d+)*)\.?\s+)?"
                             r"(?:(?P<emoji2>[^\w\s(\-\[]+)\s*)?(?P<name>\w.*)$")
_LINK = re.compile(r"^\[(?P<text>[^\]]*)\]\((?P<url>[^)\s]+)\)$")
_PAPER = re.compile(r"^\[(?P<venue>[^\]]+)\]\s+(?P<title>.+?)(?P<markers>(?:\s*\[(?:code|pdf)\](?:\([^)]*\))?)*)\s*$",
                    re.IGNORECASE)
# Group keys are "zh.problems", "en.framework", ...
_GROUP_TITLES = {**{t.casefold(): f"zh.{n}" for n, t in FIELD_TITLES_ZH.items()},
                 **{t.casefold(): f"en.{n}" for n, t in FIELD_TITLES_EN.items()}}
_COLUMNS = {"date": "date", "the first and last authors": "authors", "authors": "authors", "dim": "dim",
            "title": "title", "code": "code", "reference": "venue", "venue": "venue"}
_UNESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>$~])")


@dataclass
class Note:
    """Something the parser could not map, or repaired: where (1-based line) and why."""

    line: int
    message: str


@dataclass
class Code:
    """A table's or paper line's code marker: a URL, 'has code' without a URL, or no code."""

    url: str | None = None
    present: bool | None = None


@dataclass
class TableRow:
    """One paper row of a setting's table."""

    line: int
    date: str | None
    first_author: str | None
    last_author: str | None
    dim: str | None
    title: str
    code: Code
    venue: str | None
    slid: bool = False


@dataclass
class Heading:
    """A numbered heading: ``num`` like '1.1', optional emoji, name and abbreviation."""

    line: int
    num: str
    emoji: str | None
    name: str
    abbr: str | None = None

    @property
    def level(self) -> int:
        return self.num.count(".") + 1


@dataclass
class Setting:
    """A learning setting found as a table heading or a body section."""

    heading: Heading
    rows: list[TableRow] = field(default_factory=list)


@dataclass
class PaperBlock:
    """A paper line in the body with its bullet groups."""

    line: int
    venue: str
    title: str
    code: Code
    pdf_url: str | None
    setting: Heading | None
    topic: Heading | None
    groups: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """Bullets with their lines by group key ``"zh.problems"``, ``"en.framework"``, ..."""


@dataclass
class ContentsEntry:
    """A line of the contents section: a setting (with ``num``/emoji) or a topic (``- name``)."""

    line: int
    name: str
    is_topic: bool
    emoji: str | None = None
    num: str | None = None


@dataclass
class ParsedList:
    """Everything found in one list."""

    title: str | None = None
    subtitle: str | None = None
    description: list[str] = field(default_factory=list)
    contents: list[ContentsEntry] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    body_settings: list[Heading] = field(default_factory=list)
    containers: list[Heading] = field(default_factory=list)
    """Top-level headings that only hold setting tables (e.g. '1. 🧠 Literature Review')."""
    topics: list[tuple[Heading, Heading]] = field(default_factory=list)
    papers: list[PaperBlock] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


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


def parse_code(cell: str) -> Code:
    """'Code' / '[Code](url)' / 'None' / '' -> `Code`."""
    cell = cell.strip()
    if m := _LINK.match(cell):
        return Code(url=m.group("url"), present=True)
    if cell.casefold() in ("code", "[code]", "yes", "✓"):
        return Code(present=True)
    if cell.casefold() in ("none", "no", "-", "n/a", ""):
        return Code(present=False)
    return Code()


def _is_code_cell(cell: str) -> bool:
    return parse_code(cell).present is not None and cell.strip() != ""


def split_row(line: str) -> list[str]:
    """Cells of a table row, honouring ``\\|`` inside cells."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    cells = re.split(r"(?<!\\)\|", body)
    return [c.strip() for c in cells]


def _authors(cell: str) -> tuple[str | None, str | None]:
    cell = unescape(cell).strip()
    if not cell:
        return None, None
    parts = re.split(r"\s+and\s+|\s*&\s*|\s*,\s*", cell)
    return parts[0].strip() or None, (parts[-1].strip() if len(parts) > 1 else None)


def _heading(lineno: int, m: re.Match[str]) -> Heading:
    rest = m.group("rest").strip()
    emoji = m.group("emoji1")
    em = re.match(r"^(?P<emoji>[^\w\s(]+)\s+(?P<name>\S.*)$", rest)
    if em:
        emoji, rest = em.group("emoji"), em.group("name")
    name, abbr = split_name(rest)
    return Heading(line=lineno, num=m.group("num"), emoji=emoji.strip() if emoji else None, name=name, abbr=abbr)


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.out = ParsedList()
        self.i = 0
        self.top: Heading | None = None
        self.setting: Heading | None = None
        self.topic: Heading | None = None
        self.paper: PaperBlock | None = None
        self.group: str | None = None

    def note(self, line: int, message: str) -> None:
        self.out.notes.append(Note(line, message))

    def run(self) -> ParsedList:
        self._preamble()
        while self.i < len(self.lines):
            lineno, line = self.i + 1, self.lines[self.i].strip()
            self.i += 1
            if not line:
                continue
            if line.startswith("|"):
                self._table(lineno, line)
            elif m := _HEADING.match(line):
                self._on_heading(_heading(lineno, m))
            elif line.startswith(("- ", "* ")) or line in ("-", "*"):
                self._bullet(lineno, line[1:].strip())
            else:
                self.note(lineno, f"text outside any paper or table ignored: {line[:60]!r}")
        return self.out

    def _preamble(self) -> None:
        while self.i < len(self.lines):
            line = self.lines[self.i].strip()
            if _HEADING.match(line) or line.startswith("|"):
                return
            self.i += 1
            if "contents" in line.casefold() or "目录" in line:
                self._contents()
                return
            if line:
                text = line.lstrip("#").strip()
                if self.out.title is None:
                    self.out.title = text
                elif self.out.subtitle is None and not self.out.description and len(text) < 120:
                    self.out.subtitle = text.strip("*_>").strip()
                else:
                    self.out.description.append(text)

    def _contents(self) -> None:
        while self.i < len(self.lines):
            lineno, line = self.i + 1, self.lines[self.i].strip()
            m = _HEADING.match(line)
            # A numbered line that is a contents entry is followed by topics, a body heading by text.
            if m and not m.group("emoji1") and not self._next_is_topic():
                return
            self.i += 1
            if not line:
                continue
            bullet = line.startswith(("- ", "* "))
            text = line[1:].strip() if bullet else line
            link = re.match(r"^\[(?P<text>[^\]]+)\]\(#[^)]*\)$", text)
            text = link.group("text") if link else text
            if bullet and not link:
                self.out.contents.append(ContentsEntry(lineno, unescape(text), is_topic=True))
                continue
            cm = _CONTENTS_ENTRY.match(text)
            if cm is None:
                self.note(lineno, f"contents line not understood: {line[:60]!r}")
                continue
            name, _ = split_name(cm.group("name"))
            self.out.contents.append(ContentsEntry(lineno, unescape(name), is_topic=bullet and cm.group("num")
                                                   is not None and "." in cm.group("num"),
                                                   emoji=cm.group("emoji") or cm.group("emoji2"),
                                                   num=cm.group("num")))

    def _next_is_topic(self) -> bool:
        nxt = self.lines[self.i + 1].strip() if self.i + 1 < len(self.lines) else ""
        return nxt.startswith("- ") and not _PAPER.match(nxt[2:].strip())

    def _on_heading(self, heading: Heading) -> None:
        self.paper, self.group = None, None
        if heading.level == 1:
            self.top, self.setting, self.topic = heading, None, None
            nxt = self._peek_nonblank()
            if nxt.startswith("|"):
                self.out.settings.append(Setting(heading))
                self.setting = heading
            elif _HEADING.match(nxt):
                self.out.containers.append(heading)
            else:
                self.out.body_settings.append(heading)
                self.setting = heading
            return
        if self._peek_nonblank().startswith("|"):
            self.out.settings.append(Setting(heading))
            self.setting, self.topic = heading, None
            return
        if self.setting is None or self.setting.level != 1:
            if self.top is not None and self.top not in self.out.body_settings:
                self.out.body_settings.append(self.top)
                if self.top in self.out.containers:
                    self.out.containers.remove(self.top)
            self.setting = self.top
        if self.setting is None:
            self.note(heading.line, f"sub-topic {heading.name!r} has no setting heading before it; ignored")
            return
        self.topic = heading
        self.out.topics.append((self.setting, heading))

    def _peek_nonblank(self) -> str:
        j = self.i
        while j < len(self.lines) and not self.lines[j].strip():
            j += 1
        return self.lines[j].strip() if j < len(self.lines) else ""

    def _table(self, lineno: int, line: str) -> None:
        self.paper, self.group = None, None
        header = [_COLUMNS.get(c.casefold()) for c in split_row(line)]
        setting = self.out.settings[-1] if self.out.settings and self.setting is self.out.settings[-1].heading \
            else None
        if setting is None or "title" not in header:
            self.note(lineno, "table without a setting heading or a Title column ignored")
            self._skip_table()
            return
        while self.i < len(self.lines) and self.lines[self.i].strip().startswith("|"):
            rowno, row = self.i + 1, self.lines[self.i].strip()
            self.i += 1
            if re.fullmatch(r"\|?[\s|:-]+\|?", row):
                continue
            parsed = self._row(rowno, header, split_row(row))
            if parsed is not None:
                setting.rows.append(parsed)

    def _skip_table(self) -> None:
        while self.i < len(self.lines) and self.lines[self.i].strip().startswith("|"):
            self.i += 1

    def _row(self, lineno: int, header: list[str | None], cells: list[str]) -> TableRow | None:
        filled = [c for c in cells if c]
        if len(filled) <= 1:
            self.note(lineno, f"table row {(filled or [''])[0][:40]!r} is not a paper (one cell); skipped")
            return None
        while len(cells) > len(header) and not cells[-1]:
            cells.pop()
        values = {name: cells[i] for i, name in enumerate(header) if name and i < len(cells)}
        slid = False
        if "dim" in header:
            dim_at = header.index("dim")
            tail = [name for name in header[dim_at + 1:]]
            shifted = {name: cells[dim_at + k] if dim_at + k < len(cells) else "" for k, name in enumerate(tail)}
            dim_cell = values.get("dim", "")
            if dim_cell and dim_cell not in DIMS and _is_code_cell(shifted.get("code", "")) \
                    and not _is_code_cell(dim_cell) and not values.get("venue"):
                values = {**values, **{k: v for k, v in shifted.items() if k}, "dim": ""}
                slid = True
                self.note(lineno, f"columns slid: the Dim cell is missing, so Title/Code/Reference sit one "
                                  f"column left; recovered title {unescape(values.get('title', ''))[:50]!r}, "
                                  f"code and venue {values.get('venue')!r}; Dim left unknown")
            elif dim_cell and dim_cell not in DIMS:
                self.note(lineno, f"Dim {dim_cell!r} is not one of {', '.join(DIMS)}; row skipped "
                                  "(columns may have slid in a way that is not unambiguous)")
                return None
        if len(cells) > len(header):
            self.note(lineno, f"row has {len(cells)} cells but the header {len(header)}; row skipped")
            return None
        title = unescape(values.get("title", "")).strip()
        if not title:
            self.note(lineno, "row has no title; skipped")
            return None
        date = values.get("date", "").strip() or None
        if date and not re.fullmatch(r"\d{4}-\d{2}", date):
            self.note(lineno, f"date {date!r} is not YYYY-MM; left empty")
            date = None
        first, last = _authors(values.get("authors", ""))
        code = parse_code(values.get("code", ""))
        if values.get("code") and code.present is None:
            self.note(lineno, f"code cell {values['code'][:40]!r} not understood; left empty")
        return TableRow(line=lineno, date=date, first_author=first, last_author=last,
                        dim=values.get("dim") or None, title=title, code=code,
                        venue=unescape(values.get("venue", "")).strip() or None, slid=slid)

    def _bullet(self, lineno: int, text: str) -> None:
        group = _GROUP_TITLES.get(text.rstrip(":：").strip().casefold()) if text.endswith((":", "：")) else None
        if m := _PAPER.match(text):
            self._paper(lineno, m)
        elif group is not None:
            if self.paper is None:
                self.note(lineno, f"group {text!r} outside any paper; ignored")
                self.group = None
            elif group in self.paper.groups:
                self.note(lineno, f"second {text!r} group under the paper at line {self.paper.line}; "
                                  "its bullets (if any) are added to the first")
                self.group = group
            else:
                self.paper.groups[group] = []
                self.group = group
        elif not text:
            return
        elif self.paper is None or self.group is None:
            self.note(lineno, f"bullet outside any paper group ignored: {text[:60]!r}")
        else:
            self.paper.groups[self.group].append((lineno, unescape(text)))

    def _paper(self, lineno: int, m: re.Match[str]) -> None:
        markers = m.group("markers") or ""
        code = Code(present=False)
        pdf_url = None
        for mm in re.finditer(r"\[(?P<kind>code|pdf)\](?:\((?P<url>[^)]*)\))?", markers, re.IGNORECASE):
            if mm.group("kind").casefold() == "code":
                code = Code(url=mm.group("url") or None, present=True)
            else:
                pdf_url = mm.group("url") or None
        if self.setting is None:
            self.note(lineno, "paper line before any setting heading; its setting is unknown")
        self.paper = PaperBlock(line=lineno, venue=unescape(m.group("venue")).strip(),
                                title=unescape(m.group("title")).strip(), code=code, pdf_url=pdf_url,
                                setting=self.setting, topic=self.topic)
        self.group = None
        self.out.papers.append(self.paper)


def parse_list(text: str) -> ParsedList:
    """Parse a hand-made Markdown list into plain data plus notes on what could not be mapped."""
    return _Parser(text).run()
