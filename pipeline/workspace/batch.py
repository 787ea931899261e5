"""Batch runs over ``papers.yaml``: plan, run concurrently, report every selected entry.

`plan` selects entries (setting, status, ids, limit; highest priority first) and says why each one
will or will not run. `run` summarizes the runnable ones on a bounded thread pool; `dry_run` estimates
tokens and cost instead. Nothing here prints: progress goes to an ``on_event`` callback and the
result is a `BatchReport`.

Papers run on daemon threads: a run interrupted twice abandons the papers still running, and their
threads (a request that may take minutes) must not keep the process alive once the report is printed;
every file they might still write is written atomically.

Resumability rests on the drafts, not on ``papers.yaml``: a draft is written atomically by the store
before its entry's status changes, and an entry still marked ``backlog`` whose draft exists is synced
from the draft without asking the LLM. That is why status changes can be written in coalesced batches
(`StatusWriter`) instead of rewriting ``papers.yaml`` once per paper.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import httpx2

from pipeline.core.config import Settings
from pipeline.core.errors import ConfigError, PipelineError, RateLimitCancelled
from pipeline.core.models import EntryStatus, PaperEntry
from pipeline.core.redact import scrub
from pipeline.model.backend import Backend, select_backend
from pipeline.model.limits import deadline_for, guarded_client
from pipeline.model.ratelimit import RequestGate, limiter_for
from pipeline.workspace import store
from pipeline.workspace.papers import TITLE_PREFIX, PapersDoc, edit_papers, entry_key, find_entry, load_papers

if TYPE_CHECKING:  # imported where used: loading openai costs a second, and a plan needs no LLM
    from pipeline.model.llm import LLM

log = logging.getLogger(__name__)

RUNNABLE = frozenset({"backlog", "listed", "failed"})  # listed: in the list, not yet summarized
# submitted: waiting in a provider batch job (`pipeline.workspace.jobs`); `batch collect` settles it.
RECORD_TO_ENTRY = {"draft": "drafted", "needs-changes": "drafted", "approved": "approved",
                   "rejected": "rejected"}
State = Literal["done", "failed", "skipped"]


@dataclass
class BatchOptions:
    """What to run and how; mirrors the ``batch`` command's flags."""

    setting: str | None = None
    statuses: list[str] | None = None
    ids: list[str] | None = None
    limit: int | None = None
    concurrency: int = 4
    rpm: float | None = None
    tpm: float | None = None
    budget_usd: float | None = None
    force: bool = False


@dataclass
class PlannedPaper:
    """One selected entry and, when it will not run, why."""

    source: str
    title: str | None
    status: str
    priority: int
    skip: str | None = None
    key: str | None = None
    estimate_tokens: int | None = None
    estimate_cost_usd: float | None = None
    estimate_batch_cost_usd: float | None = None  # the same requests in a provider batch job
    estimate_cached: bool = False
    error: str | None = None


@dataclass
class BatchPlan:
    """The selected entries, in the order they run."""

    papers_file: Path
    items: list[PlannedPaper]

    @property
    def runnable(self) -> list[PlannedPaper]:
        """The entries that will be summarized."""
        return [i for i in self.items if i.skip is None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (dry runs)."""
        runnable = self.runnable
        return {"papers_file": str(self.papers_file), "items": [asdict(i) for i in self.items],
                "total": {"runnable": len(runnable),
                          "tokens": sum(i.estimate_tokens or 0 for i in runnable),
                          "cost_usd": round(sum(i.estimate_cost_usd or 0.0 for i in runnable), 6),
                          "batch_cost_usd": round(sum(i.estimate_batch_cost_usd or 0.0 for i in runnable), 6)}}


@dataclass
class PaperOutcome:
    """What happened to one selected entry."""

    source: str
    state: State
    reason: str
    key: str | None = None
    title: str | None = None
    path: str | None = None
    tokens: int = 0
    requests: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0


@dataclass
class Totals:
    """Running counts for progress displays."""

    planned: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    tokens: int = 0
    requests: int = 0
    cost_usd: float = 0.0

    def add(self, outcome: PaperOutcome) -> None:
        setattr(self, outcome.state, getattr(self, outcome.state) + 1)
        self.tokens += outcome.tokens
        self.requests += outcome.requests
        self.cost_usd = round(self.cost_usd + outcome.cost_usd, 6)


@dataclass
class BatchEvent:
    """A progress event: ``start`` (totals.planned known), ``begin`` a paper, ``finish`` a paper."""

    kind: Literal["start", "begin", "finish"]
    totals: Totals
    outcome: PaperOutcome | None = None
    source: str | None = None


@dataclass
class BatchReport:
    """The result of a run: every selected entry is in ``outcomes``."""

    outcomes: list[PaperOutcome]
    totals: Totals
    seconds: float
    interrupted: bool = False
    abandoned: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when any paper failed, 130 when interrupted, else 0."""
        if self.totals.failed:
            return 1
        return 130 if self.interrupted else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"totals": asdict(self.totals), "seconds": round(self.seconds, 3),
                "interrupted": self.interrupted, "abandoned": self.abandoned, "warnings": self.warnings,
                "outcomes": [asdict(o) for o in self.outcomes]}


