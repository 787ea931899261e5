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

from pipeline import __version__
from pipeline.config import Settings, load_settings
from pipeline.errors import PipelineError

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
    args = parser.parse_args(argv)
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
    p.set_defaults(func=_cmd_fetch)


def _cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.sources import fetch

    result = fetch(args.source, settings, pdf=args.pdf)
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


REGISTRARS.append(_register_fetch)


# --- summarize (pipeline.summarize) --------------------------------------------------------------


def _register_summarize(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("summarize", help="summarize a paper into a draft in summaries/",
                       description="Fetch metadata and PDF, extract the text, ask the LLM for a grounded "
                       "bilingual summary, validate it, and write summaries/<key>.yaml as a draft.")
    p.add_argument("source", help="arXiv id, arXiv URL, PDF URL or local PDF path")
    p.add_argument("--force", action="store_true",
                   help="replace a draft a curator edited (the old one is kept in summaries/_proposed/)")
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
    result = summarize(args.source, settings, force=args.force)
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


REGISTRARS.append(_register_summarize)
