"""Checks of a bullet against the sentences it cites: support, copying, and where it rests. Pure.

- **support**: the share of the bullet's content words (terms, names, numbers) found in the sentences
  it cites. Own words must not become invented content; a low score goes back to the model.
- **copied**: a bullet that repeats its evidence nearly word for word, counted as a reader would:
  most of its words sit in long runs shared with the cited sentences.
- **rests on**: a framework bullet must cite the method section or a sentence stating this paper's
  contribution, never only sentences about cited work; a problem or motivation bullet may cite other
  work only where that sentence states a limit the paper addresses.
- **restatement**: whether a copied bullet said again from its Chinese kept what it said
  (`restatement_problems`), and the words such a request is shown (`restate_terms`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from pipeline.text import sentences as sent
from pipeline.text.sentences import Sentence

MIN_SUPPORT = 0.34  # below this, most of a bullet's terms are not in what it cites
RECITE_SUPPORT = 0.8  # a shown sentence that says this much of a bullet is the one it meant
COPY_RUN = 5  # words in a row shared with the evidence that a reader sees as copied
COPY_SHARE = 0.6  # ... covering this share of the bullet's words makes it a copy

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_STOP_WORDS = """
a about above across after again against all also although am an and any are as at be because been before
being below between both but by can could did do does doing done down during each either else enough even
every few for from further had has have having here how however i if in into is it its itself just least
less like made make makes many may might more most much must neither no nor not of off on once one only or
other others our out over own per rather same several should since so some such than that the their them
then there these they this those though through thus to too under until up upon us use used uses using very
via was we well were what when where whether which while who whom whose why will with within without would
yet you your paper papers work works authors author approach approaches method methods propose proposes
proposed proposing present presents introduce introduces new novel existing prior previous show shows shown
help helps helping based allow allows enable enables able key main instead overall first second third
specifically particular particularly way ways thereby therefore often usually typically
"""
_STOP = frozenset(_STOP_WORDS.split())


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (hyphenated words stay one word)."""
    return _WORD.findall(text.lower())


def _stem(word: str) -> str:
    if word[:1].isdigit():
        return word
    return (word[:-1] if word.endswith("s") and len(word) > 3 else word)[:5]


def content_words(text: str) -> list[str]:
    """The words that carry a bullet's content: not stop words, numbers included."""
    return [w for w in words(text) if w not in _STOP and (len(w) > 2 or w.isdigit())]


def support(text: str, cited: Sequence[str]) -> float:
    """Share of ``text``'s content words (by a 5-letter stem, parts of hyphenated words too) found in
    ``cited``; 1.0 when the bullet has none."""
    found: set[str] = set()
    for sentence in cited:
        for w in words(sentence):
            found.add(_stem(w))
            found.update(_stem(part) for part in w.split("-") if part)
    mine = content_words(text)
    if not mine:
        return 1.0
    hits = sum(1 for w in mine if _stem(w) in found or all(_stem(p) in found for p in w.split("-") if p))
    return round(hits / len(mine), 2)


def better_citation(text: str, cited: Sequence[int], shown: Mapping[int, str],
                    taken: Collection[int] = ()) -> int | None:
    """The shown sentence that says what ``text`` says, when the sentences it cites do not.

    A small model restates one sentence and cites another (often the one after it). When ``text`` has
    less than `MIN_SUPPORT` in ``cited`` and a shown sentence (not in ``taken``: backing another bullet)
    has at least `RECITE_SUPPORT`, the id of the best such sentence, the nearest to a cited one on a tie;
    otherwise None.
    """
    if support(text, [shown[n] for n in cited if n in shown]) >= MIN_SUPPORT:
        return None
    scored = [(support(text, [sentence]), -min((abs(m - n) for n in cited), default=0), m)
              for m, sentence in shown.items() if m not in taken and m not in cited]
    best = max(scored, default=None)
    return best[2] if best is not None and best[0] >= RECITE_SUPPORT else None


def copied_share(text: str, cited: Sequence[str]) -> float:
    """Share of ``text``'s words that lie in runs of at least `COPY_RUN` words shared with ``cited``.

    Reference marks ([39, 13]), notation and pointers ("4×W", "section 2") are not words a reader counts:
    a bullet that keeps them is not copied for that, nor one that drops them any less so.
    """
    mine = words(without_notation(without_references(text)))
    if not mine:
        return 0.0
    grams: set[tuple[str, ...]] = set()
    for sentence in cited:
        theirs = words(without_notation(without_references(sentence)))
        grams.update(tuple(theirs[i:i + COPY_RUN]) for i in range(len(theirs) - COPY_RUN + 1))
    covered = [False] * len(mine)
    for i in range(len(mine) - COPY_RUN + 1):
        if tuple(mine[i:i + COPY_RUN]) in grams:
            covered[i:i + COPY_RUN] = [True] * COPY_RUN
    return sum(covered) / len(mine)


