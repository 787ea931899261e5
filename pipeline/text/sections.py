"""Section detection on cleaned lines. Pure functions.

Numbered headings ('1 Introduction', '3.2. Decoder', 'II. RELATED WORK' with 'A. Subsection') are
found as the best-scoring *chain*: a sequence whose numbers follow each other (1, 2, 2.1, 2.2, 3 ...).
This keeps numbered list items, figure labels ('1. CLS') and reference entries ('3 A. Georges, ...')
out, because they do not continue the paper's own numbering and read like sentences, not titles.
Unnumbered headings are matched by name (Abstract, References, Acknowledg(e)ments, Appendix ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.models import SectionKind

# Kinds by name, tried in order on the lower-cased title without its number.
_KIND_RULES: tuple[tuple[SectionKind, re.Pattern[str]], ...] = (
    ("abstract", re.compile(r"^abstract\b")),
    ("references", re.compile(r"^(references?|bibliography|literature cited|works cited)\b")),
    ("acknowledgements", re.compile(r"^acknowledge?ments?\b")),
    ("appendix", re.compile(r"^(appendix|appendices|supplementary|supplemental)\b")),
    ("conclusion", re.compile(r"conclu|^summary and (outlook|future)|^outlook\b")),
    ("introduction", re.compile(r"^introduction\b")),
    ("related", re.compile(r"^(related (work|literature|research)|background|prior (work|art)|"
                           r"literature (review|survey)|previous work)")),
    ("experiments", re.compile(r"^(experiment|experimental|evaluation|empirical|results?\b|ablation|"
                               r"implementation details|comparison|benchmark)")),
    ("discussion", re.compile(r"^(discussion|limitations?|broader impact|analysis)\b")),
    ("method", re.compile(r"^(method|methods|methodology|approach|our approach|proposed|"
                          r"the proposed|model|framework|architecture|preliminar|problem (setup|"
                          r"formulation|definition|statement))")),
)
# Names accepted as unnumbered headings when they stand alone on a line.
_ALWAYS = re.compile(
    r"^(abstract|references|bibliography|acknowledge?ments?|appendix(?: [A-Z])?|appendices|"
    r"supplementary materials?|article ?info|keywords)$", re.IGNORECASE)
_UNNUMBERED = re.compile(
    r"^(introduction|related works?|background|methods?|methodology|materials and methods|approach|"
    r"experiments|experimental results|results|results and discussion|evaluation|discussion|"
    r"conclusions?(?: and (?:future work|discussion|outlook))?|concluding remarks|summary|proposed method|"
    r"experimental (?:setup|settings?)|experiments and results)$",
    re.IGNORECASE)
# Labels that run into their text: 'Abstract—We …', 'Index Terms—…' (IEEE), 'Keywords: …' (LNCS,
# Elsevier), 'CCS Concepts: • …' and 'ACM Reference Format: …' (ACM). The front-matter labels open a
# section of their own (kind 'other'), so that they do not run on into the abstract or introduction.
_RUN_IN = re.compile(r"^(Abstract|ABSTRACT|Acknowledge?ments?|ACKNOWLEDGE?MENTS?|Index Terms|INDEX TERMS|"
                     r"Keywords|KEYWORDS|Key words|CCS Concepts|CCS CONCEPTS|ACM Reference Format)"
                     r"\s*(?:[—–:.-]\s*|\s+(?=[A-Z•]))(\S.*)$")

_ARABIC = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?"
                     r"(?:\s+|(?=[A-Z]{2})|(?:(?<=\.\d)|(?<=\.\d\d))(?=[A-Z][a-z]))(\S.*)$")
_ROMAN = re.compile(r"^([IVX]{1,5})\.\s+(\S.*)$")
_LETTER = re.compile(r"^([A-H])\.\s+(\S.*)$")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}
_STOPWORDS = frozenset({"a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or",
                        "the", "to", "via", "vs", "with", "without"})
_SMALL_CAPS = re.compile(r"\b([A-Z]) ([A-Z]{2,})\b")
_AUTHOR_START = re.compile(r"^[A-Z]\.\s?(?:[A-Z][a-z]|[A-Z]\.)")

Number = tuple[int, ...]
# Chain scores are counted in hundredths of a `title_score` point, as integers, so that equal chains tie
# exactly and the earliest wins (float sums such as 2.1 + 0.8 - 0.8 != 2.1 made that a matter of rounding).
_GAP_PENALTY = 80
_START_PENALTY = 150


@dataclass(frozen=True)
class Heading:
    """One detected heading: where it is, how it reads and what kind of section it opens."""

    index: int
    title: str
    kind: SectionKind | None
    number: str | None = None
    level: int = 1
    lines: int = 1
    run_in: str | None = None


def classify(title: str) -> SectionKind | None:
    """The section kind a heading's name implies, or None when the name says nothing."""
    name = " ".join(_strip_number(title).lower().split())
    for kind, pattern in _KIND_RULES:
        if pattern.search(name):
            return kind
    return None


