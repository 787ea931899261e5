"""What the pipeline makes of a model's valid reply before it becomes a draft. Pure: no I/O.

- **Objections** a reader would raise (`soft_problems`: copied, unsupported, resting on cited work) and
  the checks no re-ask may skip (`hard_checks`: a cited sentence that speaks to the model, a bullet
  that gives the question back or stops at a colon).
- **Mending a small model's slips without a request**: a citation moved onto the sentence a bullet
  restates (`fix_citations`), the last rejected reply kept without the bullets its errors name
  (`salvage`), a bullet repeating an earlier question's left out (`drop_repeats`), what a failed
  translation still gives (`kept_translation`); each with a note.
- **Judgements**: ``dim`` and ``setting`` kept only when the sentence they cite says them.
- Notes name the document's sentence ids (`document_ids`), not the ids a request showed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from pipeline.core.errors import Attempt, ModelOutputError
from pipeline.core.models import FIELDS
from pipeline.model import checks, glossary, grounding
from pipeline.model.summary import (
    EN_BULLET,
    QUESTION_DESCRIPTIONS,
    UNKNOWN,
    ChineseBullet,
    CitedReply,
    EvidencedBullet,
)
from pipeline.text import sentences
from pipeline.text.sentences import Sentence

_DIM_CUES = {"2D": re.compile(r"\b2-?d\b|image|photo|pixel|picture", re.IGNORECASE),
             "3D": re.compile(r"\b3-?d\b|volum|voxel|\bct\b|\bmri\b|point cloud|mesh", re.IGNORECASE)}


# --------------------------------------------------------------------------- soft checks

COPIED = " repeats "
_REQUEST_ID = re.compile(r"\bS(\d+)\b")


def soft_problems(reply: CitedReply, shown: dict[int, Sentence], names: list[str]) -> list[str]:
    """What a reader would object to in a valid reply: copied bullets, unsupported terms, bullets that
    rest on cited work instead of this paper (``shown``: the request's sentences by shown id)."""
    found = []
    for name, bullets in reply.groups().items():
        for i, bullet in enumerate(bullets, 1):
            # As the request showed them: the model is told the ids it saw.
            cited = [dataclasses.replace(shown[n], id=n) for n in bullet.ids if n in shown]
            texts = [s.text for s in cited]
            labels = ", ".join(bullet.sentences)
            if checks.is_copied(bullet.text, texts):
                found.append(_copy_note(name, i, labels))
            elif (score := checks.support(bullet.text, texts)) < checks.MIN_SUPPORT:
                found.append(f"en.{name}[{i}]: most of its terms are not in {labels} (support {score}); cite the "
                             "sentences that say it, or keep to what they say")
            if reason := checks.rests_on_paper(name, cited, names):
                found.append(f"en.{name}[{i}]: {reason}")
    return found


def copy_notes(en: Any) -> list[str]:
    """A draft warning for each English bullet of ``en`` (an `EnglishSummary`) that still repeats its
    evidence nearly word for word, counted on the final bullets (after any re-ask or restatement)."""
    found = []
    for name in FIELDS:
        for i, bullet in enumerate(getattr(en, name), 1):
            if checks.is_copied(bullet.text, bullet.quotes):
                found.append(_copy_note(name, i, ", ".join(f"S{n}" for n in bullet.sentences)))
    return found


def _copy_note(name: str, i: int, labels: str) -> str:
    return (f"en.{name}[{i}]{COPIED}{labels} nearly word for word; restate what it means for this paper in "
            "your own words")


# A bullet as the validators name it ("en.motivation[1]") or as pydantic locates it ("en.motivation.0.text").
_BULLET_REF = re.compile(r"\ben\.(problems|motivation|framework)(?:\[(\d+)\]|\.(\d+)\b)")


def salvage(attempts: list[Attempt], model: type[CitedReply], context: dict[str, Any],
            hard: Any) -> tuple[CitedReply, list[str]] | None:
    """The latest rejected reply without the bullets its errors name, when what is left is valid and
    answers every question it was asked (a small model keeps writing one bullet's number wrong; the
    others are good): the reply and one note per bullet left out; None when nothing can be kept."""
    for attempt in reversed(attempts):
        errors = " ".join(attempt.errors)
        named = sorted({(g, int(i) if i else int(z) + 1) for g, i, z in _BULLET_REF.findall(errors)}, reverse=True)
        if attempt.kind != "invalid" or not named:
            continue
        try:
            data = json.loads(attempt.raw or "")
        except ValueError:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("en"), dict):
            continue
        try:
            for group, i in named:
                for side in ("en", "zh"):
                    if isinstance(data.get(side), dict) and isinstance(data[side].get(group), list):
                        del data[side][group][i - 1]
            if any(not bullets for bullets in data["en"].values()):
                continue
            reply = model.model_validate(data, context=context)
        except (IndexError, ValidationError):
            continue
        if hard(reply):
            continue
        return reply, [f"en.{g}[{i}] left out of the draft: it failed its checks on every attempt ({errors[:160]})"
                       for g, i in sorted(named)]
    return None


