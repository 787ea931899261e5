"""The fake server's replies: what a request asks for, and a deterministic, valid, grounded answer.

Normal replies are valid for `pipeline.model.summary` (a `reply_model` of one question or all three,
`ChinesePass`, `ChineseBullet` or `RestatedBullet`, whichever the request asks for): English bullets cite the numbered
sentences (``[S12] …``) of the paper text in the first user message and restate a few of their terms
in a template, so they are grounded and not copied; framework bullets cite sentences about the paper's
own work. Chinese bullets are templated sentences around a term from the matching English bullet. No
I/O: `pipeline.devtools.devserver` serves these over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pipeline.core.models import FIELDS
from pipeline.model import checks, glossary, grounding
from pipeline.text import sentences as sent

Kind = Literal["single", "english", "chinese", "bullet", "restate"]
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
_EN_LEAD = {"problems": "The paper tackles a difficulty concerning",
            "motivation": "Its idea rests on",
            "framework": "Its framework combines"}
_NUMBERED = re.compile(r"^\[S(\d+)\]\s+(.*)$")
_CITED = re.compile(r"\bS(\d+)\b")
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
    if props == {"zh"} and (schema or {}).get("properties", {}).get("zh", {}).get("type") == "string":
        return "bullet"
    if props == {"en"} and (schema or {}).get("properties", {}).get("en", {}).get("type") == "string":
        return "restate"
    if props & {"en", "zh"}:
        return "single" if {"en", "zh"} <= props else "english" if "en" in props else "chinese"
    hint = f"{name} {text}".lower()
    for word, kind in (("chinesebullet", "bullet"), ("chinesepass", "chinese"), ("englishpass", "english"),
                       ("llmsummary", "single")):
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


def numbered(paper: str) -> list[tuple[int, str]]:
    """The numbered sentences ``[S12] text`` of a prompt's paper text, in order; plain text (no ids) is
    numbered here the same way (`sentences_of`)."""
    found = []
    for line in paper.splitlines():
        if match := _NUMBERED.match(line.strip()):
            text = match.group(2).removeprefix("Title: ")
            found.append((int(match.group(1)), text))
    return found or list(sentences_of(paper).items())


def sentences_of(text: str) -> dict[int, str]:
    """Plain text numbered from 1 (paragraphs re-joined where lines wrap): what a test validates against."""
    out: dict[int, str] = {}
    for paragraph in _paragraphs(text):
        for sentence in sent.split_sentences(_clean(paragraph)):
            out[len(out) + 1] = sentence
    return out


def questions(schema: Json | None, text: str = "") -> tuple[str, ...]:
    """The questions a request asks: the bullet groups its schema (or pasted schema) names."""
    blob = json.dumps(schema) if schema else text
    asked = tuple(name for name in FIELDS if f'"{name}"' in blob)
    return asked or FIELDS


def _good(text: str, names: list[str], question: str) -> bool:
    if not 6 <= len(text.split()) <= 80 or _INSTRUCTION.search(text.lower()) or _DIGIT.search(text):
        return False
    if question == "framework":
        return sent.is_contribution(text, names) and not sent.is_about_cited_work(text, names)
    return not sent.is_about_cited_work(text, names)


def _restate(question: str, sentence: str, used: set[str]) -> str:
    terms = [w for w in dict.fromkeys(checks.content_words(sentence)) if not w.isdigit()]
    terms = terms[:6] or ["its", "central", "question"]
    used.update(terms)
    return f"{_EN_LEAD[question]} {', '.join(terms[:-1])} and {terms[-1]}." if len(terms) > 1 else \
        f"{_EN_LEAD[question]} {terms[0]}, as the paper explains."


def english(paper: str, avoid: str = "", asked: tuple[str, ...] = FIELDS) -> Json:
    """English bullets citing the paper's numbered sentences: 2 per question (1 when the text is short)."""
    title = next((t for n, t in numbered(paper) if n == 1), "")
    names = sent.method_names(title)
    avoided = {int(n) for n in _CITED.findall(avoid)}
    pool = [(n, t) for n, t in numbered(paper) if n != 1 and n not in avoided] or \
        [(n, t) for n, t in numbered(paper) if n != 1] or numbered(paper)
    summary: Json = {}
    taken: set[int] = set()
    used: set[str] = set()
    for name in asked:
        good = [(n, t) for n, t in pool if n not in taken and _good(t, names, name)]
        fallback = [(n, t) for n, t in pool if n not in taken] or pool
        chosen = (good + [p for p in fallback if p not in good])[:2]
        if len(pool) < 6:
            chosen = chosen[:1]
        bullets = summary[name] = []
        for n, text in chosen:
            taken.add(n)
            bullets.append({"sentences": [f"S{n}"], "text": _restate(name, text, used)})
    return summary


