"""Asking the model what a paper says, question by question, citing numbered sentences.

A `Plan` says what each request reads: a small model gets one short pass per question, each reading
the part of the paper where that answer lives (`pipeline.text.budget.read_for`); a strong model gets
one call carrying all three parts (`read_all`). The model cites sentence ids; `run` checks every
reply (hard: unknown ids, a sentence backing two bullets, numbers, and `pipeline.model.mend`'s hard
checks; soft: what a reader would object to), re-asks once for the soft problems (not for a copy
alone on a small profile) and keeps what is left as draft warnings, mends a small model's slips
without a request (`mend`), then fills each bullet's evidence with the exact sentences it cited and
translates with the list's glossary (`pipeline.workspace.translation`, which on a small profile also
says a bullet that still copies its evidence again from its Chinese). `steps` is the same run as a step
machine, for batch jobs.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from pipeline.core.config import Settings
from pipeline.core.errors import Attempt, ModelOutputError, SummaryInvalid
from pipeline.core.models import FIELDS
from pipeline.model import checks, glossary, mend
from pipeline.model.backend import Profile
from pipeline.model.llm import LLM, Steps
from pipeline.model.prompts import Prompt, render
from pipeline.model.summary import (
    EVIDENCE_JOIN,
    QUESTION_DESCRIPTIONS,
    UNKNOWN,
    ChineseSummary,
    CitedBullet,
    CitedReply,
    EnglishSummary,
    EvidencedBullet,
    PaperSummary,
    reply_model,
)
from pipeline.text.budget import Reading, read_all, read_for
from pipeline.text.sentences import Sentence
from pipeline.workspace import translation
from pipeline.workspace.progress import Progress, ProgressHook, silent

log = logging.getLogger(__name__)


def per_question(profile: Profile) -> bool:
    """One short pass per question: the profile of a small model (it translates bullet by bullet too)."""
    return profile.translate_per_bullet


@dataclass
class Plan:
    """What each request reads and how the replies are checked."""

    numbered: list[Sentence]
    readings: list[Reading]
    names: list[str]  # the method's names, for contribution sentences
    settings: tuple[str, ...]  # the setting the model may choose (the list's sections)
    glossary: dict[str, str]
    title: str
    bilingual: bool

    def questions(self, reading: Reading) -> tuple[str, ...]:
        """The questions a reading answers."""
        return FIELDS if reading.question == "all" else (reading.question,)

    def shown(self, reading: Reading) -> dict[int, Sentence]:
        """The sentences a reading shows, by the id the prompt shows them with (1..n)."""
        return {k: self.numbered[i - 1] for k, i in enumerate(reading.ids, 1)}


def plan(numbered: list[Sentence], profile: Profile, *, names: list[str], settings: tuple[str, ...],
         terms: dict[str, str], title: str) -> Plan:
    """The readings for this profile: one per question for a small model, one for all otherwise."""
    if per_question(profile):
        budget = max(300, profile.budget_tokens // 2)
        readings = [read_for(q, numbered, budget, names=names) for q in FIELDS]
    else:
        readings = [read_all(numbered, profile.budget_tokens, names=names)]
    return Plan(numbered, readings, names, settings, terms, title, bilingual=not profile.translate)


def prompts(plan_: Plan, settings: Settings, profile: Profile) -> list[tuple[Prompt, Prompt]]:
    """The system and user prompt of every reading, in order (the first one also classifies)."""
    out = []
    # One system prompt for every pass (the user message says which question): a local server reuses
    # the evaluated prefix, so only the first pass pays for it.
    terms = glossary.used("\n".join(r.text for r in plan_.readings), plan_.glossary) if plan_.bilingual else {}
    system = render(settings.prompts_dir, "system.j2", questions=list(FIELDS), bilingual=plan_.bilingual,
                    classify=True, settings=list(plan_.settings), terms=terms, example=profile.prompt_example)
    for i, reading in enumerate(plan_.readings):
        questions = plan_.questions(reading)
        user = render(settings.prompts_dir, "user.j2", questions=list(questions),
                      question_text=QUESTION_DESCRIPTIONS[questions[0]] if len(questions) == 1 else "",
                      text=reading.text, bilingual=plan_.bilingual, classify=i == 0)
        out.append((system, user))
    return out


def reply_models(plan_: Plan) -> list[type[CitedReply]]:
    """The contract of each reading's request."""
    return [reply_model(plan_.questions(r), bilingual=plan_.bilingual, classify=i == 0, settings=plan_.settings)
            for i, r in enumerate(plan_.readings)]


