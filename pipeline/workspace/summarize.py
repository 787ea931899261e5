"""The summarize service: source -> metadata + text -> LLM -> validated, grounded draft.

``summarize()`` is a plain function returning a :class:`SummarizeResult`; the CLI prints it.
Bibliographic fields come from metadata only. The paper's text is numbered sentence by sentence and
each request reads the part where its answer lives (:mod:`pipeline.workspace.passes`); the model cites
sentence ids and writes the three questions in its own words, plus dim/setting/tags; the pipeline copies
the cited sentences into the draft as evidence. On final failure nothing is written to the draft path:
a failure record with every attempt goes to ``summaries/_failed/<key>.yaml``.

The paper text is untrusted: it cannot close the prompt's ``<<<`` … ``>>>`` fence (prompt rendering
sees to that: `pipeline.model.prompts.fence_safe`), and its sentences that address the model are
flagged in the draft and never accepted as evidence. When the server's context window is known (set,
or learned from its error), the text sent shrinks until prompt and reply fit it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipeline import __version__
from pipeline.core.config import Settings
from pipeline.core.errors import (
    ContextOverflow,
    LLMError,
    MetadataError,
    ModelOutputError,
    NetworkError,
    PipelineError,
)
from pipeline.core.models import (
    FIELD_TITLES_EN,
    FIELD_TITLES_ZH,
    FIELDS,
    ExtractedDocument,
    PaperMetadata,
    Provenance,
    Usage,
)
from pipeline.model import checks, grounding
from pipeline.model.backend import Backend, Profile, batch_factor, cost_usd, reading_profile, select_backend
from pipeline.model.biblio import bibliography, find_code_url
from pipeline.model.llm import CONTEXT_MARGIN, LLM
from pipeline.model.prompts import Prompt, file_sha256
from pipeline.model.summary import (
    ChineseBullet,
    ChinesePass,
    PaperSummary,
    RestatedBullet,
    SummaryRecord,
    grounding_score,
)
from pipeline.sources import Source, fetch_metadata, fetch_pdf, parse_source
from pipeline.storage.cache import Cache
from pipeline.text.budget import Reading, estimate_tokens
from pipeline.text.extract import extract_document
from pipeline.text.sentences import method_names, number_sentences
from pipeline.workspace import passes, store, translation
from pipeline.workspace.papers import list_context as list_context  # moved; callers import it here
from pipeline.workspace.progress import Progress, ProgressHook, silent

log = logging.getLogger(__name__)

CACHE_NAMESPACE = "llm"
TRANSLATE_PROMPTS = translation.TRANSLATE_PROMPTS
EXPECTED_OUTPUT_TOKENS = 900  # order of magnitude of a bilingual summary that cites sentences by id

MIN_BUDGET_TOKENS = 300  # less paper text than this cannot make a summary
FIT_ROUNDS = 3  # text selections tried against a context window before giving up

@dataclass
class SummarizeResult:
    """What ``summarize`` did, for the CLI to print and for batch runs to account."""

    key: str
    path: Path
    outcome: str
    message: str
    record: SummaryRecord
    backend: str
    usage: Usage
    requests_sent: int
    cached: bool
    preview: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class Estimate:
    """Expected cost of summarizing one paper, for dry runs and budgets."""

    key: str
    prompt_tokens: int
    output_tokens: int
    cost_usd: float
    cached: bool
    batch_cost_usd: float = 0.0  # the same requests in a provider batch job


@dataclass
class _Paper:
    source: Source
    metadata: PaperMetadata
    doc: ExtractedDocument
    warnings: list[str]


@dataclass
class Answer:
    """What the model's replies came to for one paper: what the LLM cache keeps and a draft records."""

    summary: PaperSummary
    prompts: dict[str, str]
    repairs: int
    notes: list[str]
    usage: Usage
    mode: str | None

    @classmethod
    def of(cls, drafted: passes.Drafted, usage: Usage, mode: str | None) -> Answer:
        """The answer of a finished run of the passes."""
        return cls(drafted.summary, drafted.prompts, drafted.repairs, drafted.notes, usage, mode)

    @classmethod
    def from_cache(cls, cached: dict[str, Any]) -> Answer:
        """The answer an LLM cache entry holds."""
        return cls(PaperSummary.model_validate(cached["summary"]), dict(cached["prompts"]), int(cached["repairs"]),
                   [str(n) for n in cached.get("notes", [])], Usage.model_validate(cached["usage"]), cached["mode"])

    def remember(self, cache: Cache, key: str) -> None:
        """Keep it in the LLM cache under ``key`` (`cache_key`)."""
        cache.put_json(CACHE_NAMESPACE, key, {
            "summary": self.summary.model_dump(mode="json"), "usage": self.usage.model_dump(), "repairs": self.repairs,
            "mode": self.mode, "prompts": self.prompts, "notes": self.notes})


