"""Pure parser of a hand-made Markdown paper list, on markdown-it-py's token stream.

Real lists come in a few shapes: a table of papers under a heading (any level, numbered or not, with
emoji or bold), one line per paper (``- [Venue] Title. [[Paper]](url) [[Code]](url)``), or a title line
with link lines and an author sub-bullet (``- Authors. *Venue Year*``); years are often bold lines used
as headings. The example list has no ``#`` at all: there plain numbered lines (``1.1 💬 Name``) are the
headings. This module turns any of them into plain data. Every table row and list item is one *entry*
and ends in exactly one of three ways: read as a paper (or a bullet of its summary), reported with its
line and why (`Note`), or ignored as navigation (a contents list). The data types and the reading
of one cell or bullet are in `pipeline.listing.mdparts`. No I/O.
"""

from __future__ import annotations

import gc
import re

from markdown_it.token import Token

from pipeline.core.links import markdown_parser
from pipeline.core.models import Layout
from pipeline.listing.mdparts import (
    COLUMN_KINDS,
    DIMS,
    GROUP_TITLES,
    NUMBERED,
    UNKNOWN,
    Fate,
    Heading,
    Item,
    Note,
    ParsedList,
    Section,
    TableRow,
    bold_markdown,
    first_last,
    fold,
    inline_run,
    is_bold_line,
    is_code_cell,
    is_contents,
    looks_like_paper,
    outside_links,
    paper_bullet,
    parse_code,
    plain_text,
    read_inline,
    split_lines,
    split_name,
    split_row,
)

# --------------------------------------------------------------------------- the example's plain-line headings


def _plain_line_markdown(lines: list[str], out: ParsedList) -> list[str]:
    """A list written without ``#`` (the example): its title, subtitle and introduction are the first
    lines, its contents list is navigation, and numbered lines are the headings. Turn those lines into
    the Markdown they stand for, line for line, so the token stream keeps the file's line numbers."""
    md = list(lines)
    first_heading = next((i for i, line in enumerate(lines)
                          if (m := NUMBERED.match(line.strip())) and not m.group("emoji")), len(lines))
    contents = next((i for i, line in enumerate(lines[:first_heading])
                     if "contents" in line.casefold() or "目录" in line), first_heading)
    preamble = [(i + 1, line.strip()) for i, line in enumerate(lines[:contents]) if line.strip()]
    if preamble:
        out.title = preamble[0][1].lstrip("#").strip()
        rest = preamble[1:]
        if rest and len(rest[0][1]) < 120:
            out.subtitle = rest.pop(0)[1].strip("*_>").strip()
        out.description = "\n\n".join(line for _, line in rest) or None
        out.description_lines = [n for n, _ in rest for n in (n, n)][:-1]
    links = sum(1 for line in lines[contents + 1:first_heading] if line.strip())
    if contents < first_heading:
        out.entries += links
        out.notes.append(Note(contents + 1, f"contents ({links} lines) ignored: render writes its own",
                              "ignored", links))
    for i in range(first_heading):
        md[i] = ""
    for i in range(first_heading, len(lines)):
        line = lines[i].strip()
        if (m := NUMBERED.match(line)) and not line.startswith("|"):
            md[i] = "#" * min(6, m.group("num").count(".") + 2) + " " + line
    return md


def _heading(line: int, level: int, markdown: str) -> Heading:
    name = plain_text(markdown)
    num = emoji = None
    if m := NUMBERED.match(name):
        num, emoji, name = m.group("num"), m.group("emoji"), m.group("rest")
    if em := re.match(r"^(?P<emoji>[^\w\s(\[]+)\s+(?P<name>\S.*)$", name):
        emoji, name = emoji or em.group("emoji"), em.group("name")
    name, abbr = split_name(name)
    return Heading(line=line, level=level, markdown=markdown.strip(), name=name,
                   num=num, emoji=emoji.strip() if emoji else None, abbr=abbr)


# --------------------------------------------------------------------------- the walk


