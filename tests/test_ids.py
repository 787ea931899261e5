"""parse_source: every accepted form gives the right id, version and key; anything else one clear error."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from conftest import PDFS

from pipeline.core.errors import SourceError
from pipeline.sources import Source, parse_source
from pipeline.sources.ids import arxiv_id_in_path, slug

GOOD_ARXIV = [
    # (input, arxiv_id, version, key)
    ("2506.01234", "2506.01234", None, "2506.01234"),
    ("2506.01234v2", "2506.01234", 2, "2506.01234"),
    ("2506.01234v12", "2506.01234", 12, "2506.01234"),
    ("0704.0001", "0704.0001", None, "0704.0001"),
    ("1412.9999v3", "1412.9999", 3, "1412.9999"),
    ("1501.00001", "1501.00001", None, "1501.00001"),
    ("  2209.08575  ", "2209.08575", None, "2209.08575"),
    ("arXiv:2506.01234", "2506.01234", None, "2506.01234"),
    ("arxiv:2506.01234v1", "2506.01234", 1, "2506.01234"),
    ("ARXIV: 0704.0001", "0704.0001", None, "0704.0001"),
    ("hep-th/9901001", "hep-th/9901001", None, "hep-th_9901001"),
    ("hep-th/9901001v3", "hep-th/9901001", 3, "hep-th_9901001"),
    ("math.GT/0309136", "math/0309136", None, "math_0309136"),
    ("math.GT/0309136v1", "math/0309136", 1, "math_0309136"),
    ("cond-mat/0703470", "cond-mat/0703470", None, "cond-mat_0703470"),
    ("arXiv:hep-th/9901001", "hep-th/9901001", None, "hep-th_9901001"),
    ("https://arxiv.org/abs/2506.01234", "2506.01234", None, "2506.01234"),
    ("http://arxiv.org/abs/2506.01234v2", "2506.01234", 2, "2506.01234"),
    ("https://arxiv.org/abs/2506.01234v2/", "2506.01234", 2, "2506.01234"),
    ("https://arxiv.org/abs/2506.01234?context=cs", "2506.01234", None, "2506.01234"),
    ("https://www.arxiv.org/abs/2506.01234", "2506.01234", None, "2506.01234"),
    ("https://export.arxiv.org/abs/2506.01234", "2506.01234", None, "2506.01234"),
    ("https://arxiv.org/pdf/2506.01234", "2506.01234", None, "2506.01234"),
    ("https://arxiv.org/pdf/2506.01234.pdf", "2506.01234", None, "2506.01234"),
    ("https://arxiv.org/pdf/2506.01234v3.pdf", "2506.01234", 3, "2506.01234"),
    ("http://export.arxiv.org/pdf/2506.01234v3", "2506.01234", 3, "2506.01234"),
    ("https://arxiv.org/html/2506.01234v1", "2506.01234", 1, "2506.01234"),
    ("https://arxiv.org/html/2506.01234v1/", "2506.01234", 1, "2506.01234"),
    ("https://arxiv.org/html/2506.01234v1#S3", "2506.01234", 1, "2506.01234"),
    ("https://arxiv.org/abs/hep-th/9901001", "hep-th/9901001", None, "hep-th_9901001"),
    ("https://arxiv.org/pdf/hep-th/9901001v2.pdf", "hep-th/9901001", 2, "hep-th_9901001"),
    ("https://arxiv.org/abs/math.GT/0309136", "math/0309136", None, "math_0309136"),
    ("HTTPS://ARXIV.ORG/abs/2506.01234", "2506.01234", None, "2506.01234"),
]


@pytest.mark.parametrize(("text", "arxiv_id", "version", "key"), GOOD_ARXIV)
def test_arxiv_forms(text: str, arxiv_id: str, version: int | None, key: str) -> None:
    source = parse_source(text)
    assert (source.kind, source.arxiv_id, source.version, source.key) == ("arxiv", arxiv_id, version, key)
    assert source.raw == text
    assert source.path is None and source.url is None


def test_versioned_id() -> None:
    assert parse_source("2506.01234v2").versioned_id == "2506.01234v2"
    assert parse_source("hep-th/9901001").versioned_id == "hep-th/9901001"


MALFORMED = [
    "",
    "   ",
    "not an id",
    "2506.1234",           # five digits required since 2015
    "1412.12345",          # four digits before 2015
    "2506.012345",
    "2513.01234",          # month 13
    "2500.01234",          # month 0
    "0703.0001",           # new style began 2007-04
    "2506.01234v0",
    "2506.01234v",
    "2506.01234vv2",
    "2506-01234",
    "2506.01234.5",
    "arXiv:",
    "arXiv:abc",
    "abc",
    "0000.0000",
    "0808.05394",          # five digits in 2008
    "hep-th/990100",       # six digits
    "hep-th/99010011",
    "hep-th/9913001",      # month 13
    "foo-bar/9901001",     # not an old archive
    "HEP-TH/9901001",
    "hep-th9901001",
    "https://arxiv.org/",
    "https://arxiv.org/list/cs.CV/recent",
    "https://arxiv.org/abs/",
    "https://arxiv.org/abs/not-an-id",
    "https://arxiv.org/abs/2506.1234",
    "https://arxiv.org/pdf/2506.01234v2.txt",
    "https://arxiv.org/format/2506.01234",
    "ftp://arxiv.org/pdf/2506.01234",
    "file:///tmp/paper.pdf",
    "https://example.com/",
    "https://example.com/paper.html",
    "https:///paper.pdf",
    "2506.01234\n2506.01235",
    "arxiv.org/abs/2506.01234",   # no scheme
    "https://arxiv.org/abs/2506.01234v2 extra",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_inputs_fail_with_one_line_naming_the_input(text: str) -> None:
    with pytest.raises(SourceError) as info:
        parse_source(text)
    message = str(info.value)
    assert "\n" not in message
    assert repr(text) in message or text.strip() in message
    assert "arXiv id" in message and "PDF" in message  # lists the accepted forms


def test_missing_local_pdf_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "paper.pdf"
    with pytest.raises(SourceError, match=re.escape(str(missing))):
        parse_source(str(missing))
    with pytest.raises(SourceError, match=r"not found: ./no-such.pdf"):
        parse_source("./no-such.pdf")


def test_directory_is_not_a_pdf(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="directory"):
        parse_source(str(tmp_path))


def test_local_pdf_key_is_slug_plus_file_hash(tmp_path: Path) -> None:
    pdf = tmp_path / "My Great Paper (final).pdf"
    pdf.write_bytes(b"%PDF-1.4 whatever")
    source = parse_source(str(pdf))
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()[:8]
    assert source == Source(kind="pdf", raw=str(pdf), key=f"my-great-paper-final-{digest}", path=pdf.resolve())
    pdf.write_bytes(b"%PDF-1.4 other bytes")
    assert parse_source(str(pdf)).key != source.key


def test_local_pdf_named_after_arxiv_id_uses_that_key(tmp_path: Path) -> None:
    assert parse_source(str(PDFS / "segnext_2209.08575.pdf")).key == "2209.08575"
    bethe = parse_source(str(PDFS / "bethe_lattice_1111.2011v2.pdf"))
    assert (bethe.kind, bethe.arxiv_id, bethe.version, bethe.key) == ("pdf", "1111.2011", 2, "1111.2011")
    folder = tmp_path / "hep-th"
    folder.mkdir()
    (folder / "9901001v2.pdf").write_bytes(b"%PDF-1.4")
    old = parse_source(str(folder / "9901001v2.pdf"))
    assert (old.arxiv_id, old.version, old.key) == ("hep-th/9901001", 2, "hep-th_9901001")
    (tmp_path / "hep-th_9901001.pdf").write_bytes(b"%PDF-1.4")
    assert parse_source(str(tmp_path / "hep-th_9901001.pdf")).key == "hep-th_9901001"


def test_arxiv_id_in_path_ignores_longer_digit_runs() -> None:
    assert arxiv_id_in_path(Path("/x/scan_12209.085751.pdf")) is None
    assert arxiv_id_in_path(Path("/x/report-2023.pdf")) is None
    assert arxiv_id_in_path(Path("/x/arXiv-2209.08575v3.pdf")) == ("2209.08575", 3)


def test_local_pdf_with_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "paper.pdf").write_bytes(b"%PDF-1.4")
    assert parse_source("~/paper.pdf").path == (tmp_path / "paper.pdf").resolve()


@pytest.mark.parametrize(("url", "prefix"), [
    ("https://example.com/papers/Foo%20Bar.pdf", "foo-bar-"),
    ("http://openaccess.thecvf.com/content/CVPR2023/papers/Li_Seg_CVPR_2023_paper.PDF",
     "li_seg_cvpr_2023_paper-"),
    ("https://openreview.net/pdf?id=abc123", "openreview-pdf-"),
    ("http://127.0.0.1:8000/a.pdf", "a-"),
])
def test_pdf_urls(url: str, prefix: str) -> None:
    source = parse_source(url)
    assert source.kind == "url" and source.url == url and source.arxiv_id is None
    assert source.key == prefix + hashlib.sha256(url.encode()).hexdigest()[:8]
    assert re.fullmatch(r"[a-z0-9._-]+", source.key)


def test_keys_are_filesystem_safe() -> None:
    for text, *_ in GOOD_ARXIV:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", parse_source(text).key)


def test_slug() -> None:
    assert slug("  Ünïcode / ..dots.. ") == "unicode-dots"
    assert slug("???") == "paper"
    assert len(slug("a" * 200)) == 48


def test_cli_rejects_a_bad_source_in_one_line() -> None:
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pipeline", "fetch", "not an id"], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ),
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: not a paper source: 'not an id'")
    assert "Traceback" not in done.stderr
