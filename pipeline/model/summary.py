"""A paper's summary: the contract the model writes, its validation and grounding, and the record
stored in ``summaries/<key>.yaml``.

Core module: no I/O. Field descriptions are part of the JSON schema the model reads, so they are
written as instructions to it. Validation that needs the paper's text (grounding) reads it from the
pydantic validation context: ``LLMSummary.model_validate(data, context={"source_text": text})``;
translations are checked against their English with ``context={"english": ...}``. The context is
only read, never written: what one validation did (the evidence quotes it snapped) comes back with
the validated object (`Snapped.snapped`), so a context reused across re-asks cannot pile it up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationInfo,
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
from pipeline.model import grounding

EN_BULLET = ("One short English sentence (8-40 words) in your own words, saying what the evidence shows. "
             "Every number you write must appear in the paper text.")
EVIDENCE = ("A verbatim quote of 6-60 consecutive words copied exactly from the paper text above "
            "that supports the bullet. Copy it character for character; do not paraphrase or join "
            "separate sentences.")
ZH_BULLET = ("One complete sentence in Simplified Chinese. Keep method names, dataset names and "
             "technical terms in English (e.g. SAM, mean teacher, CLIP).")


def _evidence_first(schema: dict[str, Any]) -> None:
    # The model writes JSON in schema order: quoting first, then summarizing what it quoted, keeps
    # small models from pasting whole paragraphs into the bullet text.
    props = schema.get("properties", {})
    schema["properties"] = {k: props[k] for k in ("evidence", "text") if k in props} | props


class EvidencedBullet(StrictModel):
    """An English bullet with the quote from the paper that supports it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_evidence_first)

    text: Annotated[str, Field(min_length=20, max_length=600, description=EN_BULLET)]
    evidence: Annotated[str, Field(min_length=20, max_length=600, description=EVIDENCE)]

    @field_validator("text", mode="before")
    @classmethod
    def _first_sentences(cls, value: Any) -> Any:
        """A bullet is one sentence: an over-long one keeps its leading sentences (up to 400 chars)."""
        if isinstance(value, str) and len(value) > 600:
            return grounding.leading_sentences(value, 400) or value
        return value

    @field_validator("text")
    @classmethod
    def _english(cls, value: str) -> str:
        _no_placeholder(value)
        if grounding.cjk_count(value):
            raise ValueError("English bullet contains Chinese characters; write it in English only")
        return value

    @field_validator("evidence", mode="before")
    @classmethod
    def _leading_quote(cls, value: Any) -> Any:
        """An over-long quote keeps its leading sentences (or words) within 60 words: still verbatim."""
        if isinstance(value, str) and grounding.word_count(value) > 60:
            head = " ".join(value.split()[:60])
            whole = grounding.leading_sentences(head, len(head) - 1)  # drop the trailing fragment
            return whole if whole and grounding.word_count(whole) >= 6 else head
        return value

    @field_validator("evidence")
    @classmethod
    def _evidence_shape(cls, value: str) -> str:
        words = grounding.word_count(value)
        if not 6 <= words <= 60:
            raise ValueError(f"evidence must be a quote of 6-60 words, got {words}")
        return value


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
DIM_DESCRIPTION = "Data dimensionality the method works on: 2D images, 3D volumes, both, or N/A."
SETTING_DESCRIPTION = "The learning setting of the paper's main method."
# The words the model classifies a paper with, as in the recorded prompts (tests/cassettes): only a hint
# for a paper that is in no list yet. The list decides: an entry's and a stored summary's setting are
# ids of the list's own sections (`pipeline.core.models.Setting`), and nothing else reads these words.
ModelSetting = Literal["semi-supervised", "weakly-supervised", "active-learning", "zero-shot", "few-shot",
                       "fully-supervised", "unsupervised", "other"]


