"""Page 1's front matter: the whole title and the authors' names. Pure functions.

Used when no arXiv record has them: the title hint (the largest text on page 1) can stop at a line
end, and the PDF's info dictionary often has no /Author, or one with e-mails and affiliation marks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A title never ends on one of these: when the hint does, the next line of page 1 goes on with it.
_DANGLING = re.compile(r"(?:\b(?:a|an|and|as|at|by|for|from|in|into|of|on|or|the|to|towards?|via|with|"
                       r"without|versus|vs\.?)|[:,\-\u2013\u2014])$", re.IGNORECASE)
_MAX_TITLE_LINES = 3
_MAX_FRONT_LINES = 30

_EMAIL = re.compile(r"[\w.+{},\-]+@[\w\-]+(?:\.[\w\-]+)+")
# Affiliation and footnote marks after a name: digits, symbols, the envelope glyph a font maps to a
# capital letter right after a digit ("Fan4B"), joined by commas ("Maestro,1, 2").
_MARK = r"(?:\d+[A-Z]?(?![\w.])|[*\u2217\u2020\u2021\u00a7\u00b6\u22c6\u266f\u2709#\u2606\u2605])"
_MARKS = re.compile(rf"(?<=[^\W\d_.]|[.)])\s?,?\s?{_MARK}(?:\s?,\s?{_MARK}|{_MARK})*")
# IEEE journals: 'Ann Author, Member, IEEE, and Bob Author, Fellow, IEEE'.
_MEMBERSHIP = re.compile(r",?\s*\b(?:(?:Student|Senior|Graduate Student|Life)\s+)?(?:Member|Fellow)\s*,\s*IEEE\b")
_EMPTY_BRACKETS = re.compile(r"[(\[<{]\s*[)\]>}]")
_SEPARATOR = re.compile(r"\s*(?:[,;|]|\band\b|&)\s*")
_PARTICLE = re.compile(r"^(?:van|von|der|den|de|del|della|di|da|du|la|le|dos|das|bin|al|y)$")
_NAME_WORD = re.compile(r"^(?:[A-Z\u00c0-\u024f][\w'\u2019\-]*\.?|(?:[A-Z]\.-?)+[A-Z]?\.?)$")
_AFFILIATION = re.compile(
    r"\b(?:universit\w*|institut\w*|department|dept|school|college|laborator\w*|lab|labs|research|centre|"
    r"center|academy|inc|ltd|llc|gmbh|corporation|company|group|faculty|hospital|foundation|"
    r"google|microsoft|facebook|meta|deepmind|openai|nvidia|amazon|apple|ibm|intel|baidu|alibaba|tencent|"
    r"huawei|sensetime|bytedance|technology|sciences?|engineering|china|usa|germany|france|japan|korea|"
    r"canada|uk|italy|switzerland|singapore|australia|india|dated|received|accepted|published|work|done|"
    r"equal|contribution|corresponding|author|correspondence|email|e-mail|conference|proceedings|arxiv)\b",
    re.IGNORECASE)
_STOP = re.compile(r"^(?:abstract|a\s?b\s?s\s?t\s?r\s?a\s?c\t?t|summary|index terms|keywords|key words|"
                   r"ccs concepts|a\s?r\s?t\s?i\s?c\s?l\s?e\s+i\s?n\s?f\s?o|1\.?\s+introduction)\b", re.IGNORECASE)


def complete_title(title: str | None, lines: Sequence[str]) -> str | None:
    """``title`` run on over the following lines of page 1 while it ends on a word a title cannot end
    on ("… NOISY LABELS AS" + "SEMI-SUPERVISED LEARNING"), at most three lines in all."""
    if not title:
        return title
    span = title_lines(title, lines)
    if span is None:
        return title
    start, end = span
    words = _join_lines(lines[start:end])
    while _DANGLING.search(words) and end < len(lines) and end - start < _MAX_TITLE_LINES:
        following = lines[end].strip()
        if not following or _STOP.match(following) or _EMAIL.search(following):
            break
        words = _join_lines([words, following])
        end += 1
    return " ".join(words.split())


def _join_lines(lines: Sequence[str]) -> str:
    # A compound broken at its hyphen ("SEMI-" + "SUPERVISED") keeps the hyphen and loses the space.
    joined = ""
    for line in lines:
        line = line.strip()
        joined = f"{joined}{line}" if re.search(r"\w-$", joined) or not joined else f"{joined} {line}"
    return joined


def title_lines(title: str, lines: Sequence[str]) -> tuple[int, int] | None:
    """The span ``[start, end)`` of page-1 lines the title is printed on, or None if it is not found."""
    wanted = _squash(title)
    if not wanted:
        return None
    for start in range(min(len(lines), _MAX_FRONT_LINES)):
        seen = ""
        for end in range(start, min(len(lines), start + 6)):
            seen += _squash(lines[end])
            if not wanted.startswith(seen):
                break
            if seen == wanted:
                return start, end + 1
    return None


def authors_from_front(lines: Sequence[str], title: str | None) -> list[str]:
    """Authors' names printed after the title on page 1, without e-mails or affiliation marks.

    Names, affiliations, e-mails and links may alternate (one author per block); the first line that
    is none of these ends the search, as do the abstract and prose. Empty when the title is not found
    on page 1 or no line reads as a list of names.
    """
    span = title_lines(title, lines) if title else None
    if span is None:
        return []
    names: list[str] = []
    for line in lines[span[1]:span[1] + _MAX_FRONT_LINES]:
        text = line.strip()
        if _STOP.match(text) or _is_prose(text):
            break
        if found := names_in_line(text):
            names.extend(n for n in found if n not in names)
        elif names and not _is_affiliation(text):
            break
    return names


def names_in_line(line: str) -> list[str]:
    """The names of one line of authors ("Olaf Ronneberger1,2, Philipp Fischer1, and Thomas Brox1"),
    or [] when the line is something else (an affiliation, an address, a date)."""
    text = _EMPTY_BRACKETS.sub(" ", _EMAIL.sub(" ", _MEMBERSHIP.sub("", line))).strip()
    if not text or _is_affiliation(text):
        return []
    marked = _MARKS.sub(" | ", text)
    pieces = [p.strip(" .") for p in _SEPARATOR.split(marked)]
    pieces = [p for p in pieces if p]
    if not pieces:
        return []
    if len(pieces) == 1 and marked == text and len(pieces[0].split()) > 4:
        return []  # names joined by spaces only: where one ends is a guess
    names = [" ".join(p.split()) for p in pieces]
    return names if all(_is_name(n) for n in names) else []


def clean_author(name: str) -> str:
    """One name from a PDF's /Author without e-mails and affiliation marks."""
    text = _EMPTY_BRACKETS.sub(" ", _MARKS.sub(" ", _EMAIL.sub(" ", name)))
    return " ".join(text.split()).strip(" ,;")


def _is_affiliation(line: str) -> bool:
    """An affiliation, address, e-mail or link line (or a footnote to one)."""
    return bool(re.match(r"^[\d*\u2217\u2020\u2021\u00a7\u00b6(\[]", line) or _AFFILIATION.search(line)
                or _EMAIL.search(line) or "://" in line or "www." in line)


def _is_name(name: str) -> bool:
    words = name.split()
    if not 2 <= len(words) <= 5 or len(name) > 50 or any(c.isdigit() for c in name):
        return False
    if not all(_NAME_WORD.match(w) or _PARTICLE.match(w) for w in words):
        return False
    return not _PARTICLE.match(words[-1]) and not _PARTICLE.match(words[0])


def _is_prose(line: str) -> bool:
    words = line.split()
    lower = sum(1 for w in words if w[:1].islower())
    return len(words) >= 8 and lower >= len(words) / 2


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()
