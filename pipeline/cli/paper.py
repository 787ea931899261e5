"""Commands for one paper: `fetch`, `extract`, `summarize`."""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.cli.common import LiveStatus, apply_llm_flags, err
from pipeline.core.config import Settings


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
        from pipeline.storage import files

        sys.stdout.write(files.dump_yaml(data))
    return 0


# --- summarize (pipeline.workspace.summarize) --------------------------------------------------------------




def _register_extract(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "extract", help="print what the model reads of a paper: its numbered sentences, per request",
        description="Extract the text of a paper's PDF: clean it (ligatures, hyphenation, running "
                    "headers, page numbers, licence footers, arXiv stamp), find its sections, cut references "
                    "and appendices, number its sentences, and print what each request of `summarize` reads, "
                    "as the model is shown it (one reading per question for a small model, one for all three "
                    "otherwise; the configured backend decides). Stats go to stderr.",
    )
    p.add_argument("source", help="2506.01234[v2], an arxiv.org URL, a PDF path or PDF URL")
    p.add_argument("--json", action="store_true",
                   help="print JSON: every section with its token estimate, and every reading with its "
                        "document sentence ids")
    p.add_argument("--budget", type=int, metavar="N",
                   help="token budget of paper text (default: the backend's, e.g. 6000 remote, 1600 embedded)")
    p.set_defaults(func=_cmd_extract)


def _cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.core.errors import ConfigError
    from pipeline.text.extract import extract_source, selection_report
    from pipeline.workspace.summarize import readings

    if args.budget is not None and args.budget <= 0:
        raise ConfigError(f"--budget must be a positive number of tokens, got {args.budget}")
    document, selection, stats = extract_source(args.source, settings, budget=args.budget)
    read = readings(args.source, settings, budget=args.budget)
    if args.json:
        import dataclasses
        import json

        report = {**selection_report(document, selection), "readings": [dataclasses.asdict(r) for r in read]}
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(f"# {r.line()}" + (f"; left out: {', '.join(r.left_out)}" if r.left_out else "")
                          + f"\n{r.text}" for r in read))
    cached = " (cached)" if stats.cached else ""
    err(f"pages={stats.pages} chars={stats.chars} tokens~{stats.tokens} sections={stats.sections} "
        f"readings={len(read)} ({', '.join(f'{r.question} ~{r.tokens}/{r.budget}' for r in read)}) "
        f"ms={stats.milliseconds}{cached}")
    return 0


# --- render, import, lint (pipeline.listing: render, importer, lint) ---




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




def _cmd_summarize(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from pipeline.workspace.summarize import summarize

    apply_llm_flags(args, settings)
    started = time.monotonic()
    with LiveStatus() as status:
        result = summarize(args.source, settings, force=args.force, refresh=args.refresh, progress=status)
    seconds = time.monotonic() - started
    if args.json:
        print(json.dumps({"key": result.key, "path": str(result.path), "outcome": result.outcome,
                          "backend": result.backend, "cached": result.cached,
                          "requests": result.requests_sent, "usage": result.usage.model_dump(),
                          "record": result.record.model_dump(mode="json")}, ensure_ascii=False, indent=2))
    else:
        print(result.preview)
    prov = result.record.provenance
    err(f"{result.outcome}: {result.path} ({result.message})" if result.message
         else f"{result.outcome}: {result.path}")
    err(f"backend: {result.backend} ({prov.model} at {prov.endpoint_host}); "
         f"{'from cache, 0 requests' if result.cached else f'{result.requests_sent} requests'}; "
         f"tokens {result.usage.prompt_tokens} in / {result.usage.completion_tokens} out; "
         f"${result.usage.cost_usd:.4f}; re-asks {prov.repairs}; grounding {prov.grounding_score}; "
         f"{seconds:.1f} s")
    for warning in result.warnings:
        err(f"warning: {warning}")
    return 0


# --- dev-server (pipeline.devtools.devserver) -------------------------------------------------------------


REGISTRARS = [_register_fetch, _register_extract, _register_summarize]
