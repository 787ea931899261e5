"""A paper's summary: the contract the model writes, its validation and grounding, and the record
stored in ``summaries/<key>.yaml``.

Core module: no I/O. Field descriptions are part of the JSON schema the model reads, so they are
written as instructions to it. Validation that needs the paper's text (grounding) reads it from the
pydantic validation context, which validators only read: a reply citing sentences by id
(`reply_model`) gets ``context={"sentences": {id: text}}``, the sentences the request showed; a
translation gets ``context={"english": ..., "glossary": {term: 术语}}``. The stored record keeps the
cited sentences' text as ``evidence``, so `grounding_failures` re-checks it against the paper text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Annotated, Any, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from pipeline.core.models import (
    FIELD_TITLES_ZH,
    FIELDS,
    Bibliography,
    Dim,
    Provenance,
    ReviewEvent,
    Setting,
    Status,
    StrictModel,
)
from pipeline.model import checks, glossary, grounding

EN_BULLET = ("One short English sentence (8-40 words) that answers the question for this paper, in your own "
             "words: restate, do not copy the cited sentences. Every number you write must appear in them.")
SENTENCES = ("The ids of 1-3 sentences of the paper text that support the bullet, as shown in brackets "
             "(e.g. \"S12\"). Each sentence may back only one bullet of a question.")
EVIDENCE = ("A verbatim quote of 6-60 consecutive words copied exactly from the paper text above "
            "that supports the bullet. Copy it character for character; do not paraphrase or join "
            "separate sentences.")
ZH_BULLET = ("One complete sentence in Simplified Chinese. Translate technical terms into Chinese; keep only "
             "names and acronyms in English (e.g. SAM, DivideMix, CLIP).")


def _evidence_first(schema: dict[str, Any]) -> None:
    # The model writes JSON in schema order: quoting first, then summarizing what it quoted, keeps
    # small models from pasting whole paragraphs into the bullet text.
    props = schema.get("properties", {})
    schema["properties"] = {k: props[k] for k in ("evidence", "text") if k in props} | props


def _one_sentence_bullet(value: Any) -> Any:
    """A bullet is one sentence: an over-long one keeps its leading sentences (up to 400 chars)."""
    if isinstance(value, str) and len(value) > 600:
        return grounding.leading_sentences(value, 400) or value
    return value


def _english_bullet(value: str) -> str:
    _no_placeholder(value)
    if grounding.cjk_count(value):
        raise ValueError("English bullet contains Chinese characters; write it in English only")
    return value


class EvidencedBullet(StrictModel):
    """An English bullet with the quote from the paper that supports it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_evidence_first)

    text: Annotated[str, Field(min_length=20, max_length=600, description=EN_BULLET)]
    evidence: Annotated[str, Field(min_length=1, max_length=3000, description=EVIDENCE)]
    sentences: list[int] = Field(default_factory=list, description="The cited sentences' ids; the evidence "
                                 "is their text, joined by ' … '.")
    support: float | None = Field(None, ge=0, le=1, description="Share of the bullet's content words found "
                                  "in the sentences it cites.")

    @field_validator("text", mode="before")
    @classmethod
    def _first_sentences(cls, value: Any) -> Any:
        return _one_sentence_bullet(value)

    @field_validator("text")
    @classmethod
    def _english(cls, value: str) -> str:
        return _english_bullet(value)

    @model_validator(mode="before")
    @classmethod
    def _leading_quote(cls, data: Any) -> Any:
        """An over-long quote keeps its leading sentences (or words) within 60 words: still verbatim.
        Evidence made of cited sentences is whole sentences and stays as it is."""
        if isinstance(data, dict) and not data.get("sentences") and isinstance(data.get("evidence"), str):
            data = {**data, "evidence": cls._cut_quote(data["evidence"])}
        return data

    @staticmethod
    def _cut_quote(value: str) -> str:
        if grounding.word_count(value) > 60:
            head = " ".join(value.split()[:60])
            whole = grounding.leading_sentences(head, len(head) - 1)  # drop the trailing fragment
            return whole if whole and grounding.word_count(whole) >= 6 else head
        return value

    @model_validator(mode="after")
    def _evidence_shape(self) -> EvidencedBullet:
        words = grounding.word_count(self.evidence)
        if not self.sentences and not 6 <= words <= 60:
            raise ValueError(f"evidence must be a quote of 6-60 words, got {words}")
        return self

    @property
    def quotes(self) -> list[str]:
        """The evidence as separate quotes (one per cited sentence)."""
        return evidence_quotes(self.evidence)