def classify(paper: str) -> Json:
    """dim, setting and tags, each judgement with a sentence that says it (else unknown)."""
    rows = numbered(paper)
    dim, dim_ref = "unknown", "none"
    for n, text in rows:
        low = text.lower()
        if re.search(r"\b3d\b|volumetric", low):
            dim, dim_ref = "3D", f"S{n}"
            break
        if "image" in low and dim == "unknown":
            dim, dim_ref = "2D", f"S{n}"
    setting, setting_ref = "unknown", "none"
    for word, value in _SETTINGS:
        hit = next((n for n, text in rows if word in text.lower()), None)
        if hit is not None:
            setting, setting_ref = value, f"S{hit}"
            break
    text = " ".join(t for _, t in rows)[:20000]
    tags = list(dict.fromkeys(a for a in _ACRONYM.findall(text) if len(a) <= (6 if a.isupper() else 12)))[:3]
    return {"dim": dim, "dim_sentence": dim_ref, "setting": setting, "setting_sentence": setting_ref,
            "tags": tags}


def _name(text: str) -> str:
    """A name or acronym to keep inside a Chinese sentence (only those may stay in Latin letters)."""
    acronym = _ACRONYM.search(text)
    return acronym.group(0) if acronym else "该方法"


def glossary_terms(body: Json) -> dict[str, str]:
    """The glossary a prompt passes on ("Glossary: a = 甲; b = 乙" or "Use these Chinese terms: ...")."""
    terms: dict[str, str] = {}
    for line in prompt_text(body).splitlines():
        head, _, rest = line.partition(":")
        if head.strip() in ("Glossary", "Use these Chinese terms"):
            for pair in rest.rstrip(".").split(";"):
                en, _, zh = pair.partition(" = ")
                if en.strip() and zh.strip():
                    terms[en.strip().lower()] = zh.strip()
    return terms


def _terms_used(text: str, terms: Mapping[str, str]) -> str:
    used = glossary.used(text, terms)
    return f"涉及{'、'.join(dict.fromkeys(used.values()))}。" if used else ""


def translate(text: str, terms: Mapping[str, str]) -> str:
    """A templated Chinese sentence for one English bullet, using the glossary's terms it needs; a mark
    drawn from the bullet's text keeps two bullets' translations apart."""
    digits = "零一二三四五六七八九"
    mark = "".join(digits[int(c, 16) % 10] for c in hashlib.sha256(text.encode()).hexdigest()[:3])
    return f"本文围绕{_name(text)}展开讨论（要点{mark}）。{_terms_used(text, terms)}"


def chinese(en: Mapping[str, Any], terms: Mapping[str, str] | None = None) -> Json:
    """A `ChineseSummary` parallel to the English bullets (counts per field), one term from each."""
    zh: Json = {}
    for name in FIELDS:
        bullets = en.get(name) or [{}, {}]
        texts = [str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in bullets[:6]]
        zh[name] = [_ZH_TEMPLATES[name][i].format(t=_name(t)) + _terms_used(t, terms or {})
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


def build_summary(body: Json, fault: str | None = None) -> Json:
    """The valid reply object for ``body``; ``zh-in-en`` and ``bad-evidence`` break it on purpose."""
    kind = detect_kind(body)
    _, schema, _ = request_mode(body)
    avoid = "\n".join(_content(m) for m in body.get("messages", [])
                      if isinstance(m, dict) and m.get("role") == "assistant")
    paper = _paper(body)
    if kind == "bullet":
        users = [_content(m) for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
        return {"zh": translate(users[-1].strip().splitlines()[-1] if users else "", glossary_terms(body))}
    if kind == "chinese":
        return {"zh": chinese(_english_in_prompt(body), glossary_terms(body))}
    if kind == "restate":  # a copied bullet said again from its Chinese: the terms it was shown
        terms = re.search(r"English terms of the paper: (.*)", prompt_text(body))
        return {"en": f"In other words, the paper speaks of {terms.group(1) if terms else 'its central question'}."}
    asked = questions(schema, prompt_text(body)) if kind == "english" else FIELDS
    en = english(paper, avoid, asked)
    reply: Json = {"en": en}
    if kind == "single":
        reply["zh"] = chinese(en, glossary_terms(body))
    wants_classes = schema is None or "dim" in (schema.get("properties") or {})
    if wants_classes:
        reply.update(classify(paper))
    # Every bullet is broken: a run could otherwise keep the good ones and leave the bad one out.
    for bullets in reply["en"].values():
        for bullet in bullets:
            if fault == "zh-in-en":
                bullet["text"] = _ZH_TEMPLATES["problems"][0].format(t=_term(bullet["text"]))
            elif fault == "bad-evidence":
                bullet["sentences"] = ["S99999"]
    return reply
