"""Parse what a user types into one `Source`: an arXiv id or URL, a local PDF, or a PDF URL.

Every accepted form is normalised to one canonical arXiv id (no version; old-style subject classes
such as ``math.GT/0309136`` dropped to ``math/0309136``, the form arXiv's API returns) plus a
filesystem-safe key. Anything else raises `SourceError` naming the input and the accepted forms.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pipeline.core.errors import SourceError

SourceKind = Literal["arxiv", "pdf", "url"]

ACCEPTED_FORMS = (
    "an arXiv id (2506.01234, 2506.01234v2, arXiv:0704.0001, hep-th/9901001, math.GT/0309136v1), "
    "an arxiv.org abs/pdf/html URL, a path to an existing local PDF, or an http(s) URL of a PDF"
)

# The archives that had old-style (pre-April-2007) identifiers; anything else before a slash is not an id.
OLD_ARCHIVES = frozenset({
    "acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an", "chao-dyn",
    "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an", "gr-qc", "hep-ex",
    "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th", "nlin", "nucl-ex", "nucl-th",
    "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio", "q-fin", "quant-ph", "solv-int", "stat",
    "supr-con",
})
ARXIV_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "export.arxiv.org"})

_VERSION = r"(?:v(?P<version>[1-9][0-9]{0,3}))?"
_NEW_ID = re.compile(r"(?P<yymm>[0-9]{4})\.(?P<number>[0-9]{4,5})" + _VERSION)
_OLD_ID = re.compile(
    r"(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.(?P<subject>[A-Za-z]{2}(?:-[a-z]{2,3})?))?"
    r"/(?P<yymm>[0-9]{4})(?P<number>[0-9]{3})" + _VERSION
)
# Ids inside file names or URLs of local PDFs: bounded so that longer digit runs do not match.
_NEW_ID_IN_TEXT = re.compile(r"(?<![0-9.])([0-9]{4}\.[0-9]{4,5})(v[1-9][0-9]{0,3})?(?![0-9])")
_OLD_ID_IN_TEXT = re.compile(r"(?<![a-z-])([a-z]+(?:-[a-z]+)?)[/_]([0-9]{7})(v[1-9][0-9]{0,3})?(?![0-9])")


@dataclass(frozen=True)
class Source:
    """One paper to read, as the user named it.

    ``key`` is filesystem-safe and stable: the arXiv id (``/`` replaced by ``_``, no version) for
    arXiv papers and for local PDFs whose name or path holds an arXiv id; otherwise a slug plus 8 hex
    digits of a sha256 (of the file for local PDFs, of the URL for PDF URLs).
    """

    kind: SourceKind
    raw: str
    key: str
    arxiv_id: str | None = None
    version: int | None = None
    path: Path | None = None
    url: str | None = None

    @property
    def versioned_id(self) -> str | None:
        """``2506.01234v2`` when a version was given, else the bare id (None without an id)."""
        if self.arxiv_id is None:
            return None
        return f"{self.arxiv_id}v{self.version}" if self.version else self.arxiv_id


def arxiv_key(arxiv_id: str) -> str:
    """The filesystem-safe key of a canonical arXiv id: ``hep-th/9901001`` -> ``hep-th_9901001``."""
    return arxiv_id.replace("/", "_")


def match_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """``(canonical id, version)`` when ``text`` is exactly a valid arXiv id, else None."""
    if m := _NEW_ID.fullmatch(text):
        if _valid_new(m.group("yymm"), m.group("number")):
            return f"{m.group('yymm')}.{m.group('number')}", _int(m.group("version"))
        return None
    m = _OLD_ID.fullmatch(text)
    if m and m.group("archive") in OLD_ARCHIVES and _valid_old(m.group("yymm")):
        return f"{m.group('archive')}/{m.group('yymm')}{m.group('number')}", _int(m.group("version"))
    return None


def parse_source(text: str) -> Source:
    """Parse a user's input into a `Source`; raise `SourceError` naming the input otherwise."""
    raw = text
    text = text.strip()
    if not text:
        raise _bad(raw, "it is empty")
    if "\n" in text or "\x00" in text:
        raise _bad(raw)
    bare = re.sub(r"(?i)^arxiv:\s*", "", text)
    if found := match_arxiv_id(bare):
        return _arxiv_source(raw, *found)
    if bare != text:
        raise _bad(raw, "not a valid arXiv id after 'arXiv:'")
    if re.match(r"(?i)^[a-z][a-z0-9+.-]*://", text):
        return _parse_url(raw, text)
    return _parse_path(raw, text)


