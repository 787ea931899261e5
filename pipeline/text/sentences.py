"""A paper's text as numbered sentences, and what kind of sentence each one is. Pure functions.

The model cites evidence by sentence id (``S12``) instead of quoting it, so a quote can never be
paraphrased: the pipeline copies the sentences it cited into the draft. Ids are stable for a document
(title ``S1``, then the abstract, then every kept section in reading order), so every pass over the
same paper shows the same id for the same sentence, whichever part of the paper it reads.

The cues below tell the summarizer where an answer may rest: a sentence about cited work ("Li et al.
[7] propose …") is not this paper's idea; a contribution sentence ("we propose", "our method", the
method's name) is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.models import ExtractedDocument, SectionKind

_CUT_KINDS = frozenset({"references", "acknowledgements", "appendix"})
# A sentence ends at . ! ? followed by a capital, a bracket or a quote, but not after an abbreviation.
_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[\"'“])")
_ABBREVIATION = re.compile(r"(?:\b(?:al|e\.g|i\.e|etc|vs|cf|Fig|Figs|Eq|Eqs|Sec|Tab|No|resp|approx|Dr|Mr|Ms|"
                           r"St|Ref|Refs|Eqn|Thm|Def|Alg|Ch|Vol|pp|incl)\.|\b[A-Z]\.)$")
MIN_WORDS = 4  # a shorter piece (a label, a formula line) joins the sentence before it

NUMBERED_REFERENCE = r"\[\s*\d+(?:\s*[,–-]\s*\d+)*\s*\]"  # [7], [3, 12], [4-6]
_CITATION = re.compile(
    NUMBERED_REFERENCE +
    r"|\b[A-Z][A-Za-z'-]+(?:\s+(?:and|&)\s+[A-Z][A-Za-z'-]+)?\s+et\s+al\.?"  # Li et al.
    r"|\(\s*[A-Z][A-Za-z'-]+[^()]{0,40}?,?\s+(?:19|20)\d{2}[a-z]?\s*[;)]"       # (Li, 2019) / (Li and Wu 2020;
)
_OWN = re.compile(r"\b(?:we|our|ours|us|this (?:paper|work|report|study|article)|the proposed|here)\b",
                  re.IGNORECASE)
_CONTRAST = r"however|but|although|though|while|whereas|despite|only"
_DIFFICULTY = (
    r"fail\w*|suffer\w*|limit\w*|lack\w*|cannot|can't|unable|struggl\w*|difficult\w*|expensive|costly|requir\w*|"
    r"drawback\w*|issue\w*|problem\w*|bottleneck\w*|sensitive|prone|poor\w*|degrad\w*|ignor\w*|overlook\w*|"
    r"neglect\w*|rel(?:y|ies|ying)|insufficient|inefficien\w*|challeng\w*|not|no|never|hard|error\w*|noisy|noise|"
    r"bias\w*|overfit\w*|inaccura\w*|unreliable|"
    r"remain\w* (?:\w+ )?(?:open|unclear|unsolved|unexplored|elusive|unknown)")
_LIMIT = re.compile(rf"\b(?:{_CONTRAST}|{_DIFFICULTY})\b", re.IGNORECASE)
_DIFFICULT = re.compile(rf"\b(?:{_DIFFICULTY})\b", re.IGNORECASE)  # a difficulty itself, not a mere "while"
_FIGURE = re.compile(r"^(?:Figure|Fig\.)\s*\d+", re.IGNORECASE)
_LABEL = r"(?:Figure|Fig\.|Table|Tab\.)\s*[\dIVX]+\s*[:.|]"  # a caption's label: "Figure 2:", "Table 1."
_CAPTION = re.compile(rf"^{_LABEL}", re.IGNORECASE)
_LABEL_AT_END = re.compile(rf"\b{_LABEL}$", re.IGNORECASE)
_FOOTNOTE = re.compile(r"^[∗*†‡§¶]")  # "∗This work was done when …", "†Corresponding author"


@dataclass(frozen=True)
class Sentence:
    """One numbered sentence of a paper."""

    id: int
    text: str
    section: str  # the heading as printed; "" for the title
    kind: SectionKind
    position: int  # 0 for the first sentence of its section
    number: str | None = None  # the section's number ("3.2"), if any
    level: int = 1
    in_caption: bool = False  # part of a figure's or table's caption ("FLOPs are computed at 512×512.")

    @property
    def label(self) -> str:
        """``S<id>``, the way prompts show it."""
        return f"S{self.id}"


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (paragraphs are never joined; short pieces join the sentence before)."""
    return [sentence for sentence, _ in _split(text)]


