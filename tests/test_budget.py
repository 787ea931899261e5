"""pipeline.text.budget: the token heuristic and the budgeted selection."""

from __future__ import annotations

import random
import time

from pipeline.core.models import ExtractedDocument, Section, SectionKind
from pipeline.text.budget import _SENTENCE_END, estimate_tokens, select_text, trim_to_tokens


def _sentences(word: str, n: int) -> str:
    return " ".join(f"The {word} sentence number {i} says something useful about the {word}." for i in range(n))


def _doc(spec: list[tuple[str, SectionKind, int]]) -> ExtractedDocument:
    sections = []
    for title, kind, n in spec:
        text = _sentences(title.split()[-1].lower(), n)
        sections.append(Section(title=title, kind=kind, text=text, tokens=estimate_tokens(f"{title}\n{text}")))
    return ExtractedDocument(sha256="0" * 64, pages=1, chars=0, sections=sections, title="A Paper Title")


PAPER: list[tuple[str, SectionKind, int]] = [
    ("Abstract", "abstract", 8), ("1 Introduction", "introduction", 30), ("2 Related Work", "related", 40),
    ("3 Method", "method", 40), ("4 Experiments", "experiments", 60), ("5 Conclusion", "conclusion", 10),
]


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("半监督学习") == 5
    assert estimate_tokens("SAM 模型") == 2 + 1  # 2 CJK + ceil(4 / 4)


def test_trim_to_tokens_cuts_at_sentence_boundaries() -> None:
    text = "First sentence here. Second sentence is here. Third one."
    assert trim_to_tokens(text, 100) == text
    assert trim_to_tokens(text, 12) == "First sentence here. Second sentence is here."
    assert trim_to_tokens(text, 5) == "First sentence here."
    assert trim_to_tokens("one two three four five six", 3) == "one two"



def _trim_as_before(text: str, max_tokens: int) -> str:
    """trim_to_tokens as it was before it was made linear (quadratic in the budget): the reference."""
    if estimate_tokens(text) <= max_tokens:
        return text
    kept = ""
    for piece in _SENTENCE_END.split(text):
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