def _unspaced(text: str) -> str:
    """An all-caps heading as set: small caps split as 'I NTRODUCTION' or 'R ELATED W ORK', letters
    spaced out as 'A B S T R A C T' or 'A R T I C L E  I N F O' (Elsevier); else ``text`` unchanged."""
    letters = [c for c in text if c.isalpha()]
    if not letters or sum(c.isupper() for c in letters) < 0.9 * len(letters):
        return text
    words = re.split(r"\s{2,}", text.strip())
    if all(re.fullmatch(r"(?:\w )+\w", w) for w in words):
        return " ".join(w.replace(" ", "") for w in words)
    return _SMALL_CAPS.sub(r"\1\2", text)


def _strip_number(title: str) -> str:
    for pattern in (_ARABIC, _ROMAN, _LETTER):
        if match := pattern.match(title):
            return match.group(2)
    return title


def _roman(text: str) -> int | None:
    values = [_ROMAN_VALUES[c] for c in text]
    total = sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))
    canonical = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII", 9: "IX",
                 10: "X", 11: "XI", 12: "XII", 13: "XIII", 14: "XIV", 15: "XV"}
    return total if canonical.get(total) == text else None


def title_score(title: str, *, caps: bool = False) -> float:
    """How much ``title`` reads like a heading rather than a sentence, 0 (not at all) to 2."""
    if not title[:1].isupper() or len(title) > 100 or _AUTHOR_START.match(title):
        return 0.0
    words = title.split()
    if len(words) > 15 or title.endswith((",", ";", "-", ":")) or (title.endswith(".") and len(words) > 6):
        return 0.0
    letters = [c for c in title if c.isalpha()]
    if len(letters) < 2:
        return 0.0
    upper_share = sum(c.isupper() for c in letters) / len(letters)
    if caps and upper_share < 0.6:
        return 0.0
    score = 1.0
    lower = sum(1 for w in words if w[:1].islower() and w.lower() not in _STOPWORDS)
    score -= 0.2 * max(0, lower - 2)
    if "e.g." in title or "i.e." in title or title.count("(") != title.count(")"):
        score -= 0.5
    if not caps and len(words) == 1 and len(letters) <= 4 and upper_share == 1.0:
        score -= 0.6  # 'CLS', 'DET': figure labels, not sections
    if sum(c.isdigit() for c in title) > len(letters) / 3:
        score -= 0.5
    if classify(title) is not None:
        score += 1.0
    return max(0.0, score)


@dataclass(frozen=True)
class _Candidate:
    index: int
    title: str
    number: str
    options: tuple[tuple[str, Number], ...]
    weight: float
    lines: int = 1


def _candidates(lines: Sequence[str], stop: int) -> list[_Candidate]:
    found: list[_Candidate] = []
    for i in range(stop):
        line = lines[i]
        if match := _ARABIC.match(line):
            parts = tuple(int(p) for p in match.group(1).split("."))
            title, full = match.group(2), line
            if classify(title) is None and classify(fixed := _unspaced(title)) is not None:
                title, full = fixed, f"{match.group(1)} {fixed}"  # '1 I NTRODUCTION' (IEEE Computer Society)
            # '1INTRODUCTION': pypdf sets no space where TeX put a gap after the number; taken only in
            # capitals ('2TMCC, CS, …' is an affiliation) or after a dotted number ('3.1Overview').
            tight = not line[len(match.group(1)):].lstrip(".")[:1].isspace()
            if tight:
                full = f"{match.group(1)} {title}"
            weight = title_score(title, caps=tight and len(parts) == 1)
            if weight > 0 and all(1 <= p <= 30 for p in parts):
                found.append(_Candidate(i, full, match.group(1), (("arabic", parts),), weight))
        elif (match := _ROMAN.match(line)) and (value := _roman(match.group(1))):
            title, extra = _continued_caps(lines, i, match.group(2))
            weight = title_score(title, caps=True)
            if weight > 0:
                full = f"{match.group(1)}. {title}"
                found.append(_Candidate(i, full, match.group(1), (("roman", (value,)),), weight, 1 + extra))
        elif match := _LETTER.match(line):
            weight = title_score(match.group(2))
            k = ord(match.group(1)) - ord("A") + 1
            if weight > 0:
                options = tuple(("roman", (r, k)) for r in range(1, 16))
                found.append(_Candidate(i, line, match.group(1), options, weight))
    return found


