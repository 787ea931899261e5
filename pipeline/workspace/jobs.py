"""Provider batch jobs over ``papers.yaml``: ``batch submit``, ``batch status``, ``batch collect``.

The same papers as `pipeline.workspace.batch` (same plan and filters) at batch prices. A paper is
prepared exactly as a live run prepares it (`summarize.load_paper`, `make_plan`, the LLM cache: a
cached answer is written at once and sends nothing), then its step machine (`passes.steps`, which
holds the repair loop of `LLM.asking`) gives its first request. Live runs drive that machine request
by request; here every waiting paper's next request goes into one job, a round at a time: `collect`
feeds each reply to the paper's machine, which validates and repairs exactly as live, and the requests
it asks next (repairs, soft re-asks, the Chinese pass of translate mode) make the follow-up job.

Nothing prints; commands return a `JobsReport` in which every paper selected or still in a job has
one outcome. Expired, cancelled and failed requests put their papers back to ``backlog`` with the
cause. The state between commands is `pipeline.workspace.jobstate`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from pipeline.core.config import OutputMode, Settings
from pipeline.core.errors import ConfigError, PipelineError
from pipeline.core.models import PaperEntry
from pipeline.core.redact import scrub
from pipeline.model.batchapi import TERMINAL, BatchAPI, request_line, result_lines
from pipeline.model.llm import LLM
from pipeline.storage import files
from pipeline.storage.cache import Cache
from pipeline.workspace import jobstate
from pipeline.workspace.batch import BatchOptions, StatusWriter, existing_status, plan, resolve_source
from pipeline.workspace.jobpaper import JobOutcome, Outcome, PaperSteps, batch_llm, body_sha256, custom_id
from pipeline.workspace.jobstate import Job, PaperState, State
from pipeline.workspace.papers import entry_key, list_context
from pipeline.workspace.summarize import CACHE_NAMESPACE, Answer, estimate_of, save

log = logging.getLogger(__name__)


@dataclass
class JobsReport:
    """Every paper this command touched or that still waits, every job, and the requests sent."""

    outcomes: list[JobOutcome] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    requests: int = 0  # requests put into jobs by this command
    cost_usd: float = 0.0  # of the replies collected, at batch prices
    warnings: list[str] = field(default_factory=list)

    def count(self, state: Outcome) -> int:
        """How many papers ended in ``state``."""
        return sum(1 for o in self.outcomes if o.state == state)

    @property
    def exit_code(self) -> int:
        """1 when a paper failed or went back to the backlog, else 0."""
        return 1 if self.count("failed") or self.count("backlog") else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        states: tuple[Outcome, ...] = ("submitted", "waiting", "drafted", "failed", "backlog", "skipped")
        return {"totals": {s: self.count(s) for s in states} | {"requests": self.requests, "cost_usd": self.cost_usd},
                "jobs": [asdict(j) for j in self.jobs], "warnings": self.warnings,
                "outcomes": [asdict(o) for o in self.outcomes]}


# --------------------------------------------------------------------------- submit


def submit(settings: Settings, options: BatchOptions, *, export: Path | None = None,
           api: BatchAPI | None = None) -> JobsReport:
    """Prepare the selected entries and put each one's first request into one job (or ``export`` file)."""
    selected = plan(settings, options)
    llm = batch_llm(settings, export=export is not None)
    context = list_context(settings)  # the list's settings and glossary, read once for every paper
    cache = Cache(settings.cache_dir)
    report = JobsReport()
    writer = StatusWriter(settings.papers_file, interval=float("inf"))
    spent = 0.0
    with jobstate.locked(settings) as state:
        queued: list[tuple[str, PaperSteps, dict[str, Any]]] = []  # (papers.yaml source, paper, request body)
        for item in selected.items:
            source = resolve_source(item.source, settings.papers_file)
            key = item.key or _key(source)
            waiting = state.papers.get(key or "")
            if item.skip is not None and not (item.status == "submitted" and waiting is None and key):
                report.outcomes.append(JobOutcome(item.source, "skipped", item.skip, key))
                continue
            if waiting is not None:
                job = state.job(waiting.job)
                report.outcomes.append(JobOutcome(item.source, "skipped", f"already in batch job {job.name}", key,
                                                  job.name))
                continue
            status = None if options.force or key is None else existing_status(settings, key)
            if status is not None:
                writer.put(item.source, status=status, last_error=None)
                report.outcomes.append(JobOutcome(item.source, "skipped", f"summary already on disk ({status})", key))
                continue
            try:
                paper = PaperSteps(source, settings, llm, context)
            except PipelineError as exc:
                writer.put(item.source, status="failed", last_error=str(exc))
                report.outcomes.append(JobOutcome(item.source, "failed", str(exc), key))
                continue
            cached = cache.get_json(CACHE_NAMESPACE, paper.cache_key)
            if cached:  # as a live run: the answer to the same prompts is reused, nothing is sent
                _, write = save(settings, paper.paper, paper.plan, paper.backend, Answer.from_cache(cached),
                                force=options.force)
                writer.put(item.source, status="drafted", last_error=None)
                report.outcomes.append(JobOutcome(item.source, "drafted", f"{write.outcome} (LLM cache)", paper.key))
                continue
            if options.budget_usd is not None:
                cost = estimate_of(paper.key, paper.pairs, paper.backend, settings, cached=False).batch_cost_usd
                if spent + cost > options.budget_usd:
                    report.outcomes.append(JobOutcome(item.source, "skipped", f"budget: its batch estimate ${cost:.4f} "
                                                      f"would pass ${options.budget_usd:.4f} (planned ${spent:.4f})",
                                                      paper.key))
                    continue
                spent += cost
            body = paper.next_body()
            if body is None:
                report.outcomes.append(paper.finish(item.source, writer))
                continue
            queued.append((item.source, paper, body))
        if queued:
            job = _send_round(state, llm, queued, round_=1, export=export, api=api)
            report.requests += job.requests
            for entry, paper, _ in queued:
                writer.put(entry, status="submitted", last_error=None)
                report.outcomes.append(JobOutcome(entry, "submitted", f"{paper.pending} in {job.name}", paper.key,
                                                  job.name))
        report.warnings = writer.close()
        report.jobs = list(state.jobs)
    return report


