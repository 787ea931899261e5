"""pipeline.model.checks: support, copying and where a bullet rests."""

from __future__ import annotations

import pytest

from pipeline.model import checks
from pipeline.text.sentences import Sentence

EVIDENCE = "Pseudo labels produced by the teacher network are unreliable near organ boundaries."


def test_a_copied_bullet_is_counted_as_a_reader_would() -> None:
    assert checks.is_copied("Pseudo labels produced by the teacher network are unreliable near boundaries.",
                            [EVIDENCE])
    assert checks.is_copied(f"The paper addresses the issue described as follows: {EVIDENCE}", [EVIDENCE])
    assert not checks.is_copied("Teacher-made labels go wrong at organ borders, so students learn those errors.",
                                [EVIDENCE])


def test_support_is_the_share_of_content_words_found_in_the_cited_sentences() -> None:
    assert checks.support("Teacher pseudo labels are unreliable near organ boundaries.", [EVIDENCE]) == 1.0
    low = checks.support("Transformers dominate language modelling benchmarks nowadays.", [EVIDENCE])
    assert low < checks.MIN_SUPPORT


def _s(i: int, text: str, kind: str = "introduction") -> Sentence:
    return Sentence(i, text, "1 Introduction", kind, 3)  # type: ignore[arg-type]


def test_a_framework_bullet_resting_on_cited_work_is_refused() -> None:
    cited = [_s(9, "Tarvainen and Valpola [9] average the student weights into a mean teacher.")]
    reason = checks.rests_on_paper("framework", cited, ["AnchorSeg"])
    assert reason is not None and "S9" in reason and "cited work" in reason
    assert checks.rests_on("framework", cited, ["AnchorSeg"]) == "cited"
    own = [_s(30, "The anchor module selects regions where both views agree.", "method")]
    assert checks.rests_on_paper("framework", own, ["AnchorSeg"]) is None
    assert checks.rests_on("framework", own, []) == "method"
    intro = [_s(5, "Deep networks need many annotated samples.")]
    assert "no sentence of the method section" in (checks.rests_on_paper("framework", intro, []) or "")


def test_problem_bullets_may_cite_others_only_for_a_limit() -> None:
    limit = [_s(4, "However, mean teacher methods [9] propagate confident mistakes to the student.")]
    assert checks.rests_on_paper("problems", limit, []) is None
    other = [_s(6, "Krizhevsky et al. [7] train deep networks on ImageNet.")]
    assert "cited work" in (checks.rests_on_paper("motivation", other, []) or "")


def test_the_shown_sentence_that_says_the_bullet_is_the_citation_it_meant() -> None:
    shown = {1: "We propose a dual-view framework.", 2: "Pseudo labels are unreliable near organ boundaries.",
             3: "Experiments use 20 scans.", 9: "Teacher pseudo labels are unreliable near organ boundaries."}
    text = "Pseudo labels are unreliable near the boundaries of organs."  # a small model's near-copy of S2
    assert checks.better_citation(text, [3], shown) == 2  # S9 says it too: the nearer one wins
    assert checks.better_citation(text, [3], shown, taken={2}) == 9  # S2 backs another bullet
    assert checks.better_citation(text, [2], shown) is None  # already right
    assert checks.better_citation("Something else entirely is claimed here.", [3], shown) is None


CITED = ["Since PVT needs to process high-resolution (e.g., 4-stride) feature maps, we propose a spatial-reduction "
         "attention (SRA) layer to replace the traditional multi-head attention (MHA) layer [63] in the encoder."]
COPY = CITED[0]


def test_a_restatement_that_kept_the_content_replaces_a_copy() -> None:
    new = ("Because PVT handles high-resolution feature maps (e.g., 4-stride), a spatial-reduction attention "
           "(SRA) layer takes the place of the usual multi-head attention (MHA) layer in its encoder.")
    assert checks.is_copied(COPY, CITED) and not checks.is_copied(new, CITED)
    assert checks.restatement_problems(new, COPY, CITED) == []


@pytest.mark.parametrize(("new", "problem"), [
    (COPY.replace("Since", "As"), "it still uses the paper's own wording"),
    ("Because PVT handles feature maps of high resolution (e.g., 8-stride), a spatial-reduction attention (SRA) "
     "layer stands in for multi-head attention (MHA) in the encoder.", "its numbers (8) are not the bullet's (4)"),
    ("Because the model handles feature maps of high resolution (e.g., 4-stride), a spatial-reduction attention "
     "(SRA) layer stands in for multi-head attention (MHA) in the encoder.", "it drops the name(s) PVT"),
    ("PVT uses an SRA layer for 4-stride maps (MHA).", "it is much shorter than the bullet"),
    ("Because PVT mixes tokens from several galaxies in 4 telescopes, SRA and MHA rotate the quasar spectra "
     "of distant nebulae.", "most of its terms are not in the cited sentences"),
])
def test_a_restatement_that_lost_content_or_still_copies_is_refused(new: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in checks.restatement_problems(new, COPY, CITED)), \
        checks.restatement_problems(new, COPY, CITED)


def test_reference_marks_are_not_numbers_a_restatement_must_keep() -> None:
    new = ("Because PVT handles high-resolution feature maps (e.g., 4-stride), a spatial-reduction attention "
           "(SRA) layer takes the place of the usual multi-head attention (MHA) layer in its encoder [63, 12].")
    assert checks.restatement_problems(new, COPY, CITED) == []


