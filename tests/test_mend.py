"""What a valid reply goes through before it becomes a draft (`pipeline.model.mend`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.models import FIELDS


def test_the_draft_names_the_documents_sentence_ids_not_the_requests(tmp_path: Path) -> None:
    """A request shows its sentences as S1..Sn; a warning in the draft names the document's ids."""
    from pipeline.model import mend
    from pipeline.text.sentences import Sentence

    shown = {1: Sentence(17, "We propose X.", "Method", "method", 0),
             2: Sentence(40, "Y works.", "Method", "method", 3)}
    assert mend.document_ids(["en.framework[1] repeats S1, S2 nearly word for word", "S9 is gone"], shown) == \
        ["en.framework[1] repeats S17, S40 nearly word for word", "S9 is gone"]


def test_a_bullet_repeating_an_earlier_questions_is_left_out_when_its_question_keeps_another() -> None:
    from pipeline.model import mend
    from pipeline.model.summary import EvidencedBullet

    def b(text: str) -> EvidencedBullet:
        return EvidencedBullet(text=text, evidence="Pseudo labels are unreliable near organ boundaries.",
                               sentences=[2], support=1.0)

    same = "Pseudo labels of the teacher are unreliable near organ boundaries."
    english = {"problems": [b(same)], "motivation": [b(same), b("Agreement between two views tells which "
                                                               "pseudo labels to trust.")],
               "framework": [b(same)]}
    notes = mend.drop_repeats(english)
    assert [len(english[f]) for f in FIELDS] == [1, 1, 1]  # the framework's only bullet stays
    assert notes == [f"en.motivation[1] left out of the draft: it repeats a bullet of problems ({same[:60]!r})"]


def test_a_bullet_that_gives_the_question_back_or_stops_at_a_colon_is_no_answer() -> None:
    """Seen from the embedded model on SegNeXt: the problems bullet was the question's description, and a
    framework bullet was 'Mathematically, our MSCA can be written as:'."""
    from pipeline.model import mend
    from pipeline.model.summary import QUESTION_DESCRIPTIONS, reply_model

    model = reply_model(("problems", "framework"), bilingual=False, classify=False, settings=())
    reply = model.model_validate({"en": {
        "problems": [{"text": QUESTION_DESCRIPTIONS["problems"], "sentences": ["S1"]},
                     {"text": "Pseudo labels of the teacher are unreliable near organ boundaries.",
                      "sentences": ["S2"]}],
        "framework": [{"text": "Mathematically, our agreement mask can be written as:", "sentences": ["S3"]}]}})
    assert mend.non_answers(reply) == [
        "en.problems[1] repeats the question instead of answering it for this paper",
        "en.framework[1] stops at a colon; write the finding itself as one full sentence"]


def test_the_question_given_back_before_the_answer_is_left_out() -> None:
    from pipeline.model import mend
    from pipeline.model.summary import reply_model

    model = reply_model(("motivation",), bilingual=False, classify=False, settings=())
    echo = ("The paper's motivation and key idea: the observation or insight behind its approach and why it "
            "should work. The paper focuses on the quantum rotor model because it is simple enough to solve.")
    own = "The paper's motivation and key idea is to re-examine what successful segmentation models share."
    reply = model.model_validate({"en": {"motivation": [{"text": echo, "sentences": ["S1"]},
                                                        {"text": own, "sentences": ["S2"]}]}})
    assert mend.strip_echoes(reply) == ["en.motivation[1]: the question's own words before the answer were left out"]
    assert [b.text for b in reply.groups()["motivation"]] == [
        "The paper focuses on the quantum rotor model because it is simple enough to solve.", own]
    lead = model.model_validate({"en": {"motivation": [
        {"text": "The observation or insight is that convolutional attention encodes context more cheaply than "
                 "self-attention does.", "sentences": ["S1"]}]}})
    assert mend.strip_echoes(lead) and lead.groups()["motivation"][0].text == \
        "Convolutional attention encodes context more cheaply than self-attention does."


