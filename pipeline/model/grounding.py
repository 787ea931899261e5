"""Pure text checks behind the summary validators: language, placeholders, grounding.

Core module: no I/O. Grounding means an evidence quote occurs verbatim in the text the model was
given (compared case-, whitespace-, ligature- and quote-style-insensitively), and every number in
an English bullet occurs in that text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']*")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‐": "-", "‑": "-",
                         "–": "-", "—": "-", "−": "-"})
_PLACEHOLDERS = re.compile(
    r"^\s*(n/?a|none|null|todo|tbd|tba|\.{2,}|…+|-+|待补充|暂无|无)\s*[.。]?\s*$"
    r"|summary generation failed|lorem ipsum|placeholder|\bto be (?:added|filled|written)\b|\bTODO\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=64)
def normalize(text: str) -> str:
    """Fold text for verbatim comparison: NFKC, one quote/dash style, lower case, single spaces.

    Line-end hyphenation is joined too ("segmen- tation" -> "segmentation").
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    return " ".join(text.split())


def cjk_count(text: str) -> int:
    """Number of CJK ideographs in ``text``."""
    return len(_CJK.findall(text))


def cjk_share(text: str) -> float:
    """Share of CJK ideographs among all letters (CJK ideographs plus Latin letters)."""
    cjk = cjk_count(text)
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return cjk / (cjk + latin) if cjk + latin else 0.0


def longest_latin_run(text: str) -> int:
    """Longest run of consecutive Latin words not interrupted by a CJK character."""
    best = 0
    for chunk in _CJK_RUN.split(text):
        words = _LATIN_WORD.findall(chunk)
        best = max(best, len(words))
    return best


def chinese_problem(text: str) -> str | None:
    """Why ``text`` is not acceptable Chinese, or None.

    Latin technical terms may stay in English: each Latin word counts as one unit, and the text
    is Chinese when CJK characters are at least 60% of the units and no English clause (six or
    more Latin words in a row) appears.
    """
    cjk = cjk_count(text)
    if cjk == 0:
        return "has no Chinese characters"
    words = len(_LATIN_WORD.findall(text))
    if cjk / (cjk + words) < 0.6:
        return "is mostly English; write it in Chinese, keeping only technical terms in English"
    run = longest_latin_run(text) if words >= 6 else words  # fewer words cannot make a clause of six
    if run >= 6:
        return f"contains an English clause of {run} words; translate it, keep only technical terms"
    return None


def is_placeholder(text: str) -> bool:
    """True for filler that must never be published (N/A, TODO, '...', 'Summary generation failed')."""
    return bool(_PLACEHOLDERS.search(text))


def word_count(text: str) -> int:
    """Whitespace-separated words."""
    return len(text.split())


def quote_found(quote: str, normalized_source: str) -> bool:
    """True when ``quote`` occurs in the already-normalized source text."""
    needle = normalize(quote).strip(" \"'.,;:")
    return bool(needle) and needle in normalized_source


def numbers_in(text: str) -> list[str]:
    """Numbers written in ``text`` (integers and decimals), in order."""
    return _NUMBER.findall(unicodedata.normalize("NFKC", text))


@lru_cache(maxsize=16)
def _numbers_of(normalized_source: str) -> frozenset[str]:
    found = set(_NUMBER.findall(normalized_source))
    return frozenset(found | {n.replace(",", "") for n in found})


def missing_numbers(text: str, normalized_source: str) -> list[str]:
    """Numbers in ``text`` that do not occur as numbers in the normalized source."""
    source_numbers = _numbers_of(normalized_source)
    return [n for n in numbers_in(text) if n not in source_numbers and n.replace(",", "") not in source_numbers]


