"""Links: only http(s) URLs with a host are accepted anywhere (core.links), and render writes them
percent-encoded where Markdown would break (issue 12 row 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from handwritten_records import handwritten_record
from pydantic import BaseModel, ValidationError
from test_render import PAPERS, record

from pipeline import cli
from pipeline.core.errors import ConfigError
from pipeline.core.links import link_problem, markdown_link_problems, md_url
from pipeline.core.models import Bibliography, Link, ListSection, PaperEntry, PaperMetadata
from pipeline.listing.importer import import_list
from pipeline.listing.mdparts import split_row
from pipeline.listing.render import render_list
from pipeline.workspace import papers, store

INJECTION = "https://x/) | <b>x</b> | [y](https://evil)\n# Heading"
HOSTILE = ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", INJECTION, "https://",
           "ftp://example.org/x", "//example.org/x", "https://exa mple.org", "https://example.org/\u202e"]


def test_only_http_urls_with_a_host_pass() -> None:
    for url in ["https://github.com/x/y", "http://example.org/a(b)c?q=1#f", "HTTPS://Example.org"]:
        assert link_problem(url) is None, url
    for url in HOSTILE:
        assert link_problem(url) is not None, url
    assert "not an http(s) URL" in (link_problem("javascript:alert(1)") or "")


@pytest.mark.parametrize("url", HOSTILE)
def test_every_url_field_rejects_a_hostile_link(url: str) -> None:
    cases: list[tuple[type[BaseModel], dict[str, object]]] = [
        (Bibliography, {"title": "T", "code_url": url}), (Bibliography, {"title": "T", "pdf_url": url}),
        (Bibliography, {"title": "T", "abs_url": url}), (Link, {"label": "x", "url": url}),
        (PaperEntry, {"source": "title:T", "paper_url": url}), (PaperEntry, {"source": "title:T", "code_url": url}),
        (PaperEntry, {"source": "title:T", "links": [{"label": "x", "url": url}]}),
        (PaperMetadata, {"key": "k", "title": "T", "pdf_url": url}),
        (PaperMetadata, {"key": "k", "title": "T", "abs_url": url})]
    for model, data in cases:
        with pytest.raises(ValidationError):
            model.model_validate(data)


def test_validate_names_a_javascript_code_url_and_render_does_not_link_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summaries = tmp_path / "summaries"
    path = store.write_draft(summaries, handwritten_record("2501.00001", status="approved")).path
    text = path.read_text(encoding="utf-8")
    assert "\npaper:\n" in text
    path.write_text(text.replace("\npaper:\n", '\npaper:\n  code_url: "javascript:alert(1)"\n', 1), encoding="utf-8")
    line = next(i for i, s in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "javascript:" in s)
    capsys.readouterr()
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{line}: paper.code_url: link 'javascript:alert(1)' is not an http(s) URL" in out
    papers_path = tmp_path / "papers.yaml"
    papers_path.write_text(PAPERS, encoding="utf-8")
    rendered = render_list(papers_path, summaries).text
    assert "javascript:" not in rendered


def test_papers_yaml_with_a_bad_link_is_reported_with_its_line(tmp_path: Path) -> None:
    papers_path = tmp_path / "papers.yaml"
    papers_path.write_text(PAPERS.replace('  - source: "2502.00002"\n',
                                          '  - source: "2502.00002"\n    paper_url: "data:text/html,x"\n'),
                           encoding="utf-8")
    line = next(i for i, s in enumerate(papers_path.read_text(encoding="utf-8").splitlines(), 1) if "data:" in s)
    with pytest.raises(ConfigError) as exc:
        papers.load_papers(papers_path)
    assert f"{papers_path}:{line}: papers[1].paper_url: link 'data:text/html,x' is not an http(s) URL" \
        in str(exc.value)


def test_a_url_markdown_would_break_on_keeps_one_table_row(tmp_path: Path) -> None:
    hostile = "https://x/)|<b>x</b>|[y](https://evil)\"\\"
    assert link_problem(hostile) is None  # no whitespace: valid, so render must encode it
    assert md_url("https://en.wikipedia.org/wiki/A_(b)") == "https://en.wikipedia.org/wiki/A_(b)"
    papers_path = tmp_path / "papers.yaml"
    papers_path.write_text(PAPERS, encoding="utf-8")
    summaries = tmp_path / "summaries"
    store.save_record(summaries, record("2501.00001", "A paper", date="2025-03", code=hostile))
    text = render_list(papers_path, summaries).text
    assert "<b>" not in text and "](https://evil)" not in text
    [row] = [s for s in text.splitlines() if s.startswith("|") and "A paper" in s]
    assert len(split_row(row)) == 6
    assert "[Code](https://x/%29%7C%3Cb%3Ex%3C/b%3E%7C%5By%5D(https://evil)%22%5C)" in row


ROW = ("| 2025-03 | Ada First and Zed Last | 3D | A hostile paper | [Code](javascript:alert(1)) | "
       "[CVPR2025](data:text/html,<script>alert(1)</script>), [Site](https://example.org/p) | "
       "see [x](javascript:alert(2)) |")


def test_import_reports_bad_links_and_stores_none(tmp_path: Path) -> None:
    source = tmp_path / "list.md"
    source.write_text("""\
