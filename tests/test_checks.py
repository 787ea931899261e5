"""pipeline.model.checks: support, copying and where a bullet rests."""

from __future__ import annotations

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