EVIDENCE_JOIN = " … "


def evidence_quotes(evidence: str) -> list[str]:
    """The quotes an evidence string holds: cited sentences are joined by `EVIDENCE_JOIN`."""
    return [q for q in (part.strip() for part in evidence.split(EVIDENCE_JOIN)) if q]


def _no_placeholder(value: str) -> None:
    if grounding.is_placeholder(value):
        raise ValueError(f"placeholder text is not a summary: {value!r}")


ZhBullet = Annotated[str, Field(min_length=6, max_length=400, description=ZH_BULLET)]


class EnglishSummary(StrictModel):
    """The three questions, answered in English with evidence."""

    problems: list[EvidencedBullet] = Field(
        min_length=1, max_length=6,
        description="What problems or gaps in prior work the paper addresses (1-6 bullets).")
    motivation: list[EvidencedBullet] = Field(
        min_length=1, max_length=6,
        description="The paper's motivation and key idea: why its approach should work (1-6 bullets).")
    framework: list[EvidencedBullet] = Field(
        min_length=1, max_length=6,
        description="The overall framework: its components and how they fit together (1-6 bullets).")

    @model_validator(mode="after")
    def _no_duplicates(self) -> EnglishSummary:
        _check_duplicates({f: [b.text for b in getattr(self, f)] for f in FIELDS})
        return self


class ChineseSummary(StrictModel):
    """The same three questions in Simplified Chinese: 文章考虑的问题 / 文章的动机和思路 / 文章的整体框架."""

    problems: list[ZhBullet] = Field(min_length=1, max_length=6,
                                     description=f"{FIELD_TITLES_ZH['problems']} (1-6 bullets).")
    motivation: list[ZhBullet] = Field(min_length=1, max_length=6,
                                       description=f"{FIELD_TITLES_ZH['motivation']} (1-6 bullets).")
    framework: list[ZhBullet] = Field(min_length=1, max_length=6,
                                      description=f"{FIELD_TITLES_ZH['framework']} (1-6 bullets).")

    @field_validator(*FIELDS, mode="before")
    @classmethod
    def _strip(cls, bullets: Any) -> Any:
        return [b.strip() if isinstance(b, str) else b for b in bullets] if isinstance(bullets, list) else bullets

    @field_validator(*FIELDS)
    @classmethod
    def _chinese(cls, bullets: list[str]) -> list[str]:
        for i, bullet in enumerate(bullets, 1):
            _no_placeholder(bullet)
            if problem := grounding.chinese_problem(bullet):
                raise ValueError(f"bullet {i} {problem}: {bullet[:60]!r}")
        return bullets

    @model_validator(mode="after")
    def _no_duplicates(self) -> ChineseSummary:
        _check_duplicates({f: list(getattr(self, f)) for f in FIELDS})
        return self


class ImportedChineseSummary(ChineseSummary):
    """Chinese bullets imported from a hand-made list, where a group may be empty (e.g. a figure only).

    Only records whose provenance backend is ``imported`` may hold one (see `SummaryRecord`).
    """

    problems: list[ZhBullet] = Field(default_factory=list, max_length=6,
                                     description=f"{FIELD_TITLES_ZH['problems']}.")
    motivation: list[ZhBullet] = Field(default_factory=list, max_length=6,
                                       description=f"{FIELD_TITLES_ZH['motivation']}.")
    framework: list[ZhBullet] = Field(default_factory=list, max_length=6,
                                      description=f"{FIELD_TITLES_ZH['framework']}.")


def _check_duplicates(fields: dict[str, list[str]]) -> None:
    seen: dict[str, str] = {}
    for name, bullets in fields.items():
        for bullet in bullets:
            folded = grounding.normalize(bullet)
            if folded in seen:
                raise ValueError(f"duplicate bullet in {seen[folded]} and {name}: {bullet[:60]!r}")
            seen[folded] = name


Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=40)]],
                 Field(max_length=5, description="Up to 5 short tags, e.g. 'SAM', 'consistency'.")]
DIM_DESCRIPTION = ("Data dimensionality the method works on: 2D images, 3D volumes, both, N/A when not about "
                   "images, or unknown when no sentence says.")
