"""The Chinese of a draft made from its English (translate mode), and copied English said again from it.

`translate` asks for the Chinese bullets: all at once for a strong model, one request per bullet for a
small one (a small model translating a whole list repeats or drops bullets). `restate` then says each
English bullet that still copies its evidence again from its Chinese, on a small profile: a model that
can see a sentence gives it back, one that sees only the Chinese has to write its own English. When the
Chinese, put back into English, says the opposite of the bullet, the Chinese is the suspect: the bullet
is translated once more, naming the slip, and the new Chinese is kept only when its restatement reads
true. Both are step machines (`pipeline.model.llm.Steps`), run inside `passes.steps`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from pipeline.core.config import Settings
from pipeline.core.errors import ModelOutputError
from pipeline.core.models import FIELDS
from pipeline.model import checks, glossary, grounding, mend
from pipeline.model.llm import LLM, Steps
from pipeline.model.prompts import Prompt, render
from pipeline.model.summary import ChineseBullet, ChinesePass, EnglishSummary, EvidencedBullet, RestatedBullet

if TYPE_CHECKING:
    from pipeline.workspace.passes import Plan

log = logging.getLogger(__name__)

TRANSLATE_PROMPTS = ("translate_system.j2", "translate_user.j2", "translate_bullet.j2", "restate_system.j2",
                     "restate_user.j2")
RESTATE_TERMS = 40  # the words a restatement is shown (alphabetical: no phrase to copy)
RESTATE_REPAIRS = 1  # a restatement that came back too close to the paper is asked for once more


def task_repair(settings: Settings, task: str) -> Any:
    """The follow-up of a re-ask: `prompts/repair.j2` with the errors, for the ``summary`` or another
    ``task`` (``translation`` of all bullets, one ``sentence``: a bullet's translation or restatement),
    which gets no instructions on citing sentence ids: they would only confuse a small model."""
    def message(errors: list[str], truncated: bool) -> str:
        return render(settings.prompts_dir, "repair.j2", errors=errors, truncated=truncated, task=task).text
    return message


def translate(llm: LLM, settings: Settings, plan_: Plan, en: EnglishSummary, hashes: dict[str, str],
              report: Any, notes: list[str]) -> Steps[tuple[dict[str, list[str]], int, set[tuple[str, int]]]]:
    """The Chinese bullets, the re-asks they took, and the English bullets left out (name, index) because
    no acceptable Chinese came back for them (a note says which and why)."""
    plain = {f: [b.text for b in getattr(en, f)] for f in FIELDS}
    per_bullet = llm.profile.translate_per_bullet
    t_system = render(settings.prompts_dir, TRANSLATE_PROMPTS[0], per_bullet=per_bullet)
    hashes[t_system.name] = t_system.sha256
    repairs = 0
    if not per_bullet:
        expected = {f: len(plain[f]) for f in FIELDS}
        counts = ", ".join(f"{len(plain[f])} {f}" for f in FIELDS)
        everything = " ".join(t for f in FIELDS for t in plain[f])
        terms = glossary.used(everything, plan_.glossary)
        t_user = render(settings.prompts_dir, TRANSLATE_PROMPTS[1], title=plan_.title, terms=terms,
                        numbers=grounding.chinese_numbers(everything), names=plan_.names,
                        english_json=json.dumps(plain, ensure_ascii=False, indent=1), counts=counts)
        hashes[t_user.name] = t_user.sha256
        report("translate", "all bullets", 1, 1)
        messages = [{"role": "system", "content": t_system.text}, {"role": "user", "content": t_user.text}]
        chinese, failed = yield from llm.asking(
            messages, ChinesePass, repair=task_repair(settings, "translation"), label="zh",
            context={"expected_counts": expected, "english": plain, "glossary": plan_.glossary,
                     "names": plan_.names},
            counts={f: (n, n) for f, n in expected.items()})
        return {f: list(getattr(chinese.zh, f)) for f in FIELDS}, len(failed), set()
    sentence = task_repair(settings, "sentence")
    zh: dict[str, list[str]] = {f: [] for f in FIELDS}
    dropped: set[tuple[str, int]] = set()
    total = sum(len(v) for v in plain.values())
    step = 0
    for name in FIELDS:
        for index, text in enumerate(plain[name]):
            step += 1
            report("translate", name, step, total)
            messages = _bullet_messages(settings, plan_, t_system, text, hashes)
            label = f"zh-{name}-{len(zh[name]) + 1}"
            try:
                one, failed = yield from llm.asking(messages, ChineseBullet, repair=sentence, label=label,
                                                    context=_bullet_context(plan_, text),
                                                    max_repairs=llm.profile.translation_repairs)
            except ModelOutputError as exc:
                # One bullet's translation is not worth the whole draft (see `mend.kept_translation`);
                # with nothing to keep, the bullet is left out and the draft says why.
                kept, last, before = mend.kept_translation(exc, text, plan_.glossary, plan_.names)
                if kept is not None and before is not None:
                    notes.append(f"zh.{name}[{len(zh[name]) + 1}]: a number's scale rewritten ({before!r} -> "
                                 f"{kept.zh!r})")
                failed = list(exc.attempts)
                if kept is None:
                    repairs += len(failed)
                    dropped.add((name, index))
                    notes.append(f"en.{name}[{index + 1}] {text[:80]!r} left out of the draft: no acceptable Chinese "
                                 f"translation came back ({'; '.join(last)[:200]})")
                    continue
                one = kept
                if last:
                    notes.append(f"zh.{name}[{len(zh[name]) + 1}]: translated without the checks it failed: "
                                 f"{'; '.join(last)[:200]}")
            repairs += len(failed)
            zh[name].append(one.zh)
    return zh, repairs, dropped


def _bullet_messages(settings: Settings, plan_: Plan, system: Prompt, text: str,
                     hashes: dict[str, str]) -> list[dict[str, Any]]:
    """The request translating one English bullet (with the list's terms it uses, its numbers, the names),
    under ``system`` (`translate_system.j2` for one bullet)."""
    user = render(settings.prompts_dir, TRANSLATE_PROMPTS[2], title=plan_.title, text=text,
                  terms=glossary.used(text, plan_.glossary), numbers=grounding.chinese_numbers(text),
                  names=plan_.names)
    hashes[user.name] = user.sha256
    return [{"role": "system", "content": system.text}, {"role": "user", "content": user.text}]


def _bullet_context(plan_: Plan, text: str) -> dict[str, Any]:
    return {"english": text, "glossary": plan_.glossary, "names": plan_.names}


def restate(llm: LLM, settings: Settings, plan_: Plan, english: dict[str, list[EvidencedBullet]],
            chinese: dict[str, list[str]], hashes: dict[str, str], report: Any) -> Steps[list[str]]:
    """Say each copied English bullet again in other words, in place: its Chinese translated back into
    English, shown only the bullet's words and its cited sentences' (never a phrase of them to copy).

    A small model asked to restate a sentence it can see gives the sentence back (bench/README.md); one
    that sees only the Chinese has to write its own English. The result replaces the bullet only when
    `checks.restatement_problems` finds nothing (the content kept: support, numbers, names, length);
    otherwise it is asked for once more (a literal round trip comes back in the paper's words; sampled a
    little more freely, it need not), and then the copy stays, with its draft warning. A restatement that
    says the opposite indicts the Chinese: the bullet is translated again (`_translate_again`).
    Returns a note per bullet replaced, for the reviewer to check its meaning.
    """
    todo = [(name, i) for name in FIELDS for i, b in enumerate(english[name]) if checks.is_copied(b.text, b.quotes)]
    notes: list[str] = []
    if not todo:
        return notes
    system = render(settings.prompts_dir, TRANSLATE_PROMPTS[3])
    hashes[system.name] = system.sha256
    for step, (name, i) in enumerate(todo, 1):
        report("restate", name, step, len(todo))
        bullet = english[name][i]
        said, reversal = yield from _restated(llm, settings, system, bullet, chinese[name][i], f"en-{name}-{i + 1}",
                                              hashes)
        if reversal is not None:
            retranslated = yield from _translate_again(llm, settings, plan_, bullet, chinese[name][i], reversal,
                                                       f"zh-{name}-{i + 1}-again", hashes)
            if retranslated is not None:
                said, reversal_again = yield from _restated(llm, settings, system, bullet, retranslated,
                                                            f"en-{name}-{i + 1}-again", hashes)
                if reversal_again is None:
                    notes.append(f"zh.{name}[{i + 1}] translated again: the first translation, put back into "
                                 f"English, read {reversal[:120]!r}")
                    chinese[name][i], reversal = retranslated, None
        if reversal is not None:
            notes.append(f"zh.{name}[{i + 1}] may say the opposite of its English: translated back, it reads "
                         f"{reversal[:160]!r}; check the Chinese")
        if said is None:
            continue
        english[name][i] = bullet.model_copy(update={"text": said, "support": checks.support(said, bullet.quotes)})
        notes.append(f"en.{name}[{i + 1}] said again from its Chinese (it repeated "
                     f"{', '.join(f'S{n}' for n in bullet.sentences)}); check it still says what they say")
    return notes


def _restated(llm: LLM, settings: Settings, system: Prompt, bullet: EvidencedBullet, zh: str, label: str,
              hashes: dict[str, str]) -> Steps[tuple[str | None, str | None]]:
    """``bullet`` said again from its Chinese ``zh`` under ``system`` (`restate_system.j2`; None when no
    restatement kept its content), and what the last one read when it said the opposite of the bullet
    (else None)."""
    terms = checks.restate_terms(bullet.text, bullet.quotes, RESTATE_TERMS)
    # The bullet's names (CNN, PVT-Tiny) are named: a Chinese that lost one must not lose it for good.
    user = render(settings.prompts_dir, TRANSLATE_PROMPTS[4], terms=terms, zh=zh, names=checks.names(bullet.text))
    hashes[user.name] = user.sha256
    messages = [{"role": "system", "content": system.text}, {"role": "user", "content": user.text}]
    context = {"before": bullet.text, "cited": bullet.quotes, "zh": zh}
    try:
        again, _ = yield from llm.asking(messages, RestatedBullet, repair=task_repair(settings, "sentence"),
                                         label=label, context=context, max_repairs=RESTATE_REPAIRS)
    except ModelOutputError as exc:
        log.info("%s: the copy stays: %s", label, "; ".join(exc.attempts[-1].errors)[:300])
        # Only a reply that adds a negation testifies to a reversed Chinese (我们不知道 for "to our
        # knowledge"); one that drops a negation mostly dropped its clause. And only a reply that is a
        # restatement, not one giving back the re-ask's words ("… replace the bullet, which drops a negation").
        asked: list[str] = []
        reversals = []
        for attempt in exc.attempts:
            said = _said(attempt.raw)
            if any(checks.REVERSED in e for e in attempt.errors) and \
                    not _echoes(said, asked, bullet.quotes):
                reversals.append(said)
            asked.extend(attempt.errors)
        return None, reversals[-1] if reversals else None
    return again.en, None


def _translate_again(llm: LLM, settings: Settings, plan_: Plan, bullet: EvidencedBullet, zh: str, reads: str,
                     label: str, hashes: dict[str, str]) -> Steps[str | None]:
    """A new Chinese for ``bullet``, whose Chinese ``zh`` reads back as ``reads`` (the opposite), or None."""
    system = render(settings.prompts_dir, TRANSLATE_PROMPTS[0], per_bullet=True)
    messages = _bullet_messages(settings, plan_, system, bullet.text, hashes)
    slip = (f"zh: your translation {zh!r}, put back into English, reads {reads!r}: the opposite of the English "
            "sentence; translate it again so that it says what the English says")
    sentence = task_repair(settings, "sentence")
    messages = [*messages, {"role": "assistant", "content": json.dumps({"zh": zh}, ensure_ascii=False)},
                {"role": "user", "content": sentence([slip], False)}]
    try:
        again, _ = yield from llm.asking(messages, ChineseBullet, repair=sentence,
                                         label=label, context=_bullet_context(plan_, bullet.text), max_repairs=0)
    except ModelOutputError as exc:
        log.info("%s: no new translation: %s", label, "; ".join(exc.attempts[-1].errors)[:300])
        return None
    return again.zh if again.zh != zh else None


def _echoes(said: str, asked: list[str], cited: list[str]) -> bool:
    """Whether ``said`` gives back words of the re-ask messages ``asked`` (two or more content words
    that are theirs and not the paper's)."""
    theirs = set(checks.content_words(" ".join(asked))) - set(checks.content_words(" ".join(cited)))
    return sum(1 for w in set(checks.content_words(said)) if w in theirs) >= 2


def _said(raw: str | None) -> str:
    """The English a restatement's raw reply gives, or the raw text."""
    try:
        return str(json.loads(raw or "")["en"])
    except (ValueError, KeyError, TypeError):
        return raw or ""


__all__ = ["RESTATE_REPAIRS", "RESTATE_TERMS", "TRANSLATE_PROMPTS", "restate", "task_repair", "translate"]