def fix_citations(reply: CitedReply, shown: dict[int, Sentence]) -> list[str]:
    """Re-cite a bullet whose cited sentences do not say it to the shown sentence that does (a small
    model restates one sentence and cites another); one draft note per change."""
    texts = {k: s.text for k, s in shown.items()}
    notes = []
    for name, bullets in reply.groups().items():
        for i, bullet in enumerate(bullets, 1):
            taken = {n for other in bullets if other is not bullet for n in other.ids}
            if (m := checks.better_citation(bullet.text, bullet.ids, texts, taken)) is not None:
                notes.append(f"en.{name}[{i}] cited {', '.join(shown[n].label for n in bullet.ids if n in shown)}, "
                             f"which do(es) not say it; its evidence is the sentence that does, {shown[m].label}")
                bullet.sentences = [f"S{m}"]
    return notes


def document_ids(problems: list[str], shown: dict[int, Sentence]) -> list[str]:
    """``problems`` as the draft states them: the sentence ids the request showed (S1..Sn) become the
    document's ids, the ones the draft's ``sentences`` and the review desk use."""
    def label(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return shown[number].label if number in shown else match.group(0)
    return [_REQUEST_ID.sub(label, p) for p in problems]


def hard_checks(shown: dict[int, str]) -> Any:
    """The checks no re-ask may skip: no bullet cites a sentence addressing the model (prompt injection
    in the paper), and none restates the question it was asked or stops at a colon instead of answering."""
    def check(reply: CitedReply) -> list[str]:
        groups = {name: [b.ids for b in bullets] for name, bullets in reply.groups().items()}
        return [*grounding.addressed_citations(groups, shown), *non_answers(reply)]
    return check


def non_answers(reply: CitedReply) -> list[str]:
    """Bullets that are no answer: the question's own description given back (a small model echoes the
    prompt) or a lead-in that stops at a colon ("Our MSCA can be written as:")."""
    found = []
    for name, bullets in reply.groups().items():
        asked = [QUESTION_DESCRIPTIONS[name], EN_BULLET]
        for i, bullet in enumerate(bullets, 1):
            if checks.copied_share(bullet.text, asked) >= checks.COPY_SHARE:
                found.append(f"en.{name}[{i}] repeats the question instead of answering it for this paper")
            elif bullet.text.rstrip().endswith(":"):
                found.append(f"en.{name}[{i}] stops at a colon; write the finding itself as one full sentence")
    return found


ECHO_SUPPORT = 0.8  # a lead whose terms are this much the question's is the question given back
_LEAD = re.compile(r"^(.{12,200}?(?:[:.]|\b(?:is|are) that))\s+(\S.*)$", re.DOTALL)


def strip_echoes(reply: CitedReply) -> list[str]:
    """Drop the question's own words that a small model puts before its answer ("The paper's motivation
    and key idea: the observation or insight behind its approach and why it should work. The paper
    focuses on …", "The observation or insight is that …"), in place, when at least eight words of answer
    follow; one note per bullet."""
    notes = []
    for name, bullets in reply.groups().items():
        asked = [QUESTION_DESCRIPTIONS[name]]
        for i, bullet in enumerate(bullets, 1):
            text, cut = bullet.text, False
            while (match := _LEAD.match(text)) and len(checks.words(match.group(2))) >= 8 and (
                    checks.support(match.group(1), asked) >= ECHO_SUPPORT):
                text, cut = match.group(2), True
            if cut:
                bullet.text = text[0].upper() + text[1:]
                notes.append(f"en.{name}[{i}]: the question's own words before the answer were left out")
    return notes


def strip_references(reply: CitedReply) -> None:
    """Drop numbered reference marks ("detection [39, 13]") from the bullets, in place, Chinese too: they
    point into the paper's bibliography, which the list does not have. No note: nothing is lost that the
    evidence does not keep."""
    for bullets in reply.groups().values():
        for bullet in bullets:
            bullet.text = checks.without_references(bullet.text)
    zh = getattr(reply, "zh", None)
    for name in FIELDS if zh is not None else ():
        texts = getattr(zh, name)
        texts[:] = [checks.without_references(t) for t in texts]


# --------------------------------------------------------------------------- judgements


def _judged(value: str, ref: str, shown: dict[int, str], cue: re.Pattern[str] | None) -> tuple[str, str | None]:
    """``value`` when the sentence ``ref`` was shown and (with a ``cue``) says it; else unknown and why."""
    if value == UNKNOWN:
        return UNKNOWN, None
    number = int(ref[1:]) if ref.startswith("S") else None
    if number is None or number not in shown:
        return UNKNOWN, f"no sentence given for {value!r}"
    if cue is not None and not cue.search(shown[number]):
        return UNKNOWN, f"S{number} does not say {value!r}"
    return value, None


def _setting_cue(setting: str) -> re.Pattern[str]:
    parts = [re.escape(p[:5]) for p in setting.split("-") if p]
    return re.compile(r"[\s-]?".join(rf"{p}\w*" for p in parts), re.IGNORECASE)


def judgements(reply: CitedReply, shown: dict[int, str]) -> tuple[str, str, list[str], list[str]]:
    """(dim, setting, tags, notes): each judgement kept only when the sentence it cites says it, each
    tag only when its words are in the text the model read (a small model offers a setting of the list
    as a tag: "active learning" on a paper that never says it)."""
    dim, setting = str(getattr(reply, "dim", UNKNOWN)), str(getattr(reply, "setting", UNKNOWN))
    notes = []
    cue = None if dim == "N/A" else _DIM_CUES["3D" if "3D" in dim else "2D"] if dim != UNKNOWN else None
    dim, why = _judged(dim, str(getattr(reply, "dim_sentence", "none")), shown, cue)
    if why:
        notes.append(f"dim is unknown: {why}")
    setting, why = _judged(setting, str(getattr(reply, "setting_sentence", "none")), shown,
                           _setting_cue(setting) if setting != UNKNOWN else None)
    if why:
        notes.append(f"setting is unknown: {why}")
    tags = list(getattr(reply, "tags", []))
    said = " ".join(shown.values())
    kept = [t for t in tags if checks.support(t, [said]) == 1.0]
    if dropped := [t for t in tags if t not in kept]:
        notes.append(f"tag(s) {', '.join(map(repr, dropped))} left out: not words of the text the model read")
    return dim, setting, kept, notes


def drop_repeats(english: dict[str, list[EvidencedBullet]]) -> list[str]:
    """Leave out a bullet that repeats one of an earlier question (separate passes can give the same
    answer twice) when its question keeps another; one note each. A repeat that is a question's only
    bullet stays, and the summary's own check refuses it."""
    seen: dict[str, str] = {}
    notes = []
    for name in FIELDS:
        kept: list[EvidencedBullet] = []
        for i, bullet in enumerate(english.get(name, []), 1):
            folded = grounding.normalize(bullet.text)
            still_there = len(english[name]) - (i - 1 - len(kept))  # this bullet and those not left out
            if folded in seen and still_there > 1:
                notes.append(f"en.{name}[{i}] left out of the draft: it repeats a bullet of {seen[folded]} "
                             f"({bullet.text[:60]!r})")
                continue
            seen.setdefault(folded, name)
            kept.append(bullet)
        if name in english:
            english[name] = kept
    return notes


def drop_non_problems(english: dict[str, list[EvidencedBullet]], names: Sequence[str],
                      chinese: dict[str, list[str]] | None = None) -> list[str]:
    """Leave out a problems bullet none of whose cited sentences states a problem (`sentences.states_a_problem`:
    a limit, a difficulty, or what this paper takes on), when another problems bullet does: a small model
    fills its bullets with field background, a novelty claim or a table note. One note each; when none
    states one, the bullets stay and each gets a warning. ``chinese`` (a bilingual reply's) loses the same
    bullets."""
    bullets = english.get("problems", [])
    answers = [any(sentences.states_a_problem(q, names) for q in b.quotes) for b in bullets]
    if all(answers):
        return []
    labels = [", ".join(f"S{n}" for n in b.sentences) for b in bullets]
    if not any(answers):
        return [f"en.problems[{i}]: {labels[i - 1]} state(s) no difficulty, limit or aim of this paper; check that "
                "it is a problem the paper addresses" for i in range(1, len(bullets) + 1)]
    english["problems"] = [b for b, ok in zip(bullets, answers, strict=True) if ok]
    if chinese and len(chinese.get("problems", [])) == len(bullets):
        chinese["problems"] = [t for t, ok in zip(chinese["problems"], answers, strict=True) if ok]
    return [f"en.problems[{i}] left out of the draft: {labels[i - 1]} state(s) no difficulty, limit or aim of this "
            f"paper ({b.text[:60]!r})" for i, (b, ok) in enumerate(zip(bullets, answers, strict=True), 1) if not ok]


def kept_translation(exc: ModelOutputError, english: str, terms: Mapping[str, str],
                     names: Sequence[str]) -> tuple[ChineseBullet | None, list[str], str | None]:
    """What a bullet's failed translation still gives: the latest attempt that is acceptable Chinese on
    its own (only the checks against the English failed), its number scale rewritten when only the scale
    is wrong (the small model writes 1.5 billion as 1.5亿 however it is told; the digits are right).
    Returns (the kept bullet or None, what it still gets wrong, its text before a rewrite or None)."""
    last = exc.attempts[-1].errors if exc.attempts else [str(exc)]
    kept = next((k for a in reversed(exc.attempts) if (k := _plain_chinese(a.raw)) is not None), None)
    if kept is None or (fixed := grounding.fix_scales(kept.zh, english)) == kept.zh:
        return kept, last, None
    mismatch = grounding.quantity_mismatch(fixed, english)
    left = [*([mismatch] if mismatch else []), *glossary.problems(english, fixed, terms, names)]
    return ChineseBullet.model_validate({"zh": fixed}, context={}), left, kept.zh


def _plain_chinese(raw: str | None) -> ChineseBullet | None:
    """A rejected translation that is still acceptable Chinese on its own (checked without the English)."""
    if not raw:
        return None
    try:
        return ChineseBullet.model_validate_json(raw, context={})
    except ValidationError:
        return None


__all__ = ["COPIED", "copy_notes", "document_ids", "drop_non_problems", "drop_repeats", "fix_citations", "hard_checks",
           "judgements", "kept_translation", "non_answers", "salvage", "soft_problems", "strip_echoes",
           "strip_references"]