DIM_SENTENCE = "The id of the sentence that shows the dimensionality (e.g. \"S4\"), or \"none\"."
SETTING_DESCRIPTION = ("The learning setting of the paper's main method, one of the list's sections, or unknown "
                       "when no sentence says which.")
SETTING_SENTENCE = "The id of the sentence that states the setting (e.g. \"S3\"), or \"none\"."
# The words the model classifies a paper with when there is no list yet (or it has no sections): only a
# hint. The list decides: when it has sections, their ids are the only choices (`list_context` in
# `pipeline.workspace.papers`), an entry's and a stored summary's setting are ids of the list's own
# sections (`pipeline.core.models.Setting`), and a summary may say `unknown`.
DEFAULT_SETTINGS: tuple[str, ...] = ("semi-supervised", "weakly-supervised", "active-learning", "zero-shot",
                                     "few-shot", "fully-supervised", "unsupervised")
UNKNOWN = "unknown"
QUESTION_DESCRIPTIONS = {
    "problems": "The problems or gaps the paper addresses: difficulties of the task, limits of existing methods "
                "that this paper tackles (1-6 bullets).",
    "motivation": "The paper's motivation and key idea: the observation or insight behind its approach and why "
                  "it should work (1-6 bullets).",
    "framework": "This paper's overall framework: its own components and how they fit together, from its method "
                 "section (1-6 bullets).",
}
SentenceRef = Annotated[str, Field(pattern=r"^S[0-9]{1,5}$")]
SentenceOrNone = Annotated[str, Field(pattern=r"^(S[0-9]{1,5}|none)$")]


def _names(context: Any) -> list[str]:
    """The paper's method names a validation context carries (they may stay in English in Chinese text)."""
    names = context.get("names") if isinstance(context, dict) else None
    return [n for n in names if isinstance(n, str)] if isinstance(names, list | tuple) else []


def _ref(value: Any) -> Any:
    """A sentence id as a model may write it ("S12", "[S12]", "s12", 12) -> "S12"."""
    from pipeline.text.sentences import parse_id

    number = parse_id(value)
    return f"S{number}" if number is not None else value


def _sentences_first(schema: dict[str, Any]) -> None:
    # The model writes JSON in schema order: choosing the sentences first, then restating them, keeps
    # the bullet tied to the part of the paper it read.
    props = schema.get("properties", {})
    schema["properties"] = {k: props[k] for k in ("sentences", "text") if k in props} | props


