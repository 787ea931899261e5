"""pipeline.model.glossary: the list's terms and the checks of a Chinese bullet against them."""

from __future__ import annotations

from pipeline.model import glossary

TERMS = glossary.merged({"co-refinement": "协同精炼"})


def test_the_seed_follows_the_example_list_and_a_list_overrides_it() -> None:
    assert glossary.SEED["semi-supervised"] == "半监督" and glossary.SEED["pseudo-label"] == "伪标签"
    assert glossary.SEED["co-training"] == "协同训练" and glossary.SEED["transition matrix"] == "转移矩阵"
    assert TERMS["co-refinement"] == "协同精炼"


def test_used_finds_plurals_and_spelling_variants_longest_first() -> None:
    used = glossary.used("Pseudo labels guide semi-supervised semantic segmentation.", TERMS)
    assert used == {"semantic segmentation": "语义分割", "semi-supervised": "半监督", "pseudo-label": "伪标签"}


def test_a_glossary_miss_is_named() -> None:
    english = "Co-refinement cleans the labels before semi-supervised training."
    assert glossary.misses(english, "一致性修正标签，然后进行半监督训练。", TERMS) == [
        "'co-refinement' must be translated as '协同精炼'"]
    assert glossary.misses(english, "协同精炼先清理标签，再进行半监督训练。", TERMS) == []


def test_english_words_left_in_chinese_are_named_but_names_and_acronyms_stay() -> None:
    assert glossary.english_words("consensus认为深度网络需要successive层。") == ["consensus", "successive"]
    assert glossary.english_words("DivideMix 在 CIFAR-10 上使用 ResNet 和 SAM。") == []
    problems = glossary.problems("Pseudo labels help.", "pseudo标签有帮助。", TERMS)
    assert problems[0] == "'pseudo-label' must be translated as '伪标签'" and "pseudo" in problems[1]


def test_a_lower_case_software_name_of_the_english_may_stay() -> None:
    assert glossary.problems("run by the llama.cpp runtime", "由 llama.cpp 运行时运行", {}) == []
    assert glossary.problems("run by the runtime", "由 llama 运行", {}) != []


def test_an_english_gloss_in_brackets_after_its_chinese_term_is_usage() -> None:
    assert glossary.english_words("语义分割（semantic segmentation）旨在为每个像素分配类别。") == []
    assert glossary.english_words("语义分割 (semantic segmentation) 旨在为每个像素分配类别。") == []
    assert glossary.english_words("（semantic segmentation）旨在为每个像素分配类别。") == ["semantic", "segmentation"]
    assert glossary.english_words("我们的consensus伪标签不可靠。") == ["consensus"]
