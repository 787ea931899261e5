"""Commands for stored summaries: `review` and `validate`."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli.common import err
from pipeline.core.config import Settings


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
    serve = actions.add_parser("serve", help="the review desk: a local web page to check drafts against the paper",
                               description="Serve the review desk on 127.0.0.1 only. The printed URL carries a "
                               "random token that every request needs. Ctrl-C stops it.")
    serve.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0 picks a free one)")
    serve.add_argument("--open", action="store_true", help="open the queue in the default web browser")
    serve.add_argument("--by", help="reviewer of every decision (default: git config user.name, else $USER)")
    serve.set_defaults(func=_cmd_review_serve)


def _cmd_review_list(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.workspace import review

    result = review.list_reviews(settings.summaries_dir, status=args.status)
    for error in result.errors:
        err(f"error: {error}")
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
    err(f"{len(result.rows)} summaries" + (f", {len(result.errors)} unreadable" if result.errors else ""))
    return 1 if result.errors else 0


def _cmd_review_show(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.workspace import review
    from pipeline.workspace.validate import cached_text_lookup

    view = review.show(settings.summaries_dir, args.key, lookup=cached_text_lookup(settings.cache_dir))
    print(review.format_record(view))
    return 0


def _cmd_review_action(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.workspace import review
    from pipeline.workspace.validate import cached_text_lookup

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
    from pipeline.workspace import review

    text = review.diff(settings.summaries_dir, args.key, against=args.against)
    if text:
        print(text, end="")
    else:
        err(f"no differences between {args.key} and its {args.against} version")
    return 0



def _cmd_review_serve(args: argparse.Namespace, settings: Settings) -> int:
    import webbrowser

    from pipeline.desk.app import Desk
    from pipeline.desk.server import bind, serve

    bound = bind(Desk(settings, by=args.by), args.port)
    err(f"review desk for {settings.summaries_dir} on 127.0.0.1:{bound.port}; Ctrl-C stops it")
    print(bound.url, flush=True)
    if args.open:
        webbrowser.open(bound.url)
    serve(bound)
    return 0


def _register_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pathlib import Path

    p = sub.add_parser("validate", help="re-check summaries after hand edits (exit 1 on any error)",
                       description="Check schema, language, parallel lists, duplicates, placeholders and, "
                       "where the extracted text is cached, grounding. One `path:line: message` per error.")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: every summary)")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.workspace.papers import list_context
    from pipeline.workspace.validate import cached_text_lookup, validate_paths

    report = validate_paths(args.paths, summaries_dir=settings.summaries_dir,
                            lookup=cached_text_lookup(settings.cache_dir), terms=list_context(settings)[1])
    for note in report.notes:
        err(f"note: {note}")
    for problem in report.problems:
        print(problem)
    err(f"{len(report.files)} files checked, {len(report.problems)} problems")
    return 0 if report.ok else 1


# --- extract (pipeline.text.extract) ------------------------------------------------------------------


REGISTRARS = [_register_review, _register_validate]