def test_a_tag_the_text_never_says_is_left_out() -> None:
    from pipeline.model import mend
    from pipeline.model.summary import reply_model

    model = reply_model(("problems",), bilingual=False, classify=True, settings=("active-learning",))
    reply = model.model_validate({"en": {"problems": [{"text": "Attention from strip convolutions is cheap enough "
                                                               "for dense prediction.", "sentences": ["S1"]}]},
                                  "dim": "unknown", "dim_sentence": "none", "setting": "unknown",
                                  "setting_sentence": "none", "tags": ["semantic segmentation", "active learning",
                                                                       "convolutional attention"]})
    shown = {1: "We rethink convolutional attention for semantic segmentation."}
    _, _, tags, notes = mend.judgements(reply, shown)
    assert tags == ["semantic segmentation", "convolutional attention"]
    assert notes == ["tag(s) 'active learning' left out: not words of the text the model read"]


def test_reference_marks_are_dropped_from_the_bullets_english_and_chinese() -> None:
    """"[39, 13]" points into a bibliography the list does not have; the evidence keeps it."""
    from pipeline.core.models import FIELDS
    from pipeline.model import mend
    from pipeline.model.summary import reply_model

    sentences = {1: "It serves dense prediction such as object detection [39, 13], semantic [81] and instance "
                    "segmentation [4-6].", 2: "Labels are scarce in medical imaging.", 3: "We train a teacher [7]."}
    en = {"problems": [{"text": "Labels are scarce in medical imaging, so models struggle.", "sentences": ["S2"]}],
          "motivation": [{"text": "A backbone for dense prediction such as object detection [39, 13], semantic [81] "
                                  "and instance segmentation [4-6].", "sentences": ["S1"]}],
          "framework": [{"text": "A teacher network is trained first [7].", "sentences": ["S3"]}]}
    zh = {"problems": ["医学影像中标注稀缺，模型难以学习。"],
          "motivation": ["一种用于密集预测的骨干网络，如目标检测 [39, 13]、语义 [81] 和实例分割 [4-6]。"],
          "framework": ["首先训练一个教师网络[7]。"]}
    reply = reply_model(FIELDS, bilingual=True, classify=False, settings=()).model_validate(
        {"en": en, "zh": zh}, context={"sentences": sentences})
    mend.strip_references(reply)
    assert [b.text for b in reply.groups()["motivation"]] == [
        "A backbone for dense prediction such as object detection, semantic and instance segmentation."]
    assert [b.text for b in reply.groups()["framework"]] == ["A teacher network is trained first."]
    assert reply.zh.motivation == ["一种用于密集预测的骨干网络，如目标检测、语义和实例分割。"]  # type: ignore[attr-defined]
    assert reply.zh.framework == ["首先训练一个教师网络。"]  # type: ignore[attr-defined]


def _cited(text: str, evidence: str, n: int) -> Any:
    from pipeline.model.summary import EvidencedBullet

    return EvidencedBullet(text=text, evidence=evidence, sentences=[n])


def test_a_problems_bullet_resting_on_no_problem_is_left_out_when_another_states_one() -> None:
    """Field background, a novelty claim or a table note is no problem the paper addresses."""
    from pipeline.model import mend

    limit = _cited("ViT gives single-scale, low-resolution maps, which dense prediction cannot use.",
                   "It is challenging to adapt ViT to dense prediction because its output is single-scale.", 22)
    novelty = _cited("This is the first object detection pipeline without any convolution.",
                     "To our knowledge, this is the first entirely convolution-free object detection pipeline.", 30)
    aim = _cited("The paper takes on segmentation of CT volumes with few labelled scans.",
                 "In this paper, we address the segmentation of CT volumes from few labelled scans.", 3)
    english = {"problems": [limit, novelty, aim]}
    chinese = {"problems": ["甲。", "乙。", "丙。"]}  # a bilingual reply's: it stays parallel
    notes = mend.drop_non_problems(english, ["PVT"], chinese)
    assert english["problems"] == [limit, aim] and chinese["problems"] == ["甲。", "丙。"]
    assert notes == ["en.problems[2] left out of the draft: S30 state(s) no difficulty, limit or aim of this paper "
                     "('This is the first object detection pipeline without any conv')"]
    background = _cited("Semantic segmentation is one of the central topics of computer vision.",
                        "Semantic segmentation is one of the most important research topics in computer vision.", 1)
    english = {"problems": [background]}
    notes = mend.drop_non_problems(english, [])
    assert english["problems"] == [background]  # the only one stays, with a warning
    assert notes == ["en.problems[1]: S1 state(s) no difficulty, limit or aim of this paper; check that it is a "
                     "problem the paper addresses"]