class Snapped(StrictModel):
    """A reply with evidence quotes: near-verbatim quotes are snapped to the paper's exact wording first.

    ``snapped`` lists the replacements this validation made (one line each); it belongs to the
    validated object, so each attempt of a repair loop counts only its own.
    """

    _snapped: list[str] = PrivateAttr(default_factory=list)

    @property
    def snapped(self) -> list[str]:
        """The evidence quotes this validation replaced, as ``en.<field>: 'quote' -> 'exact'``."""
        return self._snapped

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        """The raw reply before snapping (a subclass may tidy it)."""
        return data

    @model_validator(mode="wrap")
    @classmethod
    def _snap(cls, data: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo) -> Self:
        snapped: list[str] = []
        if not isinstance(data, cls):
            data = snap_evidence(cls._prepare(data), info.context, snapped)
        validated = handler(data)
        if snapped:
            validated._snapped = snapped
        return validated


class EnglishPass(Snapped):
    """First pass of translate mode: English with evidence, plus the classification fields."""

    en: EnglishSummary
    dim: Dim = Field(description=DIM_DESCRIPTION)
    setting: ModelSetting = Field(description=SETTING_DESCRIPTION)
    tags: Tags = Field(default_factory=list)

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        return drop_repeated_bullets(data)

    @model_validator(mode="after")
    def _grounded(self, info: ValidationInfo) -> EnglishPass:
        check_grounding(self.en, info.context)
        return self


class ChinesePass(StrictModel):
    """Second pass of translate mode: the Chinese translation of the English bullets."""

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
        return value


class LLMSummary(Snapped):
    """Everything the model writes in one pass: both languages and the classification fields."""

    en: EnglishSummary
    zh: ChineseSummary
    dim: Dim = Field(description=DIM_DESCRIPTION)
    setting: ModelSetting = Field(description=SETTING_DESCRIPTION)
    tags: Tags = Field(default_factory=list)

    @model_validator(mode="after")
    def _parallel_and_grounded(self, info: ValidationInfo) -> LLMSummary:
        check_parallel(self.en, self.zh)
        check_grounding(self.en, info.context)
        if problems := number_failures(english_texts(self.en), self.zh):
            raise ValueError("; ".join(problems))
        return self


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


def snap_evidence(data: Any, context: Any, snapped: list[str]) -> Any:
    """Replace near-verbatim evidence quotes by the exact paper span they copy (see grounding.snap_quote).

    Works on the raw reply before validation, against ``context["source_text"]``; each replacement is
    appended to ``snapped``.
    """
    if not isinstance(context, dict) or not context.get("source_text") or not isinstance(data, dict):
        return data
    en = data.get("en")
    if not isinstance(en, dict):
        return data
    source = str(context["source_text"])
    folded = grounding.normalize(source)
    for name in FIELDS:
        for bullet in en.get(name) or []:
            evidence = bullet.get("evidence") if isinstance(bullet, dict) else None
            if not isinstance(evidence, str) or grounding.quote_found(evidence, folded):
                continue
            exact = grounding.snap_quote(evidence, source)
            if exact:
                bullet["evidence"] = exact
                snapped.append(f"en.{name}: {evidence[:60]!r} -> {exact[:60]!r}")
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
            if not grounding.quote_found(bullet.evidence, source):
                hint = grounding.closest_sentence(bullet.evidence, source_text)
                problems.append(f"en.{name}[{i}].evidence is not a verbatim quote of the paper text: "
                                f"{bullet.evidence[:80]!r}"
                                + (f"; the closest sentence of the paper text is {hint!r}" if hint else ""))
            missing = grounding.missing_numbers(bullet.text, source)
            if missing:
                problems.append(f"en.{name}[{i}] has numbers not in the paper text: {', '.join(missing)}")
    return problems


def grounding_score(en: EnglishSummary, source_text: str) -> float:
    """Share of English bullets whose evidence and numbers are all found in the source text."""
    source = grounding.normalize(source_text)
    bullets = [b for name in FIELDS for b in getattr(en, name)]
    ok = sum(1 for b in bullets
             if grounding.quote_found(b.evidence, source) and not grounding.missing_numbers(b.text, source))
    return round(ok / len(bullets), 4) if bullets else 0.0


def check_grounding(en: EnglishSummary, context: Any) -> None:
    """Raise ValueError listing every ungrounded bullet, when the context carries ``source_text``."""
    if not isinstance(context, dict) or not context.get("source_text"):
        return
    problems = grounding_failures(en, str(context["source_text"]))
    if problems:
        raise ValueError("; ".join(problems))


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
