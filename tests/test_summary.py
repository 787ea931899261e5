"""Pure validators of the LLM contract: language, placeholders, duplicates, parallel lists, grounding."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError
from test_llm import PAPER, english_pass

from pipeline.core.models import FIELD_TITLES_EN, FIELD_TITLES_ZH, FIELDS
from pipeline.model import grounding
from pipeline.model.summary import (
    ChineseBullet,
    ChinesePass,
    ChineseSummary,
    EnglishPass,
    EnglishSummary,
    ImportedChineseSummary,
    LLMSummary,
    grounding_score,
)

ZH = {"problems": ["教师模型生成的 pseudo label 在器官边界附近不可靠。"],
      "motivation": ["两个视图之间的一致性可以指示哪些体素值得信任。"],
      "framework": ["针对半监督 CT 分割提出双视图一致性框架。"]}


def summary(**changes: Any) -> dict[str, Any]:
    data = english_pass()
    data["zh"] = copy.deepcopy(ZH)
    data.update(changes)
    return data


def validate(data: dict[str, Any]) -> LLMSummary:
    return LLMSummary.model_validate(data, context={"source_text": PAPER})


def test_handwritten_summary_is_valid_and_fully_grounded() -> None:
    result = validate(summary())
    assert grounding_score(result.en, PAPER) == 1.0


@pytest.mark.parametrize("text,ok", [
    ("提出了一种基于 Segment Anything Model 的半监督框架。", True),
    ("本文使用 mean teacher 和 CutMix 进行一致性训练。", True),
    ("This sentence is entirely English and has no Chinese.", False),
    ("方法 uses a teacher network to produce labels for the student model.", False),
])
def test_chinese_check_allows_terms_but_not_english_sentences(text: str, ok: bool) -> None:
    assert (grounding.chinese_problem(text) is None) is ok


@pytest.mark.parametrize("text", ["N/A", "TODO", "...", "Summary generation failed", "待补充"])
def test_placeholders_are_rejected(text: str) -> None:
    data = summary()
    data["zh"]["problems"] = [text]
    with pytest.raises(ValidationError):
        validate(data)


def test_chinese_in_english_bullet_is_rejected() -> None:
    data = summary()
    data["en"]["problems"][0]["text"] = "伪标签在边界处不可靠 which hurts the student network."
    with pytest.raises(ValidationError, match="Chinese characters"):
        validate(data)


def test_lists_must_be_parallel() -> None:
    data = summary()
    data["zh"]["framework"].append("另外加入了边界感知的损失函数以提升分割质量。")
    with pytest.raises(ValidationError, match="must be parallel"):
        validate(data)


def test_duplicate_bullets_are_rejected() -> None:
    data = summary()
    data["zh"]["motivation"] = list(data["zh"]["problems"])
    with pytest.raises(ValidationError, match="duplicate"):
        validate(data)


def test_evidence_must_be_six_to_sixty_words() -> None:
    data = summary()
    data["en"]["problems"][0]["evidence"] = "Pseudo labels produced by teacher"
    with pytest.raises(ValidationError):
        validate(data)


def test_grounding_is_case_whitespace_and_ligature_insensitive() -> None:
    data = summary()
    data["en"]["problems"][0]["evidence"] = "PSEUDO   labels produced by the teacher\nnetwork are unreliable"
    validate(data)
    source = PAPER.replace("unsupervised", "unsuper-\nvised").replace("fi", "\ufb01")
    assert grounding.quote_found("the unsupervised consistency loss of every voxel", grounding.normalize(source))


def test_number_not_in_source_is_ungrounded() -> None:
    data = summary()
    data["en"]["framework"][0]["text"] = "A dual-view framework trained on 30 labelled scans."
    with pytest.raises(ValidationError, match="numbers not in the paper text: 30"):
        validate(data)
    data["en"]["framework"][0]["text"] = "A dual-view framework trained on 20 labelled scans."
    validate(data)


def test_without_context_grounding_is_not_checked() -> None:
    data = summary()
    data["en"]["framework"][0]["evidence"] = "words that appear nowhere in the paper at all really"
    LLMSummary.model_validate(data)


def test_chinese_pass_must_match_english_counts() -> None:
    with pytest.raises(ValidationError, match="bullet for bullet"):
        ChinesePass.model_validate({"zh": ZH}, context={"expected_counts": {"problems": 2}})
    ChinesePass.model_validate({"zh": ZH}, context={"expected_counts": {"problems": 1}})


def test_near_verbatim_evidence_is_snapped_to_the_exact_span() -> None:
    data = summary()
    data["en"]["problems"][0]["evidence"] = \
        "pseudo labels produced by a teacher network are unreliable near organ boundaries"
    context: dict[str, Any] = {"source_text": PAPER}
    result = LLMSummary.model_validate(data, context=context)
    assert result.en.problems[0].evidence == \
        "Pseudo labels produced by the teacher network are unreliable near organ boundaries."
    assert len(result.snapped) == 1 and result.snapped[0].startswith("en.problems: ")
    assert context == {"source_text": PAPER}  # the context is only read


def test_each_validation_counts_only_its_own_snapped_quotes() -> None:
    near = "pseudo labels produced by a teacher network are unreliable near organ boundaries"
    context: dict[str, Any] = {"source_text": PAPER}
    rejected = summary()
    rejected["en"]["problems"][0]["evidence"] = near
    rejected["zh"]["problems"] = [*ZH["problems"], "两个视图之间多出来的第二条要点。"]  # not parallel to the English
    with pytest.raises(ValidationError, match="must be parallel"):
        LLMSummary.model_validate(rejected, context=context)
    accepted = summary()
    accepted["en"]["problems"][0]["evidence"] = near
    assert len(LLMSummary.model_validate(accepted, context=context).snapped) == 1
    assert LLMSummary.model_validate(summary(), context=context).snapped == []


def test_the_summary_models_have_exactly_the_bullet_groups() -> None:
    for model in (EnglishSummary, ChineseSummary, ImportedChineseSummary):
        assert tuple(model.model_fields) == FIELDS, model.__name__
    assert list(FIELD_TITLES_ZH) == list(FIELD_TITLES_EN) == list(FIELDS)


def test_loose_paraphrase_is_not_snapped() -> None:
    data = summary()
    data["en"]["problems"][0]["evidence"] = "teachers often create wrong labels at the borders of organs here"
    with pytest.raises(ValidationError, match="not a verbatim quote"):
        validate(data)


def test_repeated_english_bullet_is_dropped_in_translate_mode_when_its_group_keeps_another() -> None:
    data = english_pass()
    repeat = copy.deepcopy(data["en"]["problems"][0])
    data["en"]["framework"].append(repeat)
    result = EnglishPass.model_validate(data, context={"source_text": PAPER})
    assert len(result.en.framework) == 1 and result.en.framework[0].text != repeat["text"]
    only = english_pass()
    only["en"]["framework"] = [copy.deepcopy(only["en"]["problems"][0])]
    with pytest.raises(ValidationError, match="duplicate"):
        EnglishPass.model_validate(only, context={"source_text": PAPER})


def test_over_long_bullet_keeps_its_leading_sentences() -> None:
    data = english_pass()
    first = "Teacher pseudo labels are unreliable close to organ boundaries."
    data["en"]["problems"][0]["text"] = first + " " + "Another sentence that goes on and on. " * 20
    result = EnglishPass.model_validate(data, context={"source_text": PAPER})
    assert result.en.problems[0].text.startswith(first) and len(result.en.problems[0].text) <= 400
    assert grounding.leading_sentences("x" * 700, 400) is None


def test_llm_schema_asks_for_evidence_before_text() -> None:
    bullet_schema = LLMSummary.model_json_schema()["$defs"]["EvidencedBullet"]
    assert list(bullet_schema["properties"]) == ["evidence", "text"]


def test_over_long_evidence_keeps_a_verbatim_lead_of_at_most_sixty_words() -> None:
    data = english_pass()
    source = f"{PAPER} {PAPER}"
    data["en"]["problems"][0]["evidence"] = source  # 70+ words, all verbatim
    result = EnglishPass.model_validate(data, context={"source_text": source})
    evidence = result.en.problems[0].evidence
    assert 6 <= grounding.word_count(evidence) <= 60 and evidence.endswith(".")
    assert source.startswith(evidence)


@pytest.mark.parametrize(("zh", "en", "ok"), [
    ("在15亿个词元上训练。", "Trained on 1.5 billion tokens.", True),
    ("在1.5亿个词元上训练。", "Trained on 1.5 billion tokens.", False),  # a scale mistranslated
    ("使用150万张图像和10k步。", "Uses 1.5M images and 10,000 steps.", True),
    ("包含两个阶段和3个模块。", "It has two stages and three modules.", True),  # a spelled-out count
    ("ResNet-50 在 ImageNet 上达到 76.1%。", "ResNet-50 reaches 76.1% on ImageNet.", True),
    ("精度提升了 2.5%。", "Accuracy improves by 2.3%.", False),  # a wrong figure
    ("该方法于2022年提出。", "The method was proposed in 2022.", True),
    ("该方法在5个数据集上评估。", "The method is evaluated on several datasets.", False),  # a made-up number
    ("铁基超导体1的发现。", "The discovery of iron-based superconductors1.", True),  # a footnote mark kept
    ("使用 Conv2d 与 F1 分数。", "Uses Conv2d and the F1 score.", True),
])
def test_chinese_numbers_must_be_the_english_ones(zh: str, en: str, ok: bool) -> None:
    assert (grounding.quantity_mismatch(zh, en) is None) is ok


def test_a_mistranslated_number_is_rejected_with_what_to_fix() -> None:
    data = summary()
    data["en"]["framework"][0]["text"] = "A dual-view framework trained on 1.5 billion voxels."
    data["zh"]["framework"] = ["在1.5亿个体素上训练的双视图框架。"]
    with pytest.raises(ValidationError, match=r"zh.framework\[1\]: '1.5亿' \(150,000,000\) is not a number of the "
                                              r"English bullet \(1.5 billion = 1,500,000,000\)"):
        LLMSummary.model_validate(data)  # no source text: only the translation is checked
    data["zh"]["framework"] = ["在15亿个体素上训练的双视图框架。"]
    LLMSummary.model_validate(data)


def test_translation_passes_check_numbers_against_the_english_they_were_given() -> None:
    english = {"problems": ["Teacher labels are wrong on 12 organs."], "motivation": ["x"], "framework": ["y"]}
    zh = {**ZH, "problems": ["教师标签在13个器官上出错。"]}
    with pytest.raises(ValidationError, match="'13'"):
        ChinesePass.model_validate({"zh": zh}, context={"english": english})
    with pytest.raises(ValidationError, match="'13'"):
        ChineseBullet.model_validate({"zh": zh["problems"][0]}, context={"english": english["problems"][0]})
    ChineseBullet.model_validate({"zh": "教师标签在12个器官上出错。"}, context={"english": english["problems"][0]})


def test_a_paraphrased_quote_is_sent_back_with_the_closest_sentence() -> None:
    data = summary()
    data["en"]["motivation"][0]["evidence"] = "An agreement mask is used to weight the consistency loss of each voxel"
    with pytest.raises(ValidationError) as info:
        validate(data)
    message = str(info.value)
    assert "en.motivation[1].evidence is not a verbatim quote" in message
    assert ("the closest sentence of the paper text is 'Our agreement mask weights the unsupervised "
            "consistency loss of every voxel in the volume.'") in message


def test_no_sentence_is_suggested_for_a_quote_unlike_any() -> None:
    assert grounding.closest_sentence("completely unrelated words about cooking pasta", PAPER) is None
    long_source = "Intro. " + " ".join(f"word{i}" for i in range(120)) + " end."
    suggestion = grounding.closest_sentence(" ".join(f"word{i}" for i in range(10)), long_source)
    assert suggestion is not None and len(suggestion.split()) == 50 and suggestion.startswith("word0 word1")
