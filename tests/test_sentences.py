"""pipeline.text.sentences: numbering, and what kind of sentence each one is."""

from __future__ import annotations

import pytest

from pipeline.core.models import ExtractedDocument, Section
from pipeline.text import sentences
from pipeline.text.sentences import (
    Sentence,
    is_about_cited_work,
    is_contribution,
    method_names,
    number_sentences,
    parse_id,
    split_sentences,
    states_a_limit,
)


def test_split_keeps_abbreviations_and_joins_short_pieces() -> None:
    text = ("Li et al. propose a teacher. It works well, e.g. on CT. Fig. 2 shows the model in detail.\n"
            "A new paragraph starts here and ends here.")
    assert split_sentences(text) == ["Li et al. propose a teacher.", "It works well, e.g. on CT.",
                                     "Fig. 2 shows the model in detail.",
                                     "A new paragraph starts here and ends here."]


def test_numbering_is_stable_title_first_then_reading_order_without_references() -> None:
    doc = ExtractedDocument(sha256="0" * 64, pages=1, chars=0, title="PDF title", sections=[
        Section(title="Abstract", kind="abstract", text="We study things. We find more things here."),
        Section(title="1 Introduction", kind="introduction", text="Things matter a lot to everyone."),
        Section(title="References", kind="references", text="[1] A. Author. A paper. 2020."),
    ])
    numbered = number_sentences(doc, title="Metadata Title")
    assert [(s.id, s.kind, s.text) for s in numbered] == [
        (1, "title", "Metadata Title"), (2, "abstract", "We study things."),
        (3, "abstract", "We find more things here."), (4, "introduction", "Things matter a lot to everyone.")]
    assert numbered[2].position == 1 and numbered[3].label == "S4"
    assert number_sentences(doc, title="Metadata Title") == numbered


def test_ids_as_models_write_them() -> None:
    assert [parse_id(v) for v in ("S12", "[S12]", "s3", 7, " S 4 ", "twelve", True)] == [12, 12, 3, 7, 4, None, None]


def test_cited_work_contribution_and_limit_sentences() -> None:
    names = method_names("DivideMix: Learning with Noisy Labels as Semi-supervised Learning")
    assert names[0] == "DivideMix"
    assert is_about_cited_work("Krizhevsky et al. [7] train deep networks on large datasets.", names)
    assert is_about_cited_work("Some methods estimate the noise transition matrix (Patrini et al., 2017).", names)
    assert not is_about_cited_work("We propose DivideMix, unlike [7], to divide the data.", names)
    assert is_contribution("DivideMix models the per-sample loss with a mixture model.", names)
    assert not is_contribution("Deep networks need many annotated samples.", names)
    assert states_a_limit("However, these methods suffer from confirmation bias [12].")


def test_figure_labels_and_table_rows_are_not_prose() -> None:
    from pipeline.text.sentences import is_prose

    for text in ("Classify ClassifyUnlabeled Guessed Label Average", "... K augmentations ...",
                 "Method #Param (M) GFLOPs Top-1 Err (%)", "SegNeXt-T SegNeXt-S SegNeXt-B SegNeXt-L"):
        assert not is_prose(text), text
    for text in ("Furthermore, data labels may contain private information.",
                 "Figure 3: Three different decoder designs.", "Larger circles mean more parameters.",
                 "Unlabeled scans outnumber annotated scans twenty to one."):
        assert is_prose(text), text


@pytest.mark.parametrize(("text", "signpost"), [
    ("In this section, we describe the architecture of the proposed SegNeXt in detail.", True),
    ("The rest of this paper is organized as follows.", True),
    ("Overall, the proposed PVT possesses the following merits.", True),
    ("This strategy, although successful, has at least two limitations.", True),
    ("Our contributions are threefold: a dual-view teacher, an agreement mask and a benchmark.", False),
    ("DW-Conv denotes depth-wise convolution and Scale i denotes the i-th branch.", True),
    ("where F represents the input feature.", True),
    ("The architecture of one RefineNet block is illustrated in Fig. 3(a).", True),
    ("In this paper, we propose a network that exploits multi-level features for high-resolution predictions.",
     False),
    ("In this section, we propose a multi-scale convolutional attention module that replaces self-attention "
     "with cheap strip convolutions and reweighs the features.", False),
    ("As shown in Fig. 1, SegNeXt outperforms recent transformer-based methods significantly.", False),
    ("The overall pipeline is shown in Figure 2, where a teacher labels unlabeled images for a student.", False),
])
def test_a_signpost_or_notation_sentence_answers_no_question(text: str, signpost: bool) -> None:
    assert sentences.is_signpost(text) is signpost