def _key(source: str) -> str | None:
    try:
        return entry_key(PaperEntry(source=source))
    except PipelineError:
        return None


def _send_round(state: State, llm: LLM, papers: list[tuple[str, PaperSteps, dict[str, Any]]], *, round_: int,
                export: Path | None, api: BatchAPI | None) -> Job:
    """Record, write and (unless exported) submit one job holding each paper's next request (its body)."""
    lines = []
    job = state.new_job(round_=round_, requests=len(papers), mode=llm.first_mode(), export=export)
    for entry, paper, body in papers:
        lines.append(request_line(paper.pending, body))
        state.papers[paper.key] = PaperState(
            source=entry, path=paper.source, pending=paper.pending, job=job.token, sha256=body_sha256(body),
            replies=[(cid, asdict(r)) for cid, r in paper.replies])
    files.atomic_write(Path(job.file), "\n".join(lines) + "\n")
    state.save()  # before the upload: a process killed from here on finds the job by its token
    if export is None:
        _create(state, job, api or BatchAPI(llm.connection))
    return job


def _create(state: State, job: Job, api: BatchAPI) -> None:
    data = Path(job.file).read_bytes()
    info = api.submit(data, name=Path(job.file).name, token=job.token)
    job.id, job.status = info.id, info.status
    state.save()


# --------------------------------------------------------------------------- status and collect


def status(settings: Settings, *, api: BatchAPI | None = None) -> JobsReport:
    """Every job not yet collected with its provider state and counts, and the papers waiting in it."""
    with jobstate.locked(settings) as state:
        report = JobsReport(jobs=[j for j in state.jobs if not j.collected])
        if any(j.id for j in report.jobs):
            api = api or BatchAPI(batch_llm(settings, export=False).connection)
        for job in report.jobs:
            if job.id and api is not None:
                info = api.retrieve(job.id)
                job.status, job.completed, job.failed = info.status, info.completed, info.failed
            why = f"job {job.status}" + (": `batch collect` reads it" if job.status in TERMINAL else "")
            for key in state.waiting(job.token):
                report.outcomes.append(JobOutcome(state.papers[key].source, "waiting", why, key, job.name))
    return report