@dataclass
class Drafted:
    """What the model wrote for one paper, and what it took."""

    summary: PaperSummary
    prompts: dict[str, str]  # name -> sha256 of every prompt sent
    repairs: int
    readings: list[str]
    notes: list[str] = field(default_factory=list)  # draft warnings: soft problems left, judgements


def _ask_checked(llm: LLM, messages: list[dict[str, Any]], model: type[CitedReply], context: dict[str, Any],
                 shown: dict[int, Sentence], names: list[str], repair: Any,
                 label: str, bilingual: bool) -> Steps[tuple[CitedReply, int, list[str]]]:
    """A valid reply, re-asked once when a reader would object to it; (reply, re-asks, problems left)."""
    hard = mend.hard_checks(context["sentences"])
    try:
        reply, failed = yield from llm.asking(messages, model, context=context, repair=repair, checks=hard,
                                              label=label)
        salvaged: list[str] = []
    except ModelOutputError as exc:
        kept = mend.salvage(exc.attempts, model, context, hard)
        if kept is None:
            raise
        (reply, salvaged), failed = kept, list(exc.attempts)
    # English only (translate mode): the Chinese comes later, from the mended English.
    echoes = [] if bilingual else mend.strip_echoes(reply)
    mend.strip_references(reply)
    fixed = [*mend.document_ids(salvaged, shown), *echoes, *mend.fix_citations(reply, shown)]
    problems = mend.soft_problems(reply, shown, names)
    if not problems or (not llm.profile.restate_copies and all(mend.COPIED in p for p in problems)):
        return reply, len(failed), [*fixed, *mend.document_ids(problems, shown)]
    follow_up = {"role": "user", "content": repair(problems, False)}
    conversation = [*messages, {"role": "assistant", "content": reply.model_dump_json()}, follow_up] \
        if llm.profile.reask_with_reply else [*messages, follow_up]
    try:
        second, failed_again = yield from llm.asking(conversation, model, context=context, repair=repair,
                                                     checks=hard, label=f"{label}-reask")
    except ModelOutputError as exc:
        log.info("the re-ask for %d soft problem(s) gave nothing valid: %s", len(problems), exc)
        return reply, len(failed) + 1 + len(exc.attempts), [*fixed, *mend.document_ids(problems, shown)]
    fixed_again = mend.fix_citations(second, shown)
    left = mend.soft_problems(second, shown, names)
    if len(left) <= len(problems):
        return second, len(failed) + 1 + len(failed_again), [*fixed_again, *mend.document_ids(left, shown)]
    return reply, len(failed) + 1 + len(failed_again), [*fixed, *mend.document_ids(problems, shown)]


# --------------------------------------------------------------------------- the run


def stored_bullet(bullet: CitedBullet, shown: dict[int, Sentence]) -> EvidencedBullet:
    """The draft's bullet: the model's words, the cited sentences verbatim as evidence (with the
    document's sentence ids), the support."""
    texts = [shown[n].text for n in bullet.ids]
    # A run-on "sentence" (a table the cleaning missed) keeps a verbatim lead, so the draft stays readable.
    quotes = [t if len(t) <= 900 else t[:900].rsplit(" ", 1)[0] for t in texts]
    return EvidencedBullet(text=bullet.text, evidence=EVIDENCE_JOIN.join(quotes),
                           sentences=[shown[n].id for n in bullet.ids], support=checks.support(bullet.text, texts))


def run(llm: LLM, settings: Settings, plan_: Plan, *, repair: Any, key: str = "",
        progress: ProgressHook = silent, started: float | None = None) -> Drafted:
    """Ask every reading's question(s), then translate; raises `ModelOutputError` with the attempts."""
    return llm.drive(steps(llm, settings, plan_, repair=repair, key=key, progress=progress, started=started))