# A list

## 1. Methods

### 1.1 Semi-supervised

| Date | The First and Last Authors | Dim | Title | Code | Reference | Notes |
|---|---|---|---|---|---|---|
{ROW}

- [CVPR2025] A hostile paper [code](javascript:alert(1))
  - 文章考虑的问题:
    - 半监督分割中伪标签的噪声问题需要解决。
""".replace("{ROW}", ROW), encoding="utf-8")
    papers_path, summaries = tmp_path / "papers.yaml", tmp_path / "summaries"
    result = import_list(source, papers_path, summaries)
    notes = [f"{source}:{line}: {msg}" for line, msg in result.notes]
    assert any(n.startswith(f"{source}:9: ") and "'javascript:alert(1)' is not an http(s) URL" in n
               for n in notes), notes
    assert any(n.startswith(f"{source}:9: ") and "'data:text/html," in n for n in notes), notes
    assert any(n.startswith(f"{source}:11: ") and "javascript:" in n for n in notes), notes
    assert any(n.startswith(f"{source}:9: ") and "'Notes' cell's link 'javascript:alert(2)'" in n for n in notes), notes
    stored = papers_path.read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in summaries.glob("*.yaml"))
    assert "javascript:" not in stored and "data:text" not in stored
    [entry] = papers.load_papers(papers_path).data.papers
    assert entry.code_url is None and entry.paper_url is None
    assert [link.url for link in entry.links] == ["https://example.org/p"]
    assert "javascript:" not in render_list(papers_path, summaries).text


# Free Markdown that render publishes as written: the introduction, headings, header cells and cells.
FREE_MARKDOWN = [
    ("  description: An introduction.\n", "  description: 'See [the demo](javascript:alert(1)).'\n",
     "list.description", "javascript:alert(1)"),
    ("  description: An introduction.\n", '  description: "<img src=\\"data:image/svg+xml,x\\"> hi"\n',
     "list.description", "data:image/svg+xml,x"),
    ("  description: An introduction.\n", "  description: |\n    Intro.\n\n    [r]: vbscript:x\n",
     "list.description", "vbscript:x"),
    ("      emoji: 💬\n", "      emoji: 💬\n      heading: '[Semi](data:text/html,x)'\n",
     "list.sections[0].heading", "data:text/html,x"),
    ("      emoji: 💬\n", "      emoji: 💬\n      columns: [Title, '[Notes](javascript:x)']\n",
     "list.sections[0].columns[1]", "javascript:x"),
    ('    topic: consistency\n', "    topic: consistency\n    cells: {Notes: '<a href=javascript:x>n</a>'}\n",
     "papers[0].cells.Notes", "javascript:x"),
]


def test_a_heading_or_cell_is_one_line() -> None:
    # A second line would be Markdown of its own in LIST.md: here a definition a cell's [x][r] would use.
    with pytest.raises(ValidationError, match="holds a line break"):
        ListSection(id="a", name_zh="a", name_en="a", heading="Methods\n[r]: javascript:alert(1)")
    with pytest.raises(ValidationError, match="holds a line break"):
        PaperEntry(source="title:T", cells={"Notes": "a\rb"})


@pytest.mark.parametrize(("old", "new", "where", "target"), FREE_MARKDOWN)
def test_a_bad_link_in_free_markdown_stops_render_with_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, where: str, target: str) -> None:
    papers_path = tmp_path / "papers.yaml"
    assert old in PAPERS
    papers_path.write_text(PAPERS.replace(old, new, 1), encoding="utf-8")
    # The line of the field (a block scalar's first line: its key).
    field = next(line for line in new.splitlines() if where.split(".")[-1].split("[")[0] in line)
    line = papers_path.read_text(encoding="utf-8").splitlines().index(field) + 1
    out = tmp_path / "LIST.md"
    code = cli.main(["render", "--papers", str(papers_path), "--summaries", str(tmp_path / "s"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert f"{papers_path}:{line}: {where}: link '{target}' is not an http(s) URL" in err, err


def test_links_inside_the_site_and_mail_addresses_stay() -> None:
    text = "[Usage](#usage), [docs](docs/a.md), [up](../x), <a href='#top'>top</a>, [mail](mailto:a@b.org)"
    assert markdown_link_problems(text) == []
    # A browser reads a backslash as a slash: both leave the site (markdown-it encodes one in a link).
    assert [p.message for p in markdown_link_problems("[x](//evil.org/x) <a href='/\\evil.org'>y</a>")] == [
        "link '//evil.org/x' is not an http(s) URL", f"link {'/' + chr(92) + 'evil.org'!r} is not an http(s) URL"]
    # Entities and escapes are what a browser decodes: they do not hide a scheme.
    assert markdown_link_problems("[x](javascript&#58;alert(1)) <a href='jav&#x61;script:1'>y</a>")


HOSTILE_INTRO = """\
# A list

