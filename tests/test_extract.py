"""pipeline.text.extract and `pipeline extract` on the five real papers and on generated broken files.

The real PDFs are extracted once per session through the real code path (which fills a session
cache); the CLI tests then read that cache, so the suite stays fast.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PDFS, ROOT
from pdf_factory import BROKEN_CAUSES, BROKEN_KINDS, broken_pdf, ieee_journal_pdf, paper_pages, text_pdf

from pipeline import cli
from pipeline.core.config import load_settings
from pipeline.core.errors import PdfError
from pipeline.core.models import ExtractedDocument, PaperMetadata, TextSelection
from pipeline.text import extract, pdf

NAMES = sorted(p.name for p in PDFS.glob("*.pdf"))
TITLES = {
    "bethe_lattice_1111.2011v2.pdf": "Quantum Criticality for Extended Nodes on a Bethe Lattice",
    "mixmatch_1905.02249.pdf": "MixMatch: A Holistic Approach to Semi-Supervised Learning",
    "pvt_2102.12122.pdf": "Pyramid Vision Transformer: A Versatile Backbone",
    "refinenet_1611.06612.pdf": "RefineNet: Multi-Path Refinement Networks",
    "segnext_2209.08575.pdf": "SegNeXt: Rethinking Convolutional Attention Design",
}
LIGATURES = "\ufb00\ufb01\ufb02\ufb03\ufb04"
STAMP = re.compile(r"arXiv:\s*(\d{4}\.\d{4,5}|[a-z-]+/\d{7})v\d+\s*\[")


@dataclass
class Extracted:
    path: Path
    raw: pdf.PdfText
    doc: ExtractedDocument
    selection: TextSelection


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("extract-cache")


@pytest.fixture(scope="session")
def extracted(session_cache: Path) -> dict[str, Extracted]:
    """Every shared PDF through `extract_source`, with the raw page text pypdf gave it."""
    settings = load_settings({"PIPELINE_CACHE_DIR": str(session_cache)})
    raws: list[pdf.PdfText] = []
    real_read = pdf.read_pdf

    def spy(path: Path, **limits: int) -> pdf.PdfText:
        raws.append(real_read(path, **limits))
        return raws[-1]

    results: dict[str, Extracted] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pdf, "read_pdf", spy)
        for name in NAMES:
            path = PDFS / name
            doc, selection, stats = extract.extract_source(str(path), settings)
            assert not stats.cached
            results[name] = Extracted(path, raws[-1], doc, selection)
    return results


@pytest.fixture
def cached_env(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(session_cache))
    yield


def _raw_lines(raw: pdf.PdfText) -> list[list[str]]:
    return [[" ".join(line.split()) for line in page.splitlines() if line.strip()] for page in raw.pages]


def _repeated_edge_lines(raw: pdf.PdfText) -> set[str]:
    """Lines (with letters, 12+ characters) at the top or bottom 3 lines of 3+ pages of the raw text."""
    counts: Counter[str] = Counter()
    for lines in _raw_lines(raw):
        counts.update(set(lines[:3] + lines[-3:]))
    return {line for line, n in counts.items() if n >= 3 and len(line) >= 12 and re.search(r"[a-z]{3}", line)}


def _line_end_splits(raw: pdf.PdfText) -> set[tuple[str, str]]:
    """(left, right) for every 'left-<newline>right' in the raw text: words split by a line-end hyphen."""
    text = "\n".join(unicodedata.normalize("NFKC", page) for page in raw.pages)
    pairs = set(re.findall(r"\b([A-Za-z]{2,})-\s*\n\s*([a-z]{2,})\b", text))
    return {(a, b) for a, b in pairs if b not in ("and", "or", "to", "vs")}


def assert_clean(name: str, text: str, raw: pdf.PdfText) -> None:
    """The 'Done when' checks on one output text."""
    assert not set(LIGATURES) & set(text), f"{name}: ligature left"
    assert not STAMP.search(text), f"{name}: arXiv side stamp left"
    for line in _repeated_edge_lines(raw):
        assert line not in text, f"{name}: running header/footer left: {line!r}"
    assert "Authorized licensed use limited to" not in text
    for left, right in _line_end_splits(raw):
        assert f"{left}- {right}" not in text and f"{left}-\n{right}" not in text, f"{name}: {left}-{right}"
    for number in _edge_page_numbers(raw):
        assert not re.search(rf"^{number}$", text, re.MULTILINE), f"{name}: page number {number} left"


def _edge_page_numbers(raw: pdf.PdfText) -> set[str]:
    """Bare numbers of 2+ digits on the first or last 2 lines of a raw page (1-digit ones also occur
    alone in equations, so they prove nothing)."""
    return {line for lines in _raw_lines(raw) for line in lines[:2] + lines[-2:]
            if re.fullmatch(r"\d{2,4}", line)}


def test_the_five_shared_pdfs_are_there() -> None:
    assert len(NAMES) == 5, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_document_is_clean_and_has_the_key_sections(name: str, extracted: dict[str, Extracted]) -> None:
    result = extracted[name]
    kinds = {s.kind for s in result.doc.sections}
    assert {"abstract", "introduction", "conclusion"} <= kinds, kinds
    assert not kinds & {"references", "acknowledgements", "appendix"}
    assert result.doc.title is not None and result.doc.title.startswith(TITLES[name])
    assert result.doc.pages == len(result.raw.pages)
    assert_clean(name, result.doc.text, result.raw)
    assert result.selection.tokens <= result.selection.budget == 6000


def test_the_checks_have_something_to_find(extracted: dict[str, Extracted]) -> None:
    """Guard against vacuous checks: the raw text really has what the cleaning removes."""
    refinenet = extracted["refinenet_1611.06612.pdf"]
    assert any("Authorized licensed use" in line for line in _repeated_edge_lines(refinenet.raw))
    assert refinenet.doc.removed["licence_footer"] == 10
    for name in ("bethe_lattice_1111.2011v2.pdf", "mixmatch_1905.02249.pdf", "segnext_2209.08575.pdf"):
        assert STAMP.search("\n".join(extracted[name].raw.pages)), name
        assert extracted[name].doc.removed["side_stamp"] == 1
    for name in NAMES:
        raw = "".join(extracted[name].raw.pages)
        assert set(LIGATURES) & set(raw) or name.startswith("pvt"), name
        assert len(_line_end_splits(extracted[name].raw)) >= 10, name
        assert extracted[name].doc.removed["page_number"] >= extracted[name].doc.pages - 1, name
    assert len(_edge_page_numbers(extracted["pvt_2102.12122.pdf"].raw)) >= 10


def test_revtex_abstract_and_roman_sections(extracted: dict[str, Extracted]) -> None:
    doc = extracted["bethe_lattice_1111.2011v2.pdf"].doc
    assert doc.sections[0].kind == "abstract"
    assert doc.sections[0].text.startswith("Theoretical description of anisotropic systems")
    assert "II. SELF-CONSISTENT ACTION IN THE LARGE z LIMIT" in [s.title for s in doc.sections]
    assert doc.sections[-1].title == "V. DISCUSSION" and doc.sections[-1].kind == "conclusion"


@pytest.mark.parametrize("gap", [14.0, 6.0, 1.0])
def test_ieee_transactions_layout_finds_introduction_method_and_conclusion(tmp_path: Path, gap: float) -> None:
    # A real one of these came out as 'Abstract' plus a 7,900-token 'Index Terms' section (issue 11).
    path = ieee_journal_pdf(tmp_path / "ieee.pdf", heading_gap=gap)
    doc = extract.build_document(pdf.read_pdf(path, max_bytes=10_000_000, max_pages=20), "0" * 64)
    found = [(s.title, s.kind) for s in doc.sections]
    assert found[:3] == [("Abstract", "abstract"), ("Index Terms", "other"), ("1 INTRODUCTION", "introduction")]
    assert ("3 METHODS", "method") in found and ("3.1 Overview", "method") in found
    assert found[-1] == ("5 CONCLUSION", "conclusion")
    assert doc.sections[1].tokens < 30
    assert doc.title == "Aligned Views for Semantic Segmentation"
    assert doc.authors == ["Wei Zhang", "Maria Rossi"]


def test_numbered_list_items_are_not_sections(extracted: dict[str, Extracted]) -> None:
    titles = [s.title for s in extracted["refinenet_1611.06612.pdf"].doc.sections]
    assert titles[:4] == ["Abstract", "1. Introduction", "1.1. Related Work", "2. Background"]
    pvt = [s.title for s in extracted["pvt_2102.12122.pdf"].doc.sections]
    assert "1. CLS" not in pvt and pvt[-1] == "6. Conclusions and Future Work"


@pytest.mark.parametrize("name", NAMES)
def test_cli_extract_prints_clean_text_and_a_stat_line(name: str, extracted: dict[str, Extracted],
                                                       cached_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    """With no endpoint configured, what the embedded model reads: one reading per question, each with
    the sentence ids the request shows; the framework reading reaches the method section."""
    assert cli.main(["extract", str(PDFS / name)]) == 0
    out, err = capsys.readouterr()
    parts = out.strip().split("\n\n# ")
    assert [p.split(":")[0].lstrip("# ") for p in parts] == ["problems", "motivation", "framework"]
    for part in parts:
        assert part.splitlines()[1].startswith(f"[S1] Title: {TITLES[name]}")
        assert_clean(name, re.sub(r"\[S\d+\] ", "", part.split("\n", 1)[1]), extracted[name].raw)
    framework = [s for s in extracted[name].doc.sections if s.kind == "method"]
    assert not framework or any(s.title in parts[2].splitlines()[0] for s in framework)
    stat = err.strip().splitlines()
    assert len(stat) == 1
    assert re.fullmatch(r"pages=\d+ chars=\d+ tokens~\d+ sections=\d+ readings=3 \(problems ~\d+/800, "
                        r"motivation ~\d+/800, framework ~\d+/800\) ms=\d+ \(cached\)", stat[0]), stat


def test_cli_json_lists_every_section_with_tokens_and_fate(extracted: dict[str, Extracted], cached_env: None,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["extract", str(PDFS / "mixmatch_1905.02249.pdf"), "--json", "--budget", "2000"]) == 0
    data = json.loads(capsys.readouterr().out)
    doc = extracted["mixmatch_1905.02249.pdf"].doc
    assert data["budget"] == 2000 and data["tokens"] <= 2000
    assert [s["title"] for s in data["sections"]] == ["Title", *[s.title for s in doc.sections]]
    assert all(isinstance(s["tokens"], int) and isinstance(s["kept"], bool) for s in data["sections"])
    fate = {s["title"]: s for s in data["sections"]}
    assert fate["Abstract"]["kept"] and fate["1 Introduction"]["kept"] and fate["5 Conclusion"]["kept"]
    assert not fate["2.1 Consistency Regularization"]["kept"]
    assert "2.1 Consistency Regularization" in data["cut"]
    assert data["text"].startswith("Title: MixMatch")
    assert [r["question"] for r in data["readings"]] == ["problems", "motivation", "framework"]
    assert all(r["budget"] == 1000 and r["ids"] and r["text"].startswith("[S1] Title: MixMatch")
               for r in data["readings"])


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_cli_broken_file_exit_1_and_one_line(kind: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = broken_pdf(kind, tmp_path, PDFS / "pvt_2102.12122.pdf")
    assert cli.main(["extract", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and str(path) in lines[0]
    assert re.search(BROKEN_CAUSES[kind], lines[0]), lines[0]


def test_real_process_stderr_has_no_traceback_or_pypdf_noise(tmp_path: Path) -> None:
    good = text_pdf(tmp_path / "good.pdf", paper_pages())
    offset = tmp_path / "offset.pdf"  # pypdf recovers from the wrong startxref, with a warning
    offset.write_bytes(re.sub(rb"startxref\s+\d+", b"startxref\n12", good.read_bytes()))
    corrupt = broken_pdf("corrupt", tmp_path, good)
    env = {"PIPELINE_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "pipeline", "extract", str(offset)], capture_output=True,
                        text=True, env=env, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr.count("\n") == 1 and ok.stderr.startswith("pages=3 "), ok.stderr
    bad = subprocess.run([sys.executable, "-m", "pipeline", "extract", str(corrupt)], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert str(corrupt) in bad.stderr and "corrupt" in bad.stderr


def test_generated_paper_is_cleaned_and_sectioned(tmp_path: Path) -> None:
    path = text_pdf(tmp_path / "paper.pdf", paper_pages(), header="Journal of Generated Tests, Vol. 1")
    doc = extract.extract_document(path, load_settings({"PIPELINE_CACHE_DIR": str(tmp_path / "cache")}))
    assert [(s.title, s.kind) for s in doc.sections] == [
        ("Abstract", "abstract"), ("1 Introduction", "introduction"), ("2 Method", "method"),
        ("3 Experiments", "experiments"), ("4 Conclusion", "conclusion")]
    assert "Journal of Generated Tests" not in doc.text
    assert "cleaning and section" in doc.text and "sec-" not in doc.text
    assert "[1] A. Author" not in doc.text
    assert doc.removed["running_header_footer"] == 3 and doc.removed["page_number"] == 3
    assert doc.title == "A Small Test Paper"


def test_second_extraction_comes_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = text_pdf(tmp_path / "paper.pdf", paper_pages())
    settings = load_settings({"PIPELINE_CACHE_DIR": str(tmp_path / "cache")})
    first = extract.extract_document(path, settings)

    def no_parsing(*args: object, **kwargs: object) -> pdf.PdfText:
        raise AssertionError("re-extracted a cached PDF")

    monkeypatch.setattr(pdf, "read_pdf", no_parsing)
    assert extract.extract_document(path, settings) == first
    assert extract.cached_document(tmp_path / "cache", first.sha256) == first
    # A changed file is a different sha256: extracted again.
    other = text_pdf(tmp_path / "other.pdf", paper_pages()[:2])
    with pytest.raises(AssertionError, match="re-extracted"):
        extract.extract_document(other, settings)


def test_cached_document_misses_cleanly(tmp_path: Path) -> None:
    assert extract.cached_document(tmp_path, "0" * 64) is None


def test_extract_document_errors_name_the_file(tmp_path: Path) -> None:
    path = broken_pdf("image-only", tmp_path, tmp_path)
    with pytest.raises(PdfError, match=re.escape(str(path))):
        extract.extract_document(path, load_settings({"PIPELINE_CACHE_DIR": str(tmp_path / "cache")}))


def test_budget_flag_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["extract", str(PDFS / NAMES[0]), "--budget", "0"]) == 1
    assert "--budget must be a positive" in capsys.readouterr().err


def test_arxiv_source_uses_metadata_and_names_the_paper_in_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({"PIPELINE_CACHE_DIR": str(tmp_path / "cache")})
    good = text_pdf(tmp_path / "good.pdf", paper_pages())
    metadata = PaperMetadata(key="2209.08575", arxiv_id="2209.08575", title="The arXiv Title",
                             abstract="The arXiv abstract.")
    served = {"path": good}
    monkeypatch.setattr(extract, "fetch_metadata", lambda source, settings: metadata)
    monkeypatch.setattr(extract, "fetch_pdf", lambda source, settings, metadata=None: served["path"])
    _, selection, stats = extract.extract_source("2209.08575", settings, budget=500)
    assert selection.text.startswith("Title: The arXiv Title\n\nAbstract\nWe study")  # the PDF's abstract
    assert stats.budget == 500 and selection.tokens <= 500 and stats.pages == 3
    served["path"] = broken_pdf("image-only", tmp_path, good)
    with pytest.raises(PdfError, match=r"^2209\.08575: .*scan\.pdf has no extractable text"):
        extract.extract_source("2209.08575", settings)


def test_table_rows_and_subfigure_labels_are_removed(extracted: dict[str, Extracted]) -> None:
    refinenet = extracted["refinenet_1611.06612.pdf"]
    raw = "\n".join(refinenet.raw.pages)
    for row in ("ResNet-101 yes yes 44.7 68.6", "ResNet-152 yes yes 46.5 68.8", "(b) Ground Truth"):
        assert row in raw  # the guard: pypdf's text has them
        assert row not in refinenet.doc.text
    assert refinenet.doc.removed["table_row"] >= 30
    # The prose around the tables stays, numbers and all.
    assert "we carry out comprehensive experiments on seven public datasets" in refinenet.doc.text


def test_a_footnote_between_two_columns_no_longer_cuts_a_word(extracted: dict[str, Extracted]) -> None:
    pvt = extracted["pvt_2102.12122.pdf"]
    raw = "\n".join(pvt.raw.pages)
    assert "Pyramid Vision Trans-\n1Due to resource constraints" in raw  # the guard: pypdf's order
    assert "termed Pyramid Vision Transformer (PVT), which can serve as an alternative" in pvt.doc.text
    assert "1Due to resource constraints" in pvt.doc.text  # moved, not lost


def test_a_caption_no_longer_cuts_a_sentence(extracted: dict[str, Extracted]) -> None:
    refinenet = extracted["refinenet_1611.06612.pdf"]
    raw = "\n".join(refinenet.raw.pages)
    assert "Figure 4. Our prediction examples on Person-Parts dataset.\nall classes." in raw  # the guard
    assert "the mean accuracy [36] over all classes. As commonly done in the literature" in refinenet.doc.text
    assert "Figure 4. Our prediction examples on Person-Parts dataset." in refinenet.doc.text  # moved, kept