def snap_quote(quote: str, source_text: str, *, min_ratio: float = 0.88) -> str | None:
    """The span of ``source_text`` that ``quote`` nearly copies, or None.

    Small models often quote almost verbatim (a dropped article, a changed plural). When a span of
    the source with nearly the same words exists, the evidence becomes that exact span, so every
    stored quote is still verbatim paper text; anything looser stays ungrounded.
    """
    from difflib import SequenceMatcher  # stdlib; imported here to keep module import cheap

    def fold(word: str) -> str:
        return normalize(word).strip(".,;:!?\"'()[]")

    quote_words = [fold(w) for w in quote.split()]
    if len(quote_words) < 6:
        return None
    raw_words = " ".join(unicodedata.normalize("NFKC", source_text).split()).split(" ")
    source_words = [fold(w) for w in raw_words]
    matcher = SequenceMatcher(None, source_words, quote_words, autojunk=False)
    best: tuple[float, int, int] | None = None
    for block in matcher.get_matching_blocks():
        if block.size < 3:
            continue
        start = max(0, block.a - block.b)
        for length in (len(quote_words) - 1, len(quote_words), len(quote_words) + 1):
            window = source_words[start:start + length]
            ratio = SequenceMatcher(None, window, quote_words, autojunk=False).ratio()
            if best is None or ratio > best[0]:
                best = (ratio, start, length)
    if best is None or best[0] < min_ratio:
        return None
    _, start, length = best
    return " ".join(raw_words[start:start + length]).strip(" ,;:")


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


def leading_sentences(text: str, limit: int) -> str | None:
    """The longest run of whole leading sentences of ``text`` within ``limit`` characters, or None."""
    kept = ""
    for sentence in _SENTENCE_END.split(text.strip()):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    return kept or None


# --------------------------------------------------------------------------- numbers across languages

# Scale words and suffixes as they follow a number in either language ("1.5 billion", "1.5B", "15亿").
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12,
          "万亿": 1e12, "千亿": 1e11, "百亿": 1e10, "十亿": 1e9, "千万": 1e7, "百万": 1e6, "亿": 1e8, "万": 1e4,
          "千": 1e3, "k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9}
_QUANTITY = re.compile(
    r"(?<![A-Za-z\d.])(\d+(?:,\d{3})*(?:\.\d+)?)"
    r"(?:\s*-?\s*(?i:(thousand|million|billion|trillion))\b"
    r"|\s*(万亿|千亿|百亿|十亿|千万|百万|亿|万|千)"
    r"|([kKMB])(?![A-Za-z]))?"
)
# Small counts an English bullet may spell out while its translation writes the digit.
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
                 "single": 1, "double": 2, "twice": 2, "dual": 2, "pair": 2, "triple": 3, "both": 2}
_WORD = re.compile(r"[a-z]+")
_DIGITS = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def quantities(text: str) -> list[tuple[str, float]]:
    """The numbers written in ``text`` with their scale applied, as (as written, value)."""
    found = []
    for match in _QUANTITY.finditer(unicodedata.normalize("NFKC", text)):
        digits, word, chinese, suffix = match.groups()
        scale = _SCALE[(word or "").lower() or chinese or suffix] if (word or chinese or suffix) else 1.0
        found.append((match.group(0).strip(), float(digits.replace(",", "")) * scale))
    return found


def chinese_numbers(english: str) -> dict[str, str]:
    """The numbers of ``english`` written with a scale ("1.5-billion", "10k", "3 million") and how Chinese
    writes them ("15亿", "1万", "300万"): small models translate 1.5 billion as 1.5亿, so the prompt says."""
    out = {}
    for written, value in quantities(english):
        if not re.search(r"[A-Za-z]", written):
            continue
        if value >= 1e8:
            out[written] = f"{value / 1e8:g}亿"
        elif value >= 1e4:
            out[written] = f"{value / 1e4:g}万"
        else:
            out[written] = f"{value:g}"
    return out


def fix_scales(translation: str, english: str) -> str:
    """``translation`` with each number whose digits are an English number's but whose scale is wrong
    ("1.5亿" for "1.5-billion") written the Chinese way ("15亿"); unchanged when there is none."""
    right = chinese_numbers(english)
    values = [value for _, value in quantities(english)]
    by_digits = {m.group(0): zh for w, zh in right.items() if (m := _DIGITS.match(w))}
    out = translation
    for written, value in quantities(translation):
        digits = _DIGITS.match(written)
        if digits is None or any(abs(value - v) <= 1e-9 * max(abs(value), abs(v), 1.0) for v in values):
            continue
        if (zh := by_digits.get(digits.group(0))) is not None:
            out = out.replace(written, zh, 1)
    return out


def _shown(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,}"