class CitedBullet(StrictModel):
    """An English bullet as the model writes it: its own words, and the ids of the sentences behind it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sentences_first)

    text: Annotated[str, Field(min_length=20, max_length=600, description=EN_BULLET)]
    sentences: list[SentenceRef] = Field(min_length=1, max_length=3, description=SENTENCES)

    @field_validator("sentences", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, str | int):
            value = [value]
        return list(dict.fromkeys(_ref(v) for v in value)) if isinstance(value, list) else value

    @field_validator("text", mode="before")
    @classmethod
    def _first_sentences(cls, value: Any) -> Any:
        return _one_sentence_bullet(value)

    @field_validator("text")
    @classmethod
    def _english(cls, value: str) -> str:
        return _english_bullet(value)

    @property
    def ids(self) -> list[int]:
        """The cited sentence numbers."""
        return [int(ref[1:]) for ref in self.sentences]


class CitedReply(StrictModel):
    """A reply that cites sentences by id: one question, or all three (`reply_model` builds them).

    The validation context carries ``sentences`` (id -> text of every sentence the request showed);
    every cited id must be one of them, a sentence backs at most one bullet per question, and every
    number of a bullet must be in what it cites or at least in the text shown.
    """

    def groups(self) -> dict[str, list[CitedBullet]]:
        """The English bullets per question this reply answers."""
        en = self.__dict__["en"]  # every reply_model has it; CitedReply itself declares no fields
        return {name: getattr(en, name) for name in FIELDS if name in type(en).model_fields}

    @model_validator(mode="before")
    @classmethod
    def _drop_repeats(cls, data: Any) -> Any:
        return data if "zh" in cls.model_fields else drop_repeated_bullets(data)

    @model_validator(mode="after")
    def _cited(self, info: ValidationInfo) -> Self:
        groups = self.groups()
        _check_duplicates({name: [b.text for b in bullets] for name, bullets in groups.items()})
        check_citations(groups, info.context)
        zh = getattr(self, "zh", None)
        if zh is not None:
            english = {name: [b.text for b in bullets] for name, bullets in groups.items()}
            for name in groups:
                if len(english[name]) != len(getattr(zh, name)):
                    raise ValueError(f"{name}: en has {len(english[name])} bullets but zh has "
                                     f"{len(getattr(zh, name))}; they must be parallel")
            if isinstance(zh, ChineseSummary) and (problems := number_failures(english, zh)):
                raise ValueError("; ".join(problems))
            terms = info.context.get("glossary") if isinstance(info.context, dict) else None
            if isinstance(terms, Mapping) and (problems := [
                    f"zh.{name}[{i}]: {p}" for name in groups
                    for i, (en, text) in enumerate(zip(english[name], getattr(zh, name), strict=False), 1)
                    for p in glossary.problems(en, text, terms, _names(info.context))]):
                raise ValueError("; ".join(problems))
        return self


def check_citations(groups: Mapping[str, Sequence[CitedBullet]], context: Any) -> None:
    """Raise ValueError naming every unknown id, every sentence backing two bullets of one question, and
    every number not in the text shown (when the context carries ``sentences``)."""
    shown = context.get("sentences") if isinstance(context, dict) else None
    if not isinstance(shown, Mapping) or not shown:
        return
    problems: list[str] = []
    source = grounding.normalize("\n".join(str(t) for t in shown.values()))
    span = f"S{min(shown)}-S{max(shown)}"
    for name, bullets in groups.items():
        backed: dict[int, int] = {}
        for i, bullet in enumerate(bullets, 1):
            unknown = [f"S{n}" for n in bullet.ids if n not in shown]
            if unknown:
                problems.append(f"en.{name}[{i}].sentences: {', '.join(unknown)} "
                                f"{'is' if len(unknown) == 1 else 'are'} not in the paper text; cite only ids "
                                f"shown in brackets in the text ({span})")
            for n in bullet.ids:
                if n in backed:
                    problems.append(f"en.{name}[{i}]: S{n} already backs bullet {backed[n]}; each sentence may "
                                    "back one bullet per question, so cite another sentence or merge the two")
                backed.setdefault(n, i)
            if missing := grounding.missing_numbers(bullet.text, source):
                problems.append(f"en.{name}[{i}] has numbers not in the paper text: {', '.join(missing)}")
    if problems:
        raise ValueError("; ".join(problems))


@lru_cache(maxsize=64)
def reply_model(groups: tuple[str, ...], *, bilingual: bool = False, classify: bool = True,
                settings: tuple[str, ...] = DEFAULT_SETTINGS) -> type[CitedReply]:
    """The contract of one request: the English bullets of ``groups`` citing sentence ids, the Chinese
    too when ``bilingual`` (all three groups only), and with ``classify`` dim, setting (one of
    ``settings`` or unknown) and tags, each judgement with the sentence it rests on."""
    label = "".join(g.capitalize() for g in groups) if len(groups) < len(FIELDS) else ""
    en_fields: dict[str, Any] = {g: (list[CitedBullet], Field(min_length=1, max_length=6,
                                                              description=QUESTION_DESCRIPTIONS[g]))
                                 for g in groups}
    fields: dict[str, Any] = {"en": (create_model(f"English{label}", __base__=StrictModel, **en_fields), ...)}
    if bilingual:
        if tuple(groups) != FIELDS:
            raise ValueError("a bilingual reply answers all three questions")
        fields["zh"] = (ChineseSummary, ...)
    if classify:
        choices = tuple(dict.fromkeys([*settings, UNKNOWN]))
        fields |= {
            "dim": (Literal["2D", "3D", "2D+3D", "N/A", "unknown"], Field(description=DIM_DESCRIPTION)),
            "dim_sentence": (SentenceOrNone, Field(description=DIM_SENTENCE)),
            "setting": (Literal[choices], Field(description=SETTING_DESCRIPTION)),
            "setting_sentence": (SentenceOrNone, Field(description=SETTING_SENTENCE)),
            "tags": (Tags, Field(default_factory=list)),
        }
    name = ("LLMSummary" if bilingual else "EnglishPass") if not label else f"{label}Pass"
    model: type[CitedReply] = create_model(name, __base__=CitedReply, **fields)
    return model


LLMSummary: type[CitedReply] = reply_model(FIELDS, bilingual=True)
"""Everything the model writes in one call: both languages, dim, setting and tags."""
EnglishPass: type[CitedReply] = reply_model(FIELDS)
"""The English of all three questions in one call, with dim, setting and tags (translate mode)."""


class ChinesePass(StrictModel):
    """Translate mode: the Chinese translation of the English bullets (the whole list at once)."""

    zh: ChineseSummary

    @model_validator(mode="after")
    def _parallel_to_english(self, info: ValidationInfo) -> ChinesePass:
        expected = info.context.get("expected_counts") if isinstance(info.context, dict) else None
        for name, count in (expected or {}).items():
            got = len(getattr(self.zh, name))
            if got != count:
                raise ValueError(f"zh.{name} has {got} bullets but the English has {count}; "
                                 "translate bullet for bullet")
        english = info.context.get("english") if isinstance(info.context, dict) else None
        if isinstance(english, dict) and (problems := number_failures(english, self.zh)):
            raise ValueError("; ".join(problems))
        terms = info.context.get("glossary") if isinstance(info.context, dict) else None
        if isinstance(english, dict) and isinstance(terms, Mapping):
            problems = [f"zh.{name}[{i}]: {p}" for name in FIELDS
                        for i, (en, zh) in enumerate(zip(english.get(name, ()), getattr(self.zh, name),
                                                         strict=False), 1)
                        for p in glossary.problems(en, zh, terms, _names(info.context))]
            if problems:
                raise ValueError("; ".join(problems))
        return self


class ChineseBullet(StrictModel):
    """One English bullet translated into Simplified Chinese (translate mode, bullet by bullet)."""

    zh: ZhBullet

    @field_validator("zh", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("zh")
    @classmethod
    def _chinese(cls, value: str, info: ValidationInfo) -> str:
        _no_placeholder(value)
        if problem := grounding.chinese_problem(value):
            raise ValueError(f"the translation {problem}: {value[:60]!r}")
        english = info.context.get("english") if isinstance(info.context, dict) else None
        if isinstance(english, str) and (mismatch := grounding.quantity_mismatch(value, english)):
            raise ValueError(f"the translation {mismatch}")
        terms = info.context.get("glossary") if isinstance(info.context, dict) else None
        if isinstance(english, str) and isinstance(terms, Mapping) and (
                problems := glossary.problems(english, value, terms, _names(info.context))):
            raise ValueError(f"the translation: {'; '.join(problems)}")
        return value


class RestatedBullet(StrictModel):
    """A copied English bullet said again in other words, from its Chinese (see `checks.restatement_problems`).

    The validation context carries ``before`` (the copied bullet), ``cited`` (the sentences it cites) and
    ``zh`` (its Chinese, which stays).
    """

    en: Annotated[str, Field(min_length=20, max_length=600, description="The Chinese sentence in English.")]

    @field_validator("en", mode="before")
    @classmethod
    def _first_sentences(cls, value: Any) -> Any:
        return _one_sentence_bullet(value.strip() if isinstance(value, str) else value)

    @field_validator("en")
    @classmethod
    def _kept(cls, value: str, info: ValidationInfo) -> str:
        value = _english_bullet(value)
        context = info.context if isinstance(info.context, dict) else {}
        before, cited, chinese = context.get("before"), context.get("cited"), context.get("zh")
        problems = checks.restatement_problems(value, before, cited) \
            if isinstance(before, str) and isinstance(cited, list) else []
        # The Chinese bullet stays: each of its numbers must be one of the new English bullet's.
        # Reference marks and notation ("4×W") are not numbers it states.
        said = checks.without_notation(checks.without_references(chinese)) if isinstance(chinese, str) else None
        if said is not None and (mismatch := grounding.quantity_mismatch(said, value)):
            problems.append(f"its Chinese says {mismatch.split(' (', 1)[0]}, which it does not")
        if problems:
            raise ValueError(f"the restatement cannot replace the bullet: {'; '.join(problems)}")
        return value


def drop_repeated_bullets(data: Any) -> Any:
    """Drop an English bullet that repeats an earlier one, when its group keeps at least one other.

    Only for English-only replies (translate mode): there no Chinese list has to stay parallel.
    """
    if not isinstance(data, dict) or not isinstance(data.get("en"), dict):
        return data
    seen: set[str] = set()
    for name in FIELDS:
        bullets = data["en"].get(name)
        if not isinstance(bullets, list):
            continue
        repeated = []
        for bullet in bullets:
            text = bullet.get("text") if isinstance(bullet, dict) else None
            folded = grounding.normalize(text) if isinstance(text, str) else ""
            repeated.append(bool(folded) and folded in seen)
            seen.add(folded)
        if any(repeated) and not all(repeated):
            data["en"][name] = [b for b, r in zip(bullets, repeated, strict=True) if not r]
    return data


def check_parallel(en: EnglishSummary, zh: ChineseSummary) -> None:
    """Raise ValueError unless both languages have the same number of bullets per field."""
    for name in FIELDS:
        n_en, n_zh = len(getattr(en, name)), len(getattr(zh, name))
        if n_en != n_zh:
            raise ValueError(f"{name}: en has {n_en} bullets but zh has {n_zh}; they must be parallel")


def number_failures(english: Mapping[str, Sequence[str]], zh: ChineseSummary) -> list[str]:
    """One message per Chinese bullet that states a number its English bullet does not."""
    problems: list[str] = []
    for name in FIELDS:
        for i, (en_text, zh_text) in enumerate(zip(english.get(name, ()), getattr(zh, name), strict=False), 1):
            if mismatch := grounding.quantity_mismatch(zh_text, en_text):
                problems.append(f"zh.{name}[{i}]: {mismatch}")
    return problems


def english_texts(en: EnglishSummary) -> dict[str, list[str]]:
    """The English bullets' texts per field."""
    return {name: [bullet.text for bullet in getattr(en, name)] for name in FIELDS}