def _split(text: str) -> list[tuple[str, bool]]:
    """`split_sentences`, each with whether it belongs to a figure or table caption (its paragraph
    starts "Figure 2:" / "Table 1."; a caption's later sentences do not say so themselves)."""
    out: list[tuple[str, bool]] = []
    for paragraph in text.split("\n"):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        pieces: list[str] = []
        for piece in _END.split(paragraph):
            if pieces and (_ABBREVIATION.search(pieces[-1]) or len(piece.split()) < MIN_WORDS
                           or (len(pieces[-1].split()) < MIN_WORDS and not pieces[-1].endswith("."))):
                pieces[-1] = f"{pieces[-1]} {piece}"
            else:
                pieces.append(piece)
        if out and pieces and len(pieces[0].split()) < MIN_WORDS and not out[-1][0].endswith((".", "!", "?", ":")):
            out[-1] = (f"{out[-1][0]} {pieces.pop(0)}", out[-1][1])
        caption = False  # from a caption's label to the end of its paragraph
        for piece in pieces:
            caption = caption or bool(_CAPTION.match(piece))
            out.append((piece, caption))
            # A bare label ("Figure 1.") is too short to stand alone and joins the sentence before it.
            caption = caption or bool(_LABEL_AT_END.search(piece))
    return out


def number_sentences(doc: ExtractedDocument, *, title: str | None = None,
                     abstract: str | None = None) -> list[Sentence]:
    """Every sentence the model may read, numbered from 1 in reading order.

    ``title`` (from metadata) replaces the PDF's guess; ``abstract`` is used when the PDF has no
    abstract section. References, acknowledgements and appendices are never numbered.
    """
    found: list[Sentence] = []
    heading = " ".join((title or doc.title or "").split())
    if heading:
        found.append(Sentence(1, heading, "", "title", 0))
    sections = [s for s in doc.sections if s.kind not in _CUT_KINDS]
    parts: list[tuple[str, SectionKind, str, str | None, int]] = []
    if abstract and not any(s.kind == "abstract" for s in sections):
        parts.append(("Abstract", "abstract", abstract, None, 1))
    parts.extend((s.title, s.kind, s.text, s.number, s.level) for s in sections)
    for name, kind, text, number, level in parts:
        for position, (sentence, caption) in enumerate(_split(text)):
            found.append(Sentence(len(found) + 1, sentence, name, kind, position, number, level, caption))
    return found