def steps(llm: LLM, settings: Settings, plan_: Plan, *, repair: Any, key: str = "",
          progress: ProgressHook = silent, started: float | None = None) -> Steps[Drafted]:
    """`run` as a step machine (`pipeline.model.llm.Steps`): every request of one paper, in order.

    `run` drives it live; a provider batch job sends one round of requests per job and replays the
    replies it has (the same requests come out again, since everything they depend on is cached).
    """
    pairs = prompts(plan_, settings, llm.profile)
    models = reply_models(plan_)
    hashes: dict[str, str] = {}
    repairs = 0
    notes: list[str] = []
    english: dict[str, list[EvidencedBullet]] = {}
    chinese: dict[str, list[str]] = {}
    dim, setting, tags = UNKNOWN, UNKNOWN, list[str]()
    translate = not plan_.bilingual
    steps = len(plan_.readings)
    status = Progress(key, "ask", started=started if started is not None else time.monotonic())
    asked_at = time.monotonic()
    usage_before = llm.usage.model_copy()

    def report(stage: str, detail: str, step: int, total: int) -> None:
        status.stage, status.detail, status.step, status.steps = stage, detail, step, total
        status.prompt_tokens = llm.usage.prompt_tokens - usage_before.prompt_tokens
        status.output_tokens = llm.usage.completion_tokens - usage_before.completion_tokens
        seconds = time.monotonic() - asked_at
        status.tokens_per_second = status.output_tokens / seconds if status.output_tokens and seconds else None
        progress(status)

    for i, (reading, (system, user), model) in enumerate(zip(plan_.readings, pairs, models, strict=True)):
        report("ask", reading.question, i + 1, steps)
        hashes[system.name], hashes[user.name] = system.sha256, user.sha256
        messages = [{"role": "system", "content": system.text}, {"role": "user", "content": user.text}]
        shown = plan_.shown(reading)
        texts = {k: s.text for k, s in shown.items()}
        context: dict[str, Any] = {"sentences": texts}
        if plan_.bilingual:
            context["glossary"], context["names"] = plan_.glossary, plan_.names
        reply, reasks, left = yield from _ask_checked(llm, messages, model, context, shown, plan_.names,
                                                      repair, reading.question, plan_.bilingual)
        repairs += reasks
        notes.extend(n for n in left if mend.COPIED not in n)  # copies are counted on the final bullets
        try:
            for name, bullets in reply.groups().items():
                english[name] = [stored_bullet(b, shown) for b in bullets]
        except ValidationError as exc:
            raise _invalid(llm, reply.model_dump(mode="json"), exc, "a cited sentence cannot be evidence") from exc
        zh = getattr(reply, "zh", None)
        if isinstance(zh, ChineseSummary):
            chinese = {name: list(getattr(zh, name)) for name in FIELDS}
        if i == 0:
            dim, setting, tags, judged = mend.judgements(reply, texts)
            notes.extend(judged)
    notes.extend(mend.drop_repeats(english))
    notes.extend(mend.drop_non_problems(english, plan_.names, chinese))
    try:
        en = EnglishSummary.model_validate(english)
    except ValidationError as exc:
        raise _invalid(llm, english, exc, "the English answers do not fit together") from exc
    if translate:
        chinese, t_repairs, dropped = yield from translation.translate(llm, settings, plan_, en, hashes, report,
                                                                        notes)
        repairs += t_repairs
        if dropped:
            kept = {name: [b for i, b in enumerate(english[name]) if (name, i) not in dropped] for name in english}
            try:
                en = EnglishSummary.model_validate(kept)
            except ValidationError as exc:
                raise _invalid(llm, kept, exc, "a question's only bullet could not be translated") from exc
        if llm.profile.restate_from_chinese:
            english = {name: list(getattr(en, name)) for name in FIELDS}
            notes.extend((yield from translation.restate(llm, settings, plan_, english, chinese, hashes, report)))
            en = EnglishSummary.model_validate(english)
    notes.extend(mend.copy_notes(en))
    try:
        zh_summary = ChineseSummary.model_validate(chinese)
    except ValidationError as exc:
        raise _invalid(llm, chinese, exc, "the Chinese translation is not acceptable") from exc
    summary = PaperSummary.model_validate({"en": en, "zh": zh_summary, "dim": dim, "setting": setting, "tags": tags})
    report("write", "", 0, 0)
    return Drafted(summary, hashes, repairs, [r.line() for r in plan_.readings], notes)


def _invalid(llm: LLM, data: Any, exc: ValidationError, what: str) -> SummaryInvalid:
    attempt = Attempt("invalid", json.dumps(data, ensure_ascii=False, default=str),
                      [str(e["msg"]) for e in exc.errors()])
    return SummaryInvalid(f"{what} ({llm.connection.host}): "
                          f"{exc.errors()[0]['msg'].removeprefix('Value error, ')}", attempts=[attempt])


__all__ = [
    "Drafted",
    "Plan",
    "per_question",
    "plan",
    "prompts",
    "reply_models",
    "run",
    "steps",
    "stored_bullet",
]
