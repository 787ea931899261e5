"""Venue, date and code link come from metadata and text, never from the model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pdf_factory import front_page_pdf

from pipeline.core.models import PaperMetadata
from pipeline.model.biblio import bibliography, find_code_url, parse_venue
from pipeline.text import pdf
from pipeline.text.extract import build_document


@pytest.mark.parametrize("journal_ref,comment,year,expected", [
    (None, "Accepted to CVPR 2025", None, "CVPR2025"),
    (None, "MICCAI'24 camera ready", None, "MICCAI2024"),
    ("IEEE Transactions on Medical Imaging, 2023", None, None, "TMI2023"),
    (None, "Accepted by NeurIPS", 2019, "NeurIPS2019"),
    ("Phys. Rev. B 85, 144203 (2012)", "9 pages", None, "PRB2012"),
    (None, "12 pages, 5 figures", 2020, "arXiv"),
    (None, None, None, "arXiv"),
])
def test_parse_venue(journal_ref: str | None, comment: str | None, year: int | None, expected: str) -> None:
    assert parse_venue(journal_ref, comment, year) == expected


def test_code_url_only_when_it_appears() -> None:
    assert find_code_url("Code is available at https://github.com/a/b.") == "https://github.com/a/b"
    assert find_code_url("We thank https://example.org for data.") is None
    assert find_code_url("Our code will be released at https://lab.example.org/proj") == \
        "https://lab.example.org/proj"
    assert find_code_url(None, "", "see https://github.com only") is None
    assert find_code_url("x", "https://huggingface.co/org/model weights") == "https://huggingface.co/org/model"


@pytest.mark.parametrize("text,url", [
    # A footnote mark glued on after the full stop that ends the sentence.
    ("Code is available at https://github.com/LiJunnan1992/DivideMix.1", "https://github.com/LiJunnan1992/DivideMix"),
    ("available at http://lmb.informatik.uni-freiburg.de/people/ronneber/u-net.1\nNext",
     "http://lmb.informatik.uni-freiburg.de/people/ronneber/u-net"),
    ("code: https://github.com/a/model-v1.2", "https://github.com/a/model-v1.2"),
    # A URL that ends at the line end is not glued to the next line's word or heading.
    ("benefits: 1https://github.com/google-research/mixmatch\nSharpen\n... K augmentations",
     "https://github.com/google-research/mixmatch"),
    ("1Code: https://github.com/guosheng/refinenet\n\n1.1. Related Work", "https://github.com/guosheng/refinenet"),
    ("Code: https://github.com/a/b.\nWe thank everyone.", "https://github.com/a/b"),
    # A URL broken where a URL breaks goes on, whatever case the next line starts in.
    ("Code: https://github.com/LiJunnan1992/\nDivideMix.", "https://github.com/LiJunnan1992/DivideMix"),
    ("Code: https://github.com/open-\nmmlab/mmseg", "https://github.com/open-mmlab/mmseg"),
    ("Code is at http://host.\nrobots.ox.ac.uk:8080/code.", "http://host.robots.ox.ac.uk:8080/code"),
    ("Code: https://gitlab.com/group\n/project here", "https://gitlab.com/group/project"),
])
def test_code_url_is_the_url_printed(text: str, url: str) -> None:
    assert find_code_url(text) == url


def test_code_links_from_a_generated_page(tmp_path: Path) -> None:
    lines = ["Abstract", "We propose a method. Code is available at https://github.com/example/DivideMix.1",
             "1 Introduction", "As in earlier work, see the footnote below.",
             "1https://github.com/example/mixmatch", "Sharpen the guesses of every unlabeled image."]
    path = front_page_pdf(tmp_path / "p.pdf", ["A Title"], ["Ann Author"], lines)
    doc = build_document(pdf.read_pdf(path, max_bytes=1_000_000, max_pages=5), "0" * 64)
    assert find_code_url(doc.text, doc.front) == "https://github.com/example/DivideMix"
    assert find_code_url(doc.text.split("Introduction", 1)[1]) == "https://github.com/example/mixmatch"
    broken = front_page_pdf(tmp_path / "q.pdf", ["A Title"], ["Ann Author", "Code: https://github.com/example/",
                                                              "Repo", "Abstract", "We propose a method."], [])
    doc = build_document(pdf.read_pdf(broken, max_bytes=1_000_000, max_pages=5), "0" * 64)
    assert find_code_url(doc.text, doc.front) == "https://github.com/example/Repo"


def test_bibliography_copies_metadata() -> None:
    meta = PaperMetadata(key="2209.08575", arxiv_id="2209.08575", version=1, title="SegNeXt",
                         authors=["Meng-Hao Guo", "Cheng-Ze Lu", "Shi-Min Hu"],
                         published=dt.date(2022, 9, 18), comment="Accepted by NeurIPS 2022")
    bib = bibliography(meta, "https://github.com/x/y")
    assert (bib.first_author, bib.last_author, bib.date, bib.venue) == \
        ("Meng-Hao Guo", "Shi-Min Hu", "2022-09", "NeurIPS2022")