def collect(settings: Settings, *, results: Path | None = None, export: Path | None = None,
            api: BatchAPI | None = None) -> JobsReport:
    """Read every finished job's results (or an exported job's ``results`` file), write the drafts, and put
    what needs another request into a follow-up job (exported to ``export`` when the jobs were exported)."""
    report = JobsReport()
    writer = StatusWriter(settings.papers_file, interval=float("inf"))
    with jobstate.locked(settings) as state:
        open_jobs = [j for j in state.jobs if not j.collected]
        llm = batch_llm(settings, export=all(j.export for j in open_jobs) or results is not None)
        lines: dict[str, dict[str, Any]] = {}
        finished: dict[str, str] = {}  # token -> why a request without a result has none
        if results is not None:
            lines = {line["custom_id"]: line for line in result_lines(_read(results), str(results))}
            for job in open_jobs:
                if job.export and any(state.papers[k].pending in lines for k in state.waiting(job.token)):
                    finished[job.token] = f"no result for it in {results}"
        else:
            remote = [j for j in open_jobs if not j.export]
            if remote:
                api = api or BatchAPI(llm.connection)
            for job in remote:
                assert api is not None
                lines.update(_fetch(state, job, api, finished))
        round_ = max((j.round for j in state.jobs), default=0) + 1
        context = list_context(settings) if finished else None
        follow: list[tuple[str, PaperSteps, dict[str, Any]]] = []
        for key in [k for k, p in state.papers.items() if p.job in finished]:
            record = state.papers.pop(key)
            mode = cast(OutputMode, state.job(record.job).mode)
            outcome, paper = _resume(record, lines.get(record.pending), finished[record.job], mode, settings, llm,
                                     writer, context)
            body = paper.next_body() if paper is not None and outcome is None else None
            if paper is not None and body is not None:
                follow.append((record.source, paper, body))
                continue
            if outcome is None and paper is not None:
                outcome = paper.finish(record.source, writer)
            if outcome is not None:
                outcome.job = state.job(record.job).name
                report.outcomes.append(outcome)
                report.cost_usd = round(report.cost_usd + (paper.usage().cost_usd if paper else 0.0), 6)
        for token in finished:
            state.job(token).collected = True
        report.warnings = writer.close()  # statuses first: a kill from here on redoes this collect's writes
        if follow:
            exported = export or (results.with_suffix(f".round{round_}.jsonl") if results is not None else None)
            job = _send_round(state, llm, follow, round_=round_, export=exported, api=api)
            report.requests += job.requests
            for entry, paper, _ in follow:
                report.outcomes.append(JobOutcome(entry, "submitted", f"{paper.pending} in {job.name}", paper.key,
                                                  job.name))
        else:
            state.save()
        settled = {o.key for o in report.outcomes}
        for key, record in state.papers.items():
            if record.job not in finished and key not in settled:
                job = state.job(record.job)
                report.outcomes.append(JobOutcome(record.source, "waiting", job.status, key, job.name))
        report.jobs = list(state.jobs)
    return report


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read batch results {path}: {exc.strerror or exc}",
                          hint="give the output file of the job run elsewhere (vLLM's run_batch -o FILE)") from exc


def _fetch(state: State, job: Job, api: BatchAPI, finished: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The result lines of ``job`` once it is finished (creating it first if a killed process did not)."""
    if job.id is None:
        found = api.find(job.token)
        if found is not None:
            job.id, job.status = found.id, found.status
            state.save()
        else:
            _create(state, job, api)
    assert job.id is not None
    info = api.retrieve(job.id)
    job.status, job.completed, job.failed = info.status, info.completed, info.failed
    if not info.finished:
        return {}
    why = {"completed": "the job completed without a result for it", "expired": "the job expired (24 h) before it ran",
           "cancelled": "the job was cancelled",
           "failed": "the job failed: " + ("; ".join(info.errors[:3]) or "no reason given")}
    finished[job.token] = why.get(info.status, f"the job ended {info.status}")
    out: dict[str, dict[str, Any]] = {}
    for file_id in (info.output_file_id, info.error_file_id):
        if file_id:
            out.update((line["custom_id"], line) for line in result_lines(api.content(file_id), file_id))
    return out


def _resume(record: PaperState, line: dict[str, Any] | None, missing: str, mode: OutputMode, settings: Settings,
            llm: LLM, writer: StatusWriter,
            context: tuple[tuple[str, ...], dict[str, str]] | None) -> tuple[JobOutcome | None, PaperSteps | None]:
    """Replay a paper's machine with its stored replies, give it this job's reply, and finish it or say what
    it asks next; a request without a valid result sends the paper back to the backlog."""
    entry = record.source

    def back(reason: str) -> tuple[JobOutcome, None]:
        writer.put(entry, status="backlog", last_error=f"batch: {reason}")
        return JobOutcome(entry, "backlog", reason, record.pending.split("|", 1)[0]), None

    reason = _failure(line, missing)
    if reason is not None:
        return back(reason)
    assert line is not None
    try:
        paper = PaperSteps(record.path, settings, llm, context)
        reply = llm.reply(line["response"]["body"], mode)
    except PipelineError as exc:
        return back(str(exc))
    changed = "its requests changed since they were sent (prompts, settings or the list); submit it again"
    for cid, earlier in record.reply_objects():
        if not paper.give(cid, earlier):
            return back(changed)
    try:
        same = paper.request is not None and paper.pending == record.pending and \
            body_sha256(llm.body(paper.request, mode)) == record.sha256
    except PipelineError:
        same = False
    if not same:
        return back(changed)
    paper.give(record.pending, reply)
    if paper.request is not None:
        return None, paper
    return paper.finish(entry, writer), paper


def _failure(line: dict[str, Any] | None, missing: str) -> str | None:
    """Why a result line holds no reply (None when it holds one)."""
    if line is None:
        return missing
    error = line.get("error")
    if isinstance(error, dict) and error:
        return scrub(f"{error.get('code') or 'error'}: {error.get('message') or ''}".strip())
    response = line.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("body"), dict):
        return "its result line has no response"
    code = response.get("status_code")
    if code != 200:
        body = response["body"]
        message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else None
        return scrub(f"HTTP {code}: {message or 'no message'}")
    return None


__all__ = ["JobOutcome", "JobsReport", "collect", "custom_id", "status", "submit"]