def test_trim_to_tokens_matches_the_quadratic_version_on_random_texts() -> None:
    rng = random.Random(11)
    alphabet = ["a", "bc", "Word", "半监督", ".", "!", "?", " ", "  ", "\n", "\n\n", " \n ", "(x", "[1]", "\"Q", "é"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        for budget in (-1, 0, 1, 2, 3, 5, 8, 13, rng.randrange(0, 40)):
            assert trim_to_tokens(text, budget) == _trim_as_before(text, budget), (text, budget)


def test_trim_to_tokens_is_linear_in_the_budget() -> None:
    # One sentence of 400,000 one-letter words: the word fallback measured the whole prefix per word.
    text = "a " * 200_000
    start = time.process_time()
    assert trim_to_tokens(text, 12_000) == " ".join(["a"] * 24_000)
    assert time.process_time() - start < 1.0

def test_everything_fits_under_a_large_budget() -> None:
    doc = _doc(PAPER)
    selection = select_text(doc, 100_000)
    assert all(p.kept and p.trimmed_to is None for p in selection.parts)
    assert selection.text.startswith("Title: A Paper Title\n\nAbstract\n")
    assert selection.cut == []
    assert selection.tokens <= selection.budget


def test_related_and_experiments_are_trimmed_first() -> None:
    doc = _doc(PAPER)
    total = sum(s.tokens for s in doc.sections)
    selection = select_text(doc, total - 600)
    fate = {p.title: p for p in selection.parts}
    assert selection.tokens <= total - 600
    assert not fate["2 Related Work"].kept or fate["2 Related Work"].trimmed_to is not None
    for title in ("Abstract", "1 Introduction", "3 Method", "5 Conclusion"):
        assert fate[title].kept and fate[title].trimmed_to is None, title
    assert fate["4 Experiments"].kept  # only related work had to give way


def test_tight_budget_keeps_the_core_sections() -> None:
    doc = _doc(PAPER)
    core = sum(s.tokens for s in doc.sections if s.kind in ("abstract", "introduction", "method", "conclusion"))
    selection = select_text(doc, core + 40)
    fate = {p.title: p for p in selection.parts}
    assert selection.tokens <= core + 40
    assert not fate["2 Related Work"].kept
    assert not fate["4 Experiments"].kept
    assert fate["1 Introduction"].kept and fate["5 Conclusion"].kept
    assert "2 Related Work" in selection.cut and "4 Experiments" in selection.cut
    assert {"2 Related Work", "4 Experiments"} <= set(selection.left_out)
    assert "The related sentence" not in selection.text


def test_long_sections_are_trimmed_not_dropped_when_useful() -> None:
    doc = _doc(PAPER)
    total = sum(s.tokens for s in doc.sections)
    related = next(s for s in doc.sections if s.kind == "related")
    selection = select_text(doc, total - related.tokens // 2)
    part = next(p for p in selection.parts if p.kind == "related")
    assert part.kept and part.trimmed_to is not None and 0 < part.trimmed_to < part.tokens
    kept_related = selection.text.split("2 Related Work\n", 1)[1].split("\n\n", 1)[0]
    assert kept_related.endswith(".")  # a whole sentence
    assert selection.trimmed == ["2 Related Work"] and selection.left_out == []
    assert selection.cut == ["2 Related Work"]  # trimmed or left out


def test_very_small_budget_trims_even_the_abstract() -> None:
    selection = select_text(_doc(PAPER), 150)
    assert selection.tokens <= 150
    assert selection.text.startswith("Title: A Paper Title")
    assert [p.title for p in selection.parts if p.kept] == ["Title", "Abstract"]


def test_metadata_title_and_abstract() -> None:
    doc = _doc([s for s in PAPER if s[1] != "abstract"])
    selection = select_text(doc, 100_000, title="The  Real\nTitle", abstract="Metadata abstract text.")
    assert selection.text.startswith("Title: The Real Title\n\nAbstract\nMetadata abstract text.")
    with_abstract = select_text(_doc(PAPER), 100_000, abstract="Metadata abstract text.")
    assert "Metadata abstract text." not in with_abstract.text


def test_references_and_appendices_never_selected() -> None:
    doc = _doc([*PAPER, ("References", "references", 5), ("Appendix", "appendix", 5)])
    selection = select_text(doc, 100_000)
    assert "References" not in [p.title for p in selection.parts]
    assert "The appendix sentence" not in selection.text


# --------------------------------------------------------------------------- reading per question

def _numbered() -> list:  # type: ignore[type-arg]
    from pipeline.text.sentences import number_sentences

    doc = _doc(PAPER)
    sections = list(doc.sections)
    sections[1] = sections[1].model_copy(update={"text": sections[1].text + " However, existing methods "
                                                 "fail on small data. We propose a new module for it."})
    return number_sentences(doc.model_copy(update={"sections": sections}))


def test_each_question_reads_where_its_answer_lives() -> None:
    from pipeline.text.budget import read_for

    numbered = _numbered()
    kinds = {s.id: s.kind for s in numbered}
    problems = read_for("problems", numbered, 400)
    assert {kinds[i] for i in problems.ids} <= {"title", "abstract", "introduction"}
    assert any("fail on small data" in numbered[i - 1].text for i in problems.ids)  # a limit, read first
    framework = read_for("framework", numbered, 400)
    method = [i for i in framework.ids if kinds[i] == "method"]
    assert method and sum(len(numbered[i - 1].text) for i in method) * 2 >= \
        sum(len(numbered[i - 1].text) for i in framework.ids if kinds[i] != "title") * 0.8
    assert framework.tokens <= 400 and "[S1] Title: A Paper Title" in framework.text
    # Shown ids run 1..n without gaps; ids[k - 1] is shown sentence k.
    label = {"title": "Title: "}
    assert all(f"[S{k}] {label.get(numbered[i - 1].kind, '')}{numbered[i - 1].text}" in framework.text
               for k, i in enumerate(framework.ids, 1))


def test_the_method_section_is_never_left_out_even_on_a_tiny_budget() -> None:
    from pipeline.text.budget import read_all, read_for

    numbered = _numbered()
    for budget in (150, 300, 1600):
        reading = read_for("framework", numbered, budget)
        assert any(numbered[i - 1].kind == "method" for i in reading.ids), budget
        assert "3 Method" not in reading.left_out
    everything = read_all(numbered, 1600)
    assert 1400 < everything.tokens <= 1600 and "3 Method" not in everything.left_out


def test_the_framework_reading_shows_no_sentence_about_cited_work() -> None:
    from pipeline.text.budget import read_for
    from pipeline.text.sentences import Sentence

    numbered = [Sentence(1, "A network for segmentation", "", "title", 0),
                Sentence(2, "Our encoder stacks strip convolutions that gather context at several scales.",
                         "3 Method", "method", 0, "3"),
                Sentence(3, "In segmentation models [80, 96], the encoders are mostly pretrained on ImageNet.",
                         "3 Method", "method", 1, "3")]
    assert read_for("framework", numbered, 400).ids == [1, 2]