def test_a_footnote_mark_glued_to_a_word_is_no_number_to_keep() -> None:
    cited = ["Organic conductors can be described as coupled one-dimensional chains.2 Treating the hopping "
             "between them is a challenge."]
    new = "Organic conductors behave like linked one-dimensional chains, and the hopping between them is hard."
    assert checks.restatement_problems(new, cited[0], cited) == []


def test_an_acronym_written_out_is_kept() -> None:
    cited = ["Existing CNN backbones produce single-scale features, which limits dense prediction."]
    new = "Convolutional neural network backbones produce features at a single scale, which limits dense prediction."
    assert checks.restatement_problems(new, cited[0], cited) == []
    assert checks.restatement_problems(new.replace("Convolutional neural network", "Existing"), cited[0], cited) \
        == ["it drops the name(s) CNN"]


def test_a_restatement_that_reverses_the_claim_is_refused() -> None:
    cited = ["To our knowledge, this is the first entirely convolution-free object detection pipeline."]
    reversed_ = "We currently do not know that this is the first pipeline without convolutions for object detection."
    assert checks.restatement_problems(reversed_, cited[0], cited) == ["it says the opposite"]
    limit = ["Deconvolution cannot recover the low-level features lost by downsampling in the forward stage."]
    assert checks.restatement_problems("The low-level features lost when the forward stage downsamples cannot "
                                       "be recovered by deconvolution.", limit[0], limit) == []


def test_a_negation_said_with_a_word_is_no_reversal() -> None:
    cited = ["Pseudo labels produced by the teacher network are unreliable near organ boundaries."]
    new = "Near the boundaries of organs, the labels the teacher network makes cannot be relied on."
    assert checks.restatement_problems(new, cited[0], cited) == []


def test_a_restatement_is_shown_the_bullet_s_words_first_in_alphabetical_order() -> None:
    terms = checks.restate_terms("Pseudo labels are unreliable near organ boundaries.", [EVIDENCE, "Zebra voxels."], 8)
    assert terms == ["boundaries", "labels", "near", "network", "organ", "produced", "pseudo", "unreliable"]


def test_reference_marks_do_not_make_a_copy() -> None:
    """Shared reference marks are not copied words (a real restatement the marks had kept over the line)."""
    cited = ["Nevertheless, this work aims to explore an alternative backbone network beyond CNN, which can be used "
             "for dense prediction tasks such as object detection [39, 13], semantic [81] and instance "
             "segmentation [39], in addition to image classification [11]."]
    mine = ("This work aims to explore a backbone network that surpasses CNNs for dense prediction tasks, such as "
            "target detection [39, 13], semantic [81], and instance segmentation [39], as well as image "
            "classification [11].")
    assert checks.copied_share(mine, cited) < checks.COPY_SHARE
    marks_as_words = checks.copied_share(mine.replace("[", "(").replace("]", ")"),
                                         [cited[0].replace("[", "(").replace("]", ")")])
    assert marks_as_words >= checks.COPY_SHARE
    assert checks.without_references("detection [39, 13], semantic [81] and segmentation [4-6].") == \
        "detection, semantic and segmentation."


def test_notation_left_in_a_bullet_may_be_dropped_by_its_restatement() -> None:
    """"H 4×W 4×C" is a size in symbols (here extraction debris), not a number the bullet states; "512×512"
    is one."""
    cited = ["Our goal is to introduce the pyramid structure into the Transformer framework, so that it can "
             "generate multi-scale F!: H 4×W 4×C! feature maps for dense prediction tasks."]
    old = ("Our goal is to introduce the pyramid structure into the Transformer framework, so that it can "
           "generate multi-scale F!: H 4×W 4×C!")
    new = "The pyramid structure is brought into the Transformer framework so that it yields multi-scale features."
    assert checks.restatement_problems(new, old, cited) == []
    sized = "Crops of 512×512 pixels are fed to the network during training."
    assert "its numbers (none) are not the bullet's (512, 512)" in checks.restatement_problems(
        "Crops of a fixed size are fed to the network while it trains.", sized, [sized])


def test_a_pointer_into_the_paper_is_no_number_a_restatement_must_keep() -> None:
    """"section 2" and 算法1 point into the paper; a restatement may drop them, never "300 epochs"."""
    cited = ["MixMatch is a holistic approach which incorporates ideas and components from the dominant "
             "paradigms for SSL discussed in section 2."]
    new = "MixMatch is a holistic method that brings together the main ideas of earlier SSL paradigms."
    assert checks.restatement_problems(new, cited[0], cited) == []
    assert checks._numbers("trained for 300 epochs (Table 2, Fig. 3(a), Eq. (5), 算法1，第3行)") == ["300"]
    assert checks._numbers("patches of 4x4 pixels") == checks._numbers("patches of 4 × 4 pixels") == ["4", "4"]


def test_notation_is_no_copied_words_and_names_are_listed_once() -> None:
    cited = ["Our goal is to introduce the pyramid structure into the Transformer framework, so that it can "
             "generate multi-scale F!: H 4×W 4×C! feature maps for dense prediction tasks."]
    restated = ("We aim to integrate the pyramid structure into the Transformer framework so it can yield "
                "multi-scale F!: H 4×W 4×C!")
    assert not checks.is_copied(restated, cited)  # 0.68 with the debris counted as words
    assert checks.is_copied(cited[0], cited)
    assert checks.names("PVT-Tiny beats ResNet18 and a CNN; PVT-Tiny is small.") == ["PVT-Tiny", "ResNet18", "CNN"]