def grounding_failures(en: EnglishSummary, source_text: str) -> list[str]:
    """One message per ungrounded English bullet (evidence not in the text, or a number not in it)."""
    source = grounding.normalize(source_text)
    problems: list[str] = []
    for name in FIELDS:
        for i, bullet in enumerate(getattr(en, name), 1):
            for quote in bullet.quotes:
                if grounding.quote_found(quote, source):
                    continue
                hint = grounding.closest_sentence(quote, source_text)
                problems.append(f"en.{name}[{i}].evidence is not a verbatim quote of the paper text: "
                                f"{quote[:80]!r}"
                                + (f"; the closest sentence of the paper text is {hint!r}" if hint else ""))
            missing = grounding.missing_numbers(bullet.text, source)
            if missing:
                problems.append(f"en.{name}[{i}] has numbers not in the paper text: {', '.join(missing)}")
    return problems


def grounding_score(en: EnglishSummary, source_text: str) -> float:
    """Share of English bullets whose evidence and numbers are all found in the source text."""
    source = grounding.normalize(source_text)
    bullets = [b for name in FIELDS for b in getattr(en, name)]
    ok = sum(1 for b in bullets if all(grounding.quote_found(q, source) for q in b.quotes)
             and not grounding.missing_numbers(b.text, source))
    return round(ok / len(bullets), 4) if bullets else 0.0


