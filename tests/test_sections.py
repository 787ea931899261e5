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


# --------------------------------------------------------------------------- journal layouts (issue 11)

_FRONT = ["A Title Here", "Ann Author, Member, IEEE, and Bob Author, Fellow, IEEE"]


def _kinds(lines: list[str]) -> list[tuple[str, str]]:
    headings = sx.find_headings(lines)
    return [(h.title, k) for h, k in zip(headings, sx.assign_kinds(headings), strict=True)]


def _journal(front: list[str], heads: list[str]) -> list[str]:
    intro, related, method, sub, experiments, conclusion, references = heads
    return [*_FRONT, *front, intro, BODY, BODY, related, BODY, method, BODY, sub, BODY, experiments, BODY,
            conclusion, BODY, references, "[1] A. Author, “A paper,” in CVPR, 2020."]


_KINDS = ["introduction", "related", "method", "method", "experiments", "conclusion", "references"]


@pytest.mark.parametrize("heads", [
    ["1 INTRODUCTION", "2 RELATED WORK", "3 METHODS", "3.1 Overview", "4 EXPERIMENTS", "5 CONCLUSION", "REFERENCES"],
    # IEEE Computer Society small caps as pypdf spells them, and a number set without a space.
    ["1 I NTRODUCTION", "2 R ELATED W ORK", "3 M ETHODS", "3.1 Overview", "4 E XPERIMENTS", "5 C ONCLUSION",
     "R EFERENCES"],
    ["1INTRODUCTION", "2RELATED WORK", "3METHODS", "3.1Overview", "4EXPERIMENTS", "5CONCLUSION", "REFERENCES"],
    # Single-word capital headings without numbers.
    ["INTRODUCTION", "RELATED WORK", "METHODS", "Overview", "EXPERIMENTS", "CONCLUSION", "REFERENCES"],
])
def test_ieee_transactions_layout(heads: list[str]) -> None:
    front = ["Abstract—We present a method for segmentation that works on many datasets.",
             "Index Terms—Semantic segmentation, attention, transformers."]
    found = _kinds(_journal(front, heads))
    assert found[:2] == [("Abstract", "abstract"), ("Index Terms", "other")]
    expected = list(_KINDS)
    if heads[3] == "Overview":  # without numbers, a subsection is not told from a line of text
        expected.remove("method")
    assert [k for _, k in found[2:]] == expected


@pytest.mark.parametrize(("front", "labels"), [
    (["ABSTRACT", "We present a method for segmentation.", "CCS CONCEPTS: • Computing methodologies → Vision.",
      "KEYWORDS", "segmentation, attention", "ACM Reference Format: Ann Author. 2024. A Title Here."],
     [("ABSTRACT", "abstract"), ("CCS CONCEPTS", "other"), ("KEYWORDS", "other"),
      ("ACM Reference Format", "other")]),  # ACM
    (["Abstract. We present a method for segmentation.", "Keywords: Segmentation · Attention"],
     [("Abstract", "abstract"), ("Keywords", "other")]),  # Springer LNCS
    (["A R T I C L E  I N F O", "Article history: Received 1 May 2020", "Keywords: Segmentation",
      "A B S T R A C T", "We present a method for segmentation."],
     [("ARTICLE INFO", "other"), ("Keywords", "other"), ("ABSTRACT", "abstract")]),  # Elsevier
])
def test_front_matter_labels_of_other_publishers(front: list[str], labels: list[tuple[str, str]]) -> None:
    heads = ["1 Introduction", "2 Related Work", "3 Method", "3.1 Overview", "4 Experiments", "5 Conclusion",
             "References"]
    found = _kinds(_journal(front, heads))
    assert found[:len(labels)] == labels
    assert [k for _, k in found[len(labels):]] == _KINDS


def test_tight_number_needs_capitals_so_affiliations_stay_out() -> None:
    lines = ["1BNRist, Department of Computer Science", "2TMCC, CS, Nankai University", "Abstract", BODY,
             "1 Introduction", BODY, "2 Method", BODY, "3 Experiments", BODY]
    assert _titles(lines) == ["Abstract", "1 Introduction", "2 Method", "3 Experiments"]