EventCallback = Callable[[BatchEvent], None]


# --------------------------------------------------------------------------- plan


def plan(settings: Settings, options: BatchOptions) -> BatchPlan:
    """Select and order the entries of ``settings.papers_file``; mark the ones that will not run."""
    doc = load_papers(settings.papers_file)
    entries = list(doc.data.papers)
    if options.ids:
        indexes = []
        for wanted in options.ids:
            index = find_entry(doc, wanted)  # ConfigError naming an unknown id
            if index not in indexes:
                indexes.append(index)
        entries = [doc.data.papers[i] for i in sorted(indexes)]
    if options.setting:
        known = {s.id for s in doc.data.list.sections}
        if options.setting not in known:
            raise ConfigError(f"unknown setting {options.setting!r}",
                              hint=f"use one of: {', '.join(sorted(known)) or 'none declared'}")
        entries = [e for e in entries if e.setting == options.setting]
    if options.statuses:
        known_statuses = get_args(EntryStatus)
        if unknown := [s for s in options.statuses if s not in known_statuses]:
            raise ConfigError(f"unknown status {', '.join(map(repr, unknown))}",
                              hint=f"use one of: {', '.join(known_statuses)}")
        entries = [e for e in entries if e.status in options.statuses]
    # sorted() is stable: equal priorities keep the file's order.
    entries = sorted(entries, key=lambda e: -e.priority)
    items: list[PlannedPaper] = []
    taken = 0
    for entry in entries:
        item = PlannedPaper(source=entry.source, title=entry.title, status=entry.status,
                            priority=entry.priority, key=entry.key)
        if entry.source.startswith(TITLE_PREFIX):
            item.skip = "known by title only: give it an arXiv id or a PDF (see `add --title`)"
        elif entry.status not in RUNNABLE and not options.force:
            item.skip = f"already {entry.status}"
        elif options.limit is not None and taken >= options.limit:
            item.skip = f"over --limit {options.limit}"
        else:
            taken += 1
        items.append(item)
    return BatchPlan(papers_file=settings.papers_file, items=items)


def resolve_source(source: str, papers_file: Path) -> str:
    """A relative PDF path in papers.yaml means relative to that file's folder when not found here."""
    path = Path(source)
    if source.lower().endswith(".pdf") and "://" not in source and not path.is_absolute() \
            and not path.exists() and (papers_file.parent / path).exists():
        return str(papers_file.parent / path)
    return source


def dry_run(settings: Settings, options: BatchOptions,
            on_event: EventCallback | None = None, *, batch_prices: bool = False) -> BatchPlan:
    """The plan with estimated tokens and cost per runnable paper, live and in a provider batch job (fetches
    and extracts, no LLM); ``batch_prices``: the budget caps the batch cost (``batch submit``)."""
    from pipeline.workspace.summarize import estimate  # lazy: loading openai costs a second

    selected = plan(settings, options)
    runnable = selected.runnable
    backend = select_backend(settings) if runnable else None
    totals = Totals(planned=len(runnable))
    planned_cost = 0.0
    for item in runnable:
        try:
            found = estimate(resolve_source(item.source, settings.papers_file), settings, backend=backend)
        except PipelineError as exc:
            item.error = str(exc)
            continue
        finally:
            totals.done += 1
            if on_event:
                on_event(BatchEvent("finish", totals, source=item.source))
        item.key = found.key
        item.estimate_tokens = found.prompt_tokens + found.output_tokens
        item.estimate_cost_usd = 0.0 if found.cached else found.cost_usd
        item.estimate_batch_cost_usd = 0.0 if found.cached else found.batch_cost_usd
        item.estimate_cached = found.cached
        cost = item.estimate_batch_cost_usd if batch_prices else item.estimate_cost_usd
        if options.budget_usd is not None and planned_cost + cost > options.budget_usd:
            # Skip this one, not the rest: a cheaper (or cached, free) paper further down may still fit.
            item.skip = (f"budget: its {'batch ' if batch_prices else ''}estimate ${cost:.4f} would pass "
                         f"${options.budget_usd:.4f} (planned so far ${planned_cost:.4f})")
        else:
            planned_cost += cost
    return selected