def load_paper(source_text: str, settings: Settings, progress: ProgressHook = silent,
               status: Progress | None = None) -> _Paper:
    """Resolve a source to metadata and cleaned text (all cached), reporting each stage to ``progress``."""
    source = parse_source(source_text)
    status = status or Progress(source.key, "metadata")
    status.key, status.stage = source.key, "metadata"
    progress(status)
    warnings: list[str] = []
    metadata: PaperMetadata | None = None
    if source.kind == "arxiv":
        metadata = fetch_metadata(source, settings)
    elif source.arxiv_id and not settings.offline:
        # A PDF whose name holds an arXiv id: the record is a bonus, so one quick try, no retries.
        quick = settings.model_copy(update={"arxiv": settings.arxiv.model_copy(update={"max_attempts": 1})})
        try:
            metadata = fetch_metadata(source, quick)
        except (NetworkError, MetadataError) as exc:
            warnings.append(f"arXiv metadata unavailable ({exc}); bibliographic fields from the PDF only")
    status.stage = "pdf"
    progress(status)
    pdf_path = fetch_pdf(source, settings, metadata)
    status.stage = "text"
    progress(status)
    doc = extract_document(pdf_path, settings)
    if metadata is None:
        published = dt.date(int(doc.date[:4]), int(doc.date[5:7]), 1) if doc.date else None
        metadata = PaperMetadata(key=source.key, title=doc.title or pdf_path.stem, authors=doc.authors,
                                 published=published, arxiv_id=source.arxiv_id, version=source.version)
        unknown = [name for name, value in (("authors", doc.authors), ("date", doc.date)) if not value]
        warnings.append("no arXiv record: bibliographic fields from the PDF"
                        + (f" ({' and '.join(unknown)} unknown)" if unknown else ""))
    return _Paper(source, metadata, doc, warnings)


def make_plan(paper: _Paper, backend: Backend, settings: Settings, *,
              context: tuple[tuple[str, ...], dict[str, str]] | None = None) -> passes.Plan:
    """Number the paper's sentences and decide what each request reads; ``context`` is `list_context`
    when the caller already read it (once for a thousand papers, not once each)."""
    return _plan_with(paper, backend.profile, settings, context)


def _plan_with(paper: _Paper, profile: Profile, settings: Settings,
               context: tuple[tuple[str, ...], dict[str, str]] | None = None) -> passes.Plan:
    meta = paper.metadata
    numbered = number_sentences(paper.doc, title=meta.title, abstract=meta.abstract)
    choices, terms = context or list_context(settings)
    return passes.plan(numbered, profile, names=method_names(meta.title), settings=choices, terms=terms,
                       title=meta.title)


def readings(source: str, settings: Settings, *, budget: int | None = None) -> list[Reading]:
    """What each request of a summary of ``source`` reads, as the model is shown it, without asking a
    model: the configured backend's profile (the embedded model's when none is configured), with
    ``budget`` tokens of paper text instead of the profile's when given."""
    profile = reading_profile(settings)
    if budget is not None:
        profile = dataclasses.replace(profile, budget_tokens=budget)
    return _plan_with(load_paper(source, settings), profile, settings).readings


