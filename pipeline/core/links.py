"""The one check of a link: only ``http``/``https`` URLs with a host, and no whitespace or control
characters, are accepted anywhere (summary records, papers.yaml, imported lists); and the one way a
link is written into Markdown (`md_url`: percent-encoded where Markdown would break).

Core module: no I/O.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

# Characters that would end or break a Markdown link destination, a table cell or a line.
_MD_UNSAFE = {c: f"%{ord(c):02X}" for c in ' ()<>|[]"\\\n\r\t`'}


def link_problem(url: str) -> str | None:
    """Why `url` is not an acceptable link, or None when it is."""
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url):
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
