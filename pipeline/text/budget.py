"""Token estimates and the token-budgeted text selection. Pure functions.

Token heuristic (`estimate_tokens`): one token per CJK character (Chinese, Japanese, Korean), and one
token per 4 other characters, spaces included, rounded up. For English prose this is close to what
OpenAI's tokenizers and llama-style tokenizers count (3.6-4.4 characters per token), and it needs no
tokenizer download. It errs a little high on plain prose and low on formulas, which is the safe side
for prose-heavy selections.

`select_text` keeps the title, abstract, introduction, method and conclusion first and trims the
experiments and related work first. A section over its share is cut at a sentence boundary rather
than dropped whole, as long as a useful amount (`MIN_PART_TOKENS`) of it still fits.

`read_for` is what the summarizer sends: numbered sentences (`pipeline.text.sentences`) chosen per
question from the parts of the paper where its answer lives, so the method section always reaches
the framework question; `read_all` joins the three readings for a model that answers in one call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.core.models import ExtractedDocument, SectionKind, SelectionPart, TextSelection
from pipeline.text import sentences
from pipeline.text.sentences import Sentence

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
    # Linear in the text: each step adds one piece's length and CJK count to running totals instead
    # of measuring the whole prefix again (that was quadratic in the budget).
    kept: list[str] = []  # "".join(kept) is the prefix kept so far
    raw = False  # the prefix is one piece as split, maybe with whitespace at either end
    size = cjk = 0
    for piece in _SENTENCE_END.split(text):
        if raw:
            candidate = f"{kept[0]} {piece}".strip()
            if _tokens(len(candidate), _cjk_count(candidate)) > max_tokens:
                break
            kept, raw = [candidate] if candidate else [], False
            size, cjk = len(candidate), _cjk_count(candidate)
        elif kept:  # stripped and not empty: the join only loses the piece's trailing whitespace
            tail = piece.rstrip()
            if not tail:
                continue
            grown, grown_cjk = size + 1 + len(tail), cjk + _cjk_count(tail)
            if _tokens(grown, grown_cjk) > max_tokens:
                break
            kept += [" ", tail]
            size, cjk = grown, grown_cjk
        elif piece:
            size, cjk = len(piece), _cjk_count(piece)
            if _tokens(size, cjk) > max_tokens:
                break
            kept, raw = [piece], piece != piece.strip()
    if kept:
        return "".join(kept)
    words: list[str] = []
    size = cjk = 0
    for word in text.split():
        grown, grown_cjk = size + bool(words) + len(word), cjk + _cjk_count(word)
        if _tokens(grown, grown_cjk) > max_tokens:
            break
        words.append(word)
        size, cjk = grown, grown_cjk
    return " ".join(words)


def _cjk_count(text: str) -> int:
    return len(_CJK.findall(text))


def _tokens(size: int, cjk: int) -> int:
    """`estimate_tokens` of a text of ``size`` characters, ``cjk`` of them CJK."""
    return cjk + math.ceil((size - cjk) / CHARS_PER_TOKEN)


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


# --------------------------------------------------------------------------- reading per question

Question = str  # one of pipeline.core.models.FIELDS: "problems", "motivation", "framework"
_IDEA = re.compile(r"\b(?:observ\w*|insight\w*|key|idea\w*|intuiti\w*|motivat\w*|inspir\w*|propos\w*|address\w*|"
                   r"because|since|instead|enabl\w*|hypothes\w*|argu\w*|show\w*|novel|to this end|therefore)\b",
                   re.IGNORECASE)
_OVERVIEW = re.compile(r"\b(?:overview|framework|pipeline|architecture|illustrat\w*|overall|consists?|"
                       r"comprises?|composed|modules?|components?|stages?|branch\w*)\b", re.IGNORECASE)


@dataclass
class Reading:
    """The numbered sentences one pass reads, rendered for the prompt, and what it read of each section."""

    question: str
    ids: list[int]  # the document's sentence ids, in order; the prompt shows them as S1..Sn
    text: str
    tokens: int
    budget: int
    sections: list[str] = field(default_factory=list)  # "3 Method 12/40": sentences read of each section
    left_out: list[str] = field(default_factory=list)  # sections of the kinds it reads that it could not

    def line(self) -> str:
        """One line for provenance: the question, tokens and what it read."""
        return f"{self.question}: ~{self.tokens}/{self.budget} tokens; {', '.join(self.sections)}"


def _method_kinds(sentences: Sequence[Sentence]) -> frozenset[str]:
    # A method section under its own name ("3 DivideMix") may come out as "other": then that is it.
    kinds = {s.kind for s in sentences}
    return frozenset({"method"} if "method" in kinds else {"method", "other"})


def _score(s: Sentence, question: str, method: frozenset[str], names: Sequence[str]) -> float | None:
    """How much ``s`` is worth to ``question`` (None: never read for it)."""
    own = sentences.is_contribution(s.text, names)
    cited = sentences.is_about_cited_work(s.text, names)
    limit = sentences.states_a_limit(s.text)
    if s.kind == "title":
        return 1000.0
    if not sentences.is_prose(s.text) or s.text.rstrip().endswith(":") or sentences.is_signpost(s.text) or \
            sentences.is_footnote(s.text):
        # a figure's labels, a table row, a lead-in to a formula or list, a pointer to another part, a
        # notation or a footnote: nothing to answer from
        return None
    if s.in_caption and question != "framework":
        return None  # a figure's or table's caption says what it shows, not what the paper takes on
    if question == "problems":
        # Sentences stating a problem first: shown field background is what a small model answers with.
        problem = sentences.states_a_problem(s.text, names)
        if s.kind == "abstract":
            return 55 - s.position + 30 * problem
        if s.kind == "introduction":
            return 40 + 20 * problem - 0.5 * s.position - 10 * (cited and not limit)
        if s.kind == "related":
            return 10 + 15 * limit if limit else None
        if s.kind == "conclusion":
            return 8.0
        return None
    if question == "motivation":
        if s.kind == "abstract":
            return 80 - s.position + 10 * own
        if s.kind == "introduction":
            return 35 + 18 * own + 8 * bool(_IDEA.search(s.text)) - 0.3 * s.position - 15 * cited
        if s.kind in method and s.position < 2:
            return 20.0
        if s.kind == "conclusion":
            return 10 + 8 * own
        return None
    # framework: a sentence about cited work can never back a framework bullet, so no pass shows one
    if cited:
        return None
    if s.kind in method:
        head = 70 - 5 * s.level if s.position == 0 else 50 if s.position <= 2 else 25 - 0.5 * s.position
        return head + 15 * sentences.is_caption(s.text) * bool(_OVERVIEW.search(s.text))
    if sentences.is_caption(s.text) and _OVERVIEW.search(s.text):
        return 55.0
    if s.kind == "abstract":
        return 30 + 25 * own + 5 * bool(_OVERVIEW.search(s.text))
    if s.kind == "introduction" and own:
        return 28 + 5 * bool(_OVERVIEW.search(s.text))
    if s.kind == "conclusion" and own:
        return 12.0
    return None


def _cost(s: Sentence) -> int:
    return estimate_tokens(f"[S{s.id}] {s.text}\n")


def _heading(s: Sentence) -> str:
    return "Title" if s.kind == "title" else s.section or s.kind.capitalize()


def read_for(question: str, numbered: Sequence[Sentence], budget_tokens: int, *,
             names: Sequence[str] = ()) -> Reading:
    """The sentences ``question`` is answered from, best first within ``budget_tokens``, in reading order.

    problems read the abstract and introduction (limits stated first); motivation the introduction and
    abstract ("we propose", observations, insight); framework the method section (each section's
    opening sentences, overview captions), then the abstract's and introduction's contribution
    sentences. For the framework at least half the budget goes to the method section when it has one,
    so it is never left out whole. ``names`` are the method's names (`sentences.method_names`).
    """
    method = _method_kinds(numbered)
    scored = [(score, s) for s in numbered if (score := _score(s, question, method, names)) is not None]
    scored.sort(key=lambda pair: (-pair[0], pair[1].id))
    if question == "framework":  # the method's own sentences first, up to half the budget
        scored.sort(key=lambda pair: (pair[1].kind not in method, -pair[0], pair[1].id))
    chosen: dict[int, Sentence] = {}
    seen_headings: set[str] = set()
    used = 0
    half = budget_tokens // 2
    for score, s in scored:
        extra = _cost(s) + (0 if _heading(s) in seen_headings else estimate_tokens(_heading(s) + "\n") + 1)
        if used + extra > budget_tokens:
            continue
        # Past half the budget the method competes with the contribution sentences on score.
        if question == "framework" and s.kind in method and used + extra > half and score < 45 and any(
                p[1].kind not in method for p in scored):
            continue
        chosen[s.id] = s
        seen_headings.add(_heading(s))
        used += extra
    return _render(question, numbered, chosen, budget_tokens)


def read_all(numbered: Sequence[Sentence], budget_tokens: int, *, names: Sequence[str] = ()) -> Reading:
    """One reading that carries all three questions' parts (a strong model answers them in one call)."""
    # The three readings overlap (abstract, introduction): grow each share until the union fills the budget.
    best = _render("all", numbered, {}, budget_tokens)
    share = budget_tokens // 3
    for _ in range(6):
        chosen: dict[int, Sentence] = {}
        for question in ("problems", "motivation", "framework"):
            for i in read_for(question, numbered, share, names=names).ids:
                chosen[i] = numbered[i - 1]
        reading = _render("all", numbered, chosen, budget_tokens)
        if reading.tokens > budget_tokens:
            break
        best = reading
        if reading.tokens > budget_tokens * 0.9 or share >= budget_tokens:
            break
        share = min(budget_tokens, share * 5 // 4)
    return best


def _render(question: str, numbered: Sequence[Sentence], chosen: dict[int, Sentence], budget: int) -> Reading:
    lines: list[str] = []
    heading = None
    last = 0
    # Shown ids run 1..n with no gaps (a small model guesses the next id, and a gap makes it a wrong
    # one); `Reading.ids[k - 1]` is the document's id of shown sentence k.
    for k, i in enumerate(sorted(chosen), 1):
        s = chosen[i]
        if s.kind == "title":
            lines.append(f"[S{k}] Title: {s.text}")
            last = i
            continue
        if _heading(s) != heading:
            heading = _heading(s)
            lines.append(f"\n{heading}")
        elif i != last + 1:
            lines.append("…")
        lines.append(f"[S{k}] {s.text}")
        last = i
    per_section: dict[str, list[int]] = {}
    for s in numbered:
        if s.kind != "title":
            per_section.setdefault(_heading(s), []).append(s.id)
    relevant = {_heading(chosen[i]) for i in chosen}
    kinds = {"problems": {"abstract", "introduction"}, "motivation": {"abstract", "introduction"},
             "framework": set(_method_kinds(numbered)) | {"abstract"}}.get(
        question, {"abstract", "introduction", "method", "conclusion"})
    read = [f"{name} {sum(1 for i in ids if i in chosen)}/{len(ids)}" for name, ids in per_section.items()
            if name in relevant]
    left_out = [name for name, ids in per_section.items()
                if name not in relevant and numbered[ids[0] - 1].kind in kinds]
    text = "\n".join(lines).strip()
    return Reading(question, sorted(chosen), text, estimate_tokens(text), budget, read, left_out)