def _items(tokens: list[Token], start: int, depth: int) -> tuple[list[Item], int]:
    """The items of the list opening at ``tokens[start]``; returns them and the index after the list."""
    items: list[Item] = []
    i = start + 1
    while i < len(tokens) and tokens[i].type not in ("bullet_list_close", "ordered_list_close"):
        tok = tokens[i]
        if tok.type != "list_item_open":
            i += 1
            continue
        span = tok.map or [0, 0]
        item = Item(line=span[0] + 1, end=span[1], inline=[], children=[], depth=depth)
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
        tokens = markdown_parser().parse("\n".join(md_lines) + "\n")
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
                if is_bold_line(children) and tokens[i + 1].content.count("\n") == 0:
                    self._on_heading(_heading(line, 0, bold_markdown(children)))
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
            if tok.type == "inline" and tok.level >= 1 and looks_like_paper(tok.children or []):
                return True
        return False

    def _intro_end(self, tokens: list[Token]) -> int:
        """Last line of the introduction: just before the first heading that is a contents heading or
        holds papers."""
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open" and tok.map and not (i == 0 and tok.tag == "h1") and \
                    (is_contents(tokens[i + 1].content) or self._holds_papers(tokens, i)):
                return tok.map[0]
        return 0

    def _title_and_intro(self, tokens: list[Token], intro_end: int) -> None:
        first = next((i for i, t in enumerate(tokens) if t.type == "heading_open"), None)
        span = tokens[first].map if first is not None else None
        start = 0
        if first is not None and span is not None and tokens[first].tag == "h1" and span[0] < max(intro_end, 1):
            self.out.title = plain_text(tokens[first + 1].content)
            start = span[1]
            self.title_heading = _heading(start, 1, tokens[first + 1].content)
        for tok_index in range(first + 3 if first is not None and start else len(tokens), len(tokens)):
            tok = tokens[tok_index]
            if tok.map and tok.map[0] >= intro_end:
                break
            if tok.type == "paragraph_open" and tok.map:
                # A bold line first in the introduction is the list's sub-title (how render writes one).
                children = tokens[tok_index + 1].children or []
                if is_bold_line(children) and tokens[tok_index + 1].content.count("\n") == 0:
                    self.out.subtitle = plain_text(tokens[tok_index + 1].content)
                    start = tok.map[1]
                break
            if tok.level == 0:
                break
        intro = "\n".join(self.lines[start:intro_end]).strip()
        self.out.description = intro or None
        first = next((n for n in range(start, intro_end) if self.lines[n].strip()), start)
        self.out.description_lines = [first + 1 + k for k in range(len(intro.splitlines()))]

    # -- headings and sections

    def _on_heading(self, heading: Heading) -> None:
        self.paper, self.group = None, None
        self.in_contents = is_contents(heading.name)
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
            section = Section(heading=section_heading, layout=layout, columns=columns,
                              columns_line=line if columns is not None else 0)
            self.sections[section_heading.line] = section
            self.out.sections.append(section)
        elif section.columns is None and columns is not None and section.layout == "table":
            section.columns, section.columns_line = columns, line
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
        names = [COLUMN_KINDS.get(plain_text(c).casefold().strip()) for c in header]
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
        columns = [plain_text(c) if names[k] else c for k, c in enumerate(header)]
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
            if dim_cell and dim_cell not in (*DIMS, UNKNOWN) and is_code_cell(shifted.get("code", "")) \
                    and not is_code_cell(dim_cell) and not values.get("venue"):
                values = {**values, **{k: v for k, v in shifted.items() if k}, "dim": ""}
                slid = True
                self.note(lineno, f"columns slid: the Dim cell is missing, so Title/Code/Reference sit one "
                                  f"column left; recovered title {plain_text(values.get('title', ''))[:50]!r}, "
                                  f"code and venue {plain_text(values.get('venue', ''))!r}; Dim left unknown")
            elif dim_cell and dim_cell not in (*DIMS, UNKNOWN):
                self.note(lineno, f"Dim {dim_cell!r} is not one of {', '.join(DIMS)}; row skipped "
                                  "(columns may have slid in a way that is not unambiguous)", "reported")
                return None
        if len(cells) > len(names):
            self.note(lineno, f"row has {len(cells)} cells but the header {len(names)}; row skipped", "reported")
            return None
        title = plain_text(values.get("title", ""))
        if not title:
            self.note(lineno, "row has no title; skipped", "reported")
            return None
        row = TableRow(line=lineno, title=title, slid=slid)
        date = plain_text(values.get("date", ""))
        if date and date != UNKNOWN and not re.fullmatch(r"\d{4}(-\d{2})?", date):
            self.note(lineno, f"date {date!r} is not YYYY-MM or YYYY; left empty")
        elif date and date != UNKNOWN:
            row.date = date
        authors = plain_text(values.get("authors", ""))
        if authors and authors != UNKNOWN:
            row.authors = authors
            row.first_author, row.last_author = first_last(authors)
        institute = plain_text(values.get("institute", ""))
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
                row.tags = [t for t in re.split(r"[\s,]+", plain_text(cells[k])) if t]
        return row

    @staticmethod
    def _reference(row: TableRow, cell: str) -> None:
        cell = cell.strip()
        if not cell or cell == UNKNOWN:
            return
        run = read_inline(cell)
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

    def _list(self, items: list[Item]) -> None:
        for item in items:
            self.out.entries += 1
            if self.in_contents:
                self.note(item.line, "contents entry ignored: render writes its own contents", "ignored")
                continue
            self._item(item)

    def _item(self, item: Item) -> None:
        lines = split_lines(item.inline)
        # A bold line right under an item, with no blank line between, is read by Markdown as part of the
        # item's paragraph; on GitHub it still looks like (and is meant as) a heading.
        bold_at = next((k for k, line in enumerate(lines) if k > 0 and is_bold_line(line)), None)
        own = [tok for line in lines[:bold_at] for tok in (*line, Token("softbreak", "", 0))][:-1] \
            if bold_at is not None else item.inline
        run = inline_run(own)
        text = run.text.strip()
        group = GROUP_TITLES.get(text.rstrip(":：").strip().casefold()) if text.endswith((":", "：")) else None
        paper = paper_bullet(item, own, run)
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
                outside_links(run).strip(" ,.;:") else "not a paper (no venue, paper or code link)"
            self.note(item.line, f"list item {text[:50]!r} is {why}; not imported", "reported")
        if bold_at is not None:
            self._on_heading(_heading(item.line + bold_at, 0, bold_markdown(lines[bold_at])))

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

    def _bullet_of_group(self, item: Item) -> None:
        text = inline_run(item.inline).text.strip()
        if self.paper is not None and self.group is not None and text:
            self.paper.groups[self.group].append((item.line, text))

    def _add_paper(self, paper: TableRow, item: Item, several_lines: bool) -> None:
        layout: Layout = "lines" if several_lines or paper.authors else "bullets"
        section, topic = self._place(layout, item.line)
        paper.section, paper.topic, paper.layout = section.heading, topic, layout
        section.rows.append(paper)
        self.paper, self.group = paper, None
        for child in item.children:
            child_run = inline_run(child.inline)
            child_text = child_run.text.strip()
            group = GROUP_TITLES.get(child_text.rstrip(":：").strip().casefold()) \
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


def parse_list(text: str) -> ParsedList:
    """Parse a hand-made Markdown list into plain data plus notes on what could not be mapped."""
    # markdown-it allocates about a hundred objects per paper (tokens and their attributes), all alive
    # until the walk ends and none in a reference cycle, so the cyclic collector, triggered by the
    # allocations, traversed them over and over for nothing: a fifth of `import`'s CPU time at 1,000
    # papers. Paused for the parse (unless someone else paused it); plain reference counting still
    # frees everything, and the collector runs as usual afterwards.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Parser(text).run()
    finally:
        if was_enabled:
            gc.enable()

