"""Batch benchmark: papers/s at several concurrency levels against a loopback fake LLM server.

Usage: ``python bench/batch.py [--papers 48] [--latency 1.0] [--levels 1,2,4,8,16] [--in-process]
[--rerun 100]``

Small PDFs are generated with fpdf2 into a temporary folder and their metadata and extracted text are
cached before timing, so the figure measures the batch machinery plus the LLM round trips: the bound
is ``min(concurrency, papers) / latency`` papers/s. Every level starts from a fresh ``summaries/`` and
``papers.yaml`` and uses its own model name, so the LLM result cache never answers for it.

The fake server runs in its own process by default (``python -m pipeline dev-server``), as a real
endpoint would; ``--in-process`` runs it on a thread of this process instead (it then competes for
the GIL). ``--rerun N`` also times ``python -m pipeline batch`` (the whole CLI, start-up included)
re-run over N finished entries, and checks that it sent no LLM request. No network is used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the synthetic papers the batch tests use too

from synthetic_papers import write_pdf  # noqa: E402

from pipeline.core.config import load_settings  # noqa: E402
from pipeline.workspace import batch  # noqa: E402


def make_backlog(folder: Path, n: int) -> str:
    """Write ``n`` one-page PDFs into ``folder``; return the text of a papers.yaml listing them."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["list:", "  title: Benchmark backlog", "papers:"]
    for i in range(n):
        write_pdf(folder / f"paper{i:04d}.pdf", i, f"Synthetic Paper {i:04d} on Consistency Learning")
        lines.append(f"  - source: paper{i:04d}.pdf")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def fake_server(latency: float, in_process: bool) -> Iterator[str]:
    """The base URL of a running fake OpenAI-compatible server."""
    if in_process:
        from pipeline.devtools.devserver import FakeServer

        with FakeServer(latency=latency) as server:
            yield server.base_url
        return
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "dev-server", "--port", "0",
                             "--latency", str(latency)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("OPENAI_BASE_URL="):
            raise SystemExit(f"dev-server did not start: {line!r}")
        yield line.split("=", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def environment(folder: Path, base_url: str, model: str) -> dict[str, str]:
    return {"PIPELINE_BASE_URL": base_url, "PIPELINE_API_KEY": "bench", "PIPELINE_MODEL": model,
            "PIPELINE_CACHE_DIR": str(folder / "cache"), "PIPELINE_SUMMARIES_DIR": str(folder / "summaries"),
            "PIPELINE_PAPERS_FILE": str(folder / "papers.yaml"), "PIPELINE_OFFLINE": "1"}


def run_level(folder: Path, papers_text: str, base_url: str, concurrency: int) -> tuple[float, int, int]:
    """(seconds, done, failed) of one batch run from a fresh state."""
    shutil.rmtree(folder / "summaries", ignore_errors=True)
    (folder / "papers.yaml").write_text(papers_text, encoding="utf-8")
    settings = load_settings(environment(folder, base_url, f"bench-c{concurrency}"))
    started = time.perf_counter()
    report = batch.run(settings, batch.BatchOptions(concurrency=concurrency))
    return time.perf_counter() - started, report.totals.done, report.totals.failed


def warm(folder: Path, papers_text: str, base_url: str) -> None:
    """Cache metadata and extracted text of every PDF (what a second pass over a backlog has)."""
    from pipeline.workspace.summarize import estimate

    (folder / "papers.yaml").write_text(papers_text, encoding="utf-8")
    settings = load_settings(environment(folder, base_url, "bench-warm"))
    for path in sorted(folder.glob("*.pdf")):
        estimate(str(path), settings)


def rerun(n: int, base_url: str, work: Path) -> None:
    folder = work / f"rerun{n}"
    text = make_backlog(folder, n)
    (folder / "papers.yaml").write_text(text, encoding="utf-8")
    env = {**os.environ, **environment(folder, base_url, "bench-rerun")}
    command = [sys.executable, "-m", "pipeline", "batch", "--concurrency", "16", "--json"]
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    totals = json.loads(first.stdout)["totals"]
    started = time.perf_counter()
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    again = json.loads(second.stdout)["totals"]
    print(f"\nre-run of a finished batch of {n} entries: {seconds:.2f} s (whole CLI process), "
          f"{again['requests']} LLM requests, {again['skipped']} skipped, exit {second.returncode} "
          f"(first run: {totals['done']} done, {totals['requests']} requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=48)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per fake LLM reply")
    parser.add_argument("--levels", default="1,2,4,8,16", help="concurrency levels")
    parser.add_argument("--in-process", action="store_true", help="run the fake server on a thread here")
    parser.add_argument("--rerun", type=int, default=0, metavar="N",
                        help="also time a CLI re-run over N finished entries")
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        papers_text = make_backlog(work, args.papers)
        with fake_server(args.latency, args.in_process) as base_url:
            warm(work, papers_text, base_url)
            print(f"{args.papers} cached papers, fake LLM latency {args.latency:g} s, server "
                  f"{'in-process' if args.in_process else 'in its own process'}, {os.cpu_count()} cores")
            print(f"{'concurrency':>11} {'papers/s':>9} {'bound':>7} {'of bound':>9} {'seconds':>8} "
                  f"{'done':>5} {'failed':>6}")
            for level in levels:
                seconds, done, failed = run_level(work, papers_text, base_url, level)
                rate = done / seconds
                bound = min(level, args.papers) / args.latency
                print(f"{level:>11} {rate:>9.2f} {bound:>7.2f} {rate / bound:>8.0%} {seconds:>8.2f} "
                      f"{done:>5} {failed:>6}")
            if args.rerun:
                rerun(args.rerun, base_url, work)


if __name__ == "__main__":
    main()
