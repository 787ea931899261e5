"""Prompt tokens per paper against the full extracted text, for the remote and the embedded budgets.

Usage: python bench/prompt_tokens.py [folder-of-pdfs]   (default ../shared/testdata/pdfs)

Token counts are pipeline.text.budget.estimate_tokens estimates (the same estimate the budget uses);
no model is called.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from pipeline.core.config import load_settings
from pipeline.model.prompts import render
from pipeline.text.budget import estimate_tokens, select_text
from pipeline.text.extract import extract_document

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "pdfs"


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT
    pdfs = sorted(folder.glob("*.pdf"))
    if not pdfs:
        print(f"no PDFs in {folder}", file=sys.stderr)
        return 1
    env = dict(os.environ)
    env.setdefault("PIPELINE_CACHE_DIR", tempfile.mkdtemp(prefix="pipeline-bench-"))
    settings = load_settings(env)
    budgets = {"remote": (settings.pdf.budget_tokens, True), "embedded": (settings.local.budget_tokens, False)}
    header = f"{'paper':34} {'full text':>9}" + "".join(f" {name + ' prompt':>16} {'share':>6}" for name in budgets)
    print(header)
    totals = {name: 0 for name in budgets}
    full_total = 0
    for pdf in pdfs:
        doc = extract_document(pdf, settings)
        full = estimate_tokens(doc.text)
        full_total += full
        row = f"{pdf.stem[:34]:34} {full:>9}"
        for name, (budget, bilingual) in budgets.items():
            selection = select_text(doc, budget)
            system = render(settings.prompts_dir, "system.j2", bilingual=bilingual, example=bilingual)
            user = render(settings.prompts_dir, "user.j2", bilingual=bilingual, text=selection.text)
            prompt = estimate_tokens(system.text) + estimate_tokens(user.text)
            totals[name] += prompt
            row += f" {prompt:>16} {prompt / full:>6.0%}"
        print(row)
    row = f"{'total':34} {full_total:>9}"
    for name in budgets:
        row += f" {totals[name]:>16} {totals[name] / full_total:>6.0%}"
    print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
