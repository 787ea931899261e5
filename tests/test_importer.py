"""import: the example list into papers.yaml and approved records; slid columns; round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE_LIST, LISTS

from pipeline import cli
from pipeline.core.errors import ImportListError
from pipeline.listing.importer import import_list
from pipeline.listing.mdlist import parse_list
from pipeline.listing.mdparts import TableRow, fold
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
    rows = {row.line: row for row in parsed.rows if row.layout == "table"}
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
    # Two papers are summarized in the list; the other six are listed, not yet summarized.
    assert "imported 8 papers" in out and "(6 listed, not yet summarized), 2 approved summaries written" in out
    assert f"{EXAMPLE_LIST}: 48 entries (table rows, list items, HTML tables): 34 imported, 5 reported, " \
           "9 ignored" in out
    for line in SLID_LINES:
        assert f"{EXAMPLE_LIST}:{line}: columns slid: the Dim cell is missing" in out
    assert f"{EXAMPLE_LIST}:29: table row 'Continuously updated...' is not a paper" in out
    assert f"{EXAMPLE_LIST}:63: second '文章考虑的问题:' group" in out
    # Every paper of the example is in papers.yaml, once.
    parsed = parse_list(EXAMPLE_LIST.read_text(encoding="utf-8"))
    titles = {row.title for row in parsed.rows}
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
    want = _facts([row for row in example.rows if row.layout == "table"])
    got = _facts([row for row in rendered.rows if row.layout == "table"])
    assert got == want
    assert len(want) == 8
    # Body paper lines keep venue and code marker too.
    lines = [p for p in example.rows if p.layout != "table"]
    assert {(p.venue, p.title, p.code.present) for p in rendered.rows if p.layout != "table"} >= {
        (p.venue, p.title, p.code.present) for p in lines} and len(lines) == 2
    # Bullets survive the trip.
    example_bullets = {t for p in example.rows for k, bs in p.groups.items() for _, t in bs}
    rendered_bullets = {t for p in rendered.rows for k, bs in p.groups.items() for _, t in bs}
    assert example_bullets == rendered_bullets


def test_reimport_changes_nothing(imported: tuple[Path, Path]) -> None:
    papers_path, summaries = imported
    before = papers_path.read_bytes()
    files = {p: p.read_bytes() for p in summaries.glob("*.yaml")}
    result = import_list(EXAMPLE_LIST, papers_path, summaries)
    assert result.entries_added == [] and result.records_written == []
    assert sum("left untouched" in message for _, message in result.notes) == 8 + 2
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
    assert {e.status for e in doc.data.papers[1:]} == {"listed"}
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
    with pytest.raises(ImportListError, match="no paper table and no paper line"):
        import_list(md, tmp_path / "papers.yaml", None)


REAL_LISTS = [LISTS / "weakly-supervised-table.md", LISTS / "semi-supervised-bullets.md",
              LISTS / "foundation-models-one-line.md", EXAMPLE_LIST]
ROUND_TRIP_FIELDS = ("title", "date", "authors", "venue", "paper_url", "code_url")


def _listed(rows: list[TableRow]) -> dict[str, dict[str, str | None]]:
    """The facts of each paper as a list shows them, by folded title (its first listing)."""
    out: dict[str, dict[str, str | None]] = {}
    for row in rows:
        out.setdefault(fold(row.title), {"title": row.title, "date": row.date, "authors": row.authors,
                                         "venue": row.venue, "paper_url": row.paper_url, "code_url": row.code.url})
    return out


@pytest.mark.parametrize("source", REAL_LISTS, ids=lambda p: p.stem)
def test_real_list_round_trip_field_by_field(source: Path, tmp_path: Path) -> None:
    first_papers, first_summaries = tmp_path / "a" / "papers.yaml", tmp_path / "a" / "summaries"
    result = import_list(source, first_papers, first_summaries)
    assert result.imported + result.reported + result.ignored == result.entries
    rendered = render_list(first_papers, first_summaries)
    assert "N/A" not in rendered.text
    entries = papers.load_papers(first_papers).data.papers
    in_source = _listed(parse_list(source.read_text(encoding="utf-8")).rows)
    in_render = _listed(parse_list(rendered.text).rows)
    assert len(in_render) == len(entries)
    for entry in entries:
        stored = {name: getattr(entry, name) for name in ROUND_TRIP_FIELDS}
        assert entry.title is not None
        assert in_source[fold(entry.title)] == stored, entry.title
        assert in_render[fold(entry.title)] == stored, entry.title
    # import -> render -> import gives the same data.
    out = tmp_path / "LIST.md"
    out.write_text(rendered.text, encoding="utf-8")
    second_papers, second_summaries = tmp_path / "b" / "papers.yaml", tmp_path / "b" / "summaries"
    import_list(out, second_papers, second_summaries)
    first, second = papers.load_papers(first_papers).data, papers.load_papers(second_papers).data
    assert [e.model_dump() for e in second.papers] == [e.model_dump() for e in first.papers]
    assert second.list == first.list
    records = {p.name: store.load_record(p) for p in first_summaries.glob("*.yaml")}
    again = {p.name: store.load_record(p) for p in second_summaries.glob("*.yaml")}
    assert {k: r.summary for k, r in again.items()} == {k: r.summary for k, r in records.items()}
    assert render_list(second_papers, second_summaries).text == rendered.text


def test_links_become_arxiv_sources(tmp_path: Path) -> None:
    papers_path = tmp_path / "papers.yaml"
    import_list(LISTS / "weakly-supervised-table.md", papers_path, tmp_path / "summaries")
    doc = papers.load_papers(papers_path)
    pa_seg = doc.data.papers[0]
    assert (pa_seg.source, pa_seg.status, pa_seg.setting, pa_seg.paper_url) == (
        "2208.05669", "listed", "literature-list", "https://arxiv.org/abs/2208.05669")
    assert [s.id for s in doc.data.list.sections] == ["literature-list"]
    # No summary in the list, so no record: the paper is listed, not approved.
    assert not (tmp_path / "summaries").exists()


MESSY_BULLETS = """\
# A list