def is_copied(text: str, cited: Sequence[str]) -> bool:
    """A bullet a reader would call copied from its evidence."""
    return copied_share(text, cited) >= COPY_SHARE


def rests_on_paper(question: str, cited: Sequence[Sentence], names: Sequence[str]) -> str | None:
    """Why a ``question`` bullet citing ``cited`` does not rest on this paper's own account, or None."""
    if not cited:
        return None
    about_others = [s for s in cited if sent.is_about_cited_work(s.text, names)]
    if question == "framework":
        if about_others:
            return (f"it cites {', '.join(s.label for s in about_others)}, which describe(s) cited work; a "
                    "framework bullet must rest on this paper's method section or its own contribution")
        method = {"method", "other"}
        if not any(s.kind in method or sent.is_contribution(s.text, names) for s in cited):
            return ("it cites no sentence of the method section and none stating this paper's contribution "
                    "(we / our / the method's name)")
        return None
    others = [s for s in about_others if not sent.states_a_limit(s.text)]
    if others:
        return (f"it cites {', '.join(s.label for s in others)}, which describe(s) cited work without a "
                "limit this paper addresses; say what this paper addresses, citing its own sentences")
    return None


def rests_on(question: str, cited: Sequence[Sentence], names: Sequence[str]) -> str:
    """Where a bullet rests, for counting: ``method``, ``contribution``, ``cited`` (cited work) or ``other``."""
    if any(sent.is_about_cited_work(s.text, names) and (question == "framework" or not sent.states_a_limit(s.text))
           for s in cited):
        return "cited"
    if any(s.kind in ("method", "other") for s in cited):
        return "method"
    if any(sent.is_contribution(s.text, names) for s in cited):
        return "contribution"
    return "other"


RESTATED_LENGTH = 0.5  # a restatement keeps at least this share of the bullet's words (not a fragment)
# ... and this support (or the bullet's own, if lower): said without the paper in view, it must show it
# kept the paper's terms (measured: faithful restatements 0.67-1.0, drifted ones 0.41-0.55).
RESTATED_SUPPORT = 0.6
REVERSED, NEGATION_DROPPED = "it says the opposite", "it drops a negation"
_NAME = re.compile(r"\b(?:[A-Z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9-]*|[A-Za-z]+-?\d[\w-]*)\b")


def restatement_problems(new: str, old: str, cited: Sequence[str]) -> list[str]:
    """Why ``new``, a copied bullet ``old`` restated in other words, cannot replace it (empty: it can).

    The restatement is made without the paper in view (from the bullet's Chinese), so it must show it
    kept the content: no longer a copy, still supported by what ``old`` cites (`RESTATED_SUPPORT`), every
    number of ``old`` and none it lacks, every name (SegNeXt, PVT-Tiny, ResNet18) of ``old``, and no
    fragment of it.
    """
    problems = []
    if is_copied(new, cited):
        problems.append("it still uses the paper's own wording; say it with other words and another sentence "
                        "structure")
    if (score := support(new, cited)) < min(RESTATED_SUPPORT, support(old, cited)):
        problems.append(f"most of its terms are not in the cited sentences (support {score})")
    before, after = sorted(_numbers(old)), sorted(_numbers(new))
    if before != after:
        problems.append(f"its numbers ({', '.join(after) or 'none'}) are not the bullet's "
                        f"({', '.join(before) or 'none'})")
    lost = [n for n in names(old) if n not in new and not _spelled_out(n, new)]
    if lost:
        problems.append(f"it drops the name(s) {', '.join(lost)}")
    if _negated(new) != _negated(old) and not (_negative_word(new) or _negative_word(old)):
        problems.append(REVERSED if _negated(new) else NEGATION_DROPPED)
    if len(words(new)) < RESTATED_LENGTH * len(words(old)):
        problems.append("it is much shorter than the bullet")
    return problems


def names(text: str) -> list[str]:
    """The names ``text`` uses (SegNeXt, PVT-Tiny, CNN, ResNet18), once each, in order."""
    return list(dict.fromkeys(_NAME.findall(text)))


