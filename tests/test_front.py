"""pipeline.text.front: the whole title and the authors from page 1, offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PDFS
from pdf_factory import FILLER, front_page_pdf

from pipeline.model.biblio import find_code_url
from pipeline.text import front, pdf
from pipeline.text.extract import build_document

# What each shared PDF prints on its first page (read by hand); the code link is None where the paper
# prints none before its references.
SHARED = {
    "bethe_lattice_1111.2011v2.pdf": (
        "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit",
        ["James M. Murray", "Adrian Del Maestro", "Zlatko Tešanović"], None),
    "mixmatch_1905.02249.pdf": (
        "MixMatch: A Holistic Approach to Semi-Supervised Learning",
        ["David Berthelot", "Nicholas Carlini", "Ian Goodfellow", "Avital Oliver", "Nicolas Papernot",
         "Colin Raffel"], "https://github.com/google-research/mixmatch"),
    "pvt_2102.12122.pdf": (
        "Pyramid Vision Transformer: A Versatile Backbone for Dense Prediction without Convolutions",
        ["Wenhai Wang", "Enze Xie", "Xiang Li", "Deng-Ping Fan", "Kaitao Song", "Ding Liang", "Tong Lu",
         "Ping Luo", "Ling Shao"], "https://github.com/whai362/PVT"),
    "refinenet_1611.06612.pdf": (
        "RefineNet: Multi-Path Refinement Networks for High-Resolution Semantic Segmentation",
        ["Guosheng Lin", "Anton Milan", "Chunhua Shen", "Ian Reid"], "https://github.com/guosheng/refinenet"),
    "segnext_2209.08575.pdf": (
        "SegNeXt: Rethinking Convolutional Attention Design for Semantic Segmentation",
        ["Meng-Hao Guo", "Cheng-Ze Lu", "Qibin Hou", "Zheng-Ning Liu", "Ming-Ming Cheng", "Shi-Min Hu"], None),
}


def _document(path: Path) -> tuple[str | None, list[str], str | None]:
    doc = build_document(pdf.read_pdf(path, max_bytes=50_000_000, max_pages=300), "0" * 64)
    return doc.title, doc.authors, find_code_url(doc.text, doc.front)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_pdfs_give_full_title_page_one_authors_and_the_printed_code_link(name: str) -> None:
    assert _document(PDFS / name) == SHARED[name]


BODY = ["Abstract", *[FILLER[i:i + 80].strip() for i in range(0, len(FILLER), 80)] * 3,
        "1 Introduction", *[FILLER[i:i + 80].strip() for i in range(0, len(FILLER), 80)] * 4]


def test_title_in_capitals_over_three_lines_and_authors_with_marks_and_emails(tmp_path: Path) -> None:
    # Lines 2 and 3 at 14 pt: the largest text (the title hint) stops at "AS", as it did on DivideMix.
    path = front_page_pdf(tmp_path / "p.pdf", ["DIVIDEMIX: LEARNING WITH NOISY LABELS AS", "SEMI-",
                                               "SUPERVISED LEARNING"],
                          ["Junnan Li1*, Richard Socher2 and Steven C.H. Hoi1,2",
                           "1Salesforce Research, Singapore 2Example University",
                           "{junnan.li,shoi}@salesforce.com, rsocher@example.edu"], BODY, later_size=14)
    title, authors, _ = _document(path)
    assert title == "DIVIDEMIX: LEARNING WITH NOISY LABELS AS SEMI-SUPERVISED LEARNING"
    assert authors == ["Junnan Li", "Richard Socher", "Steven C.H. Hoi"]


def test_one_author_per_block_with_affiliation_and_email(tmp_path: Path) -> None:
    # Line 2 at 15.5 pt, a little smaller than line 1: still the title.
    path = front_page_pdf(tmp_path / "p.pdf", ["U-Net: Convolutional Networks for Biomedical", "Image Segmentation"],
                           ["Olaf Ronneberger", "Computer Science Department, University of Freiburg",
                            "ronneber@informatik.uni-freiburg.de", "Philipp Fischer", "Example Lab, Germany",
                            "Thomas Brox (brox@cs.uni-freiburg.de)"], BODY)
    title, authors, _ = _document(path)
    assert title == "U-Net: Convolutional Networks for Biomedical Image Segmentation"
    assert authors == ["Olaf Ronneberger", "Philipp Fischer", "Thomas Brox"]


@pytest.mark.parametrize("line,names", [
    ("Olaf Ronneberger1,2, Philipp Fischer1, and Thomas Brox1", ["Olaf Ronneberger", "Philipp Fischer",
                                                                "Thomas Brox"]),
    ("Guosheng Lin1∗ Anton Milan2 Chunhua Shen2,3 Ian Reid2,3", ["Guosheng Lin", "Anton Milan", "Chunhua Shen",
                                                               "Ian Reid"]),
    ("James M. Murray,1 Adrian Del Maestro,1, 2 and Zlatko Tešanović1", ["James M. Murray", "Adrian Del Maestro",
                                                                        "Zlatko Tešanović"]),
    ("Wenhai Wang1, Enze Xie2, Deng-Ping Fan4B,", ["Wenhai Wang", "Enze Xie", "Deng-Ping Fan"]),
    ("Olaf Ronneberger ronneber@informatik.uni-freiburg.de", ["Olaf Ronneberger"]),
    ("Google Research", []), ("1Nanjing University 2The University of Hong Kong", []),
    ("(Dated: April 3, 2012)", []), ("Semi Supervised Segmentation Of Medical Images Today", []),
])
def test_names_in_a_line(line: str, names: list[str]) -> None:
    assert front.names_in_line(line) == names


def test_author_field_loses_emails_and_marks() -> None:
    assert front.clean_author("Olaf Ronneberger (ronneber@informatik.uni-freiburg.de)") == "Olaf Ronneberger"
    assert front.clean_author("Deng-Ping Fan4B") == "Deng-Ping Fan"
    assert front.clean_author("Junnan Li1*") == "Junnan Li"


def test_title_runs_on_only_while_it_dangles() -> None:
    lines = ["LEARNING WITH NOISY LABELS AS", "SEMI-SUPERVISED LEARNING", "Junnan Li"]
    assert front.complete_title("LEARNING WITH NOISY LABELS AS", lines) == \
        "LEARNING WITH NOISY LABELS AS SEMI-SUPERVISED LEARNING"
    assert front.complete_title("A Study of Things", ["A Study of Things", "Ann Author"]) == "A Study of Things"
    assert front.complete_title("Not on the page", ["Other"]) == "Not on the page"
