"""Command line: parses arguments, calls one plain function per command, prints what it returns.

One module per group of commands (`paper`, `review`, `listing`, `backlog`, `tools`), each listing
its parser registrations in ``REGISTRARS``; handlers are set with ``set_defaults(func=...)``.

Data goes to stdout, progress and logs to stderr. Every expected failure is a `PipelineError`,
caught once in `main` and printed as one line (exit 1); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from pipeline import __version__
from pipeline.cli import backlog, listing, paper, review, tools
from pipeline.cli.common import Handler, err
from pipeline.core.config import load_settings
from pipeline.core.errors import PipelineError
from pipeline.storage import files, yamlindex

log = logging.getLogger("pipeline")


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


# In the order a curator meets them: paper in, summary out, review, the list, the backlog, tools.
REGISTRARS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    *paper.REGISTRARS, *review.REGISTRARS, *listing.REGISTRARS, *backlog.REGISTRARS, *tools.REGISTRARS]


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
        files.configure(settings.files)
        yamlindex.use(settings.cache_dir / "yaml-index")
        handler: Handler = args.func
        code = handler(args, settings)
        yamlindex.save()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error of ours. Point stdout at /dev/null so the
        # interpreter's final flush does not print a traceback either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except PipelineError as exc:
        if args.debug:
            raise
        err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        err("interrupted")
        return 130


