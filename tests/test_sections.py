"""pipeline.text.sections: heading chains, kinds, the REVTeX abstract and the title guess."""

from __future__ import annotations

import pytest

from pipeline.text import sections as sx

BODY = "This sentence is ordinary body text that runs across the full width of the column."


def _titles(lines: list[str]) -> list[str]:
    return [h.title for h in sx.find_headings(lines)]


@pytest.mark.parametrize(("title", "kind"), [
    ("1 Introduction", "introduction"), ("2. Related Work", "related"), ("II. RELATED WORK", "related"),
    ("3 Method", "method"), ("3.2 Decoder", None), ("4 Experiments", "experiments"),
    ("5 Conclusions and Discussion", "conclusion"), ("Conclusion", "conclusion"), ("References", "references"),
    ("Acknowledgements", "acknowledgements"), ("ACKNOWLEDGMENTS", "acknowledgements"),
    ("Appendix A", "appendix"), ("Abstract", "abstract"), ("V. DISCUSSION", "discussion"),
])
def test_classify(title: str, kind: str | None) -> None:
    assert sx.classify(title) == kind


def test_numbered_chain_skips_list_items_and_figure_labels() -> None:
    lines = ["1. CLS", "2. DET", "3. SEG", "Abstract", BODY, "1. Introduction", BODY,
             "1. We propose a multi-path network that is trained end to end and", BODY,
             "2. Our cascaded networks can be effectively trained end-to-end", BODY,
             "1.1. Related Work", BODY, "2. Background", BODY, "3. Proposed Method", BODY,
             "3.1. Multi-Path Refinement", BODY, "6. When using fine-grained image patches (e.g., 4x4 pixels", BODY,
             "4. Experiments", BODY, "5. Conclusion", BODY, "References", "1 A. Author, A paper, 2020."]
    assert _titles(lines) == ["Abstract", "1. Introduction", "1.1. Related Work", "2. Background",
                              "3. Proposed Method", "3.1. Multi-Path Refinement", "4. Experiments",
                              "5. Conclusion", "References"]


def test_roman_headings_with_wrapped_caps_and_letter_subsections() -> None:
    lines = [BODY, "I. INTRODUCTION", BODY, "II. SELF-CONSISTENT ACTION IN THE", "LARGE z LIMIT", BODY,
             "A. Ordered Phase", BODY, "B. Disordered phase", BODY, "III. CRITICAL POINT IN N → ∞ LIMIT", BODY,
             "V. DISCUSSION", BODY, "ACKNOWLEDGMENTS", BODY, "1 D. C. Johnston, Adv. Phys. 59, 803 (2010).",
             "2 D. Jerome and H. J. Schulz, Adv. Phys. 31, 299 (1982)."]
    headings = sx.find_headings(lines)
    assert [h.title for h in headings] == [
        "I. INTRODUCTION", "II. SELF-CONSISTENT ACTION IN THE LARGE z LIMIT", "A. Ordered Phase",
        "B. Disordered phase", "III. CRITICAL POINT IN N → ∞ LIMIT", "V. DISCUSSION", "ACKNOWLEDGMENTS"]
    assert [h.level for h in headings[:4]] == [1, 1, 2, 2]
    assert headings[1].lines == 2
    kinds = sx.assign_kinds(headings)
    # Unnamed sections after the introduction are the method; a final discussion is the conclusion.
    assert kinds == ["introduction", "method", "method", "method", "method", "conclusion", "acknowledgements"]


def test_small_caps_split_roman_heading_is_joined() -> None:
    lines = ["I. I NTRODUCTION", BODY, "II. R ELATED W ORK", BODY, "III. M ETHOD", BODY]
    assert _titles(lines) == ["I. INTRODUCTION", "II. RELATED WORK", "III. METHOD"]


def test_run_in_headings() -> None:
    lines = ["Abstract—We present a method for things.", BODY, "1 Introduction", BODY, "2 Method", BODY,
             "3 Conclusion", BODY, "Acknowledgments We thank the reviewers for their", BODY]
    headings = sx.find_headings(lines)
    assert headings[0].title == "Abstract"
    assert headings[0].run_in == "We present a method for things."
    assert headings[-1].kind == "acknowledgements"
    assert headings[-1].run_in == "We thank the reviewers for their"


def test_unnumbered_papers_use_names() -> None:
    lines = ["Abstract", BODY, "Introduction", BODY, "Methods", BODY, "Results", BODY, "Discussion", BODY,
             "References", "[1] Someone."]
    headings = sx.find_headings(lines)
    assert [h.title for h in headings] == ["Abstract", "Introduction", "Methods", "Results", "Discussion",
                                           "References"]
    assert sx.assign_kinds(headings) == ["abstract", "introduction", "method", "experiments", "conclusion",
                                         "references"]


def test_everything_after_references_is_cut() -> None:
    lines = ["1 Introduction", BODY, "2 Method", BODY, "3 Conclusion", BODY, "References", "[1] X.",
             "Appendix", "A Notation", BODY]
    kinds = sx.assign_kinds(sx.find_headings(lines))
    assert kinds == ["introduction", "method", "conclusion", "references", "appendix"]


def test_subsections_inherit_their_parent_kind() -> None:
    lines = ["1 Introduction", BODY, "2 Related Work", BODY, "2.1 Consistency Regularization", BODY,
             "3 MixMatch", BODY, "3.1 Data Augmentation", BODY, "4 Experiments", BODY, "4.2.1 Baseline Methods",
             BODY, "4.1 Implementation details", BODY, "5 Conclusion", BODY]
    headings = sx.find_headings(lines)
    kinds = dict(zip([h.title for h in headings], sx.assign_kinds(headings), strict=True))
    assert kinds["2.1 Consistency Regularization"] == "related"
    assert kinds["3 MixMatch"] == "method"
    assert kinds["3.1 Data Augmentation"] == "method"
    assert kinds["4.1 Implementation details"] == "experiments"


def test_abstract_from_front_matter_after_dated_line() -> None:
    front = ["A Title", "A. Author,1 B. Author2", "1Institute of Things, Somewhere", "(Dated: April 3, 2012)",
             *[BODY] * 4, "PACS numbers: 05.30.Rt"]
    assert sx.abstract_from_front(front) == [BODY] * 4


def test_abstract_from_front_matter_by_width() -> None:
    front = ["A Title", "Someone", "Somewhere", *[BODY] * 4, "and it ends here."]
    assert sx.abstract_from_front(front) == [*[BODY] * 4, "and it ends here."]
    assert sx.abstract_from_front(["A Title", "Someone"]) == []


def test_guess_title() -> None:
    assert sx.guess_title("Big Title Here", "Other", ["line"]) == "Big Title Here"
    assert sx.guess_title(None, "Microsoft Word - draft.docx", ["First Line Title"]) == "First Line Title"
    assert sx.guess_title(None, "A  Metadata   Title", []) == "A Metadata Title"
    assert sx.guess_title(None, None, []) is None


def test_looks_like_heading() -> None:
    assert sx.looks_like_heading("Abstract")
    assert sx.looks_like_heading("3.2 Decoder")
    assert not sx.looks_like_heading("76")
    assert not sx.looks_like_heading("mIoU")