def quantity_mismatch(translation: str, english: str) -> str | None:
    """What is wrong when ``translation`` states a number its ``english`` source does not (a scale
    mistranslated, 1.5 billion as 1.5亿, or a number made up); None when every number matches."""
    values = [value for _, value in quantities(english)]
    # Digits glued to a word count too ("superconductors1", a footnote mark the translation kept).
    values += [float(n.replace(",", "")) for n in _DIGITS.findall(unicodedata.normalize("NFKC", english))]
    values += [float(_NUMBER_WORDS[w]) for w in _WORD.findall(english.lower()) if w in _NUMBER_WORDS]
    for written, value in quantities(translation):
        if not any(abs(value - other) <= 1e-9 * max(abs(value), abs(other), 1.0) for other in values):
            said = ", ".join(w if w.replace(",", "") == _shown(v).replace(",", "") else f"{w} = {_shown(v)}"
                             for w, v in quantities(english)) or "no number"
            return (f"'{written}' ({_shown(value)}) is not a number of the English bullet ({said}); "
                    "translate numbers exactly (1 million = 100万, 1 billion = 10亿)")
    return None


# --------------------------------------------------------------------------- helping a re-ask

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_WORDS = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=16)
def _sentences(source_text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    found = []
    for sentence in _SENTENCE_SPLIT.split(source_text):
        sentence = " ".join(sentence.split())
        if 6 <= len(sentence.split()) <= 200:
            found.append((sentence, frozenset(_WORDS.findall(normalize(sentence)))))
    return tuple(found)


def closest_sentence(quote: str, source_text: str, *, min_share: float = 0.5, max_words: int = 50) -> str | None:
    """The sentence of ``source_text`` sharing the most words with ``quote`` (at least ``min_share`` of
    them), cut to its first ``max_words`` words: what to tell a model whose quote is not verbatim."""
    wanted = frozenset(_WORDS.findall(normalize(quote)))
    if not wanted:
        return None
    best, best_share = None, min_share
    for sentence, words in _sentences(source_text):
        share = len(wanted & words) / len(wanted)
        if share >= best_share and (best is None or share > best_share):
            best, best_share = sentence, share
    if best is None:
        return None
    return " ".join(best.split()[:max_words])


# --------------------------------------------------------------------------- text that talks to the model

# A paper has no reason to address the model that reads it: such sentences are prompt injection (or a
# quoted prompt), flagged in the draft and never accepted as evidence.
_ADDRESSES_MODEL = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+|of\s+)*"
    r"(?:previous|prior|above|earlier|preceding|former|original)\s+(?:instructions?|prompts?|rules|directions|text)\b"
    r"|\bdisregard\s+(?:all\s+|everything\s+)?(?:the\s+)?(?:above|previous|prior)\b"
    r"|\byou\s+are\b|\b(?:print|reveal|show|repeat|output|ignore|disregard)\s+(?:your|the)\s+system\s+prompt\b"
    r"|\bnew\s+system\s+prompt\b|\bsystem\s+prompt\s*:|\bas\s+an?\s+(?:ai|language\s+model|llm)\b"
    r"|\b(?:the|this|your)\s+(?:summary|answer|response|output|reply)\s+(?:must|should|shall|has\s+to)\b",
    re.IGNORECASE)


def addresses_model(text: str) -> bool:
    """True when ``text`` speaks to the model ("ignore previous instructions", "you are now …")."""
    return bool(_ADDRESSES_MODEL.search(unicodedata.normalize("NFKC", text)))


def addressed_citations(groups: Mapping[str, Sequence[Sequence[int]]], shown: Mapping[int, str]) -> list[str]:
    """One message per cited sentence that addresses the model: such a sentence is never evidence.

    ``groups`` maps a question to its bullets' cited sentence ids; ``shown`` maps ids to their text.
    """
    problems = []
    for name, bullets in groups.items():
        for i, ids in enumerate(bullets, 1):
            for n in ids:
                if n in shown and addresses_model(shown[n]):
                    problems.append(f"en.{name}[{i}]: S{n} speaks to the reader of the prompt, not about the paper "
                                    f"({shown[n][:80]!r}); it is never evidence: cite another sentence")
    return problems
