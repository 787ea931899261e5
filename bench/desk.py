"""How fast the review desk answers: the paper page of a real 15-page paper, over HTTP on the loopback.

    python bench/desk.py [--pdf ../shared/testdata/pdfs/segnext_2209.08575.pdf] [--runs 30]

The draft is made through the fake model server in a scratch folder (its text is then in the cache, as
after any `summarize`), beside a draft of the demo report; the desk runs in this process with uvicorn,
and each request is a fresh connection from urllib. Prints the very first request of the process (the
demo's page), the first view of the paper's page in the running desk (validation, text, preview: nothing
prepared), then the median and the slowest of later views (the page is kept per version of the file).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from pipeline.core.config import load_settings
from pipeline.desk.app import Desk
from pipeline.desk.server import running
from pipeline.devtools.devserver import FakeServer
from pipeline.text.extract import extract_document
from pipeline.workspace.summarize import summarize

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PDF = ROOT.parent / "shared" / "testdata" / "pdfs" / "segnext_2209.08575.pdf"


def _get(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        size = len(response.read())
    return (time.perf_counter() - start) * 1000, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", type=Path, default=DEFAULT_PDF)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="desk-bench-") as tmp:
        env = {**os.environ, "PIPELINE_SUMMARIES_DIR": f"{tmp}/summaries", "PIPELINE_PAPERS_FILE": f"{tmp}/papers.yaml",
               "PIPELINE_CACHE_DIR": f"{tmp}/cache", "PIPELINE_OFFLINE": "1"}
        with FakeServer() as server:
            remote = load_settings({**env, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "dev-server"})
            key = summarize(str(args.pdf), remote).path.stem
            demo = summarize(str(ROOT / "docs" / "report" / "pipeline-report.pdf"), remote).path.stem
        settings = load_settings(env)
        pages = extract_document(args.pdf, settings).pages
        with running(Desk(settings)) as bound:
            start, _ = _get(bound.base + bound.desk.url(f"/paper/{demo}"))
            url = bound.base + bound.desk.url(f"/paper/{key}")
            first, size = _get(url)
            times = sorted(_get(url)[0] for _ in range(args.runs))
    print(f"{args.pdf.name}: {pages} pages, page {size // 1024} KB")
    print(f"first request of the process {start:.1f} ms; paper page: first view {first:.1f} ms, "
          f"then median {statistics.median(times):.1f} ms, slowest {times[-1]:.1f} ms over {args.runs} requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
