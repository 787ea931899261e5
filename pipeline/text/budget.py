"""Token estimates and the token-budgeted text selection. Pure functions.

Token heuristic (`estimate_tokens`): one token per CJK character (Chinese, Japanese, Korean), and one
token per 4 other characters, spaces included, rounded up. For English prose this is close to what
OpenAI's tokenizers and llama-style tokenizers count (3.6-4.4 characters per token), and it needs no
tokenizer download. It errs a little high on plain prose and low on formulas, which is the safe side
for prose-heavy selections.

`select_text` keeps the title, abstract, introduction, method and conclusion first and trims the
experiments and related work first. A section over its share is cut at a sentence boundary rather
than dropped whole, as long as a useful amount (`MIN_PART_TOKENS`) of it still fits.
"""

from __future__ import annotations

import math
import re

from pipeline.core.models import ExtractedDocument, SectionKind, SelectionPart, TextSelection

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")
CHARS_PER_TOKEN = 4
# A trimmed section smaller than this is dropped instead: a sentence or two tells the model little.
MIN_PART_TOKENS = 80

# First trimmed first; the title is never trimmed.
TRIM_ORDER: tuple[tuple[SectionKind, ...], ...] = (
    ("related",),
    ("experiments",),
    ("other", "discussion"),
    ("method",),
    ("introduction",),
    ("conclusion",),
    ("abstract",),
)
_NEVER_SELECTED: frozenset[SectionKind] = frozenset({"references", "acknowledgements", "appendix"})
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[\"'])|\n+")


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text``: 1 per CJK character plus 1 per 4 other characters (rounded up)."""
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / CHARS_PER_TOKEN)


def trim_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of whole sentences within ``max_tokens`` (whole words if one sentence is
    already too long)."""
    if estimate_tokens(text) <= max_tokens:
        return text
    pieces = _SENTENCE_END.split(text)
    kept = ""
    for piece in pieces:
        candidate = f"{kept} {piece}".strip() if kept else piece
        if estimate_tokens(candidate) > max_tokens:
            break
        kept = candidate
    if kept:
        return kept
    words: list[str] = []
    for word in text.split():
        if estimate_tokens(" ".join([*words, word])) > max_tokens:
            break
        words.append(word)
    return " ".join(words)


class _Part:
    def __init__(self, title: str, kind: SectionKind, text: str) -> None:
        self.title, self.kind, self.text = title, kind, text
        self.tokens = self.cost(text)
        self.kept_text: str | None = text

    def render(self, text: str) -> str:
        return f"{self.title}\n{text}" if self.title else text

    def cost(self, text: str) -> int:
        # Each part is joined with a blank line; counting it per part keeps the sum an upper bound.
        return estimate_tokens(self.render(text) + "\n\n")

    @property
    def kept_tokens(self) -> int:
        return 0 if self.kept_text is None else self.cost(self.kept_text)


def select_text(doc: ExtractedDocument, budget_tokens: int, *, title: str | None = None,
                abstract: str | None = None) -> TextSelection:
    """The paper's text within ``budget_tokens``, most useful sections first, in reading order.

    ``title`` (e.g. from arXiv metadata) replaces the title guessed from the PDF; ``abstract`` is used
    only when the PDF yielded no abstract section. Returns the text with a record of every section
    used, trimmed or cut.
    """
    parts: list[_Part] = []
    heading = title or doc.title
    if heading:
        parts.append(_Part("", "title", f"Title: {' '.join(heading.split())}"))
    sections = [s for s in doc.sections if s.kind not in _NEVER_SELECTED]
    if abstract and not any(s.kind == "abstract" for s in sections):
        parts.append(_Part("Abstract", "abstract", " ".join(abstract.split())))
    parts.extend(_Part(s.title, s.kind, s.text) for s in sections)

    excess = sum(p.tokens for p in parts) - budget_tokens
    for kinds in TRIM_ORDER:
        if excess <= 0:
            break
        group = [p for p in parts if p.kind in kinds]
        excess -= _shrink(group, excess)
    if excess > 0:  # only the title is left and it alone is over budget
        for part in parts:
            if part.kind == "title" and part.kept_text is not None:
                part.kept_text = trim_to_tokens(part.kept_text, max(1, budget_tokens - 1))

    chosen = [p.render(p.kept_text) for p in parts if p.kept_text is not None and p.kept_text.strip()]
    text = "\n\n".join(chosen)
    records = [SelectionPart(title="Title" if p.kind == "title" else p.title, kind=p.kind, tokens=p.tokens,
                             kept=p.kept_text is not None and bool(p.kept_text.strip()),
                             trimmed_to=p.kept_tokens if p.kept_text not in (None, p.text) else None)
               for p in parts]
    return TextSelection(text=text, tokens=estimate_tokens(text), budget=budget_tokens, parts=records)


def _shrink(group: list[_Part], excess: int) -> int:
    """Free at least ``excess`` tokens from ``group`` (trimming proportionally, else dropping all);
    return how many were freed."""
    total = sum(p.kept_tokens for p in group)
    if not total:
        return 0
    allowance = total - excess
    if allowance < MIN_PART_TOKENS:
        for part in group:
            part.kept_text = None
        return total
    freed = 0
    for part in group:
        before = part.kept_tokens
        share = before * allowance // total
        if share < MIN_PART_TOKENS or part.kept_text is None:
            part.kept_text = None
        else:
            body_budget = share - (part.cost("") - 1)
            trimmed = trim_to_tokens(part.kept_text, max(0, body_budget))
            part.kept_text = trimmed or None
            while part.kept_text is not None and part.kept_tokens > share:
                part.kept_text = trim_to_tokens(part.kept_text, estimate_tokens(part.kept_text) - 8) or None
        freed += before - part.kept_tokens
    return freed
