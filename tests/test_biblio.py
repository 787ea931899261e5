"""Venue, date and code link come from metadata and text, never from the model."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.core.models import PaperMetadata
from pipeline.model.biblio import bibliography, find_code_url, parse_venue


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


def test_bibliography_copies_metadata() -> None:
    meta = PaperMetadata(key="2209.08575", arxiv_id="2209.08575", version=1, title="SegNeXt",
                         authors=["Meng-Hao Guo", "Cheng-Ze Lu", "Shi-Min Hu"],
                         published=dt.date(2022, 9, 18), comment="Accepted by NeurIPS 2022")
    bib = bibliography(meta, "https://github.com/x/y")
    assert (bib.first_author, bib.last_author, bib.date, bib.venue) == \
        ("Meng-Hao Guo", "Shi-Min Hu", "2022-09", "NeurIPS2022")