def cache_key(settings: Settings, backend: Backend, pairs: list[tuple[Prompt, Prompt]], plan: passes.Plan) -> str:
    """The key of the LLM result for these prompts (which hold the paper text they show) to this model
    with this profile: it covers every template the passes may render (the translation prompts too),
    the schemas and the glossary, so a changed prompt, schema, model or text never reuses an old answer."""
    connection, profile = backend
    templates = {n: file_sha256(settings.prompts_dir, n) for n in TRANSLATE_PROMPTS} if profile.translate else {}
    identity = {
        "model": connection.model, "endpoint": connection.host, "templates": templates,
        "prompts": [hashlib.sha256((s.text + "\0" + u.text).encode()).hexdigest() for s, u in pairs],
        "schema": _schema_hash(plan, profile.translate), "translate": profile.translate,
        "per_bullet": profile.translate and profile.translate_per_bullet, "glossary": plan.glossary,
        "restate": profile.restate_copies, "restate_from_chinese": profile.restate_from_chinese,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _schema_hash(plan: passes.Plan, translate: bool) -> str:
    schemas: list[type[BaseModel]] = list(passes.reply_models(plan))
    if translate:
        schemas += [ChinesePass, ChineseBullet, RestatedBullet]
    return _schemas_sha(tuple(schemas))


@lru_cache(maxsize=16)
def _schemas_sha(schemas: tuple[type[BaseModel], ...]) -> str:
    blob = json.dumps([m.model_json_schema() for m in schemas], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class CacheModeMemory:
    """Structured-output modes remembered across runs in the cache."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._known: dict[str, str | None] = {}  # read the file once per endpoint, not per request

    def get(self, endpoint_id: str) -> str | None:
        if endpoint_id not in self._known:
            value = self.cache.get_json("llm-modes", endpoint_id)
            self._known[endpoint_id] = value if isinstance(value, str) else None
        return self._known[endpoint_id]

    def set(self, endpoint_id: str, mode: str) -> None:
        self._known[endpoint_id] = mode
        self.cache.put_json("llm-modes", endpoint_id, mode)


def summarize(source: str, settings: Settings, *, force: bool = False, refresh: bool = False,
              llm: LLM | None = None, progress: ProgressHook = silent) -> SummarizeResult:
    """Summarize one paper into a draft under ``settings.summaries_dir``.

    ``refresh`` asks the model again even when an identical request is cached; ``llm`` replaces the
    configured endpoint (tests, batch runs sharing one client); ``progress`` is told each stage
    (metadata, pdf, text, every request with tokens so far, write).
    """
    status = Progress(parse_source(source).key, "metadata")
    cache = Cache(settings.cache_dir)
    if llm is None:  # before any download: no backend is one clear line, at once
        connection, profile = select_backend(settings)
        llm = LLM(connection, settings.llm, profile, memory=CacheModeMemory(cache))
    paper = load_paper(source, settings, progress, status)
    backend = Backend(llm.connection, llm.profile)
    requests_before = llm.http_requests
    usage_before = llm.usage.model_copy()
    budget = llm.profile.budget_tokens
    for fit_round in range(1, FIT_ROUNDS + 1):
        sized = Backend(llm.connection, dataclasses.replace(llm.profile, budget_tokens=budget))
        plan = make_plan(paper, sized, settings)
        pairs = passes.prompts(plan, settings, llm.profile)
        key = cache_key(settings, backend, pairs, plan)
        cached = None if refresh else cache.get_json(CACHE_NAMESPACE, key)
        if cached:
            break
        try:
            drafted = passes.run(llm, settings, plan, repair=repair_prompt(settings), key=paper.source.key,
                                 progress=progress, started=status.started)
            break
        except ContextOverflow as exc:
            smaller = _smaller_budget(plan, llm.profile, exc, settings) if fit_round < FIT_ROUNDS else None
            if smaller is None:
                record_failure(settings, llm, paper, source, exc)
                raise
            log.info("%s: %s; text budget %d instead of %d tokens", paper.source.key, exc.message, smaller, budget)
            budget = smaller
        except LLMError as exc:
            record_failure(settings, llm, paper, source, exc)
            raise
    if cached:
        answer = Answer.from_cache(cached)
        log.info("LLM result for %s found in the cache", paper.source.key)
    else:
        usage = Usage(
            prompt_tokens=llm.usage.prompt_tokens - usage_before.prompt_tokens,
            completion_tokens=llm.usage.completion_tokens - usage_before.completion_tokens,
            requests=llm.usage.requests - usage_before.requests,
            cost_usd=round(llm.usage.cost_usd - usage_before.cost_usd, 6),
        )
        answer = Answer.of(drafted, usage, llm.mode)
        answer.remember(cache, key)
    status.stage, status.detail, status.step, status.steps = "write", "", 0, 0
    progress(status)
    record, write = save(settings, paper, plan, backend, answer, force=force)
    usage = answer.usage
    return SummarizeResult(
        key=record.key, path=write.path, outcome="cached" if cached and write.outcome == "unchanged"
        else write.outcome, message=write.message, record=record, backend=llm.connection.backend, usage=usage,
        requests_sent=llm.http_requests - requests_before, cached=bool(cached),
        preview=preview(record), warnings=record.warnings,
    )


def save(settings: Settings, paper: _Paper, plan: passes.Plan, backend: Backend, answer: Answer, *,
         force: bool = False) -> tuple[SummaryRecord, store.DraftWrite]:
    """The draft of ``answer`` (bibliography, provenance, warnings), written as `store.write_draft` does."""
    record = _record(paper, plan, answer.summary, backend, answer.prompts, answer.usage, answer.repairs, answer.mode,
                     answer.notes)
    return record, store.write_draft(settings.summaries_dir, record, force=force)


def _smaller_budget(plan: passes.Plan, profile: Profile, exc: ContextOverflow, settings: Settings) -> int | None:
    """A text budget whose readings fit the context ``exc`` reports with room for a reply, or None when
    the paper text would become too short to summarize."""
    ratio = max(1.0, exc.prompt_tokens / max(1, exc.estimated_tokens))  # server tokens per estimated one
    # A pass per question answers one question (about 250 tokens); one call answers all three.
    reply = profile.min_reply_tokens if passes.per_question(profile) else \
        min(settings.llm.max_output_tokens, max(2 * profile.min_reply_tokens, exc.context_tokens // 4))
    excess = int((exc.prompt_tokens + reply + CONTEXT_MARGIN - exc.context_tokens) / ratio) + 32
    reading = max(r.tokens for r in plan.readings) - excess
    share = 2 if passes.per_question(profile) else 1  # a per-question reading gets half the budget
    return reading * share if reading >= MIN_BUDGET_TOKENS else None


def record_failure(settings: Settings, llm: LLM, paper: _Paper, source: str, exc: LLMError) -> None:
    """Write the failure record (every attempt, as bounded excerpts) and name it in the error's hint."""
    attempts = exc.attempts if isinstance(exc, ModelOutputError) else []
    failure_file = store.write_failure(settings.summaries_dir, paper.source.key, {
        "key": paper.source.key, "source": source, "error": str(exc),
        "error_type": type(exc).__name__, "backend": llm.connection.backend, "model": llm.connection.model,
        "endpoint_host": llm.connection.host, "attempts": [a.as_dict() for a in attempts],
        "failed_at": _now().isoformat(),
    })
    exc.hint = f"{exc.hint + '; ' if exc.hint else ''}failure record: {failure_file}"


def repair_prompt(settings: Settings) -> Any:
    """The follow-up message of a summary pass's re-ask (`translation.task_repair`)."""
    return translation.task_repair(settings, "summary")


def copied_bullets(summary: PaperSummary) -> tuple[int, int]:
    """(copied, all) English bullets: copied ones repeat their evidence nearly word for word."""
    bullets = [b for name in FIELDS for b in getattr(summary.en, name)] if summary.en else []
    return sum(1 for b in bullets if checks.is_copied(b.text, b.quotes)), len(bullets)


def _record(paper: _Paper, plan: passes.Plan, summary: PaperSummary, backend: Backend, hashes: dict[str, str],
            usage: Usage, repairs: int, mode: str | None, notes: list[str]) -> SummaryRecord:
    meta = paper.metadata
    code = find_code_url(meta.abstract, meta.comment, paper.doc.text, paper.doc.front)
    shown = "\n".join(plan.numbered[i - 1].text for r in plan.readings for i in r.ids)
    score = grounding_score(summary.en, shown) if summary.en else None
    warnings = list(paper.warnings)
    left_out = sorted({name for r in plan.readings for name in r.left_out})
    if left_out:
        warnings.append(f"no pass read {', '.join(left_out)} (token budget)")
    warnings.extend(notes)
    if addressed := sorted({i for r in plan.readings for i in r.ids
                            if grounding.addresses_model(plan.numbered[i - 1].text)}):
        shown = "; ".join(f"S{i} {plan.numbered[i - 1].text[:80]!r}" for i in addressed[:3])
        warnings.append(f"the paper text has {len(addressed)} sentence(s) addressing the model (possible prompt "
                        f"injection), never accepted as evidence: {shown}")
    copied, total = copied_bullets(summary)
    if copied:
        warnings.append(f"{copied} of {total} English bullets repeat their evidence nearly word for word "
                        "(an extractive summary: check they answer the question)")
    connection, profile = backend
    used = sorted({plan.numbered[i - 1].section for r in plan.readings for i in r.ids} - {""})
    all_sections = [s.title for s in paper.doc.sections]
    provenance = Provenance(
        backend=connection.backend, model=connection.model, endpoint_host=connection.host, output_mode=mode,
        passes="translate" if profile.translate else "single", readings=[r.line() for r in plan.readings],
        prompts=hashes, schema_sha256=_schema_hash(plan, profile.translate), pipeline_version=__version__,
        source_sha256=paper.doc.sha256, sections_used=[t for t in all_sections if t in used],
        sections_cut=[t for t in all_sections if t not in used],
        usage=usage, attempts=repairs + len(plan.readings) + (1 if profile.translate else 0), repairs=repairs,
        grounding_score=score, created_at=_now(),
    )
    return SummaryRecord(key=paper.source.key, status="draft", paper=bibliography(meta, code),
                         summary=summary, warnings=warnings, provenance=provenance)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def preview(record: SummaryRecord, width: int = 100) -> str:
    """A one-screen text preview of a summary record."""
    p = record.paper
    authors = f"{p.first_author} … {p.last_author}" if p.first_author and p.last_author != p.first_author \
        else (p.first_author or "unknown authors")
    lines = [f"{p.title}", f"  {authors} · {p.date or 'date unknown'} · {p.venue} · "
             f"code: {p.code_url or 'none found'}"]
    s = record.summary
    lines.append(f"  dim {s.dim} · {s.setting} · tags: {', '.join(s.tags) or '-'} · grounding "
                 f"{record.provenance.grounding_score if record.provenance.grounding_score is not None else '-'}"
                 f" · {record.provenance.backend} {record.provenance.model}")
    for name in FIELDS:
        zh = getattr(s.zh, name) if s.zh else []
        en = getattr(s.en, name) if s.en else []
        lines.append(f"{FIELD_TITLES_ZH[name]} / {FIELD_TITLES_EN[name]}")
        for i in range(max(len(zh), len(en))):
            if i < len(zh):
                lines.append(_clip(f"  - {zh[i]}", width))
            if i < len(en):
                lines.append(_clip(f"    {en[i].text}", width))
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def estimate(source: str, settings: Settings, *, backend: Backend | None = None) -> Estimate:
    """Expected tokens and cost of summarizing ``source`` (metadata and text are fetched and cached)."""
    paper = load_paper(source, settings)
    backend = backend or select_backend(settings)
    plan = make_plan(paper, backend, settings)
    pairs = passes.prompts(plan, settings, backend.profile)
    cached = Cache(settings.cache_dir).get_json(CACHE_NAMESPACE, cache_key(settings, backend, pairs, plan))
    return estimate_of(paper.source.key, pairs, backend, settings, cached=bool(cached))


def estimate_of(key: str, pairs: list[tuple[Prompt, Prompt]], backend: Backend, settings: Settings, *,
                cached: bool) -> Estimate:
    """Expected tokens and cost of the passes whose first prompts are ``pairs``."""
    connection, profile = backend
    prompt_tokens = sum(estimate_tokens(s.text) + estimate_tokens(u.text) for s, u in pairs)
    output = EXPECTED_OUTPUT_TOKENS
    if profile.translate:
        prompt_tokens += 600 + output // 2
    cost = cost_usd(connection, settings.llm.prices, prompt_tokens, output)
    in_batch = cost * batch_factor(connection, settings.llm.prices)
    return Estimate(key=key, prompt_tokens=prompt_tokens, output_tokens=output, cost_usd=round(cost, 6),
                    cached=cached, batch_cost_usd=round(in_batch, 6))


__all__ = ["Answer", "CacheModeMemory", "Estimate", "PipelineError", "SummarizeResult", "cache_key", "estimate",
           "estimate_of", "load_paper", "preview", "readings", "record_failure", "save", "summarize"]
