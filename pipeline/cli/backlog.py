"""Commands for the backlog: `add` and `batch`, with the batch plan, report and progress."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.cli.common import err
from pipeline.core.config import Settings

if TYPE_CHECKING:
    from pipeline.workspace import batch as batch_module
    from pipeline.workspace import jobs as jobs_module


def _register_batch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add = sub.add_parser("add", help="add a paper to the backlog in papers.yaml",
                         description="Add an arXiv id or URL, a PDF URL or a local PDF path, or find a paper "
                         "by --title on arXiv (taken only when the match is unambiguous; otherwise the "
                         "candidates are listed and nothing is added). The same paper is never added twice.")
    add.add_argument("source", nargs="?", help="arXiv id, arXiv URL, PDF URL or local PDF path")
    add.add_argument("--title", help="search arXiv for this title instead of giving a source")
    add.add_argument("--setting", help="id of a learning setting declared in papers.yaml")
    add.add_argument("--topic", help="id of a topic inside that setting")
    add.add_argument("--tags", help="comma-separated tags")
    add.add_argument("--priority", type=int, default=0, help="higher runs first in batch (default 0)")
    add.set_defaults(func=_cmd_add)

    bat = sub.add_parser("batch", help="summarize backlog entries of papers.yaml concurrently, or in provider "
                         "batch jobs (submit, status, collect)",
                         description="Summarize the selected entries (backlog and failed ones; drafted, "
                         "approved and rejected entries are skipped unless --force). Resumable: a stopped "
                         "run loses no finished paper and the next run continues with what is left. "
                         "`batch submit` sends the same requests as one provider batch job at batch prices "
                         "(OpenAI's Batch API, or --export FILE for vLLM's run_batch); `batch status` shows the "
                         "jobs; `batch collect` writes the drafts and submits what needs another request.")
    bat.add_argument("action", nargs="?", choices=["submit", "status", "collect"],
                     help="provider batch jobs instead of live requests")
    bat.add_argument("--setting", help="only entries of this learning setting")
    bat.add_argument("--status", help="only entries with these statuses (comma-separated)")
    bat.add_argument("--ids", help="only these entries (comma-separated sources, keys or arXiv ids)")
    bat.add_argument("--limit", type=int, help="summarize at most N papers")
    bat.add_argument("--concurrency", type=int, default=4, help="papers in flight at once (default 4)")
    bat.add_argument("--rpm", type=float, help="requests per minute allowed on the LLM endpoint")
    bat.add_argument("--tpm", type=float, help="tokens per minute allowed on the LLM endpoint")
    bat.add_argument("--budget", "--budget-usd", type=float, metavar="USD", dest="budget",
                     help="skip papers whose estimated cost would pass this many dollars (batch prices for submit)")
    bat.add_argument("--dry-run", action="store_true", help="print the plan with estimated tokens and cost")
    bat.add_argument("--force", action="store_true",
                     help="also re-run finished entries (as summarize --force: edited drafts are kept aside)")
    bat.add_argument("--json", action="store_true", help="print the report (or plan) as JSON")
    bat.add_argument("--export", type=Path, metavar="FILE",
                     help="submit/collect: write the job's requests (JSONL, OpenAI Batch format) to FILE, not upload")
    bat.add_argument("--from", type=Path, metavar="FILE", dest="results",
                     help="collect: read the results of an exported job from FILE (run_batch's output)")
    bat.set_defaults(func=_cmd_batch)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.workspace.add import add

    if (args.source is None) == (args.title is None):
        err("error: give either a source (arXiv id, URL or PDF path) or --title, not both or neither")
        return 2
    result = add(args.source, settings, title=args.title, setting=args.setting, topic=args.topic,
                 tags=_split(args.tags) or [], priority=args.priority)
    if result.added:
        print(result.message)
        return 0
    for c in result.candidates:
        authors = f"{c.authors[0]}{' et al.' if len(c.authors) > 1 else ''}" if c.authors else "?"
        print(f"{c.arxiv_id:<18} {c.year or '????'}  {c.score:.2f}  {c.title} ({authors})")
    err(result.message)
    return 1


def _cmd_batch(args: argparse.Namespace, settings: Settings) -> int:

    from pipeline.workspace import batch

    options = batch.BatchOptions(
        setting=args.setting, statuses=_split(args.status), ids=_split(args.ids), limit=args.limit,
        concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm, budget_usd=args.budget, force=args.force)
    if args.action in ("status", "collect") or (args.action == "submit" and not args.dry_run):
        return _cmd_jobs(args, settings, options)
    if args.dry_run:
        plan = batch.dry_run(settings, options, on_event=lambda e: err(
            f"[{e.totals.done}/{e.totals.planned}] estimated {e.source}"), batch_prices=args.action == "submit")
        if args.json:
            print(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2))
        else:
            _print_plan(plan)
        return 0
    with _BatchProgress() as progress:
        report = batch.run(settings, options, on_event=progress.update)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    # Papers abandoned by a second Ctrl-C may still be running: on daemon threads, so they end with
    # the process (see pipeline.workspace.batch).
    return report.exit_code


def _print_plan(plan: batch_module.BatchPlan) -> None:
    data = plan.to_dict()
    for item in plan.items:
        if item.skip is not None:
            print(f"skip  {item.source}: {item.skip}")
        elif item.error is not None:
            print(f"run   {item.source}: estimate failed: {item.error}")
        else:
            cached = " (cached: free)" if item.estimate_cached else ""
            print(f"run   {item.source}: ~{item.estimate_tokens} tokens, live ${item.estimate_cost_usd:.4f}, "
                  f"batch ${item.estimate_batch_cost_usd:.4f}{cached}")
    total = data["total"]
    print(f"total: {total['runnable']} papers, ~{total['tokens']} tokens, live ${total['cost_usd']:.4f}, "
          f"batch ${total['batch_cost_usd']:.4f}")


def _cmd_jobs(args: argparse.Namespace, settings: Settings, options: batch_module.BatchOptions) -> int:
    from pipeline.workspace import jobs

    if args.results is not None and args.action != "collect":
        err("error: --from FILE goes with `batch collect`")
        return 2
    if args.action == "submit":
        report = jobs.submit(settings, options, export=args.export)
    elif args.action == "status":
        report = jobs.status(settings)
    else:
        report = jobs.collect(settings, results=args.results, export=args.export)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_jobs(report)
    for warning in report.warnings:
        err(f"warning: {warning}")
    return report.exit_code


def _print_jobs(report: jobs_module.JobsReport) -> None:
    for job in report.jobs:
        if job.collected:
            continue
        where = f"exported to {job.file}" if job.export else job.status
        print(f"job   {job.name}  round {job.round}  {job.requests} requests  {where}"
              + (f"  ({job.completed} done, {job.failed} failed)" if job.completed or job.failed else ""))
    shown: dict[str, int] = {}
    for o in report.outcomes:
        shown[o.state] = shown.get(o.state, 0) + 1
        if o.state in ("failed", "backlog") or shown[o.state] <= 20:
            print(f"{o.state:<9} {o.key or o.source}: {o.reason}")
    for state, count in shown.items():
        if count > 20 and state not in ("failed", "backlog"):
            print(f"... and {count - 20} more {state} (--json lists every paper)")
    totals = report.to_dict()["totals"]
    if not report.outcomes and not any(not job.collected for job in report.jobs):
        print("no batch job is waiting: `batch submit` sends the backlog as one")
        return
    print(", ".join(f"{totals[s]} {s}" for s in ("drafted", "failed", "backlog", "submitted", "waiting", "skipped"))
          + f"; {report.requests} requests put into jobs; ${report.cost_usd:.4f} at batch prices")


def _print_report(report: batch_module.BatchReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200, highlight=False)
    table = Table(title="batch report", show_lines=False)
    for column in ("state", "paper", "why", "tokens", "cost", "s"):
        table.add_column(column, overflow="fold")
    per_reason: dict[str, int] = {}
    for o in report.outcomes:
        if o.state == "skipped":
            per_reason[o.reason] = per_reason.get(o.reason, 0) + 1
            if per_reason[o.reason] > 20:
                continue
        table.add_row(o.state, o.key or o.source, o.reason, str(o.tokens or ""),
                      f"${o.cost_usd:.4f}" if o.cost_usd else "", f"{o.seconds:.1f}" if o.seconds else "")
    console.print(table)
    for reason, count in per_reason.items():
        if count > 20:
            console.print(f"... and {count - 20} more skipped: {reason} (--json lists every entry)")
    t = report.totals
    console.print(f"{t.done} done, {t.failed} failed, {t.skipped} skipped; {t.requests} LLM requests, "
                  f"{t.tokens} tokens, ${t.cost_usd:.4f}; {report.seconds:.1f} s"
                  + ("; interrupted" if report.interrupted else ""))
    for o in report.outcomes:
        if o.state == "failed":
            console.print(f"failed: {o.key or o.source}: {o.reason}")
    for warning in report.warnings:
        err(f"warning: {warning}")


class _BatchProgress:
    """A rich progress bar on a terminal; one plain line per finished paper otherwise (stderr)."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _BatchProgress:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("batch"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TextColumn("[green]{task.fields[done]} done[/] [red]{task.fields[failed]} failed[/]"),
                TextColumn("{task.fields[tokens]} tok ${task.fields[cost]:.4f}"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, event: batch_module.BatchEvent) -> None:
        t = event.totals
        if self._progress is not None:
            if self._task is None:
                self._task = self._progress.add_task("batch", total=t.planned, done=0, failed=0, tokens=0,
                                                     cost=0.0)
            if event.kind == "finish":
                self._progress.update(self._task, advance=1, done=t.done, failed=t.failed, tokens=t.tokens,
                                      cost=t.cost_usd)
            return
        if event.kind == "start":
            err(f"batch: {t.planned} to summarize, {t.skipped} skipped")
        elif event.kind == "finish" and event.outcome is not None:
            o = event.outcome
            err(f"[{t.done + t.failed}/{t.planned}] {o.state} {o.key or o.source}: {o.reason} "
                 f"({t.done} done, {t.failed} failed, {t.tokens} tokens, ${t.cost_usd:.4f})")


# In the order a curator meets them: paper in, summary out, review, the list, the backlog, tools.


REGISTRARS = [_register_batch]