# --------------------------------------------------------------------------- the stored record


class PaperSummary(StrictModel):
    """A stored summary's content. Imported summaries may have only one language and no evidence."""

    en: EnglishSummary | None = None
    # Smart-mode union: complete summaries validate as ChineseSummary, partial imported ones fall through.
    zh: ChineseSummary | ImportedChineseSummary | None = None
    dim: Dim = "N/A"
    setting: Setting = "other"
    tags: Tags = Field(default_factory=list)

    @model_validator(mode="after")
    def _parallel(self) -> PaperSummary:
        if self.en is not None and self.zh is not None:
            check_parallel(self.en, self.zh)
        if self.en is None and self.zh is None:
            raise ValueError("a summary needs at least one language")
        return self


class SummaryRecord(StrictModel):
    """The content of ``summaries/<key>.yaml``: one paper, its summary, status and history."""

    key: str
    status: Status = "draft"
    paper: Bibliography
    summary: PaperSummary
    warnings: list[str] = Field(default_factory=list)
    provenance: Provenance
    review: list[ReviewEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _partial_only_if_imported(self) -> SummaryRecord:
        zh = self.summary.zh
        if (type(zh) is ImportedChineseSummary and self.provenance.backend != "imported"
                and not all(getattr(zh, f) for f in FIELDS)):
            raise ValueError("summary.zh has an empty group; only imported summaries may leave one empty")
        return self
