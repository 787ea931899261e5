"""The one check of a link: only ``http``/``https`` URLs with a host, and no whitespace or control
characters, are accepted anywhere (summary records, papers.yaml, imported lists); and the one way a
link is written into Markdown (`md_url`: percent-encoded where Markdown would break).

Free Markdown that `render` publishes as written (the list's introduction, headings, table header
cells and cells kept as written) is checked link by link (`markdown_link_problems`): there a link may
also stay inside the page or the repository (``#usage``, ``docs/a.md``) or be a ``mailto:`` address,
but any other scheme (``javascript:``, ``data:``, ``file:``) is refused. The Markdown parser for that, and for
reading lists (`pipeline.listing`), is `markdown_parser`.

Core module: no I/O.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

# Characters that would end or break a Markdown link destination, a table cell or a line.
_MD_UNSAFE = {c: f"%{ord(c):02X}" for c in ' ()<>|[]"\\\n\r\t`'}


def link_problem(url: str) -> str | None:
    """Why `url` is not an acceptable link, or None when it is."""
    if _has_space_or_control(url):
        return f"link {url[:60]!r} has whitespace or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"link {url[:60]!r} is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return f"link {url[:60]!r} is not an http(s) URL"
    if not host:
        return f"link {url[:60]!r} has no host"
    return None


def _has_space_or_control(url: str) -> bool:
    return any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url)


def _check(url: str) -> str:
    if (why := link_problem(url)) is not None:
        raise ValueError(why)
    return url


HttpLink = Annotated[str, AfterValidator(_check)]
"""A str field that holds a link: validated by `link_problem`."""


def md_url(url: str) -> str:
    """`url` as a Markdown link destination: percent-encoded where Markdown would break.

    Balanced parentheses are kept as written (a Markdown link destination may hold them, and many
    real URLs do); an unmatched one, which would end the link, is encoded.
    """
    keep: set[int] = set()
    opened: list[int] = []
    for i, c in enumerate(url):
        if c == "(":
            opened.append(i)
        elif c == ")" and opened:
            keep.update((opened.pop(), i))
    return "".join(c if i in keep else _MD_UNSAFE.get(c, c) for i, c in enumerate(url))


# --------------------------------------------------------------------------- links inside free Markdown

# A scheme ("javascript:", "data:", "HTTP:") at the start of a link target; a browser ignores leading
# whitespace and control characters, which `link_problem` refuses anyway.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# Attributes through which HTML kept in Markdown links or loads something.
_HTML_LINK = re.compile(r"""\b(?:href|src|action|formaction|poster|background|data|xlink:href)\s*=\s*"""
                        r"""(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.IGNORECASE)


def target_problem(target: str) -> str | None:
    """Why ``target``, a link in free Markdown text, is not acceptable, or None when it is.

    http(s) URLs with a host are (`link_problem`), and so are links that stay inside the page or the
    repository holding the list: a fragment (``#usage``) or a relative path (``docs/a.md``), which
    have no scheme. ``mailto:`` is the one other scheme kept: real lists give a contact address in
    their introduction, and it runs nothing. ``//host/x`` leaves the site without a scheme and is
    refused like every other scheme (``javascript:``, ``data:``, ``file:``).
    """
    if _has_space_or_control(target):
        return link_problem(target)
    if target[:7].lower() == "mailto:" and "@" in target:
        return None
    if _SCHEME.match(target) or target[:2].replace("\\", "/") == "//":
        return link_problem(target)
    return None


@functools.cache
def markdown_parser() -> MarkdownIt:
    """The one Markdown parser: CommonMark with HTML kept, tables and strikethrough. Built on first use
    (most commands never parse Markdown)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    # Every link is read as a link, whatever its scheme: markdown-it would leave `[Code](javascript:...)`
    # as text, where another renderer may not; the callers check each link themselves.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


@dataclass(frozen=True)
class MarkdownLinkProblem:
    """A link in free Markdown that is not acceptable: where (0-based line of the text) and why."""

    line: int
    block: tuple[int, int]
    """The lines ``[first, end)`` of the top-level block holding it (a paragraph, a list, a definition)."""
    message: str


def markdown_link_problems(text: str, *, inline: bool = False) -> list[MarkdownLinkProblem]:
    """Every unacceptable link target (`target_problem`) in the Markdown ``text``: links, images,
    autolinks, reference definitions and the link attributes of HTML kept in it. ``inline``: ``text``
    is one inline run (a heading, a table cell), read as such."""
    if "[" not in text and "<" not in text:
        return []  # no link, image, autolink, definition or HTML without one of these
    env: dict[str, Any] = {}
    lines = len(text.splitlines()) or 1
    tokens = markdown_parser().parseInline(text, env) if inline else markdown_parser().parse(text, env)
    found: list[MarkdownLinkProblem] = []

    def check(target: str, line: int, block: tuple[int, int]) -> None:
        if (why := target_problem(target)) is not None:
            found.append(MarkdownLinkProblem(line, block, why))

    block = (0, lines)
    for tok in tokens:
        if tok.map and tok.level == 0:
            block = (tok.map[0], tok.map[1])
        if tok.type == "inline":
            _inline_links(tok.children or [], tok.map[0] if tok.map else 0, block, check)
        elif tok.type == "html_block":
            for offset, content in enumerate(tok.content.splitlines()):
                for target in _html_targets(content):
                    check(target, block[0] + offset, block)
    for definition in env.get("references", {}).values():
        span = definition.get("map") or [0, lines]
        check(str(definition.get("href", "")), span[0], (span[0], span[1]))
    return sorted(found, key=lambda p: p.line)


def _inline_links(children: list[Token], line: int, block: tuple[int, int], check: Any) -> None:
    for child in children:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        elif child.type == "link_open":
            check(str(child.attrs.get("href", "")), line, block)
        elif child.type == "image":
            check(str(child.attrs.get("src", "")), line, block)
        elif child.type == "html_inline":
            for target in _html_targets(child.content):
                check(target, line, block)


def _html_targets(markup: str) -> list[str]:
    return [html.unescape(next(g for g in m.groups() if g is not None)) for m in _HTML_LINK.finditer(markup)]


def _check_markdown(text: str, *, inline: bool) -> str:
    if inline and ("\n" in text or "\r" in text):
        # Render writes it into one line of the list: a second line would be Markdown of its own (a
        # link definition, a heading), outside the checks of an inline run.
        raise ValueError(f"{text[:60]!r} holds a line break; a heading or cell is one line")
    if problems := markdown_link_problems(text, inline=inline):
        raise ValueError(problems[0].message)
    return text


MarkdownText = Annotated[str, AfterValidator(functools.partial(_check_markdown, inline=False))]
"""A str field of free Markdown that render publishes as written: its links are checked."""
InlineMarkdown = Annotated[str, AfterValidator(functools.partial(_check_markdown, inline=True))]
"""The same for one inline run: a heading, a table header cell or a cell."""
