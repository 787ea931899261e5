"""Synthetic one-page papers the fake LLM server can summarize with grounded quotes.

Shared by the batch tests and ``bench/batch.py``: generated at run time with fpdf2, never committed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from fpdf import FPDF

BODY = (
    "Abstract. We propose method M{i} for semi-supervised medical image segmentation with limited labels. "
    "Existing approaches rely heavily on large annotated datasets which are costly to obtain in clinical "
    "practice. Our framework combines a teacher network and a student network that agree on unlabeled "
    "images. The teacher produces pseudo labels that are filtered by an uncertainty estimate before training "
    "the student. Experiments on two public datasets show consistent gains over strong baselines in every "
    "setting we tried. 1 Introduction. Medical image segmentation needs dense annotations drawn by experts "
    "over many slices. Semi-supervised learning reduces this burden by exploiting unlabeled scans together "
    "with a few labeled ones. 2 Method. The student network is trained with a supervised loss and a "
    "consistency loss on perturbed inputs. The teacher network is updated as an exponential moving average "
    "of the student weights after each step. 3 Experiments. We evaluate the framework on cardiac and "
    "abdominal datasets with ten percent of the labels."
)


def write_pdf(path: Path, i: int, title: str) -> Path:
    """A one-page PDF: ``title``, a blank line, then the body of paper ``i``."""
    pdf = FPDF(unit="pt", format="A4")
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    y = 72.0
    for line in [title, "", *textwrap.wrap(BODY.format(i=i), 90)]:
        pdf.text(72, y, line)
        y += 13
    pdf.output(str(path))
    return path
