"""The summarize service: source -> metadata + text -> LLM -> validated, grounded draft.

``summarize()`` is a plain function returning a :class:`SummarizeResult`; the CLI prints it.
Bibliographic fields come from metadata only. The LLM writes only the three questions in both
languages plus dim/setting/tags, validated (and grounded against the exact text it was given) by
the models in :mod:`pipeline.model.summary`. On final failure nothing is written to the draft path: a
failure record with every attempt goes to ``summaries/_failed/<key>.yaml``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline import __version__
from pipeline.core.config import Settings
from pipeline.core.errors import (
    Attempt,
    LLMError,
    MetadataError,
    ModelOutputError,
    NetworkError,
    PipelineError,
    SummaryInvalid,
)
from pipeline.core.models import (
    FIELD_TITLES_EN,
    FIELD_TITLES_ZH,
    FIELDS,
    ExtractedDocument,
    PaperMetadata,
    Provenance,
    TextSelection,
    Usage,
)
from pipeline.model import grounding
from pipeline.model.backend import Backend, Profile, cost_usd, select_backend
from pipeline.model.biblio import bibliography, find_code_url
from pipeline.model.llm import LLM
from pipeline.model.prompts import Prompt, file_sha256, render
from pipeline.model.summary import (
    ChineseBullet,
    ChinesePass,
    EnglishPass,
    LLMSummary,
    PaperSummary,
    SummaryRecord,
    grounding_score,
)
from pipeline.sources import Source, fetch_metadata, fetch_pdf, parse_source
from pipeline.storage.cache import Cache
from pipeline.text.budget import estimate_tokens, select_text
from pipeline.text.extract import extract_document
from pipeline.workspace import store

log = logging.getLogger(__name__)

CACHE_NAMESPACE = "llm"
TRANSLATE_PROMPTS = ("translate_system.j2", "translate_user.j2", "translate_bullet.j2")
EXPECTED_OUTPUT_TOKENS = 1400  # measured order of magnitude of a bilingual summary reply


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


@dataclass
class _Paper:
    source: Source
    metadata: PaperMetadata
    doc: ExtractedDocument
    warnings: list[str]


def load_paper(source_text: str, settings: Settings) -> _Paper:
    """Resolve a source to metadata and cleaned text (all cached)."""
    source = parse_source(source_text)
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
    pdf_path = fetch_pdf(source, settings, metadata)
    doc = extract_document(pdf_path, settings)
    if metadata is None:
        published = dt.date(int(doc.date[:4]), int(doc.date[5:7]), 1) if doc.date else None
        metadata = PaperMetadata(key=source.key, title=doc.title or pdf_path.stem, authors=doc.authors,
                                 published=published, arxiv_id=source.arxiv_id, version=source.version)
        unknown = [name for name, value in (("authors", doc.authors), ("date", doc.date)) if not value]
        warnings.append("no arXiv record: bibliographic fields from the PDF"
                        + (f" ({' and '.join(unknown)} unknown)" if unknown else ""))
    return _Paper(source, metadata, doc, warnings)


@dataclass
class _Drafted:
    """What the model wrote for one paper, and what it took."""

    summary: PaperSummary
    prompts: dict[str, str]  # name -> sha256 of every prompt sent
    repairs: int
    snapped: int  # evidence quotes of the accepted reply replaced by the paper's exact wording


def _prompts(settings: Settings, profile: Profile, selection: TextSelection) -> tuple[Prompt, Prompt]:
    bilingual = not profile.translate
    system = render(settings.prompts_dir, "system.j2", bilingual=bilingual, example=profile.prompt_example)
    user = render(settings.prompts_dir, "user.j2", bilingual=bilingual, text=selection.text)
    return system, user


def cache_key(settings: Settings, backend: Backend, system: Prompt, user: Prompt, given: str) -> str:
    """The key of the LLM result for the paper text ``given`` in these prompts, to this model with this
    profile: it covers every template the passes may render (the translation prompts too), so a changed
    prompt, schema, model or text never reuses an old answer."""
    connection, profile = backend
    templates = {system.name: system.sha256, user.name: user.sha256}
    if profile.translate:
        templates.update({n: file_sha256(settings.prompts_dir, n) for n in TRANSLATE_PROMPTS})
    identity = {
        "model": connection.model, "endpoint": connection.host, "prompts": templates,
        "schema": _schema_hash(profile.translate), "translate": profile.translate,
        "per_bullet": profile.translate and profile.translate_per_bullet,
        "text": hashlib.sha256(given.encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


@lru_cache(maxsize=2)
def _schema_hash(translate: bool) -> str:
    schemas: list[type[BaseModel]] = [EnglishPass, ChinesePass, ChineseBullet] if translate else [LLMSummary]
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


def _repair(settings: Settings) -> Any:
    def message(errors: list[str], truncated: bool) -> str:
        return render(settings.prompts_dir, "repair.j2", errors=errors, truncated=truncated).text
    return message


def _run_llm(llm: LLM, settings: Settings, paper: _Paper, system: Prompt, user: Prompt,
             given: str) -> _Drafted:
    """Ask the model (one or two passes), grounding the English in ``given``, the paper text sent."""
    messages = [{"role": "system", "content": system.text}, {"role": "user", "content": user.text}]
    repair = _repair(settings)
    context = {"source_text": given}
    hashes = {system.name: system.sha256, user.name: user.sha256}
    if not llm.profile.translate:
        single, failed = llm.ask(messages, LLMSummary, context=context, repair=repair)
        summary = PaperSummary(en=single.en, zh=single.zh, dim=single.dim, setting=single.setting,
                               tags=single.tags)
        return _Drafted(summary, hashes, len(failed), len(single.snapped))
    english, failed = llm.ask(messages, EnglishPass, context=context, repair=repair)
    plain = {f: [b.text for b in getattr(english.en, f)] for f in FIELDS}
    per_bullet = llm.profile.translate_per_bullet
    t_system = render(settings.prompts_dir, TRANSLATE_PROMPTS[0], per_bullet=per_bullet)
    hashes[t_system.name] = t_system.sha256
    expected = {f: len(plain[f]) for f in FIELDS}
    if per_bullet:
        # One request per bullet: a small model translating a whole list repeats or drops bullets.
        zh: dict[str, list[str]] = {f: [] for f in FIELDS}
        for name in FIELDS:
            for text in plain[name]:
                t_user = render(settings.prompts_dir, TRANSLATE_PROMPTS[2], title=paper.metadata.title, text=text)
                hashes[t_user.name] = t_user.sha256
                t_messages = [{"role": "system", "content": t_system.text},
                              {"role": "user", "content": t_user.text}]
                one, t_failed = llm.ask(t_messages, ChineseBullet, context={"english": text}, repair=repair)
                failed += t_failed
                zh[name].append(one.zh)
        try:
            chinese = ChinesePass.model_validate({"zh": zh}, context={"expected_counts": expected, "english": plain})
        except ValidationError as exc:
            attempt = Attempt("invalid", json.dumps(zh, ensure_ascii=False), [str(e["msg"]) for e in exc.errors()])
            raise SummaryInvalid(f"the Chinese translation by {llm.connection.host} is not acceptable: "
                                 f"{exc.errors()[0]['msg'].removeprefix('Value error, ')}",
                                 attempts=[attempt]) from exc
    else:
        counts = ", ".join(f"{len(plain[f])} {f}" for f in FIELDS)
        t_user = render(settings.prompts_dir, TRANSLATE_PROMPTS[1], title=paper.metadata.title,
                        english_json=json.dumps(plain, ensure_ascii=False, indent=1), counts=counts)
        hashes[t_user.name] = t_user.sha256
        t_messages = [{"role": "system", "content": t_system.text}, {"role": "user", "content": t_user.text}]
        chinese, t_failed = llm.ask(t_messages, ChinesePass, context={"expected_counts": expected, "english": plain},
                                    repair=repair, counts={f: (n, n) for f, n in expected.items()})
        failed += t_failed
    summary = PaperSummary(en=english.en, zh=chinese.zh, dim=english.dim, setting=english.setting,
                           tags=english.tags)
    return _Drafted(summary, hashes, len(failed), len(english.snapped))


def summarize(source: str, settings: Settings, *, force: bool = False, refresh: bool = False,
              llm: LLM | None = None) -> SummarizeResult:
    """Summarize one paper into a draft under ``settings.summaries_dir``.

    ``refresh`` asks the model again even when an identical request is cached; ``llm`` replaces the
    configured endpoint (tests, batch runs sharing one client).
    """
    paper = load_paper(source, settings)
    cache = Cache(settings.cache_dir)
    if llm is None:
        connection, profile = select_backend(settings)
        llm = LLM(connection, settings.llm, profile, memory=CacheModeMemory(cache))
    backend = Backend(llm.connection, llm.profile)
    selection = select_text(paper.doc, llm.profile.budget_tokens, title=paper.metadata.title,
                            abstract=paper.metadata.abstract)
    given = selection.text
    system, user = _prompts(settings, llm.profile, selection)
    key = cache_key(settings, backend, system, user, given)
    requests_before = llm.http_requests
    cached = None if refresh else cache.get_json(CACHE_NAMESPACE, key)
    if cached:
        summary = PaperSummary.model_validate(cached["summary"])
        usage, repairs, mode = Usage.model_validate(cached["usage"]), int(cached["repairs"]), cached["mode"]
        hashes = dict(cached["prompts"])
        snapped = int(cached.get("snapped", 0))
        log.info("LLM result for %s found in the cache", paper.source.key)
    else:
        usage_before = llm.usage.model_copy()
        try:
            drafted = _run_llm(llm, settings, paper, system, user, given)
        except LLMError as exc:
            attempts = exc.attempts if isinstance(exc, ModelOutputError) else []
            failure_file = store.write_failure(settings.summaries_dir, paper.source.key, {
                "key": paper.source.key, "source": source, "error": str(exc),
                "error_type": type(exc).__name__, "backend": llm.connection.backend, "model": llm.connection.model,
                "endpoint_host": llm.connection.host, "attempts": [a.as_dict() for a in attempts],
                "failed_at": _now().isoformat(),
            })
            exc.hint = f"{exc.hint + '; ' if exc.hint else ''}failure record: {failure_file}"
            raise
        usage = Usage(
            prompt_tokens=llm.usage.prompt_tokens - usage_before.prompt_tokens,
            completion_tokens=llm.usage.completion_tokens - usage_before.completion_tokens,
            requests=llm.usage.requests - usage_before.requests,
            cost_usd=round(llm.usage.cost_usd - usage_before.cost_usd, 6),
        )
        mode = llm.mode
        summary, hashes, repairs, snapped = drafted.summary, drafted.prompts, drafted.repairs, drafted.snapped
        cache.put_json(CACHE_NAMESPACE, key, {
            "summary": summary.model_dump(mode="json"), "usage": usage.model_dump(), "repairs": repairs,
            "mode": mode, "prompts": hashes, "snapped": snapped})

    record = _record(paper, selection, summary, backend, hashes, usage, repairs, mode, given)
    if snapped:
        record.warnings.append(f"{snapped} evidence quote(s) were near-verbatim and were replaced by the "
                               "paper's exact wording")
    write = store.write_draft(settings.summaries_dir, record, force=force)
    return SummarizeResult(
        key=record.key, path=write.path, outcome="cached" if cached and write.outcome == "unchanged"
        else write.outcome, message=write.message, record=record, backend=llm.connection.backend, usage=usage,
        requests_sent=llm.http_requests - requests_before, cached=bool(cached),
        preview=preview(record), warnings=record.warnings,
    )


def _record(paper: _Paper, selection: TextSelection, summary: PaperSummary, backend: Backend,
            hashes: dict[str, str], usage: Usage, repairs: int, mode: str | None, given: str) -> SummaryRecord:
    meta = paper.metadata
    code = find_code_url(meta.abstract, meta.comment, paper.doc.text)
    score = grounding_score(summary.en, given) if summary.en else None
    warnings = list(paper.warnings)
    if selection.cut:
        parts = [f"{what} {', '.join(titles)}" for what, titles in
                 (("trimmed", selection.trimmed), ("left out", selection.left_out)) if titles]
        warnings.append(f"to fit {selection.budget} tokens the paper text was cut: {'; '.join(parts)}")
    if summary.en:
        bullets = [b for name in FIELDS for b in getattr(summary.en, name)]
        copied = sum(1 for b in bullets if grounding.normalize(b.evidence).strip(" .") in grounding.normalize(b.text))
        if copied:
            warnings.append(f"{copied} of {len(bullets)} English bullets repeat their evidence word for word "
                            "(an extractive summary: check they answer the question)")
    connection, profile = backend
    provenance = Provenance(
        backend=connection.backend, model=connection.model, endpoint_host=connection.host, output_mode=mode,
        passes="translate" if profile.translate else "single", prompts=hashes,
        schema_sha256=_schema_hash(profile.translate), pipeline_version=__version__,
        source_sha256=paper.doc.sha256, sections_used=selection.used, sections_cut=selection.cut,
        usage=usage, attempts=repairs + (2 if profile.translate else 1), repairs=repairs,
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
    connection, profile = backend
    selection = select_text(paper.doc, profile.budget_tokens, title=paper.metadata.title,
                            abstract=paper.metadata.abstract)
    system, user = _prompts(settings, profile, selection)
    prompt_tokens = estimate_tokens(system.text) + estimate_tokens(user.text)
    output = EXPECTED_OUTPUT_TOKENS
    if profile.translate:
        prompt_tokens += 600 + output // 2
    cost = cost_usd(connection, settings.llm.prices, prompt_tokens, output)
    cached = Cache(settings.cache_dir).get_json(CACHE_NAMESPACE, cache_key(settings, backend, system, user,
                                                                            selection.text))
    return Estimate(key=paper.source.key, prompt_tokens=prompt_tokens, output_tokens=output,
                    cost_usd=round(cost, 6), cached=bool(cached))


__all__ = ["CacheModeMemory", "Estimate", "PipelineError", "SummarizeResult", "cache_key", "estimate", "load_paper",
           "preview", "summarize"]