_NEGATION = frozenset(["not", "no", "never", "nor", "cannot", "neither", "unable"])


def _negated(text: str) -> bool:
    """Whether ``text`` says something is not so: an odd number of negations ("do not know" against
    "to our knowledge" reverses a claim)."""
    return sum(1 for w in words(text.replace("n't", " not")) if w in _NEGATION) % 2 == 1


_NEGATIVE_WORD = re.compile(r"^(?:un|in|im|ir|il|non)-?[a-z]{3,}(?:able|ible|ent|ant|ate|ful|lar|ive|ous|al)$")


def _negative_word(text: str) -> bool:
    """Whether ``text`` negates by a word ("unreliable", "inaccurate"): then "cannot be relied on" says
    the same, and a count of negations proves nothing."""
    return any(_NEGATIVE_WORD.match(w) for w in words(text))


def _spelled_out(acronym: str, text: str) -> bool:
    """An acronym written out in ``text``: CNN as "convolutional neural networks" (consecutive words
    whose initials spell it)."""
    if not acronym.isalpha() or not acronym.isupper() or not 2 <= len(acronym) <= 6:
        return False
    initials = "".join(w[0] for w in words(text) if w[0].isalpha())
    return acronym.lower() in initials


_REFERENCE = re.compile(rf"\s*{sent.NUMBERED_REFERENCE}(\s*)")
# Notation the text extraction left in a sentence: a size written with a symbol ("H 4×W 4×C", "3×3×C").
_NOTATION = re.compile(r"\S*(?:\d\s?×\s?[A-Za-z]\b|\b[A-Za-z]\s?×\s?\d|\dx[A-Z]\b|\b[A-Z]x\d)\S*")


def without_references(text: str) -> str:
    """``text`` without numbered reference marks ([39, 13], [4-6]): they point into the paper's
    bibliography and say nothing outside it. A space stays only between two words of a spaced script."""
    def gap(match: re.Match[str]) -> str:
        before, after = text[match.start() - 1:match.start()], text[match.end():match.end() + 1]
        spaced = before.isascii() and after.isascii() and before.strip() and after.strip()
        return " " if match.group(1) and spaced else ""
    return _REFERENCE.sub(gap, text)


# A pointer into the paper: "section 2", "Fig. 3(a)", "algorithm 1, line 3", "Eq. (5)"; 第3节, 图1, 算法1.
_POINTER = re.compile(r"\b(?:sections?|sec\.|figures?|figs?\.|tables?|tab\.|algorithms?|alg\.|lines?|"
                      r"equations?|eqs?\.|appendi(?:x|ces)|chapters?|steps?)\s*\(?\d+(?:\.\d+)*\)?"
                      r"|(?:图|表|算法|公式|式|第)\s*\(?\d+(?:\.\d+)*\)?\s*(?:节|章|行|步)?", re.IGNORECASE)


def without_notation(text: str) -> str:
    """``text`` without sizes in symbols ("4×W", "H×3": notation, often extraction debris) and pointers
    into the paper ("section 2", "Fig. 3", 算法1): their digits are not numbers a bullet states, and a
    restatement may drop them ("512×512" stays a number)."""
    return _POINTER.sub(" ", _NOTATION.sub(" ", text))


def _numbers(text: str) -> list[str]:
    """The numbers a bullet states: not reference marks ([39, 13]), nor digits glued to a word (a footnote
    mark, "chains.2"; ResNet18 is a name, checked as one), nor notation ("4×W")."""
    text = re.sub(r"(?<=\d)\s?[xX]\s?(?=\d)", "×", text)  # "4x4" is "4×4": two numbers either way
    return [w.replace(",", "") for w in re.findall(r"(?<![A-Za-z.\d])\d+(?:[.,]\d+)*",
                                                   without_notation(without_references(text)))]


def restate_terms(bullet: str, cited: Sequence[str], limit: int) -> list[str]:
    """The words a restatement of ``bullet`` is shown, in alphabetical order so that no phrase of the
    paper can be copied: the bullet's own content words first, then its cited sentences', up to
    ``limit`` (longer than three letters)."""
    own = sorted({w for w in content_words(bullet) if len(w) > 3})
    more = sorted({w for w in content_words(" ".join(cited)) if len(w) > 3} - set(own))
    return sorted(own[:limit] + more[:max(0, limit - len(own))])
