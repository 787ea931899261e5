"""Provider batch jobs at scale: submit -> fake completion -> collect -> repair job -> collect.

Usage: ``python bench/batch_jobs.py [--papers 1000] [--invalid-every 20] [--in-process]``

Generates ``--papers`` one-page PDFs (tests/synthetic_papers.py), caches their extracted text (not
timed: a backlog's second pass has it), then times the whole job workflow through the real CLI
functions and the real ``openai`` client against the fake Files and Batches endpoints: ``submit``
(one job), ``collect`` (the fake runs the job on its first retrieve; every ``--invalid-every``-th paper
gets an invalid first reply, so a repair job follows), ``collect`` again. It checks that every paper
ends drafted or failed with a reason, and that the requests the server answered equal papers x passes
plus the repairs the drafts record. The fake server runs in its own process by default, as a provider
would; ``--in-process`` runs it on a thread here. No network is used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from synthetic_papers import write_pdf  # noqa: E402

from pipeline.core.config import load_settings  # noqa: E402
from pipeline.workspace import batch, jobs, jobstate, store  # noqa: E402


def title(i: int) -> str:
    return f"Synthetic Paper {i:04d} on Consistency Learning"


def serve(port_file: Path, papers: int, every: int) -> None:
    """Run the fake server until killed; write its base URL to ``port_file``."""
    import threading

    from pipeline.devtools.devserver import FakeServer

    faults = {title(i): ["bad-evidence"] for i in range(0, papers, every)} if every else {}
    with FakeServer(fault_for=faults) as server:
        port_file.write_text(server.base_url)
        threading.Event().wait()


@contextlib.contextmanager
def fake_server(work: Path, papers: int, every: int, in_process: bool) -> Iterator[tuple[str, object]]:
    """(base URL, the server object or None) of a running fake server with the invalid first replies."""
    if in_process:
        from pipeline.devtools.devserver import FakeServer

        faults = {title(i): ["bad-evidence"] for i in range(0, papers, every)} if every else {}
        with FakeServer(fault_for=faults) as server:
            yield server.base_url, server
        return
    port_file = work / "server-url"
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file), "--papers", str(papers),
                             "--invalid-every", str(every)], cwd=ROOT)
    try:
        while not port_file.exists() or not port_file.read_text():
            if proc.poll() is not None:
                raise SystemExit("the fake server did not start")
            time.sleep(0.05)
        yield port_file.read_text(), None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make_backlog(folder: Path, n: int) -> None:
    lines = ["list:", "  title: Batch job benchmark", "papers:"]
    for i in range(n):
        write_pdf(folder / f"paper{i:04d}.pdf", i, title(i))
        lines.append(f"  - source: paper{i:04d}.pdf")
    (folder / "papers.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--invalid-every", type=int, default=20, help="every Nth paper's first reply is invalid")
    parser.add_argument("--in-process", action="store_true", help="run the fake server on a thread here")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.papers, args.invalid_every)
        return
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        make_backlog(work, args.papers)
        env = {"PIPELINE_CACHE_DIR": str(work / "cache"), "PIPELINE_SUMMARIES_DIR": str(work / "summaries"),
               "PIPELINE_PAPERS_FILE": str(work / "papers.yaml"), "PIPELINE_OFFLINE": "1",
               "PIPELINE_API_KEY": "bench", "PIPELINE_MODEL": "gpt-4o-mini"}
        with fake_server(work, args.papers, args.invalid_every, args.in_process) as (base_url, server):
            settings = load_settings({**env, "PIPELINE_BASE_URL": base_url})
            planned = batch.dry_run(settings, batch.BatchOptions())  # caches every paper's text: not timed
            total = planned.to_dict()["total"]
            print(f"{args.papers} synthetic papers made and cached in {time.perf_counter() - started:.1f} s; "
                  f"estimate live ${total['cost_usd']:.4f}, batch ${total['batch_cost_usd']:.4f}")
            print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the timed part, fake "
                  f"server {'in-process' if args.in_process else 'in its own process'}")
            steps: list[tuple[str, float, jobs.JobsReport]] = []
            t0 = time.perf_counter()
            report = jobs.submit(settings, batch.BatchOptions())
            steps.append(("submit", time.perf_counter() - t0, report))
            while jobstate.load(settings).papers:
                if len(steps) > 10:
                    raise SystemExit("more than 10 rounds: the repairs never end")
                t1 = time.perf_counter()
                report = jobs.collect(settings)
                steps.append((f"collect {len(steps)}", time.perf_counter() - t1, report))
            seconds = time.perf_counter() - t0
        for name, took, report in steps:
            t = report.to_dict()["totals"]
            print(f"  {name:<10} {took:6.1f} s  requests put in a job {report.requests:>5}, drafted {t['drafted']:>5}, "
                  f"failed {t['failed']}, back to backlog {t['backlog']}")
        records = [r for _, r in store.iter_records(settings.summaries_dir, read_only=True)]
        failed = sum(r.count("failed") for _, _, r in steps)
        requests = sum(r.requests for _, _, r in steps)
        repairs = sum(r.provenance.repairs for r in records)
        passes = len(records[0].provenance.readings) + (1 if records[0].provenance.passes == "translate" else 0)
        print(f"whole workflow: {seconds:.1f} s for {args.papers} papers ({len(records)} drafted, {failed} failed "
              f"with a reason); {requests} requests = {len(records)} x {passes} passes + {repairs} repairs: "
              f"{'yes' if requests == len(records) * passes + repairs else 'NO'}; load average "
              f"{os.getloadavg()[0]:.2f}")
        if server is not None:
            print(f"the fake server answered {len(server.requests)} requests")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