An introduction with [a contact](mailto:curator@example.org) and [the docs](docs/README.md).

Click [here](javascript:alert(1)) for more,
or look at <img src="data:image/svg+xml,<svg/onload=alert(1)>">.

- [Usage](#usage)
- [Bad](data:text/html,x)

The last paragraph stays.

## [Methods](javascript:alert(2))

| Date | Title | Code | [Notes](javascript:alert(3)) |
|---|---|---|---|
| 2025-01 | A paper | [Code](https://github.com/a/b) | fine |
"""


def test_import_drops_bad_links_in_the_introduction_headings_and_columns(tmp_path: Path) -> None:
    source = tmp_path / "list.md"
    source.write_text(HOSTILE_INTRO, encoding="utf-8")
    papers_path, summaries = tmp_path / "papers.yaml", tmp_path / "summaries"
    result = import_list(source, papers_path, summaries)
    notes = dict(result.notes) | {line: msg for line, msg in result.notes}
    assert "introduction: link 'javascript:alert(1)' is not an http(s) URL" in notes[5]
    assert "'data:image/svg+xml,<svg/onload=alert(1)>'" in notes[6]
    assert "introduction: link 'data:text/html,x'" in notes[9]
    assert "heading 'Methods': link 'javascript:alert(2)'" in notes[13]
    assert "table column 'Notes': link 'javascript:alert(3)'" in notes[15]
    stored = papers_path.read_text(encoding="utf-8")
    for bad in ("javascript:", "data:"):
        assert bad not in stored
    info = papers.load_papers(papers_path).data.list
    assert info.description is not None
    assert "mailto:curator@example.org" in info.description and "The last paragraph stays." in info.description
    assert "Click" not in info.description and "#usage" not in info.description
    [entry] = papers.load_papers(papers_path).data.papers
    assert entry.cells == {"Notes": "fine"}
    text = render_list(papers_path, summaries).text
    assert "javascript:" not in text and "data:" not in text and "| fine |" in text