# --------------------------------------------------------------------------- run


class StatusWriter:
    """Coalesces status changes to papers.yaml: one reload, merge and atomic save per flush.

    Rewriting a large round-tripped papers.yaml once per paper would cost more CPU than the papers'
    own processing; the drafts on disk make delaying these writes safe (see the module docstring).
    """

    def __init__(self, path: Path, interval: float = 5.0) -> None:
        self.path = path
        self.interval = interval
        self.warnings: list[str] = []
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def put(self, source: str, **changes: Any) -> None:
        """Queue ``changes`` to the entry whose source is ``source`` (thread-safe)."""
        with self._lock:
            self._pending.setdefault(source, {}).update(changes)

    def flush_if_due(self) -> None:
        """Flush when ``interval`` seconds passed since the last flush."""
        if time.monotonic() - self._last >= self.interval:
            started = time.monotonic()
            self.flush()
            # A papers.yaml of thousands of entries takes a second to rewrite: keep that under ~5%
            # of the run's time.
            self.interval = max(self.interval, 20 * (time.monotonic() - started))

    def flush(self) -> None:
        """Write every queued change now; a failure is kept in ``warnings`` and retried later."""
        with self._lock:
            pending, self._pending = self._pending, {}
        self._last = time.monotonic()
        if not pending:
            return
        def apply(doc: PapersDoc) -> None:
            for source, changes in pending.items():
                try:
                    index = find_entry(doc, source)
                except ConfigError:
                    log.warning("entry %s left %s during the run; its status is not recorded", source, self.path)
                    continue
                merged = doc.data.papers[index].model_dump(exclude_unset=True) | changes
                doc.data.papers[index] = PaperEntry.model_validate(merged)

        try:
            edit_papers(self.path, apply)
        except PipelineError as exc:
            with self._lock:
                self._pending = pending | self._pending
            self.warnings.append(f"statuses not yet written to {self.path}: {exc}")
            log.warning("could not write statuses to %s (will retry): %s", self.path, exc)

    def close(self) -> list[str]:
        """Final flush; returns the warnings if statuses could not be written."""
        self.warnings.clear()
        self.flush()
        if self.warnings:
            return [*self.warnings, "drafts are on disk: the next `batch` syncs these statuses from them"]
        return []


def run(settings: Settings, options: BatchOptions, *, on_event: EventCallback | None = None,
        stop: threading.Event | None = None) -> BatchReport:
    """Summarize the runnable entries of the plan; one paper's failure never stops the others.

    Ctrl-C (KeyboardInterrupt in the calling thread) or ``stop`` stops starting new papers and waits
    for the running ones; a second Ctrl-C stops waiting (their drafts are still written atomically).
    """
    started = time.monotonic()
    selected = plan(settings, options)
    stop = stop or threading.Event()
    totals = Totals(planned=len(selected.runnable))
    emit: EventCallback = on_event or (lambda event: None)
    outcomes: dict[int, PaperOutcome] = {}
    for index, item in enumerate(selected.items):
        if item.skip is not None:
            outcomes[index] = PaperOutcome(item.source, "skipped", item.skip, key=item.key, title=item.title)
            totals.add(outcomes[index])
    emit(BatchEvent("start", totals))
    queue = [i for i, item in enumerate(selected.items) if item.skip is None]
    report = BatchReport([], totals, 0.0)
    writer = StatusWriter(settings.papers_file)
    if queue:
        worker = _Worker(settings, options, writer, stop)
        try:
            _run_papers(worker, selected, queue, outcomes, totals, emit, report)
        finally:
            report.warnings = writer.close()
            if not report.abandoned:
                worker.close()
    report.interrupted = report.interrupted or stop.is_set()
    for index in queue:
        item = selected.items[index]
        outcomes[index] = PaperOutcome(item.source, "skipped", "not started: the run was interrupted",
                                       title=item.title)
        totals.add(outcomes[index])
    report.outcomes = [outcomes[i] for i in range(len(selected.items))]
    report.seconds = time.monotonic() - started
    return report


