"""Terminology: English term -> the Chinese term the list uses, and the checks behind it. Pure.

`SEED` is drawn from the example list's own usage (../shared/examples): 半监督, 伪标签, 一致性学习,
主动学习, 弱监督, 类别不平衡, 有标记数据 ... plus terms the issue found mistranslated (过渡矩阵 for
transition matrix, 纸单 for paper list). A list extends or overrides it in ``papers.yaml`` under
``list.glossary``. The translation prompt is given the entries a bullet uses; `problems` says what a
Chinese bullet got wrong: a glossary term not rendered by its Chinese term, or an English word left in
(names and acronyms may stay).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

SEED: dict[str, str] = {
    "semi-supervised": "半监督",
    "weakly-supervised": "弱监督",
    "weakly supervised": "弱监督",
    "fully-supervised": "全监督",
    "unsupervised": "无监督",
    "self-supervised": "自监督",
    "active learning": "主动学习",
    "zero-shot": "零样本",
    "few-shot": "少样本",
    "pseudo-label": "伪标签",
    "pseudo label": "伪标签",
    "consistency": "一致性",
    "co-training": "协同训练",
    "co-refinement": "协同修正",
    "co-divide": "协同划分",
    "label noise": "标签噪声",
    "noisy label": "噪声标签",
    "transition matrix": "转移矩阵",
    "state of the art": "最先进",
    "state-of-the-art": "最先进",
    "segmentation": "分割",
    "semantic segmentation": "语义分割",
    "class imbalance": "类别不平衡",
    "labeled data": "有标记数据",
    "unlabeled data": "未标记数据",
    "annotation": "标注",
    "uncertainty": "不确定性",
    "decision boundary": "决策边界",
    "feature pyramid": "特征金字塔",
    "backbone": "骨干网络",
    "encoder": "编码器",
    "decoder": "解码器",
    "attention": "注意力",
    "data augmentation": "数据增强",
    "entropy minimization": "熵最小化",
    "regularization": "正则化",
    "paper list": "论文列表",
    "medical image": "医学图像",
}

_LATIN = re.compile(r"[A-Za-z][A-Za-z'-]*")
_DOTTED = re.compile(r"\b[A-Za-z][\w-]*(?:[./_][A-Za-z][\w-]*)+\b")


def merged(overrides: Mapping[str, str] | None) -> dict[str, str]:
    """The seed glossary with a list's own entries on top (keys compared in lower case)."""
    out = dict(SEED)
    for en, zh in (overrides or {}).items():
        out[en.lower()] = zh
    return out


def _pattern(term: str) -> re.Pattern[str]:
    # "pseudo-label" also matches "pseudo-labels" and "pseudo labels"; a longer entry wins (see `used`).
    body = r"[\s-]".join(re.escape(part) for part in re.split(r"[\s-]+", term))
    return re.compile(rf"\b{body}(?:s|es|ed|ing)?\b", re.IGNORECASE)


def used(english: str, glossary: Mapping[str, str]) -> dict[str, str]:
    """The glossary entries ``english`` uses, longest term first, none inside a longer one already found."""
    found: dict[str, str] = {}
    spans: list[tuple[int, int]] = []
    for term in sorted(glossary, key=len, reverse=True):
        for match in _pattern(term).finditer(english):
            if any(a <= match.start() and match.end() <= b for a, b in spans):
                continue
            spans.append(match.span())
            found.setdefault(term, glossary[term])
    return found


def misses(english: str, chinese: str, glossary: Mapping[str, str]) -> list[str]:
    """One message per glossary term of ``english`` whose Chinese term ``chinese`` does not use."""
    return [f"'{term}' must be translated as '{zh}'" for term, zh in used(english, glossary).items()
            if zh not in chinese]


# A Chinese term followed by its English in brackets, 语义分割（semantic segmentation）: good usage.
_GLOSS = re.compile(r"(?<=[\u4e00-\u9fff])\s*[（(]\s*[A-Za-z][A-Za-z0-9 '-]{0,60}[)）]")


def english_words(chinese: str, glossary: Mapping[str, str] | None = None, names: Sequence[str] = ()) -> list[str]:
    """Ordinary English words left in a Chinese bullet: lower-case words of three letters or more.
    Names and acronyms (a capital or a digit: SAM, DivideMix, U-Net, ResNet-50) may stay, so may the
    paper's own method ``names`` even in lower case ("pipeline"), and a word that a glossary keeps in
    Latin letters. An English gloss in brackets right after a Chinese term, 语义分割（semantic
    segmentation）, is usage, not a word left untranslated."""
    kept = {w.lower() for zh in (glossary or {}).values() for w in _LATIN.findall(zh)}
    kept |= {w.lower() for name in names for w in _LATIN.findall(name)}
    return [w for w in _LATIN.findall(_GLOSS.sub("", chinese))
            if w.islower() and len(w) >= 3 and w.lower() not in kept]


def problems(english: str, chinese: str, glossary: Mapping[str, str], names: Sequence[str] = ()) -> list[str]:
    """What is wrong with the terminology of ``chinese`` as a translation of ``english`` (``names``: the
    paper's method names, which stay as written)."""
    found = misses(english, chinese, glossary)
    # Software and file names written in lower case in the English stay as they are (llama.cpp, torch.nn).
    names = [*names, *_DOTTED.findall(english)]
    if left := english_words(chinese, glossary, names):
        found.append(f"English word(s) left in the Chinese: {', '.join(dict.fromkeys(left))}; translate them "
                     "(only names and acronyms stay in English)")
    return found