def test_no_reading_shows_a_signpost() -> None:
    from pipeline.text.budget import read_for

    numbered = [Sentence(1, "A network for segmentation", "", "title", 0),
                Sentence(2, "In this section, we describe the architecture of our network in detail.", "3 Method",
                         "method", 0, "3"),
                Sentence(3, "Our encoder stacks strip convolutions that gather context at several scales.",
                         "3 Method", "method", 1, "3")]
    assert read_for("framework", numbered, 400).ids == [1, 3]


def test_a_caption_s_later_sentences_are_caption_too() -> None:
    """"FLOPs are computed at 512×512." does not say it is a caption; its paragraph's label does, also
    when the caption follows running text in one paragraph."""
    doc = ExtractedDocument(sha256="0" * 64, pages=1, chars=0, title="T", sections=[Section(
        title="1 Introduction", kind="introduction", text=(
        "Segmentation needs many labelled images for every new organ.\n"
        "Figure 1: Accuracy against cost on two sets. FLOPs are computed at an input of 512×512 pixels. "
        "Larger circles mean more parameters.\n"
        "Labels are costly to make. Table 2: Results on the validation set. Here, n is the number of pixels.\n"
        "Table 3 shows that the method works on every one of the sets.\n"
        "Pooling loses much of the finer image structure. Figure 1. Example results of our method on two tasks."))])
    numbered = number_sentences(doc)
    assert [(s.text[:12], s.in_caption) for s in numbered[1:]] == [
        ("Segmentation", False), ("Figure 1: Ac", True),
        ("FLOPs are co", True), ("Larger circl", True), ("Labels are c", False), ("Table 2: Res", True),
        ("Here, n is t", True), ("Table 3 show", False),
        ("Pooling lose", False),  # "Figure 1." is too short to stand alone: it joins the sentence before
        ("Example resu", True)]


@pytest.mark.parametrize(("text", "problem"), [
    ("Yet, collecting labelled data is expensive because it needs expert knowledge.", True),
    ("In this paper, we address segmentation of CT volumes from few labelled scans.", True),
    ("Semantic segmentation is one of the most fundamental research topics in computer vision.", False),
    ("To our knowledge, this is the first entirely convolution-free object detection pipeline.", False),
    ("On CIFAR-10 with 250 labels, we reduce error rate by a factor of 4 (from 38% to 11%).", False),
    ("SegNeXt outperforms EfficientNet-L2 using only 1/10 of its parameters.", False),
    ("Although CNNs have achieved great success in vision, this work investigates a simple backbone.", True),
    ("Unlike previous methods, SegNeXt targets all the properties at once, which brings three benefits.", False),
])
def test_a_problem_is_a_limit_or_the_paper_s_aim_never_background_novelty_or_a_result(text: str,
                                                                                     problem: bool) -> None:
    assert sentences.states_a_problem(text, ["SegNeXt"]) is problem


def test_the_problems_reading_shows_problems_before_background_and_no_caption() -> None:
    from pipeline.text.budget import read_for

    numbered = [Sentence(1, "A network for segmentation", "", "title", 0),
                Sentence(2, "Semantic segmentation is a central task of computer vision with many uses.", "Abstract",
                         "abstract", 0),
                Sentence(3, "However, existing networks fail on thin structures such as vessels and nerves.",
                         "Abstract", "abstract", 1),
                Sentence(4, "FLOPs are computed at an input of 512×512 pixels for every model.", "1 Introduction",
                         "introduction", 0, in_caption=True),
                Sentence(5, "Labelling thin structures by hand is slow and costly for the clinicians.",
                         "1 Introduction", "introduction", 1)]
    reading = read_for("problems", numbered, 75)
    assert reading.ids == [1, 3, 5]  # the background sentence does not fit once the problems are in
    assert 4 not in read_for("problems", numbered, 400).ids and 4 not in read_for("motivation", numbered, 400).ids


def test_a_contrast_word_alone_is_no_problem() -> None:
    """"while remaining compatible" states no difficulty; "remains largely unexplored" does."""
    assert not sentences.states_a_problem("MixMatch introduces a unified loss term that reduces entropy while "
                                          "remaining compatible with standard regularization.", ["MixMatch"])
    assert sentences.states_a_problem("How to use unlabelled scans for segmentation remains largely unexplored.")
    assert sentences.states_a_limit("While effective on natural images, such methods are slow.")


def test_a_footnote_is_read_for_no_question() -> None:
    from pipeline.text.budget import read_for

    assert sentences.is_footnote("∗This work was done when G. Lin was with The University of Adelaide.")
    assert not sentences.is_footnote("This work was done in two stages, each trained end to end.")
    numbered = [Sentence(1, "A network for segmentation", "", "title", 0),
                Sentence(2, "∗This work was done when the first author was with another university.",
                         "1 Introduction", "introduction", 0),
                Sentence(3, "We argue that features from all levels help semantic segmentation.", "1 Introduction",
                         "introduction", 1)]
    assert read_for("motivation", numbered, 400).ids == [1, 3]