def _run_papers(worker: _Worker, selected: BatchPlan, queue: list[int], outcomes: dict[int, PaperOutcome],
               totals: Totals, emit: EventCallback, report: BatchReport) -> None:
    # More papers in progress than requests in flight: fetching, extraction and writing of some
    # papers overlap with the LLM requests of others, so the endpoint is never left idle.
    in_progress = worker.concurrency + max(2, worker.concurrency)
    running: dict[cf.Future[PaperOutcome], int] = {}

    def collect(future: cf.Future[PaperOutcome]) -> None:
        index = running.pop(future)
        outcomes[index] = future.result()  # run_one never raises
        totals.add(outcomes[index])
        emit(BatchEvent("finish", totals, outcomes[index]))

    try:
        while queue or running:
            while queue and len(running) < in_progress and not worker.stop.is_set():
                index = queue.pop(0)
                item = selected.items[index]
                emit(BatchEvent("begin", totals, source=item.source))
                running[_start(worker.run_one, item, name=f"batch-{index}")] = index
            if worker.stop.is_set() and not running:
                break
            finished, _ = cf.wait(list(running), timeout=0.25, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                collect(future)
            worker.writer.flush_if_due()
    except KeyboardInterrupt:
        report.interrupted = True
        worker.stop.set()
        try:
            for future in cf.as_completed(list(running)):
                collect(future)
        except KeyboardInterrupt:
            pass  # second Ctrl-C: stop waiting for the running papers
        for index in running.values():
            item = selected.items[index]
            report.abandoned.append(item.source)
            outcomes[index] = PaperOutcome(item.source, "skipped", "abandoned while running (interrupted "
                                           "twice); its draft is kept if it was written", title=item.title)
            totals.add(outcomes[index])


def _start(run_one: Callable[[PlannedPaper], PaperOutcome], item: PlannedPaper, *,
           name: str) -> cf.Future[PaperOutcome]:
    """Run ``run_one(item)`` on a new daemon thread.

    Not a ThreadPoolExecutor: its workers are joined when the interpreter exits, so one abandoned
    paper whose request hangs would keep the process alive (the CLI used to exit hard for it).
    A thread per paper costs microseconds against a paper's seconds.
    """
    future: cf.Future[PaperOutcome] = cf.Future()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(run_one(item))
        except BaseException as exc:  # run_one never raises; kept on the future all the same
            future.set_exception(exc)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


class _OverBudget(Exception):
    pass


class _Worker:
    """Summarizes one entry at a time per thread: shared limiter, budget and status writer."""

    def __init__(self, settings: Settings, options: BatchOptions, writer: StatusWriter,
                 stop: threading.Event) -> None:
        from pipeline.storage.cache import Cache
        from pipeline.workspace.summarize import CacheModeMemory

        self.settings, self.options, self.writer, self.stop = settings, options, writer, stop
        connection, self.profile = select_backend(settings)
        self.concurrency = max(1, options.concurrency)
        self._http: httpx2.Client | None = None
        if connection.backend == "local" and self.concurrency > 1:
            log.info("the embedded model answers one request at a time; using concurrency 1")
            self.concurrency = 1
        self.in_flight = threading.BoundedSemaphore(self.concurrency)  # LLM requests at once
        if connection.http_client is None:
            # One connection pool for all threads: each client would otherwise load the CA bundle
            # (~0.2 s of CPU) and open its own connections.
            self._http = guarded_client(
                timeout_seconds=connection.timeout_seconds,
                deadline_seconds=deadline_for(settings.llm, connection.timeout_seconds),
                max_reply_bytes=settings.llm.max_reply_bytes,
                limits=httpx2.Limits(max_connections=2 * self.concurrency,
                                     max_keepalive_connections=2 * self.concurrency))
            connection = dataclasses.replace(connection, http_client=self._http)
        self.connection = connection
        # Keyed by host and model: two runs on one endpoint share its per-minute allowance.
        self.limiter = limiter_for(connection.id, rpm=options.rpm, tpm=options.tpm)
        # Structured-output mode learned once, shared by all threads and remembered across runs.
        self.memory = CacheModeMemory(Cache(settings.cache_dir))
        self._spent = 0.0
        self._reserved = 0.0
        self._lock = threading.Condition()

    def close(self) -> None:
        """Close the shared connection pool."""
        if self._http is not None:
            self._http.close()

    def _llm(self) -> LLM:
        """A client for one paper: its own usage counts, the shared connection pool and mode memory, and a
        request gate (``--concurrency`` slots, the endpoint's rate limits) that may still call the paper off
        until its first request is sent."""
        from pipeline.model.llm import LLM
        from pipeline.workspace.summarize import EXPECTED_OUTPUT_TOKENS

        gate = RequestGate(self.in_flight, self.limiter, self.stop, expected_output=EXPECTED_OUTPUT_TOKENS)
        return LLM(self.connection, self.settings.llm, self.profile, memory=self.memory, hook=gate)

    def _reserve(self, source: str) -> float:
        if self.options.budget_usd is None:
            return 0.0
        from pipeline.workspace.summarize import estimate

        found = estimate(source, self.settings, backend=Backend(self.connection, self.profile))
        cost = 0.0 if found.cached else found.cost_usd
        budget = self.options.budget_usd
        with self._lock:
            # Running papers usually cost less than their estimate: wait for them before deciding.
            while self._reserved > 0 and self._spent + self._reserved + cost > budget and not self.stop.is_set():
                self._lock.wait(0.25)
            if self._spent + self._reserved + cost > budget:
                # This paper is skipped; a cheaper or cached one later in the queue may still fit.
                raise _OverBudget(f"budget: its estimate ${cost:.4f} would pass ${budget:.4f} "
                                  f"(spent ${self._spent:.4f})")
            self._reserved += cost
        return cost

    def run_one(self, item: PlannedPaper) -> PaperOutcome:
        """Summarize one entry and queue its new status; never raises."""
        from pipeline.workspace.summarize import summarize

        started = time.monotonic()
        outcome = PaperOutcome(item.source, "failed", "", key=item.key, title=item.title)
        reserved = 0.0
        try:
            if self.stop.is_set():
                outcome.state, outcome.reason = "skipped", "not started: the run was interrupted"
                return outcome
            source = resolve_source(item.source, self.settings.papers_file)
            outcome.key = entry_key(PaperEntry(source=source, key=item.key))
            status = None if self.options.force else existing_status(self.settings, outcome.key)
            if status is not None:
                outcome.state, outcome.reason = "done", f"summary already on disk ({status})"
                outcome.path = str(store.record_path(self.settings.summaries_dir, outcome.key))
            else:
                reserved = self._reserve(source)
                result = summarize(source, self.settings, force=self.options.force, llm=self._llm())
                status = existing_status(self.settings, result.key) if result.outcome == "proposed" \
                    else "drafted"
                outcome.key, outcome.path = result.key, str(result.path)
                outcome.state, outcome.reason = "done", result.outcome
                outcome.tokens = result.usage.prompt_tokens + result.usage.completion_tokens
                outcome.requests, outcome.cost_usd = result.requests_sent, result.usage.cost_usd
            self.writer.put(item.source, status=status or "drafted", last_error=None)
        except _OverBudget as exc:
            outcome.state, outcome.reason = "skipped", str(exc)
        except RateLimitCancelled:
            outcome.state, outcome.reason = "skipped", "not started: the run was interrupted"
        except PipelineError as exc:
            outcome.reason = str(exc)
            self.writer.put(item.source, status="failed", last_error=outcome.reason)
        except Exception as exc:  # a bug on one paper must not stop the others
            log.exception("unexpected error on %s", item.source)
            outcome.reason = scrub(f"unexpected {type(exc).__name__}: {exc}")
            self.writer.put(item.source, status="failed", last_error=outcome.reason)
        finally:
            with self._lock:
                self._reserved -= reserved
                self._spent += outcome.cost_usd
                self._lock.notify_all()
            outcome.seconds = round(time.monotonic() - started, 3)
        return outcome


def existing_status(settings: Settings, key: str) -> str | None:
    """The papers.yaml status matching an existing summary file, or None when there is none."""
    path = store.record_path(settings.summaries_dir, key)
    if not path.exists():
        return None
    return RECORD_TO_ENTRY[store.load_record(path).status]


__all__ = ["BatchEvent", "BatchOptions", "BatchPlan", "BatchReport", "PaperOutcome", "PlannedPaper",
           "StatusWriter", "Totals", "dry_run", "existing_status", "plan", "resolve_source", "run"]
