"""Render docs/report/pipeline-report.md into docs/report/pipeline-report.pdf, the shipped demo paper.

Usage: ``python docs/report/make_report.py`` (needs fpdf2 from the ``dev`` extra). The Markdown subset:
``# title``, the author line after it, ``## section``, ``### subsection`` and blank-line paragraphs.
The output is deterministic (fixed creation date), so the PDF only changes when the text does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

from fpdf import FPDF

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "pipeline-report.md"
OUTPUT = HERE / "pipeline-report.pdf"
# A fixed date keeps the PDF byte-identical across runs; bump it when the text changes materially.
CREATED = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


class Report(FPDF):
    """A4 single-column layout with page numbers in the footer."""

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Times", size=9)
        self.cell(0, 10, str(self.page_no()), align="C")


def parse(text: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(title, author line, blocks); a block is ("h2" | "h3" | "p", text)."""
    chunks = [c.strip() for c in re.split(r"\n\s*\n", text) if c.strip()]
    title = chunks[0].removeprefix("# ").strip()
    author = chunks[1]
    blocks: list[tuple[str, str]] = []
    for chunk in chunks[2:]:
        if chunk.startswith("### "):
            blocks.append(("h3", chunk[4:].strip()))
        elif chunk.startswith("## "):
            blocks.append(("h2", chunk[3:].strip()))
        else:
            blocks.append(("p", " ".join(chunk.split())))
    return title, author, blocks


def render(source: Path, output: Path) -> None:
    """Write the PDF for one Markdown file."""
    title, author, blocks = parse(source.read_text(encoding="utf-8"))
    pdf = Report(format="A4")
    pdf.set_margins(25, 22, 25)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_subject("Technical report on the pipeline tool")
    pdf.set_creator("docs/report/make_report.py")
    pdf.set_creation_date(CREATED)
    pdf.add_page()
    pdf.set_font("Times", style="B", size=17)
    pdf.multi_cell(0, 8, title, align="C")
    pdf.ln(3)
    pdf.set_font("Times", size=12)
    pdf.cell(0, 6, author, align="C")
    pdf.ln(12)
    for kind, text in blocks:
        if kind == "h2":
            pdf.ln(3)
            pdf.set_font("Times", style="B", size=13)
            pdf.multi_cell(0, 7, text)
            pdf.ln(1.5)
        elif kind == "h3":
            pdf.ln(1.5)
            pdf.set_font("Times", style="B", size=11.5)
            pdf.multi_cell(0, 6, text)
            pdf.ln(1)
        else:
            pdf.set_font("Times", size=11)
            pdf.multi_cell(0, 5.4, text, align="J")
            pdf.ln(2.5)
    output.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(output))


def main() -> None:
    """Command line: optional --source and --output paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    render(args.source, args.output)
    print(args.output)


if __name__ == "__main__":
    main()
