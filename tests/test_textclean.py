"""pipeline.text.clean: each cleaning step on small, hand-made inputs."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.text import clean as tc

STAMP = "arXiv:2209.08575v1  [cs.CV]  18 Sep 2022"


def test_normalize_folds_ligatures_and_accents() -> None:
    text = tc.normalize_chars("e\ufb03cient \ufb01eld \ufb02ow \ufb00ect Doll´ar Teˇsanovi´c soft\u00adhyphen")
    assert text == "efficient field flow ffect Dollár Tešanović softhyphen"


def test_normalize_marks_unmapped_glyphs() -> None:
    assert tc.normalize_chars("Re\x01neNet") == "Re\ufffdneNet"


def test_repair_glyphs_uses_the_vocabulary() -> None:
    vocab = Counter({"refinenet": 3})
    assert tc.repair_glyphs("Re\ufffdneNet block", vocab) == "RefineNet block"
    assert tc.repair_glyphs("x\ufffdy", vocab) == "xy"


def test_split_lines_collapses_spaces_and_drops_blanks() -> None:
    assert tc.split_lines("  a   b \n\n\t c\u00a0 d  \n") == ["a b", "c d"]


@pytest.mark.parametrize("line", [
    STAMP, "arXiv:2209.08575v1 [cs.CV] 18 Sep 2022",
    "a r X i v : 2 2 0 9 . 0 8 5 7 5 v 1 [ c s . C V ] 1 8 S e p 2 0 2 2",
    "arXiv:1111.2011v2  [cond-mat.str-el]  2 Apr 2012", "arXiv:hep-th/9901001v3 [hep-th] 5 Jan 1999",
])
def test_side_stamp_is_recognised(line: str) -> None:
    assert tc.is_side_stamp(line)


@pytest.mark.parametrize("line", [
    "arXiv preprint arXiv:1806.05594, 2018.", "see arXiv:2209.08575 [cs.CV] for details", "18 Sep 2022",
])
def test_references_to_arxiv_are_not_stamps(line: str) -> None:
    assert not tc.is_side_stamp(line)


@pytest.mark.parametrize("reverse", [False, True])
def test_stamp_rendered_one_character_per_line_is_removed(reverse: bool) -> None:
    chars = [c for c in STAMP if not c.isspace()]
    if reverse:
        chars.reverse()
    lines, removed = tc.remove_side_stamps(["Body text before.", *chars, "Body text after."])
    assert lines == ["Body text before.", "Body text after."]
    assert removed == 1


def test_short_lines_that_are_not_a_stamp_are_kept() -> None:
    lines = ["x", "y"] * 15
    assert tc.remove_side_stamps(lines) == (lines, 0)


def _pages(n: int) -> list[list[str]]:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    return [[f"Preprint under review at ICML {2024}", f"The {words[i]} page starts here", f"then {words[i]}",
             f"and {words[i]} ends with a longer line", "Smith et al.: A Running Title", f"{i + 1}"]
            for i in range(n)]


def test_repeated_edges_remove_running_headers_and_footers() -> None:
    pages, removed = tc.remove_repeated_edges(_pages(6))
    assert removed == 12
    assert all(not any("Preprint" in line or "Running Title" in line for line in page) for page in pages)
    assert pages[0][0] == "The alpha page starts here"


def test_repeated_edges_need_several_pages() -> None:
    pages = _pages(2)
    assert tc.remove_repeated_edges(pages) == (pages, 0)


def test_licence_footer_removed_even_once() -> None:
    footer = ("Authorized licensed use limited to: Some University. Downloaded on November 07,2022 at "
              "05:43:19 UTC from IEEE Xplore. Restrictions apply.")
    assert tc.remove_footers(["text", footer]) == (["text"], 1)


def test_page_numbers_only_at_page_edges() -> None:
    lines = ["12", "Body", "3", "More body", "Page 7", "568"]
    assert tc.remove_page_numbers(lines) == (["Body", "3", "More body"], 3)


def test_dehyphenate_joins_split_words_and_keeps_compounds() -> None:
    lines = ["the attention mech-", "anism in transformers and self-", "attention, and state-",
             "of-the-art results with a multi-", "scale head (detec-", "tion/segmentation)."]
    vocab = tc.vocabulary(lines)
    vocab.update({"self-attention": 2})
    out, joins = tc.dehyphenate(lines, vocab)
    assert joins == 5
    text = " ".join(line for line in out if line)
    assert "mechanism in" in text
    assert "self-attention," in text
    assert "state-of-the-art results" in text
    assert "multi-scale head" in text
    assert "detection/segmentation)." in text
    assert len(out) == len(lines)


def test_dehyphenate_leaves_real_dashes() -> None:
    lines = ["pre- and post-", "Training is done", "a range 1-", "5 of values --", "next", "object-",
             "or category-level evidence"]
    out, joins = tc.dehyphenate(lines, Counter())
    assert out == lines
    assert joins == 0


def test_figure_text_runs_dropped_but_headings_kept() -> None:
    lines = ["Prose line that is long enough.", "0", "10", "20", "30", "Abstract", "mIoU", "x", "y", "z",
             "The end of the text."]
    out, removed = tc.remove_figure_text(lines, keep=lambda s: s == "Abstract")
    assert out == ["Prose line that is long enough.", "Abstract", "The end of the text."]
    assert removed == 8


def test_reflow_joins_prose_and_keeps_short_lines() -> None:
    lines = ["This is a full line of running prose that goes on", "and on to the end of the column width",
             "and stops.", "A second paragraph starts here and it is long", "too."]
    assert tc.reflow(lines).split("\n") == [
        "This is a full line of running prose that goes on and on to the end of the column width and stops.",
        "A second paragraph starts here and it is long too.",
    ]


def test_clean_pages_counts_what_it_removed() -> None:
    pages = ["Header of the journal\nBody \ufb01rst page text here.\n" + STAMP + "\n1",
             "Header of the journal\nBody second page text.\n2",
             "Header of the journal\nBody third page text.\n3"]
    result = tc.clean_pages(pages)
    assert result.pages == [["Body first page text here."], ["Body second page text."], ["Body third page text."]]
    assert result.removed == {"side_stamp": 1, "running_header_footer": 3, "page_number": 3}


@pytest.mark.parametrize("line", [
    "36th Conference on Neural Information Processing Systems (NeurIPS 2022).",
    "33rd Conference on Neural Information Processing Systems (NeurIPS 2019), Vancouver, Canada.",
    "2017 IEEE Conference on Computer Vision and Pattern Recognition", "1063-6919/17 $31.00 © 2017 IEEE",
    "DOI 10.1109/CVPR.2017.549",
])
def test_venue_notes_removed(line: str) -> None:
    assert tc.remove_venue_notes(["Body text.", line]) == (["Body text."], 1)


def test_venue_note_patterns_leave_prose() -> None:
    lines = ["We follow the 2017 IEEE Conference on Computer Vision and Pattern Recognition protocol.",
             "The DOI 10.1109/CVPR.2017.549 of the paper is given in the text for reference."]
    assert tc.remove_venue_notes(lines) == (lines, 0)


@pytest.mark.parametrize(("line", "row"), [
    ("ResNet-50 yes no 40.4 64.1", True),
    ("Attention [7] 56.4 HAZN [45] 57.5", True),
    ("MixMatch 4.95 ± 0.08 25.88 ± 0.30", True),
    ("250 500 1000 2000 4000", True),
    ("PVT-Small (ours) 34.7(+2.4) 55.7 35.4 12.0 36.4 56.7", True),
    ("stages 1, 2 and 3 are trained", False),  # prose with numbers
    ("we obtain 46.5 IoU on NYUDv2 and 73.6 on VOC", False),
    ("4 Experiments", False),
    ("Table 3. Segmentation results on NYUDv2 (40 classes).", False),
])
def test_table_rows_are_told_from_prose(line: str, row: bool) -> None:
    assert tc.is_table_row(line) is row


def test_tables_and_subfigure_labels_go_and_headings_stay() -> None:
    lines = ["Results are in the table below.", "Method A 40.1 50.2", "(b) Ground Truth", "5 6 7 8",
             "(a) a lightweight encoder that is applied to every scale of the input", "The end."]
    kept, removed = tc.remove_tables(lines, keep=lambda line: line == "5 6 7 8")
    assert kept == ["Results are in the table below.", "5 6 7 8",
                    "(a) a lightweight encoder that is applied to every scale of the input", "The end."]
    assert removed == 2


def test_a_footnote_cutting_a_word_is_moved_after_the_sentence() -> None:
    lines = ["this work proposes a backbone, termed Pyramid Vision Trans-",
             "1Due to resource constraints, the model cannot use fine-grained",
             "patches as input.",
             "former (PVT), which can serve as an alternative backbone.",
             "Next paragraph starts here."]
    moved, n = tc.move_footnotes(lines)
    assert n == 1
    assert moved == [lines[0], lines[3], lines[1], lines[2], lines[4]]
    joined, _ = tc.dehyphenate(moved, Counter({"transformer": 3}))
    assert "termed Pyramid Vision Transformer (PVT), which can serve" in " ".join(joined)


def test_footnotes_after_a_finished_sentence_and_affiliations_stay() -> None:
    after_sentence = ["The method is simple.", "1Code is available at the project page.", "More text."]
    affiliations = ["Ada Lovelace1, Alan Turing2", "1Nanjing University 2The University of Hong Kong",
                    "3IIAI 4SenseTime Research", "Abstract"]
    assert tc.move_footnotes(after_sentence) == (after_sentence, 0)
    assert tc.move_footnotes(affiliations) == (affiliations, 0)


def test_a_corresponding_author_note_is_a_footnote_too() -> None:
    lines = ["making it a unified backbone for vari-", "B Corresponding authors: A. Author (a@b.org);",
             "B. Author (b@c.org).", "ous vision tasks without convolutions.", "Next."]
    moved, n = tc.move_footnotes(lines)
    assert n == 1 and moved[:2] == ["making it a unified backbone for vari-", "ous vision tasks without convolutions."]


def test_a_caption_inside_a_sentence_is_moved_after_it() -> None:
    lines = ["the mean accuracy over", "Figure 4. Our prediction examples on the Person-Parts dataset.",
             "all classes. As commonly done, we augment the data.", "Next paragraph."]
    moved, n = tc.move_captions(lines)
    assert n == 1
    assert moved == [lines[0], lines[2], lines[1], lines[3]]


def test_a_caption_between_paragraphs_stays_and_abbreviations_do_not_end_sentences() -> None:
    between = ["The method works.", "Figure 2: Overview of the method.", "Our second finding is this."]
    assert tc.move_captions(between) == (between, 0)
    assert not tc._ends_sentence("by 2.4 points (34.7 vs.") and not tc._ends_sentence("as shown by Wang et al.")
    assert tc._ends_sentence("This is the end.") and tc._ends_sentence("of the “model.”")
