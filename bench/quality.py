"""Summarize a folder of PDFs with the configured backend and measure what a curator would judge.

Usage:
    python bench/quality.py [--keep-cache] [--json OUT] [PDF or folder ...]

Default papers: the five PDFs in ../shared/testdata/pdfs. Every run starts from an empty cache (a
temporary folder; the embedded model file is reused from the usual cache, never joined again) and
offline (bibliographic fields from the PDF), unless ``--keep-cache``. Drafts go to a temporary folder.
The backend is whatever `pipeline summarize` would use: the endpoint in OPENAI_BASE_URL / an API key,
else the embedded model.

Per paper and in total it prints: draft or failure, wall time, requests, prompt and output tokens,
re-asks, the share of English bullets copied from their evidence, the share of framework bullets
resting on the method section or a contribution sentence, the share of bullets resting on sentences
about cited work, the CJK share of the Chinese, and glossary hits (glossary terms of the English whose
Chinese term the Chinese bullet uses). Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import PipelineError
from pipeline.core.models import FIELDS
from pipeline.model import checks, glossary
from pipeline.model.backend import select_backend
from pipeline.model.grounding import cjk_share
from pipeline.workspace.progress import Progress
from pipeline.workspace.summarize import SummarizeResult, copied_bullets, list_context, load_paper, summarize

ROOT = Path(__file__).resolve().parent.parent
SHARED_PDFS = ROOT.parent / "shared" / "testdata" / "pdfs"


def _pdfs(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths or [SHARED_PDFS]:
        found.extend(sorted(path.glob("*.pdf")) if path.is_dir() else [path])
    return found


def _settings(keep_cache: bool) -> Settings:
    env = dict(os.environ)
    env.setdefault("PIPELINE_SUMMARIES_DIR", tempfile.mkdtemp(prefix="pipeline-quality-"))
    if not keep_cache:
        usual = load_settings(env)
        model = usual.cache_dir / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
        env["PIPELINE_CACHE_DIR"] = tempfile.mkdtemp(prefix="pipeline-quality-cache-")
        env.setdefault("PIPELINE_OFFLINE", "1")
        if model.is_file():  # an empty cache, but not a second 1.1 GB join of the embedded model
            env.setdefault("PIPELINE_LOCAL_MODEL", str(model))
    return load_settings(env)


def measure(result: SummarizeResult, settings: Settings, pdf: Path) -> dict[str, Any]:
    """The figures of one draft: copying, where bullets rest, Chinese and glossary."""
    from pipeline.text.sentences import method_names, number_sentences

    record = result.record
    paper = load_paper(str(pdf), settings)  # cached: the same text the model read
    numbered = number_sentences(paper.doc, title=paper.metadata.title, abstract=paper.metadata.abstract)
    names = method_names(paper.metadata.title)
    _, terms = list_context(settings)
    en, zh = record.summary.en, record.summary.zh
    assert en is not None and zh is not None
    copied, total = copied_bullets(record.summary)
    rests: dict[str, list[str]] = {name: [] for name in FIELDS}
    hits = wanted = 0
    for name in FIELDS:
        for bullet, chinese in zip(getattr(en, name), getattr(zh, name), strict=True):
            cited = [numbered[n - 1] for n in bullet.sentences if 0 < n <= len(numbered)]
            rests[name].append(checks.rests_on(name, cited, names))
            used = glossary.used(bullet.text, terms)
            wanted += len(used)
            hits += sum(1 for term in used.values() if term in chinese)
    framework = rests["framework"]
    every = [r for name in FIELDS for r in rests[name]]
    zh_text = " ".join(b for name in FIELDS for b in getattr(zh, name))
    return {
        "copied": f"{copied}/{total}", "copied_share": round(copied / total, 2) if total else 0.0,
        "framework_on_paper": round(sum(r in ("method", "contribution") for r in framework) / len(framework), 2)
        if framework else 0.0,
        "on_cited_work": round(every.count("cited") / len(every), 2) if every else 0.0,
        "cjk_share": round(cjk_share(zh_text), 3), "glossary": f"{hits}/{wanted}",
        "dim": record.summary.dim, "setting": record.summary.setting,
    }


def run(pdf: Path, settings: Settings) -> dict[str, Any]:
    """Summarize one PDF (refreshing any cached answer) and measure the draft or the failure."""
    started = time.monotonic()
    last: list[str] = []

    def progress(p: Progress) -> None:
        step = f"{p.stage} {p.detail} {p.step}"
        if not last or last[-1] != step:
            last.append(step)
            print(p.line(), file=sys.stderr, flush=True)

    try:
        result = summarize(str(pdf), settings, force=True, refresh=True, progress=progress)
    except PipelineError as exc:
        return {"paper": pdf.name, "ok": False, "seconds": round(time.monotonic() - started, 1),
                "error": str(exc)[:200]}
    row: dict[str, Any] = {
        "paper": pdf.name, "ok": True, "seconds": round(time.monotonic() - started, 1),
        "requests": result.requests_sent, "prompt_tokens": result.usage.prompt_tokens,
        "output_tokens": result.usage.completion_tokens, "reasks": result.record.provenance.repairs,
        "path": str(result.path)}
    row.update(measure(result, settings, pdf))
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """The per-paper table and a total line, as plain text."""
    head = (f"{'paper':30} {'draft':>5} {'s':>6} {'req':>4} {'in':>6} {'out':>5} {'reask':>5} {'copied':>6} "
            f"{'fw-own':>6} {'cited':>5} {'cjk':>5} {'gloss':>5}")
    lines = [head]
    for r in rows:
        if not r["ok"]:
            lines.append(f"{r['paper'][:30]:30} {'FAIL':>5} {r['seconds']:>6}  {r['error'][:80]}")
            continue
        lines.append(f"{r['paper'][:30]:30} {'yes':>5} {r['seconds']:>6} {r['requests']:>4} {r['prompt_tokens']:>6} "
                     f"{r['output_tokens']:>5} {r['reasks']:>5} {r['copied']:>6} {r['framework_on_paper']:>6} "
                     f"{r['on_cited_work']:>5} {r['cjk_share']:>5} {r['glossary']:>5}")
    ok = [r for r in rows if r["ok"]]
    seconds = [r["seconds"] for r in rows]
    if rows:
        def mean(key: str) -> float:
            return round(statistics.mean(r[key] for r in ok), 2) if ok else 0.0
        copied = sum(int(r["copied"].split("/")[0]) for r in ok)
        hits = [tuple(map(int, r["glossary"].split("/"))) for r in ok]
        lines.append(
            f"total: {len(ok)}/{len(rows)} drafts; seconds median {statistics.median(seconds):.0f}, max "
            f"{max(seconds):.0f}; requests {sum(r.get('requests', 0) for r in ok)}; tokens "
            f"{sum(r.get('prompt_tokens', 0) for r in ok)} in / {sum(r.get('output_tokens', 0) for r in ok)} out; "
            f"re-asks {sum(r.get('reasks', 0) for r in ok)}; copied bullets {copied / len(ok) if ok else 0:.1f} of 6 "
            f"per paper; framework on method/contribution {mean('framework_on_paper')}; on cited work "
            f"{mean('on_cited_work')}; cjk {mean('cjk_share')}; glossary {sum(h for h, _ in hits)}/"
            f"{sum(w for _, w in hits)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdfs", nargs="*", type=Path, help="PDFs or folders (default: the shared five)")
    parser.add_argument("--keep-cache", action="store_true", help="use the usual cache instead of an empty one")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    settings = _settings(args.keep_cache)
    try:
        connection, profile = select_backend(settings)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"backend: {connection.backend} {connection.model}; budget {profile.budget_tokens}; cache "
          f"{settings.cache_dir}", file=sys.stderr)
    rows = []
    for pdf in _pdfs(args.pdfs):
        row = run(pdf, settings)
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