def _continued_caps(lines: Sequence[str], i: int, title: str) -> tuple[str, int]:
    """IEEE/REVTeX all-caps headings wrap ('II. SELF-CONSISTENT ACTION IN THE' / 'LARGE z LIMIT')."""
    title = _SMALL_CAPS.sub(r"\1\2", title)  # small caps split as 'I NTRODUCTION'
    if i + 1 < len(lines) and not title.endswith((".", ":")):
        nxt = lines[i + 1]
        letters = [c for c in nxt if c.isalpha()]
        if letters and len(nxt) <= 40 and sum(c.isupper() for c in letters) / len(letters) >= 0.6 \
                and not _ROMAN.match(nxt) and not _LETTER.match(nxt):
            return f"{title} {nxt}", 1
    return title, 0


def _follows(a: Number, b: Number) -> int | None:
    """Penalty for ``b`` following ``a`` in a numbering, None if it cannot."""
    if len(b) == len(a) + 1 and b[:-1] == a and b[-1] == 1:
        return 0
    if len(b) <= len(a) and b[:-1] == a[: len(b) - 1]:
        step = b[-1] - a[len(b) - 1]
        if step == 1:
            return 0
        if step == 2:
            return _GAP_PENALTY
    return None


def _best_chain(cands: list[_Candidate]) -> list[tuple[_Candidate, Number]]:
    """The best-scoring chain through the candidates' numbering options (dynamic programming).

    A node's best predecessor is looked up, not searched for among all earlier nodes (which made 4,000
    lines like '3.2 Method Part' take seconds, growing with the square): `_follows` only accepts a
    number whose first ``len(b)`` parts are ``b[:-1] + (b[-1] - 1,)`` or ``... - 2``, or that is ``b[:-1]``
    itself, so two tables of the best earlier node per number prefix and per number answer it.
    Ties go to the earliest node, as a pass over all of them in order would.
    """
    nodes: list[tuple[_Candidate, str, Number]] = []
    best: list[int] = []
    back: list[int | None] = []
    # (style, prefix) -> (best score, earliest node with it) over earlier nodes whose number starts with
    # the prefix; (style, number) -> the same over earlier nodes with exactly that number.
    by_prefix: dict[tuple[str, Number], tuple[int, int]] = {}
    by_number: dict[tuple[str, Number], tuple[int, int]] = {}
    for c in cands:
        weight = round(c.weight * 100)
        first = len(nodes)
        for style, num in c.options:
            score = weight - (0 if num in ((1,), (1, 1)) else _START_PENALTY)
            prev: int | None = None
            lookups = [(by_prefix, (*num[:-1], num[-1] - step)) for step in (1, 2)] + [(by_number, num[:-1])]
            for table, before in lookups:
                entry = table.get((style, before))
                penalty = _follows(before, num) if entry else None
                if entry is None or penalty is None:
                    continue
                total = entry[0] + weight - penalty
                if total > score or (total == score and prev is not None and entry[1] < prev):
                    score, prev = total, entry[1]
            nodes.append((c, style, num))
            best.append(score)
            back.append(prev)
        # The options of one candidate (one line) never follow each other: they are entered together.
        for k in range(first, len(nodes)):
            _, style, num = nodes[k]
            for length in range(1, len(num) + 1):
                _keep_best(by_prefix, (style, num[:length]), best[k], k)
            _keep_best(by_number, (style, num), best[k], k)
    if not nodes:
        return []
    end: int | None = max(range(len(nodes)), key=best.__getitem__)
    chain: list[tuple[_Candidate, Number]] = []
    while end is not None:
        chain.append((nodes[end][0], nodes[end][2]))
        end = back[end]
    return chain[::-1]


def _keep_best(table: dict[tuple[str, Number], tuple[int, int]], key: tuple[str, Number], score: int,
               node: int) -> None:
    held = table.get(key)
    if held is None or score > held[0]:
        table[key] = (score, node)


