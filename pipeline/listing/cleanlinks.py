"""What `import` keeps of a list's links: only acceptable ones (`pipeline.core.links`).

A paper's own links (paper, code, further references) must be http(s) URLs with a host; the Markdown
kept as written (the introduction, headings, table header cells, cells of unknown columns) may also
link inside the page or the repository, but never through another scheme (``javascript:``,
``data:``). Each bad link is noted with its line in the list and what became of it, and nothing that
holds one is stored, so `render` can never publish it. No I/O.
"""

from __future__ import annotations

from pipeline.core.links import link_problem, markdown_link_problems
from pipeline.listing.mdparts import Code, Heading, ParsedList, Section, TableRow, plain_text, unescape

Notes = list[tuple[int, str]]


def paper_links(row: TableRow, notes: Notes) -> None:
    """Drop the row's links that are not http(s) URLs with a host, and the cells of unknown columns
    holding a bad link (the cell is Markdown kept as written, so its links are published too)."""
    def bad(url: str | None, what: str) -> bool:
        why = link_problem(url) if url else None
        if why is not None:
            notes.append((row.line, f"{row.title[:50]!r}: {what} {why}; not imported"))
        return why is not None

    if bad(row.paper_url, "paper"):
        row.paper_url = None
    if bad(row.code.url, "code"):
        row.code = Code(url=None, present=row.code.present)
    row.links = [link for link in row.links if not bad(link.url, repr(link.label))]
    for column, cell in list(row.cells.items()):
        if problems := markdown_link_problems(cell, inline=True):
            for problem in problems:
                notes.append((row.line, f"{row.title[:50]!r}: {column!r} cell's {problem.message}; not imported"))
            del row.cells[column]


def description(parsed: ParsedList, notes: Notes) -> str | None:
    """The introduction without the blocks (paragraphs, lists, definitions) that hold a bad link."""
    text = parsed.description
    problems = markdown_link_problems(text) if text else []
    if not text or not problems:
        return text
    lines = text.splitlines()
    dropped: set[int] = set()
    for problem in problems:
        where = parsed.description_lines[problem.line] if problem.line < len(parsed.description_lines) else 0
        notes.append((where, f"introduction: {problem.message}; its paragraph is not imported"))
        dropped.update(range(*problem.block))
    kept = "\n".join(line for i, line in enumerate(lines) if i not in dropped).strip()
    if kept and markdown_link_problems(kept):
        # Taking blocks out joined what was left into a new bad link: keep no introduction at all.
        notes.append((parsed.description_lines[0], "introduction not imported: it still links badly "
                                                   "without those paragraphs"))
        return None
    return kept or None


def heading(found: Heading, notes: Notes) -> str | None:
    """The heading's Markdown on one line (a setext heading may span several), or None (render then
    writes its plain name) when it links badly."""
    markdown = " ".join(line.strip() for line in found.markdown.splitlines())
    problems = markdown_link_problems(markdown, inline=True)
    for problem in problems:
        notes.append((found.line, f"heading {found.name[:50]!r}: {problem.message}; kept as plain text"))
    return None if problems else markdown


def columns(section: Section, notes: Notes) -> list[str] | None:
    """The section's table header cells, a cell that links badly replaced by its plain text (and the
    rows' cells of that column keyed by it)."""
    if section.columns is None:
        return None
    out = []
    for column in section.columns:
        problems = markdown_link_problems(column, inline=True)
        if problems:
            plain = unescape(plain_text(column))
            clean = "".join(c for c in plain if c.isalnum() or c in " -_.,()/") or "Column"
            for problem in problems:
                notes.append((section.columns_line, f"table column {plain[:40]!r}: {problem.message}; "
                                                    "kept as plain text"))
            for row in section.rows:
                if column in row.cells:
                    row.cells[clean] = row.cells.pop(column)
            column = clean
        out.append(column)
    return out