def _arxiv_source(raw: str, arxiv_id: str, version: int | None) -> Source:
    return Source(kind="arxiv", raw=raw, key=arxiv_key(arxiv_id), arxiv_id=arxiv_id, version=version)


def _parse_url(raw: str, text: str) -> Source:
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise _bad(raw, "not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _bad(raw, f"unsupported URL scheme {parts.scheme!r}")
    if not host:
        raise _bad(raw, "the URL has no host")
    path = unquote(parts.path)
    if host in ARXIV_HOSTS:
        m = re.fullmatch(r"/(abs|pdf|html)/(?P<id>.+?)(?:\.pdf)?/*", path)
        found = match_arxiv_id(m.group("id")) if m else None
        if found is None:
            raise _bad(raw, "not an arXiv abs/, pdf/ or html/ URL with a valid id")
        return _arxiv_source(raw, *found)
    segments = [s for s in path.split("/") if s]
    if not segments or not (segments[-1].lower().endswith(".pdf") or "pdf" in (s.lower() for s in segments)):
        raise _bad(raw, "the URL does not point to a PDF (its path should end in .pdf)")
    url_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    if segments[-1].lower().endswith(".pdf"):
        stem = segments[-1][:-4]
    else:  # e.g. openreview.net/pdf?id=...: the path alone says little, so name the site too
        stem = "-".join([host.split(".")[-2] if "." in host else host, *segments[-2:]])
    return Source(kind="url", raw=raw, key=f"{slug(stem)}-{url_hash}", url=text)


def _parse_path(raw: str, text: str) -> Source:
    path = Path(text).expanduser()
    try:
        is_file = path.is_file()
        exists = path.exists()
    except OSError:
        is_file = exists = False
    if is_file:
        resolved = path.resolve()
        found = arxiv_id_in_path(resolved)
        if found is not None:
            arxiv_id, version = found
            return Source(kind="pdf", raw=raw, key=arxiv_key(arxiv_id), arxiv_id=arxiv_id,
                          version=version, path=resolved)
        return Source(kind="pdf", raw=raw, key=f"{slug(resolved.stem)}-{_file_hash(resolved)[:8]}",
                      path=resolved)
    if exists:
        raise SourceError(f"{raw!r} is a directory, not a PDF file", hint="give the path of one PDF file")
    if text.lower().endswith(".pdf") or text.startswith(("/", "./", "../", "~")) or "\\" in text:
        raise SourceError(f"PDF file not found: {text}", hint="check the path; it must be an existing file")
    raise _bad(raw)


def arxiv_id_in_path(path: Path) -> tuple[str, int | None] | None:
    """The arXiv id (and version) a PDF's file name or parent folders hold, if any.

    The file name wins; folders are looked at only for old-style ids stored as ``hep-th/9901001.pdf``.
    """
    name = path.name
    for m in _NEW_ID_IN_TEXT.finditer(name):
        if found := match_arxiv_id(m.group(1) + (m.group(2) or "")):
            return found
    tail = f"{path.parent.name}/{name}"
    for text in (name, tail):
        for m in _OLD_ID_IN_TEXT.finditer(text):
            if found := match_arxiv_id(f"{m.group(1)}/{m.group(2)}{m.group(3) or ''}"):
                return found
    return None


def slug(text: str, limit: int = 48) -> str:
    """Lower-case ASCII ``[a-z0-9_-]`` slug of ``text``, at most ``limit`` characters, never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-_")
    return value[:limit].rstrip("-_") or "paper"


def _file_hash(path: Path) -> str:
    try:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}", hint="check the file's permissions") \
            from exc


def _valid_new(yymm: str, number: str) -> bool:
    year, month = int(yymm[:2]), int(yymm[2:])
    if not 1 <= month <= 12 or (year, month) < (7, 4):
        return False
    # Four-digit sequence numbers until 2014-12, five digits from 2015-01 on.
    return len(number) == (4 if (year, month) <= (14, 12) else 5)


def _valid_old(yymm: str) -> bool:
    year, month = int(yymm[:2]), int(yymm[2:])
    return 1 <= month <= 12 and (year >= 91 or year <= 7)


def _int(value: str | None) -> int | None:
    return int(value) if value else None


def _bad(raw: str, why: str | None = None) -> SourceError:
    shown = raw if len(raw) <= 120 else raw[:117] + "..."
    reason = f" ({why})" if why else ""
    return SourceError(f"not a paper source: {shown!r}{reason}; expected {ACCEPTED_FORMS}")
