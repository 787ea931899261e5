"""Pure validators of the LLM contract: language, placeholders, duplicates, parallel lists, grounding."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError
from test_llm import CONTEXT, PAPER, english_pass

from pipeline.core.models import FIELD_TITLES_EN, FIELD_TITLES_ZH, FIELDS
from pipeline.model import glossary, grounding
from pipeline.model.summary import (
    EVIDENCE_JOIN,
    ChineseBullet,
    ChinesePass,
    ChineseSummary,
    EnglishPass,
    EnglishSummary,
    EvidencedBullet,
    ImportedChineseSummary,
    LLMSummary,
    grounding_score,
    reply_model,
)

ZH = {"problems": ["教师模型生成的伪标签在器官边界附近不可靠。"],
      "motivation": ["一致性掩码按可信程度对每个体素的无监督损失加权。"],
      "framework": ["针对半监督 CT 分割提出双视图一致性框架。"]}


SENTENCES_ = CONTEXT["sentences"]


def summary(**changes: Any) -> dict[str, Any]:
    data = english_pass()
    data["zh"] = copy.deepcopy(ZH)
    data.update(changes)
    return data


def validate(data: dict[str, Any]) -> Any:
    return LLMSummary.model_validate(data, context=CONTEXT)


def test_handwritten_summary_is_valid_and_its_ids_are_known() -> None:
    result = validate(summary())
    assert result.en.framework[0].sentences == ["S1"] and result.en.framework[0].ids == [1]


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


def test_a_stored_quote_must_be_six_to_sixty_words_unless_it_is_cited_sentences() -> None:
    with pytest.raises(ValidationError, match="6-60 words"):
        EvidencedBullet(text="Teacher labels are unreliable near boundaries.", evidence="Pseudo labels by teacher")
    EvidencedBullet(text="Teacher labels are unreliable near boundaries.", evidence="Pseudo labels by teacher",
                    sentences=[2])


def test_grounding_is_case_whitespace_and_ligature_insensitive() -> None:
    en = EnglishSummary.model_validate({name: [{"text": f"A {name} bullet long enough to be one.", "evidence": quote}]
                                        for name, quote in zip(FIELDS, [
                                            "PSEUDO   labels produced by the teacher\nnetwork are unreliable",
                                            "Our agreement mask weights the unsupervised consistency loss",
                                            "We propose a dual-view consistency framework"], strict=True)})
    assert grounding_score(en, PAPER) == 1.0
    source = PAPER.replace("unsupervised", "unsuper-\nvised").replace("fi", "\ufb01")
    assert grounding.quote_found("the unsupervised consistency loss of every voxel", grounding.normalize(source))


def test_evidence_of_several_cited_sentences_is_checked_sentence_by_sentence() -> None:
    bullet = EvidencedBullet(text="Teacher labels fail near boundaries, and a mask weights the loss.",
                             evidence=EVIDENCE_JOIN.join([SENTENCES_[2], SENTENCES_[3]]), sentences=[2, 3])
    assert bullet.quotes == [SENTENCES_[2], SENTENCES_[3]]
    en = EnglishSummary(problems=[bullet], motivation=[bullet.model_copy(update={"text": "Another bullet here."})],
                        framework=[bullet.model_copy(update={"text": "A third bullet here.",
                                                             "evidence": "a sentence the paper never wrote"})])
    assert grounding_score(en, PAPER) == round(2 / 3, 4)


def test_number_not_in_source_is_ungrounded() -> None:
    data = summary()
    data["en"]["framework"][0]["text"] = "A dual-view framework trained on 30 labelled scans."
    with pytest.raises(ValidationError, match="numbers not in the paper text: 30"):
        validate(data)
    data["en"]["framework"][0]["text"] = "A dual-view framework trained on 20 labelled scans."
    validate(data)


def test_an_unknown_sentence_id_is_rejected_naming_it() -> None:
    data = summary()
    data["en"]["problems"][0]["sentences"] = ["S2", "S9"]
    with pytest.raises(ValidationError, match=r"en.problems\[1\].sentences: S9 is not in the paper text; cite "
                                              r"only ids shown in brackets in the text \(S1-S4\)"):
        validate(data)


def test_ids_written_loosely_are_read_as_sentence_ids() -> None:
    data = summary()
    data["en"]["problems"][0]["sentences"] = ["[S2]", 3]
    assert validate(data).en.problems[0].sentences == ["S2", "S3"]


def test_one_sentence_backs_at_most_one_bullet_per_question() -> None:
    data = summary()
    data["en"]["framework"].append({"text": "The framework also trains on labelled scans only at first.",
                                    "sentences": ["S1"]})
    data["zh"]["framework"].append("框架先只在有标记数据上训练。")
    with pytest.raises(ValidationError, match=r"en.framework\[2\]: S1 already backs bullet 1"):
        validate(data)


def test_without_context_ids_are_not_checked() -> None:
    data = summary()
    data["en"]["framework"][0]["sentences"] = ["S999"]
    LLMSummary.model_validate(data)


def test_a_bilingual_reply_must_use_the_glossary() -> None:
    data = summary()
    data["zh"]["problems"] = ["教师模型生成的标签在器官边界附近不可靠。"]
    context = {**CONTEXT, "glossary": glossary.merged(None)}
    with pytest.raises(ValidationError, match="must be translated as '伪标签'"):
        LLMSummary.model_validate(data, context=context)
    LLMSummary.model_validate(summary(), context=context)


def test_chinese_pass_must_match_english_counts() -> None:
    with pytest.raises(ValidationError, match="bullet for bullet"):
        ChinesePass.model_validate({"zh": ZH}, context={"expected_counts": {"problems": 2}})
    ChinesePass.model_validate({"zh": ZH}, context={"expected_counts": {"problems": 1}})


def test_the_summary_models_have_exactly_the_bullet_groups() -> None:
    for model in (EnglishSummary, ChineseSummary, ImportedChineseSummary):
        assert tuple(model.model_fields) == FIELDS, model.__name__
    assert list(FIELD_TITLES_ZH) == list(FIELD_TITLES_EN) == list(FIELDS)


def test_repeated_english_bullet_is_dropped_in_translate_mode_when_its_group_keeps_another() -> None:
    data = english_pass()
    repeat = copy.deepcopy(data["en"]["problems"][0])
    data["en"]["framework"].append(repeat)
    result: Any = EnglishPass.model_validate(data, context=CONTEXT)
    assert len(result.en.framework) == 1 and result.en.framework[0].text != repeat["text"]
    only = english_pass()
    only["en"]["framework"] = [copy.deepcopy(only["en"]["problems"][0])]
    with pytest.raises(ValidationError, match="duplicate"):
        EnglishPass.model_validate(only, context=CONTEXT)


def test_over_long_bullet_keeps_its_leading_sentences() -> None:
    data = english_pass()
    first = "Teacher pseudo labels are unreliable close to organ boundaries."
    data["en"]["problems"][0]["text"] = first + " " + "Another sentence that goes on and on. " * 20
    result: Any = EnglishPass.model_validate(data, context=CONTEXT)
    assert result.en.problems[0].text.startswith(first) and len(result.en.problems[0].text) <= 400
    assert grounding.leading_sentences("x" * 700, 400) is None


def test_llm_schema_asks_for_sentence_ids_before_text() -> None:
    bullet_schema = LLMSummary.model_json_schema()["$defs"]["CitedBullet"]
    assert list(bullet_schema["properties"]) == ["sentences", "text"]
    assert bullet_schema["properties"]["sentences"]["items"]["pattern"] == "^S[0-9]{1,5}$"


def test_setting_is_one_of_the_list_s_sections_or_unknown() -> None:
    model = reply_model(("problems",), settings=("noisy-labels", "semi-supervised"))
    schema = model.model_json_schema()
    assert schema["properties"]["setting"]["enum"] == ["noisy-labels", "semi-supervised", "unknown"]
    assert "unknown" in schema["properties"]["dim"]["enum"]
    data = {"en": {"problems": english_pass()["en"]["problems"]}, "dim": "3D", "dim_sentence": "S1",
            "setting": "active-learning", "setting_sentence": "S1", "tags": []}
    with pytest.raises(ValidationError, match="setting"):
        model.model_validate(data, context=CONTEXT)
    model.model_validate({**data, "setting": "unknown", "setting_sentence": "none"}, context=CONTEXT)


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


def test_no_sentence_is_suggested_for_a_quote_unlike_any() -> None:
    assert grounding.closest_sentence("completely unrelated words about cooking pasta", PAPER) is None
    long_source = "Intro. " + " ".join(f"word{i}" for i in range(120)) + " end."
    suggestion = grounding.closest_sentence(" ".join(f"word{i}" for i in range(10)), long_source)
    assert suggestion is not None and len(suggestion.split()) == 50 and suggestion.startswith("word0 word1")


def test_a_restatement_must_keep_every_number_its_chinese_states() -> None:
    from pipeline.model.summary import RestatedBullet

    cited = ["Organic conductors can be described as coupled one-dimensional chains.2 Treating the hopping "
             "between them is a challenge."]
    zh = "有机导体可以描述为耦合一维链。2处理它们之间的跃迁是一个挑战。"
    context = {"before": cited[0], "cited": cited, "zh": zh}
    new = "Organic conductors behave like linked one-dimensional chains, and the hopping between them is hard."
    with pytest.raises(ValidationError, match="its Chinese says '2', which it does not"):
        RestatedBullet.model_validate({"en": new}, context=context)
    without = {**context, "zh": zh.replace("2", "")}
    assert RestatedBullet.model_validate({"en": new}, context=without).en == new