def find_headings(lines: Sequence[str]) -> list[Heading]:
    """Every heading in ``lines``, in order. Numbered headings after the references are not sought."""
    named: list[Heading] = []
    for i, line in enumerate(lines):
        bare = _unspaced(line.rstrip(":.").strip())
        if _ALWAYS.match(bare):
            named.append(Heading(i, bare, classify(bare)))
        elif match := _RUN_IN.match(line):
            named.append(Heading(i, match.group(1), classify(match.group(1)), run_in=match.group(2)))
    stop = next((h.index for h in named if h.kind == "references"), len(lines))
    if stop == len(lines):
        stop = next((h.index for h in named if h.kind == "acknowledgements"), len(lines))
    chain = _best_chain(_candidates(lines, stop))
    if len(chain) < 3:
        chain = []
        bare_lines = [_unspaced(line.rstrip(":.").strip()) for line in lines[:stop]]
        named.extend(Heading(i, bare, classify(bare)) for i, bare in enumerate(bare_lines) if _UNNUMBERED.match(bare))
    numbered = [Heading(c.index, c.title, classify(c.title), c.number, len(num), c.lines)
                for c, num in chain]
    taken = {h.index for h in numbered}
    headings = numbered + [h for h in named if h.index not in taken]
    return sorted(headings, key=lambda h: h.index)


def assign_kinds(headings: list[Heading]) -> list[SectionKind]:
    """A kind for every heading: by name, else by parent (subsections), else by position.

    Unnamed top-level sections between the introduction and the experiments are the method; a final
    'Discussion' (or 'Summary') stands in for the conclusion when the paper has none.
    """
    kinds: list[SectionKind] = []
    parent: SectionKind = "other"
    seen: set[SectionKind] = set()
    cut = False
    for h in headings:
        kind = h.kind
        if cut and kind not in ("appendix", "acknowledgements"):
            kind = "references" if "appendix" not in seen else "appendix"
        elif kind is None:
            if h.level > 1:
                kind = parent
            elif "introduction" in seen and not seen & {"experiments", "conclusion"}:
                kind = "method"
            else:
                kind = "other"
        if kind in ("references", "appendix"):
            cut = True
        if h.level == 1:
            parent = kind
        seen.add(kind)
        kinds.append(kind)
    if "conclusion" not in kinds:
        body = [i for i, k in enumerate(kinds) if k not in ("references", "appendix", "acknowledgements")]
        tops = [i for i in body if headings[i].level == 1]
        if tops and (kinds[tops[-1]] == "discussion"
                     or re.search(r"summary|outlook", headings[tops[-1]].title, re.IGNORECASE)):
            last = tops[-1]
            for i in body:
                if i >= last:
                    kinds[i] = "conclusion"
    return kinds


_DATED = re.compile(r"^\((Dated|Received|Submitted|Accepted)\b", re.IGNORECASE)
_FRONT_NOISE = re.compile(r"^(PACS|Keywords|Key words|Index Terms|MSC|DOI)\b", re.IGNORECASE)


def abstract_from_front(front: Sequence[str]) -> list[str]:
    """The abstract of a paper without an 'Abstract' heading (REVTeX): the prose block ending the
    front matter, after the '(Dated: ...)' line when there is one."""
    dated = [i for i, line in enumerate(front) if _DATED.match(line)]
    if dated:
        block = [line for line in front[dated[-1] + 1:] if not _FRONT_NOISE.match(line)]
    else:
        lines = [line for line in front if not _FRONT_NOISE.match(line)]
        if not lines:
            return []
        wide = max(len(line) for line in lines)
        start = len(lines) - 1
        while start > 0 and len(lines[start - 1]) >= 0.6 * wide:
            start -= 1
        block = lines[start:]
    return block if len(block) >= 3 and sum(map(len, block)) >= 300 else []


def guess_title(hint: str | None, metadata_title: str | None, first_lines: Sequence[str]) -> str | None:
    """The paper's title: the largest text on page 1, else the PDF's own title field, else line 1."""
    for candidate in (hint, metadata_title):
        if candidate and len(candidate.split()) >= 2 and not re.search(
                r"\.(dvi|tex|docx?|pdf)$|^microsoft word|^untitled", candidate, re.IGNORECASE):
            return " ".join(candidate.split())
    return first_lines[0] if first_lines else None


def looks_like_heading(line: str) -> bool:
    """Cheap test used to protect heading lines from the figure-text filter."""
    bare = _unspaced(line.rstrip(":.").strip())
    if _ALWAYS.match(bare) or _UNNUMBERED.match(bare) or _RUN_IN.match(line):
        return True
    for pattern in (_ARABIC, _ROMAN, _LETTER):
        if match := pattern.match(line):
            return title_score(match.group(2)) > 0
    return False
