"""lint: copied summaries, duplicate papers, missing fields, stale render; both places named."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE_LIST, LISTS
from test_render import PAPERS, record

from pipeline import cli
from pipeline.listing.importer import import_list
from pipeline.listing.lint import lint_list
from pipeline.listing.render import render_list
from pipeline.workspace import papers, store


def test_example_beta_fft_carries_the_previous_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    papers_path, summaries = tmp_path / "papers.yaml", tmp_path / "summaries"
    import_list(EXAMPLE_LIST, papers_path, summaries)
    doc = papers.load_papers(papers_path)
    first, beta = (papers.entry_key(e) for e in doc.data.papers[:2])
    assert beta.startswith("fft-nonlinear")
    code = cli.main(["lint", "--papers", str(papers_path), "--summaries", str(summaries),
                     "--out", str(tmp_path / "LIST.md")])
    out = capsys.readouterr().out
    assert code == 1
    copied = [f for f in lint_list(papers_path, summaries, None) if f.kind == "copied-summary"]
    assert len(copied) == 1
    finding = copied[0]
    assert finding.message.startswith("'β-FFT: Nonlinear Interpolation")
    assert f"({beta}) carries the summary text of 'A Semantic Knowledge" in finding.message
    assert "5 of its 6 bullets are near-identical" in finding.message
    # Both places, with lines: the β-FFT file and the paper before it.
    assert finding.places[0].startswith(str(summaries / f"{beta}.yaml"))
    assert finding.places[1].startswith(str(summaries / f"{first}.yaml"))
    assert f"{summaries / beta}.yaml:15 zh.problems[2] = {summaries / first}.yaml:15 zh.problems[2] (1.00)" \
        in finding.places
    assert "copied-summary: 'β-FFT" in out
    # The first bullet of β-FFT is its own and is not reported.
    assert not any("zh.problems[1] =" in p for p in finding.places)


def _workspace(tmp_path: Path, papers_text: str = PAPERS) -> tuple[Path, Path]:
    papers_path = tmp_path / "papers.yaml"
    papers_path.write_text(papers_text, encoding="utf-8")
    summaries = tmp_path / "summaries"
    store.save_record(summaries, record("2501.00001", "Mean teachers for sparse labels", date="2025-03"))
    store.save_record(summaries, record("2502.00002", "Uncertainty in active learning"))
    return papers_path, summaries


def test_clean_list_has_no_findings(tmp_path: Path) -> None:
    papers_path, summaries = _workspace(tmp_path, PAPERS.split("  - source: \"2503.00003\"")[0])
    out = tmp_path / "LIST.md"
    out.write_text(render_list(papers_path, summaries).text, encoding="utf-8")
    assert lint_list(papers_path, summaries, out) == []
    assert cli.main(["lint", "--papers", str(papers_path), "--summaries", str(summaries), "--out", str(out)]) == 0


def test_near_identical_titles_name_both_entries(tmp_path: Path) -> None:
    text = PAPERS + ('  - source: "title:Mean Teachers for Sparse Labels."\n    setting: semi\n')
    papers_path, summaries = _workspace(tmp_path, text)
    found = [f for f in lint_list(papers_path, summaries, None) if f.kind == "duplicate-paper"]
    assert len(found) == 1
    assert found[0].places == [f"{papers_path}:18 (2501.00001)",
                               f"{papers_path}:27 ({papers.title_key('Mean Teachers for Sparse Labels.')})"]


def test_same_arxiv_id_any_version(tmp_path: Path) -> None:
    papers_path, summaries = _workspace(tmp_path, PAPERS + '  - source: "https://arxiv.org/abs/2501.00001v3"\n')
    found = lint_list(papers_path, summaries, None)
    assert found[0].kind == "invalid-file"
    assert "papers.yaml:27: papers[4].source: duplicate paper 'https://arxiv.org/abs/2501.00001v3', already " \
           "listed as '2501.00001' at line 18" in found[0].message


def test_copied_bullets_between_records(tmp_path: Path) -> None:
    papers_path, summaries = _workspace(tmp_path)
    copy = record("2503.00003", "Another paper")
    original = store.load_record(store.record_path(summaries, "2501.00001"))
    assert copy.summary.zh is not None and original.summary.zh is not None
    copy.summary.zh.motivation = [original.summary.zh.motivation[0] + "。"]  # one character added
    store.save_record(summaries, copy)
    found = [f for f in lint_list(papers_path, summaries, None) if f.kind == "copied-summary"]
    assert len(found) == 1
    assert "'Another paper' (2503.00003) carries the summary text of 'Mean teachers" in found[0].message
    assert any("2503.00003.yaml:" in p and "zh.motivation[1] =" in p and "2501.00001.yaml:" in p
               for p in found[0].places)


def test_missing_fields(tmp_path: Path) -> None:
    text = PAPERS + '  - source: "2505.00005"\n    status: approved\n'
    papers_path, summaries = _workspace(tmp_path, text)
    bare = record("2505.00005", "No date here")
    bare.paper.date = None
    store.save_record(summaries, bare)
    messages = [str(f) for f in lint_list(papers_path, summaries, None) if f.kind == "missing-field"]
    assert any("'No date here' lacks paper.date" in m and "2505.00005.yaml:" in m and "papers.yaml:27" in m
               for m in messages)
    assert any("entry '2505.00005' has no setting" in m for m in messages)


def test_stale_render_is_a_finding(tmp_path: Path) -> None:
    papers_path, summaries = _workspace(tmp_path)
    out = tmp_path / "LIST.md"
    out.write_text(render_list(papers_path, summaries).text, encoding="utf-8")
    assert not [f for f in lint_list(papers_path, summaries, out) if f.kind == "stale-render"]
    store.save_record(summaries, record("2503.00003", "Newly approved"))
    stale = [f for f in lint_list(papers_path, summaries, out) if f.kind == "stale-render"]
    assert len(stale) == 1 and stale[0].message == f"{out} is stale; run `python -m pipeline render --out {out}`"


def test_listed_papers_are_one_count_with_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    papers_path, summaries = tmp_path / "papers.yaml", tmp_path / "summaries"
    import_list(LISTS / "weakly-supervised-table.md", papers_path, summaries)
    out = tmp_path / "LIST.md"
    out.write_text(render_list(papers_path, summaries).text, encoding="utf-8")
    findings = lint_list(papers_path, summaries, out)
    assert [f.kind for f in findings] == ["listed"]
    assert findings[0].message == ("14 papers are in the list but not summarized yet (status listed); summarize "
                                   "them with `python -m pipeline batch --status listed` (9 of them are known "
                                   "by title only: give each an arXiv id or a PDF as its source first)")
    # Where the list stands is not a failure.
    args = ["lint", "--papers", str(papers_path), "--summaries", str(summaries), "--out", str(out)]
    assert cli.main(args) == 0
    assert "listed: 14 papers are in the list" in capsys.readouterr().out
