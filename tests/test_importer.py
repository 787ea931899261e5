"""import: the example list into papers.yaml and approved records; slid columns; round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE_LIST

from pipeline import cli
from pipeline.core.errors import ImportListError
from pipeline.listing.importer import import_list
from pipeline.listing.mdlist import TableRow, parse_list
from pipeline.listing.render import render_list
from pipeline.model.summary import ImportedChineseSummary
from pipeline.workspace import papers, store

SLID_LINES = [23, 25, 26, 27, 28]


Facts = tuple[str | None, str | None, str | None, str | None, bool | None]


def _facts(rows: list[TableRow]) -> dict[str, Facts]:
    facts: dict[str, Facts] = {}
    for row in rows:
        facts.setdefault(row.title, (row.date, row.first_author, row.last_author, row.venue, row.code.present))
    return facts


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Path, Path]:
    papers_path, summaries = tmp_path / "papers.yaml", tmp_path / "summaries"
    import_list(EXAMPLE_LIST, papers_path, summaries)
    return papers_path, summaries


def test_parser_repairs_slid_rows() -> None:
    parsed = parse_list(EXAMPLE_LIST.read_text(encoding="utf-8"))
    rows = {row.line: row for setting in parsed.settings for row in setting.rows}
    assert sorted(line for line, row in rows.items() if row.slid) == SLID_LINES
    sgtc = rows[25]
    assert sgtc.title.startswith("SGTC: Semantic-Guided Triplet Co-training")
    assert (sgtc.dim, sgtc.code.present, sgtc.venue, sgtc.date) == (None, False, "AAAI2025", "2025-04")
    assert (rows[22].dim, rows[22].first_author, rows[22].last_author) == ("2D", "Ming Hu", "Quan Wang")


def test_import_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    papers_path, summaries = tmp_path / "papers.yaml", tmp_path / "summaries"
    code = cli.main(["import", str(EXAMPLE_LIST), "--papers", str(papers_path), "--summaries", str(summaries)])
    out = capsys.readouterr().out
    assert code == 0
    assert "imported 8 papers" in out and "8 approved summaries written" in out
    for line in SLID_LINES:
        assert f"{EXAMPLE_LIST}:{line}: columns slid: the Dim cell is missing" in out
    assert f"{EXAMPLE_LIST}:29: table row 'Continuously updated...' is not a paper" in out
    assert f"{EXAMPLE_LIST}:63: second '文章考虑的问题:' group" in out
    # Every paper of the example is in papers.yaml, once.
    parsed = parse_list(EXAMPLE_LIST.read_text(encoding="utf-8"))
    titles = {row.title for s in parsed.settings for row in s.rows} | {p.title for p in parsed.papers}
    doc = papers.load_papers(papers_path)
    assert {e.title for e in doc.data.papers} == titles and len(doc.data.papers) == len(titles) == 8
    assert [s.id for s in doc.data.list.sections] == [
        "semi-supervised", "weakly-supervised", "active-learning", "zero-shot", "few-shot"]
    beta = next(e for e in doc.data.papers if e.title and e.title.startswith("β-FFT"))
    assert beta.source == f"title:{beta.title}" and beta.setting == "semi-supervised" and beta.topic
    record = store.load_record(store.record_path(summaries, papers.entry_key(beta)))
    assert record.status == "approved"
    assert (record.provenance.backend, record.provenance.passes) == ("imported", "imported")
    assert record.provenance.imported_from == str(EXAMPLE_LIST)
    assert record.summary.en is None and record.summary.zh is not None
    assert record.summary.zh.problems[0].startswith("联合训练在半监督学习领域取得显著成功")
    assert len(record.summary.zh.motivation) == 3 and record.summary.zh.framework == []
    assert isinstance(record.summary.zh, ImportedChineseSummary)
    assert (record.paper.date, record.paper.first_author, record.paper.last_author, record.paper.venue,
            record.paper.has_code, record.summary.dim) == ("2025-06", "Ming Hu", "Quan Wang", "CVPR2025", True, "2D")


def test_import_then_render_keeps_every_fact(imported: tuple[Path, Path]) -> None:
    example = parse_list(EXAMPLE_LIST.read_text(encoding="utf-8"))
    rendered_text = render_list(*imported).text
    rendered = parse_list(rendered_text)
    want = _facts([row for s in example.settings for row in s.rows])
    got = _facts([row for s in rendered.settings for row in s.rows])
    assert got == want
    assert len(want) == 8
    # Body paper lines keep venue and code marker too.
    assert {(p.venue, p.title, p.code.present) for p in rendered.papers} >= {
        (p.venue, p.title, p.code.present) for p in example.papers}
    # Bullets survive the trip.
    example_bullets = {t for p in example.papers for k, bs in p.groups.items() for _, t in bs}
    rendered_bullets = {t for p in rendered.papers for k, bs in p.groups.items() for _, t in bs}
    assert example_bullets == rendered_bullets


def test_reimport_changes_nothing(imported: tuple[Path, Path]) -> None:
    papers_path, summaries = imported
    before = papers_path.read_bytes()
    files = {p: p.read_bytes() for p in summaries.glob("*.yaml")}
    result = import_list(EXAMPLE_LIST, papers_path, summaries)
    assert result.entries_added == [] and result.records_written == []
    assert sum("left untouched" in message for _, message in result.notes) == 16
    assert papers_path.read_bytes() == before
    assert {p: p.read_bytes() for p in summaries.glob("*.yaml")} == files


def test_import_into_existing_papers_keeps_comments(tmp_path: Path) -> None:
    papers_path = tmp_path / "papers.yaml"
    papers_path.write_text("# my backlog\nlist:\n  title: Mine  # keep\npapers:\n  - source: \"2401.00001\"\n",
                           encoding="utf-8")
    result = import_list(EXAMPLE_LIST, papers_path, None)
    text = papers_path.read_text(encoding="utf-8")
    assert text.startswith("# my backlog\nlist:\n  title: Mine  # keep\n")
    doc = papers.load_papers(papers_path)
    assert len(doc.data.papers) == 9 and len(result.entries_added) == 8
    assert {e.status for e in doc.data.papers} == {"backlog"}
    assert not (tmp_path / "summaries").exists()


def test_rendered_nasty_title_imports_back(tmp_path: Path) -> None:
    nasty = "Pipes | and *stars* with $x_1$ and `code` <b>"
    md = tmp_path / "list.md"
    md.write_text("My list\n\n1. Review\n1.1 💬 Semi-supervised\n"
                  "| Date | The First and Last Authors | Dim | Title | Code | Reference |\n|---|---|---|---|---|---|\n"
                  r"| 2025-01 | A and B | 2D | Pipes \| and \*stars\* with \$x\_1\$ and \`code\` &lt;b&gt; "
                  "| None | X2025 |\n", encoding="utf-8")
    result = import_list(md, tmp_path / "papers.yaml", tmp_path / "summaries")
    assert result.notes == [(4, "setting 'Semi-supervised' has no Chinese name; name_zh set to the English one "
                                "(id 'semi-supervised'; edit papers.yaml to rename)")]
    assert papers.load_papers(tmp_path / "papers.yaml").data.papers[0].title == nasty


def test_ambiguous_rows_are_reported_not_guessed(tmp_path: Path) -> None:
    md = tmp_path / "list.md"
    md.write_text("T\n1. Review\n1.1 Semi\n| Date | The First and Last Authors | Dim | Title | Code | Reference |\n"
                  "|---|---|---|---|---|---|\n| 2025-01 | A and B | Some title | Another | NN2025 | |\n"
                  "| 2025-13 | A and B | 3D | Fine title | Code | NN2025 | extra |\n"
                  "| 2025-02 | C and D | 3D | Good title | Code | NN2025 |\n", encoding="utf-8")
    result = import_list(md, tmp_path / "papers.yaml", None)
    notes = dict(result.notes)
    assert "Dim 'Some title' is not one of" in notes[6] and "row skipped" in notes[6]
    assert "7 cells but the header 6" in notes[7]
    assert result.entries_added and len(result.entries_added) == 1


def test_not_a_list(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text("just some text\nwith no table\n", encoding="utf-8")
    with pytest.raises(ImportListError, match="no setting table and no paper line"):
        import_list(md, tmp_path / "papers.yaml", None)
