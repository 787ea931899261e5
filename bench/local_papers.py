"""Summarize papers with the embedded model and report, per paper: wall time, prompt and output
tokens, re-asks, grounding score and the share of CJK letters in the Chinese fields.

Usage:
    python bench/local_papers.py [--record DIR] [PDF ...]

Default papers: the shipped demo report and every PDF in ../shared/testdata/pdfs. Drafts go to a
temporary folder. A paper whose real arXiv API record is in ../shared/testdata/arxiv_api gets its
metadata from that record (served in process: no network). ``--record DIR`` saves each paper's
HTTP exchanges with the model as a cassette (``DIR/<key>.json``) that the tests replay.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the cassette helper lives with the tests
from cassette import RecordingTransport

from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import PipelineError
from pipeline.core.models import FIELDS
from pipeline.model import embedded as local
from pipeline.model.grounding import cjk_share
from pipeline.model.llm import LLM
from pipeline.sources import fetch_metadata, parse_source
from pipeline.workspace.summarize import summarize

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "testdata"
RECORDED_XML = {"1111.2011": SHARED / "arxiv_api" / "arxiv.py_2016_xml" / "id_list_1111.2011v2.xml"}


def seed_metadata(pdf: Path, settings: Settings) -> bool:
    """Put the recorded arXiv record of ``pdf`` into the cache, if one is on disk."""
    source = parse_source(str(pdf))
    xml = RECORDED_XML.get(source.arxiv_id or "")
    if xml is None:
        return False
    body = xml.read_bytes()
    client = httpx2.Client(transport=httpx2.MockTransport(lambda request: httpx2.Response(200, content=body)))
    fetch_metadata(source, settings, client=client)
    return True


def run(pdf: Path, settings: Settings, record: Path | None) -> dict[str, object]:
    recorder = RecordingTransport(local.local_transport(settings))
    connection, profile = local.embedded_backend(settings, local.local_http_client(settings, recorder))
    llm = LLM(connection, settings.llm, profile)
    started = time.monotonic()
    try:
        result = summarize(str(pdf), settings, llm=llm, force=True, refresh=True,
                           progress=lambda p: print(p.line(), file=sys.stderr, flush=True))
    except PipelineError as exc:
        return {"paper": pdf.name, "ok": False, "seconds": round(time.monotonic() - started, 1),
                "requests": llm.http_requests, "error": str(exc)[:160]}
    seconds = time.monotonic() - started
    record_ = result.record
    zh = record_.summary.zh
    zh_text = " ".join(b for name in FIELDS for b in getattr(zh, name)) if zh else ""
    if record is not None:
        recorder.save(record / f"{result.key}.json", {
            "paper": pdf.name, "model": llm.connection.model, "recorded_with": "bench/local_papers.py",
            "contract": "sentence-ids"})
    return {
        "paper": pdf.name, "ok": True, "seconds": round(seconds, 1), "requests": result.requests_sent,
        "prompt_tokens": result.usage.prompt_tokens, "output_tokens": result.usage.completion_tokens,
        "reasks": record_.provenance.repairs, "grounding": record_.provenance.grounding_score,
        "cjk_share": round(cjk_share(zh_text), 3), "path": str(result.path),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdfs", nargs="*", type=Path)
    parser.add_argument("--record", type=Path, help="save cassettes of the model exchanges here")
    args = parser.parse_args(argv)
    pdfs = args.pdfs or [ROOT / "docs" / "report" / "pipeline-report.pdf", *sorted(SHARED.glob("pdfs/*.pdf"))]
    env = dict(os.environ)
    env.setdefault("PIPELINE_SUMMARIES_DIR", tempfile.mkdtemp(prefix="pipeline-local-bench-"))
    # No list: the settings offered and the glossary are the built-in ones, as in tests/test_replay.py.
    env["PIPELINE_PAPERS_FILE"] = str(Path(env["PIPELINE_SUMMARIES_DIR"]) / "no-papers.yaml")
    env["PIPELINE_OFFLINE"] = "0"  # metadata comes from the seeded cache, never the network
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PIPELINE_API_KEY", "PIPELINE_BASE_URL"):
        env.pop(name, None)
    settings = load_settings(env)
    if not local.is_available(settings):
        print("the embedded model is not installed (make demo)", file=sys.stderr)
        return 1
    rows = []
    for pdf in pdfs:
        seeded = seed_metadata(pdf, settings)
        row = run(pdf, settings, args.record)
        row["arxiv_metadata"] = seeded
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    print(f"{'paper':34} {'ok':>3} {'s':>6} {'req':>4} {'in':>6} {'out':>5} {'reask':>5} {'ground':>6} {'cjk':>5}")
    for r in rows:
        print(f"{str(r['paper'])[:34]:34} {'yes' if r['ok'] else 'no':>3} {r['seconds']:>6} {r['requests']:>4} "
              f"{r.get('prompt_tokens', '-'):>6} {r.get('output_tokens', '-'):>5} {r.get('reasks', '-'):>5} "
              f"{r.get('grounding', '-'):>6} {r.get('cjk_share', '-'):>5}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
