"""Commands for the list: `render`, `import`, `lint`."""

from __future__ import annotations

import argparse

from pipeline.cli.common import err
from pipeline.core.config import Settings


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
                         description="Adds the list's sections, topics and papers to papers.yaml (papers "
                         "without a summary in the list are 'listed') and writes approved summary records "
                         "(provenance 'imported') for the papers the list summarizes; reports every row or "
                         "bullet it could not map, with its line.")
    imp.add_argument("list", type=Path, help="the Markdown list to import")
    paths(imp)
    imp.add_argument("--no-summaries", action="store_true",
                     help="only fill papers.yaml (entries get status listed); write no summary records")
    imp.set_defaults(func=_cmd_import)
    lint = sub.add_parser("lint", help="list-wide checks: duplicates, copy-pasted summaries, missing fields, "
                          "stale render (exit 1 on findings)")
    lint.add_argument("--out", type=Path, default=Path("LIST.md"), help="rendered list to check (default LIST.md)")
    lint.add_argument("--lang", choices=["zh", "en", "both"], default="both", help="--lang it was rendered with")
    paths(lint)
    lint.set_defaults(func=_cmd_lint)


def _cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.listing import render

    papers_path, summaries_dir = args.papers or settings.papers_file, args.summaries or settings.summaries_dir
    result = render.render_list(papers_path, summaries_dir, args.lang)
    for note in result.notes:
        err(f"note: {note}")
    if args.check:
        reason = render.stale_reason(result, args.out, args.lang)
        if reason:
            err(reason)
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
    from pipeline.listing import importer

    papers_path, summaries_dir = args.papers or settings.papers_file, args.summaries or settings.summaries_dir
    result = importer.import_list(args.list, papers_path, None if args.no_summaries else summaries_dir)
    for line, message in result.notes:
        print(f"{args.list}:{line}: {message}")
    print(f"imported {result.papers_found} papers from {args.list}: {len(result.entries_added)} entries added "
          f"to {papers_path} ({result.listed} listed, not yet summarized), {len(result.records_written)} "
          "approved summaries written" + (f" to {summaries_dir}" if result.records_written else "")
          + f", {len(result.notes)} notes")
    print(f"{args.list}: {result.entries} entries (table rows, list items, HTML tables): {result.imported} "
          f"imported, {result.reported} reported, {result.ignored} ignored")
    return 0


def _cmd_lint(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.listing import lint

    papers_path, summaries_dir = args.papers or settings.papers_file, args.summaries or settings.summaries_dir
    findings = lint.lint_list(papers_path, summaries_dir, args.out, args.lang)
    for finding in findings:
        print(finding)
    err(f"{len(findings)} findings" if findings else "no findings")
    return 1 if any(f.kind not in lint.INFO_KINDS for f in findings) else 0


# --- backlog and batch runs: add, batch (pipeline.workspace.add, pipeline.workspace.batch) ----------------------------


REGISTRARS = [_register_list]