## Papers

- [CVPR2024] Clean Paper One [[Paper]](https://arxiv.org/abs/2401.00001)
  - 文章考虑的问题:
    - 半监督医学图像分割中标注数据稀缺的问题。
  - 文章的动机和思路:
    - 利用一致性正则化挖掘未标注数据中的信息。
  - 文章的整体框架:
    - 教师学生网络加上不确定性引导的伪标签筛选。
- [MICCAI2024] Messy Paper Two [[Paper]](https://arxiv.org/abs/2401.00002)
  - 文章考虑的问题:
    - This bullet is written in English only, not Chinese.
    - 半监督医学图像分割中标注数据稀缺的问题。
    - 半监督医学图像分割中标注数据稀缺的问题！
  - 文章的整体框架:
    - 第一个模块负责提取多尺度特征表示。
    - 第二个模块负责融合不同层级的特征。
    - 第三个模块负责生成可靠的伪标签。
    - 第四个模块负责估计像素级不确定性。
    - 第五个模块负责约束边界区域的一致性。
    - 第六个模块负责对齐标注与未标注分布。
    - 第七个模块负责最终的分割结果输出。
"""


def test_bad_repeated_and_extra_bullets_are_left_out_with_their_lines(tmp_path: Path) -> None:
    # A clean paper is validated in one go; a messy one bullet by bullet, each bad bullet named.
    source = tmp_path / "list.md"
    source.write_text(MESSY_BULLETS, encoding="utf-8")
    result = import_list(source, tmp_path / "papers.yaml", tmp_path / "summaries")
    assert [(line, message.split(" (")[0].split(":")[0]) for line, message in result.notes] == [
        (12, "'Messy Paper Two'"), (14, "bullet not imported"),
        (16, "bullet repeats an earlier bullet of the same paper; not imported"),
        (24, "more than 6 bullets in the group; not imported")]
    assert "no Chinese characters" in result.notes[1][1] and "empty group(s) motivation" in result.notes[0][1]
    clean = store.load_record(tmp_path / "summaries" / "2401.00001.yaml").summary.zh
    messy = store.load_record(tmp_path / "summaries" / "2401.00002.yaml").summary.zh
    assert clean is not None and not isinstance(clean, ImportedChineseSummary)
    assert clean.framework == ["教师学生网络加上不确定性引导的伪标签筛选。"]
    assert isinstance(messy, ImportedChineseSummary)
    assert (messy.problems, messy.motivation) == (["半监督医学图像分割中标注数据稀缺的问题。"], [])
    assert [b[:2] for b in messy.framework] == ["第一", "第二", "第三", "第四", "第五", "第六"]
