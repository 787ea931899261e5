"""The fake server's replies: what a request asks for, and a deterministic, valid, grounded answer.

Normal replies are valid for `pipeline.model.summary` (`LLMSummary`, `EnglishPass`, `ChinesePass` or
`ChineseBullet`, whichever the request asks for): English bullets quote sentences of the paper text in
the first user message verbatim, so grounding passes; Chinese bullets are templated sentences around a
term from the matching English bullet. No I/O: `pipeline.devtools.devserver` serves these over HTTP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pipeline.core.models import FIELDS
from pipeline.model import grounding

Kind = Literal["single", "english", "chinese"]
Json = dict[str, Any]

_PAPER_TAG = re.compile(r"<paper>(.*?)</paper>", re.DOTALL | re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_HYPHEN_BREAK = re.compile(r"(\w)-\s*\n\s*(\w)")
# Instruction-like sentences are prompt text, not paper text: quoting them would fail grounding.
_INSTRUCTION = re.compile(r"\b(?:json|schema|bullets?|evidence|verbatim|you|your|answer|respond|"
                          r"summar\w*|translat\w*|chinese|english)\b")  # applied to lower-cased text
_ACRONYM = re.compile(r"\b[A-Z][A-Za-z]*[A-Z][A-Za-z]*\b")
_LABEL = re.compile(r"^[A-Z][\w()-]*(?: [\w()-]+){0,2}:\s")  # "Title: ..." is prompt layout, not paper
_BAD_CHARS = frozenset("{}<>")
_DIGIT = re.compile(r"[0-9]")
_WORD = re.compile(r"\b[A-Za-z]{6,}\b")
_REQUIRED = re.compile(r'"required"\s*:\s*\[([^\]]*)\]')
_EN_LEAD = {"problems": "The paper addresses the issue described as follows:",
            "motivation": "The key motivation of the approach is stated as follows:",
            "framework": "The overall framework is described by the authors as follows:"}
_ZH_TEMPLATES = {  # six per field: up to six parallel bullets, none repeated
    "problems": ["本文关注与{t}相关的核心问题，指出现有方法在这一方面仍有明显不足。",
                 "本文还讨论了{t}在实际场景中面临的困难和局限。",
                 "作者指出以往围绕{t}的工作难以兼顾效果与效率。",
                 "本文分析了{t}带来的额外挑战以及其产生的原因。",
                 "现有的{t}相关方法对标注数据依赖较强，泛化能力有限。",
                 "本文也注意到{t}在评测方式上存在的问题。"],
    "motivation": ["作者认为围绕{t}重新设计模型可以更好地解决上述问题。",
                   "本文的思路是充分利用{t}提供的信息来改进学习过程。",
                   "作者观察到{t}中蕴含的规律可以作为有效的监督信号。",
                   "本文希望借助{t}降低训练成本并提升稳定性。",
                   "作者的关键想法是让{t}与已有模块形成互补。",
                   "本文从{t}的角度出发重新审视了这一任务。"],
    "framework": ["整体框架以{t}为核心模块，并与其他组件协同工作。",
                  "框架中还设计了与{t}相关的结构，用于提升整体效果。",
                  "训练阶段，模型通过{t}联合优化多个目标。",
                  "推理阶段，框架利用{t}得到最终的预测结果。",
                  "作者在多个数据集上验证了{t}各个组件的作用。",
                  "框架最后通过{t}对结果进行整合与校正。"],
}
_SETTINGS = (("semi-supervised", "semi-supervised"), ("weakly", "weakly-supervised"),
             ("active learning", "active-learning"), ("zero-shot", "zero-shot"), ("few-shot", "few-shot"),
             ("unsupervised", "unsupervised"), ("supervised", "fully-supervised"))


# --------------------------------------------------------------------------- request parsing


def _content(message: Json) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def prompt_text(body: Json) -> str:
    """All message contents of a chat request, joined."""
    return "\n".join(_content(m) for m in body.get("messages", []) if isinstance(m, dict))


def request_mode(body: Json) -> tuple[str, Json | None, str]:
    """(structured-output mode, JSON schema if the request carries one, schema or tool name)."""
    if tools := body.get("tools"):
        function = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
        return "tool", function.get("parameters"), str(function.get("name", "summary"))
    response_format = body.get("response_format") or {}
    kind = response_format.get("type", "text")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        return "json_schema", spec.get("schema"), str(spec.get("name", "summary"))
    schema = response_format.get("schema")  # llama.cpp's json_object extension
    return str(kind), schema if isinstance(schema, dict) else None, ""


def detect_kind(body: Json) -> Kind:
    """Which contract the request asks for, from its schema, its name, or the schema text in its prompt."""
    _, schema, name = request_mode(body)
    props = set((schema or {}).get("properties", {}))
    text = prompt_text(body)
    if not props:
        for match in _REQUIRED.finditer(text):  # a schema pasted into the prompt (json_object mode)
            required = set(re.findall(r'"(\w+)"', match.group(1)))
            if required & {"en", "zh"}:
                props = required
                break
    if props & {"en", "zh"}:
        return "single" if {"en", "zh"} <= props else "english" if "en" in props else "chinese"
    hint = f"{name} {text}".lower()
    for word, kind in (("chinesepass", "chinese"), ("englishpass", "english"), ("llmsummary", "single")):
        if word in hint:
            return kind  # type: ignore[return-value]
    return "single"


# --------------------------------------------------------------------------- the deterministic summary


def _paper(body: Json) -> str:
    users = [_content(m) for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
    first = users[0] if users else ""
    tagged = _PAPER_TAG.search(first)
    return tagged.group(1) if tagged else first


def _paragraphs(text: str) -> Iterator[str]:
    """Lines joined back into paragraphs where a line wraps mid-sentence (headings stay apart)."""
    paragraph = ""
    for line in (ln.strip() for ln in text.splitlines()):
        last = paragraph[paragraph.rfind("\n") + 1:]
        if line and paragraph and (paragraph.endswith("-") or line[:1].islower() or (
                line[:1].isalpha() and last[-1:] not in ".!?:" and last.count(" ") >= 7)):
            paragraph += "\n" + line
            continue
        if paragraph:
            yield paragraph
        paragraph = line
    if paragraph:
        yield paragraph


def _clean(text: str) -> str:
    """Fold line-end hyphenation and whitespace the way grounding.normalize does, keeping case."""
    return " ".join(_HYPHEN_BREAK.sub(r"\1\2", text).split())


def quotes(paper: str, avoid: str = "", enough: int = 24) -> list[str]:
    """Sentences of ``paper`` that make good evidence (digit-free ones first), else word windows.

    Stops after ``enough`` digit-free sentences: a reply needs six, and scanning a whole paper per
    request would make the server CPU-bound under benchmark concurrency.
    """
    plain: list[str] = []
    numbered: list[str] = []
    seen: set[str] = set()
    for paragraph in _paragraphs(paper):
        for raw in _SENTENCE_END.split(paragraph):
            sentence = _clean(raw)
            low = sentence.lower()
            if (not 8 <= sentence.count(" ") + 1 <= 45 or len(sentence) > 400 or low in seen
                    or not _BAD_CHARS.isdisjoint(sentence) or _INSTRUCTION.search(low)
                    or (not sentence.isascii() and grounding.cjk_count(sentence))
                    or any(w in low for w in ("todo", "placeholder", "lorem", "to be", "generation failed"))
                    or _LABEL.match(sentence) or sentence in avoid):
                continue
            seen.add(low)
            (numbered if _DIGIT.search(sentence) else plain).append(sentence)
        if len(plain) >= enough:
            break
    good = plain if len(plain) >= 6 else plain + numbered
    if len(good) >= 3:
        return good
    words = [w for p in _paragraphs(paper) if not _INSTRUCTION.search(p.lower()) for w in _clean(p).split()]
    windows = [" ".join(words[i:i + 12]) for i in range(0, max(len(words) - 11, 0), 12)]
    return good + windows


def _term(text: str) -> str:
    """A short English term to keep inside a Chinese sentence: an acronym, else the longest long word."""
    if acronym := _ACRONYM.search(text):
        return acronym.group(0)
    words = sorted(_WORD.findall(text), key=len, reverse=True)
    return words[0] if words else "model"


def _spread(items: list[str], n: int) -> list[str]:
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else items[:1]


def english(paper: str, avoid: str = "") -> Json:
    """An `EnglishSummary` whose evidence quotes are copied from ``paper``: 2 bullets per field, or 1."""
    picked = quotes(paper, avoid)
    per_field = 2 if len(picked) >= 6 else 1
    picked = _spread(picked, per_field * len(FIELDS))
    source = grounding.normalize(paper) if any(_DIGIT.search(q) for q in picked) else ""
    summary: Json = {}
    for f, name in enumerate(FIELDS):
        bullets = summary[name] = []
        for quote in picked[f * per_field:(f + 1) * per_field] or picked[-1:]:
            text = quote
            if source and grounding.missing_numbers(quote, source):  # a number glued to text in the source
                text = _DIGIT.sub("", quote)
            bullets.append({"text": f"{_EN_LEAD[name]} {text}", "evidence": quote})
    return summary


def chinese(en: Mapping[str, Any]) -> Json:
    """A `ChineseSummary` parallel to the English bullets (counts per field), one term from each."""
    zh: Json = {}
    for name in FIELDS:
        bullets = en.get(name) or [{}, {}]
        texts = [str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in bullets[:6]]
        zh[name] = [_ZH_TEMPLATES[name][i].format(t=_term(t.removeprefix(_EN_LEAD[name])))
                    for i, t in enumerate(texts)]
    return zh


def _english_in_prompt(body: Json) -> Mapping[str, Any]:
    """The English bullets a translate request carries as JSON, or {} when there are none."""
    decoder = json.JSONDecoder()
    for message in body.get("messages", []):
        text = _content(message) if isinstance(message, dict) and message.get("role") == "user" else ""
        for start in (m.start() for m in re.finditer(r"\{", text)):
            try:
                value, _ = decoder.raw_decode(text, start)
            except ValueError:
                continue
            if isinstance(value, dict) and isinstance(value.get("en"), dict):
                return value["en"]  # type: ignore[no-any-return]
            if isinstance(value, dict) and isinstance(value.get("problems"), list):
                return value
    return {}


def _classify(paper: str) -> Json:
    paper = paper[:20000]  # the abstract and introduction say enough; whole papers cost CPU per request
    low = paper.lower()
    dim = "3D" if re.search(r"\b3d\b|volumetric", low) else "2D" if "image" in low else "N/A"
    setting = next((value for word, value in _SETTINGS if word in low), "other")
    tags = list(dict.fromkeys(a for a in _ACRONYM.findall(paper) if len(a) <= (6 if a.isupper() else 12)))[:3]
    return {"dim": dim, "setting": setting, "tags": tags}


def build_summary(body: Json, fault: str | None = None) -> Json:
    """The valid reply object for ``body``; ``zh-in-en`` and ``bad-evidence`` break it on purpose."""
    kind = detect_kind(body)
    # Quoting the prompt's own text, or repeating a reply the client already rejected, could never pass.
    avoid = "\n".join(_content(m) for m in body.get("messages", [])
                      if isinstance(m, dict) and m.get("role") in ("system", "assistant"))
    paper = _paper(body)
    en = _english_in_prompt(body) if kind == "chinese" else english(paper, avoid)
    reply: Json = {} if kind == "chinese" else {"en": en}
    if kind != "english":
        reply["zh"] = chinese(en)
    if kind != "chinese":
        reply.update(_classify(paper))
        first = reply["en"]["problems"][0]
        if fault == "zh-in-en":
            first["text"] = _ZH_TEMPLATES["problems"][0].format(t=_term(first["text"]))
        elif fault == "bad-evidence":
            first["evidence"] = "this sentence was invented by the fake server and is not in the paper"
    return reply