def parse_id(value: object) -> int | None:
    """The number of a sentence id as a model writes it (``"S12"``, ``"[S12]"``, ``12``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (match := re.fullmatch(r"\s*\[?\s*[Ss]?\s*(\d+)\s*\]?\s*", value)):
        return int(match.group(1))
    return None


def method_names(title: str | None) -> list[str]:
    """Names the paper gives its own method, guessed from its title ("DivideMix: …" -> DivideMix)."""
    if not title:
        return []
    names = []
    head = title.split(":", 1)[0].strip()
    if ":" in title and 1 <= len(head.split()) <= 3:
        names.append(head)
    names += [w for w in re.findall(r"\b[A-Za-z]*[A-Z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9-]*\b", title)
              if len(w) >= 3 and w not in names]
    return names


def is_contribution(sentence: str, names: Sequence[str] = ()) -> bool:
    """A sentence that states this paper's own work: we / our / this paper / the method's name."""
    if _OWN.search(sentence):
        return True
    return any(re.search(rf"\b{re.escape(n)}\b", sentence) for n in names)


def is_about_cited_work(sentence: str, names: Sequence[str] = ()) -> bool:
    """A sentence that describes other papers' work (it cites them and says nothing of this paper's)."""
    return bool(_CITATION.search(sentence)) and not is_contribution(sentence, names)


def states_a_limit(sentence: str) -> bool:
    """A sentence that states a limit or difficulty (of earlier work, a setting, data)."""
    return bool(_LIMIT.search(sentence))


_TAKES_ON = re.compile(r"\b(?:address\w*|tackl\w*|focus\w* on|aim\w* (?:to|at)|goal|investigat\w*|"
                       r"solv\w*)\b", re.IGNORECASE)
_RESULT = re.compile(r"\b(?:outperform\w*|state-of-the-art|surpass\w*|better than|more efficient|"
                     r"reduc\w* (?:the )?error|improv\w* (?:\w+ ){0,3}by)\b|\d\s?%", re.IGNORECASE)


def states_a_problem(sentence: str, names: Sequence[str] = ()) -> bool:
    """A sentence a problems bullet can rest on: it states a difficulty ("fail", "costly", "not"; a "while"
    or "only" alone is none) or what this paper takes on ("we address …", "this paper focuses on …"), and
    reports no result ("outperforms", "by 4%": a result's "only 1/10 of the parameters" or "error rate"
    is no difficulty). Field background ("Semantic segmentation is a fundamental task") or a claim of
    novelty states no problem either."""
    if _RESULT.search(sentence):
        return False
    own_aim = is_contribution(sentence, names) and bool(_TAKES_ON.search(sentence))
    return bool(_DIFFICULT.search(sentence)) or own_aim


def is_caption(sentence: str) -> bool:
    """The first sentence of a figure caption ("Figure 2: Overview of …"); see `Sentence.in_caption`."""
    return bool(_FIGURE.match(sentence))


_FUNCTION_WORDS_TEXT = """
the a an of and or to in on for with by is are was were be been we our this that these those which from as at
it its can could may might must will would should has have had not no but if when while where how what than
into more most all each such also only both
"""
_FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())
_LETTERS = re.compile(r"[A-Za-z]+")


def is_prose(sentence: str) -> bool:
    """Running text, not the labels of a figure or a table row that extraction kept ("Classify
    ClassifyUnlabeled Guessed Label Average", "ResNet-50 76.2 78.1"): prose has a function word or ends
    a sentence of six words or more; a figure caption counts."""
    words = _LETTERS.findall(sentence)
    return (is_caption(sentence) or any(w.lower() in _FUNCTION_WORDS for w in words)
            or (len(words) >= 6 and sentence.rstrip().endswith(".")))


# Sentences that point the reader elsewhere or explain notation: they answer none of the questions.
_SIGNPOST = re.compile(
    r"^(?:in|throughout)\s+(?:this|the\s+(?:following|next|remaining))\s+(?:section|subsection|chapter|part)s?\b"
    r"|^(?:this|the\s+(?:following|next))\s+(?:section|subsection|chapter)s?\s+(?:\w+\s+)?(?:describe|present|"
    r"introduce|detail|discuss|review|give|provide|elaborate|explain)s?\b"
    r"|\bthe\s+(?:rest|remainder)\s+of\s+(?:this|the)\s+(?:paper|article|report|section)\b"
    r"|^where\b|^here,?\s+\S+\s+(?:denotes?|represents?|is\s+the)\b|\b(?:denotes?|stands?\s+for)\b"
    r"|\b(?:the\s+following(?:\s+\w+){0,2}|as\s+follows)\s*[.:]?$"  # a lead-in to a list
    r"|\b(?:at\s+least\s+)?(?:two|three|four|five|several|some|a\s+few)\s+(?:\w+\s+)?(?:limitations|drawbacks|"
    r"shortcomings|advantages|merits|benefits|contributions|challenges|issues|problems)\s*[.:]?$",
    re.IGNORECASE)
_POINTER = re.compile(  # "The architecture of one RefineNet block is illustrated in Fig. 3(a)."
    r"\b(?:is|are)\s+(?:illustrated|shown|depicted|presented|given|summari[sz]ed|detailed|visuali[sz]ed|listed|"
    r"outlined)\s+in\s+(?:Fig(?:ure)?s?\.?|Tab(?:le)?s?\.?|Alg(?:orithm)?s?\.?|Sec(?:tion)?s?\.?|Appendix|"
    r"Eqs?\.?|Equations?)\s*[\w.()\[\]-]*\s*\.?$", re.IGNORECASE)
SIGNPOST_WORDS = 16  # a longer "In this section, we …" sentence usually says something of its own


def is_footnote(sentence: str) -> bool:
    """A footnote that extraction left among the sentences ("∗This work was done when …", "†Corresponding
    author"): it says nothing of what the paper does."""
    return bool(_FOOTNOTE.match(sentence.strip()))


def is_signpost(sentence: str) -> bool:
    """A sentence that only points elsewhere or explains notation ("In this section, we describe the
    architecture in detail.", "DW-Conv denotes depth-wise convolution.", "where F is the input.", "The
    block is illustrated in Fig. 3(a)."): it answers no question about the paper, so no pass reads it."""
    text = sentence.strip()
    if _POINTER.search(text):
        return True
    return bool(_SIGNPOST.search(text)) and len(_LETTERS.findall(text)) <= SIGNPOST_WORDS


__all__ = ["NUMBERED_REFERENCE", "Sentence", "is_about_cited_work", "is_caption", "is_contribution", "is_footnote",
           "is_prose", "is_signpost", "method_names", "number_sentences", "parse_id", "split_sentences",
           "states_a_limit", "states_a_problem"]
