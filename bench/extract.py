"""Extraction benchmark: ms/page per PDF and the median, for pypdf (and pypdfium2 when installed).

Usage: ``python bench/extract.py [FOLDER] [--repeat N]`` (default folder: ../shared/testdata/pdfs).

Everything runs in this one process, as extraction does. Per file it prints the best of N runs (the
least disturbed by other processes) of:
- ``pypdf``: pypdf alone through its public API (`PdfReader`, then `extract_text` on every page), wall
  clock: the floor for any extraction built on pypdf;
- ``read``: `pipeline.text.pdf.read_pdf` (the file checks, opening, pypdf's extraction, the title hint
  from page 1's font sizes), wall clock;
- ``cpu``: the same in process CPU time, which other processes on a busy machine disturb less;
- ``clean``: cleaning, section detection and the token-budgeted selection on top of ``read``;
- ``pdfium``: pypdfium2's text extraction, for comparison, when pypdfium2 is installed.
Nothing is cached here: each run parses the file. (`pipeline extract` caches by the PDF's sha256, so a
paper costs this once.)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import pypdf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core.errors import PdfError  # noqa: E402
from pipeline.text import pdf  # noqa: E402
from pipeline.text.budget import select_text  # noqa: E402
from pipeline.text.extract import build_document  # noqa: E402

DEFAULT_FOLDER = ROOT.parent / "shared" / "testdata" / "pdfs"
LIMITS = {"max_bytes": 1 << 30, "max_pages": 10_000}


def bench_pypdf(path: Path, repeat: int) -> tuple[int, float, float, float, float]:
    """(pages, plain pypdf ms/page wall, `read_pdf` ms/page wall, its CPU ms/page, clean ms/page),
    best of ``repeat`` runs each."""
    plain: list[float] = []
    read: list[float] = []
    cpu: list[float] = []
    clean: list[float] = []
    pages = 0
    for _ in range(repeat):
        start = time.perf_counter()
        reader = pypdf.PdfReader(path, strict=False)
        for page in reader.pages:
            page.extract_text()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        raw = pdf.read_pdf(path, **LIMITS)
        wall1, cpu1 = time.perf_counter(), time.process_time()
        select_text(build_document(raw, "0" * 64), 6000)
        wall2 = time.perf_counter()
        pages = raw.info.pages
        plain.append((wall0 - start) * 1000 / pages)
        read.append((wall1 - wall0) * 1000 / pages)
        cpu.append((cpu1 - cpu0) * 1000 / pages)
        clean.append((wall2 - wall1) * 1000 / pages)
    return pages, min(plain), min(read), min(cpu), min(clean)


def bench_pdfium(path: Path, repeat: int) -> float:
    """ms/page (wall) of pypdfium2's text extraction, best of ``repeat`` runs."""
    import pypdfium2  # type: ignore[import-untyped,import-not-found,unused-ignore]  # optional

    runs: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        doc = pypdfium2.PdfDocument(str(path))
        count = len(doc)
        for index in range(count):
            page = doc[index]
            page.get_textpage().get_text_range()
        doc.close()
        runs.append((time.perf_counter() - start) * 1000 / count)
    return min(runs)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one row per file plus the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--repeat", type=int, default=3, help="runs per file; the best one counts")
    args = parser.parse_args(argv)
    files = sorted(args.folder.glob("*.pdf"))
    if not files:
        print(f"no PDFs in {args.folder}", file=sys.stderr)
        return 1
    pdfium = importlib.util.find_spec("pypdfium2") is not None
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# {len(files)} PDFs in {args.folder}, best of {args.repeat}, pypdf {pypdf.__version__}, "
          f"{os.cpu_count()} CPUs, load {load}")
    columns = ["pypdf", "read", "cpu", "clean"] + (["pdfium"] if pdfium else [])
    print(f"{'file':40} {'pages':>5} " + " ".join(f"{c:>8}" for c in columns) + "   (ms/page)")
    rows: list[list[float]] = []
    for path in files:
        try:
            pages, *figures = bench_pypdf(path, args.repeat)
        except PdfError as exc:
            print(f"{path.name:40} skipped: {exc}")
            continue
        if pdfium:
            figures.append(bench_pdfium(path, args.repeat))
        rows.append(figures)
        print(f"{path.name[:40]:40} {pages:5d} " + " ".join(f"{f:8.1f}" for f in figures))
    if not rows:
        return 1
    medians = dict(zip(columns, (statistics.median(column) for column in zip(*rows, strict=True)), strict=True))
    print(f"{'median':40} {'':5} " + " ".join(f"{m:8.1f}" for m in medians.values()))
    print(f"# median ms/page: pypdf alone {medians['pypdf']:.1f}, read_pdf {medians['read']:.1f} "
          f"(CPU {medians['cpu']:.1f}), cleaning on top {medians['clean']:.1f}"
          + (f", pypdfium2 {medians['pdfium']:.1f}" if pdfium else ", pypdfium2 not installed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
