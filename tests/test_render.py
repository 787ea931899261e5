"""render: structure, escaping, anchors, approved-only publishing, determinism, --check."""

from __future__ import annotations

import datetime as dt
import re
import stat
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.core.models import Bibliography, Provenance
from pipeline.listing.mdparts import split_row, unescape
from pipeline.listing.render import github_anchor, md_escape, render_list, write_list
from pipeline.model.summary import ChineseSummary, EnglishSummary, EvidencedBullet, PaperSummary, SummaryRecord
from pipeline.workspace import store

NASTY = "Pipes | and *stars* with $x_1$ math, `ticks`, <b>tags</b> & under_scores"
NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)

PAPERS = """\
list:
  title: Test list
  subtitle: A subtitle
  description: An introduction.
  sections:
    - id: semi
      name_zh: 半监督学习
      name_en: Semi-supervised
      emoji: 💬
      topics:
        - id: consistency
          name_zh: 一致性学习
          name_en: Consistency learning
    - id: zero-shot
      name_zh: 零样本
      name_en: Zero-shot
papers:
  - source: "2501.00001"
    setting: semi
    topic: consistency
  - source: "2502.00002"
    setting: semi
  - source: "2503.00003"
    setting: semi
  - source: "2504.00004"
    setting: zero-shot
"""


TOPICS = [("mean teacher", "均值教师", "伪标签"), ("uncertainty sampling", "不确定性采样", "查询策略"),
          ("prompt tuning", "提示微调", "视觉语言"), ("scribble labels", "涂鸦标注", "边界细化"),
          ("prototype matching", "原型匹配", "支持集合"), ("frequency mixing", "频域混合", "插值扰动")]


def _pick(key: str) -> tuple[str, str, str]:
    return TOPICS[int(key[-1]) % len(TOPICS)]


def _en(key: str) -> EnglishSummary:
    word = _pick(key)[0]

    def bullet(n: int, what: str) -> EvidencedBullet:
        return EvidencedBullet(text=f"{what} of {word} ({key}, part {n}).",
                               evidence=f"we study the {word} problem in this paper with care number {n}")

    return EnglishSummary(problems=[bullet(1, "Labels are scarce, which limits methods built on the idea")],
                          motivation=[bullet(2, "Consistency between two views is the core motivation")],
                          framework=[bullet(3, "A teacher and a student network form the overall pipeline")])


def _zh(key: str) -> ChineseSummary:
    _, method, term = _pick(key)
    return ChineseSummary(problems=[f"{method}方法在标注稀缺时难以利用{term}信息"],
                          motivation=[f"作者认为{term}之间的一致性可以约束{method}"],
                          framework=[f"框架由{method}模块与{term}生成器组成"])


def record(key: str, title: str, *, date: str = "2025-01", status: str = "approved", code: str | None = None,
           zh: bool = True, en: bool = True) -> SummaryRecord:
    """A valid record written by hand (no LLM), approved unless said otherwise."""
    return SummaryRecord.model_validate({
        "key": key, "status": status,
        "paper": Bibliography(arxiv_id=key, title=title, authors=["Ada First", "Mid Dle", "Zed Last"],
                              date=date, venue="CVPR2025", code_url=code),
        "summary": PaperSummary(en=_en(key) if en else None, zh=_zh(key) if zh else None, dim="3D",
                                setting="semi-supervised"),
        "provenance": Provenance(backend="remote", pipeline_version="0.1.0", created_at=NOW),
    })


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    papers_path = tmp_path / "papers.yaml"
    papers_path.write_text(PAPERS, encoding="utf-8")
    summaries = tmp_path / "summaries"
    store.save_record(summaries, record("2501.00001", NASTY, date="2025-03", code="https://github.com/x/y"))
    store.save_record(summaries, record("2502.00002", "An older paper", date="2024-11"))
    store.save_record(summaries, record("2503.00003", "A draft paper", status="draft"))
    return papers_path, summaries


def test_nasty_title_keeps_its_table_row(workspace: tuple[Path, Path]) -> None:
    text = render_list(*workspace).text
    rows = [line for line in text.splitlines() if "Pipes" in line and line.startswith("|")]
    assert len(rows) == 1
    cells = split_row(rows[0])
    assert len(cells) == 6, cells
    assert cells[:3] == ["2025-03", "Ada First and Zed Last", "3D"]
    assert cells[3] == \
        r"Pipes \| and \*stars\* with \$x\_1\$ math, \`ticks\`, &lt;b&gt;tags&lt;/b&gt; &amp; under\_scores"
    assert unescape(cells[3]) == NASTY
    assert cells[4:] == ["[Code](https://github.com/x/y)", "CVPR2025"]
    # The paper line escapes the same way, and its code link survives.
    line = next(line for line in text.splitlines() if line.startswith("- [CVPR2025] Pipes"))
    assert line.endswith("[code](https://github.com/x/y) [pdf](https://arxiv.org/pdf/2501.00001)")


def test_md_escape_leaves_nothing_active() -> None:
    escaped = md_escape("a|b*c_d`e$f$[g](h)<i>\\j\nk")
    assert escaped == r"a\|b\*c\_d\`e\$f\$\[g\](h)&lt;i&gt;\\j k"
    assert not re.search(r"(?<!\\)[|*_`$\[\]]", escaped.replace("\\\\", ""))


def test_structure_order_and_only_approved(workspace: tuple[Path, Path]) -> None:
    result = render_list(*workspace)
    text = result.text
    assert text.startswith("# Test list\n\n**A subtitle**\n\nAn introduction.\n\n## 📚 Contents\n")
    header = "| Date | The First and Last Authors | Dim | Title | Code | Reference |"
    assert text.count(header) == 2  # one table per declared setting, even an empty one
    table = text.split("### 1.1 ")[1].split("### 1.2")[0]
    assert table.index("2025-03") < table.index("2024-11"), "newest first"
    assert "A draft paper" not in text
    assert result.published == ["2501.00001", "2502.00002"]
    reasons = {s.key: s.reason for s in result.skipped}
    assert "draft, not approved" in reasons["2503.00003"]
    assert "no summary yet" in reasons["2504.00004"]
    body = text.split("## 2. ")[1]
    # A paper without a topic comes right under its setting, before the topic headings.
    assert body.index("An older paper") < body.index("### 2.1 一致性学习 / Consistency learning") < body.index("Pipes")
    assert f"- 文章考虑的问题:\n    - {_zh('2501.00001').problems[0]}\n" in text
    assert f"- Problems addressed:\n    - {md_escape(_en('2501.00001').problems[0].text)}\n" in text


@pytest.mark.parametrize(("lang", "present", "absent"), [
    ("zh", ["文章的动机和思路:", "### 2.1 一致性学习", "1.1 💬 半监督学习"], ["Motivation and idea", "Consistency"]),
    ("en", ["Motivation and idea:", "### 2.1 Consistency learning", "1.1 💬 Semi-supervised"],
     ["文章的动机和思路", "一致性"]),
    ("both", ["文章的动机和思路:", "Motivation and idea:", "一致性学习 / Consistency learning"], []),
])
def test_languages(workspace: tuple[Path, Path], lang: str, present: list[str], absent: list[str]) -> None:
    text = render_list(*workspace, lang=lang).text  # type: ignore[arg-type]
    for needle in present:
        assert needle in text, needle
    for needle in absent:
        assert needle not in text, needle


def test_contents_links_resolve_to_headings(workspace: tuple[Path, Path]) -> None:
    text = render_list(*workspace).text
    anchors = [github_anchor(unescape(h)) for h in re.findall(r"^#{2,3} (.+)$", text, re.MULTILINE)]
    links = re.findall(r"^\s*- \[[^\]]+\]\(#([^)]+)\)$", text, re.MULTILINE)
    assert links and set(links) <= set(anchors)
    assert "1--literature-review" in links
    assert github_anchor("1.2 🖼️ Weakly-supervised Learning (WSL)") == "12-\ufe0f-weakly-supervised-learning-wsl"


def test_deterministic_bytes(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    first = render_list(*workspace).text
    # Same inputs written again (new file times, re-saved records) give the same bytes.
    papers_path, summaries = workspace
    for path in sorted(summaries.glob("*.yaml")):
        store.save_record(summaries, store.load_record(path))
    assert render_list(papers_path, summaries).text == first


def test_cli_render_and_check(workspace: tuple[Path, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    papers_path, summaries = workspace
    out = tmp_path / "LIST.md"
    args = ["--papers", str(papers_path), "--summaries", str(summaries), "--out", str(out)]
    assert cli.main(["render", *args]) == 0
    first = out.read_bytes()
    assert "skipped 2503.00003: summary is draft" in capsys.readouterr().out
    assert cli.main(["render", *args]) == 0
    assert out.read_bytes() == first
    assert cli.main(["render", "--check", *args]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("An older paper", "An edited paper"), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["render", "--check", *args]) == 1
    assert f"{out} is stale; run `python -m pipeline render --out {out}`" in capsys.readouterr().err
    # A newly approved summary makes the on-disk list stale too.
    assert cli.main(["render", *args]) == 0
    store.save_record(summaries, record("2503.00003", "A draft paper"))
    assert cli.main(["render", "--check", *args]) == 1


def test_a_rewritten_list_keeps_its_mode(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "LIST.md"
    out.write_text("an old list\n", encoding="utf-8")
    out.chmod(0o644)  # served as a page, or committed: not private to the curator
    assert write_list(render_list(*workspace), out)
    assert out.read_text(encoding="utf-8") != "an old list\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_an_entry_without_a_setting_is_placed_by_its_approved_summary(tmp_path: Path) -> None:
    papers_path = tmp_path / "papers.yaml"
    papers_path.write_text(PAPERS.replace("    - id: zero-shot\n", "    - id: semi-supervised\n      name_zh: 半监督\n"
                                          "      name_en: Semi\n    - id: zero-shot\n")
                           + '  - source: "2505.00005"\n  - source: "2506.00006"\n', encoding="utf-8")
    summaries = tmp_path / "summaries"
    store.save_record(summaries, record("2505.00005", "Placed by its summary"))
    other = record("2506.00006", "A zero-shot paper")
    other.summary.setting = "few-shot"  # not a declared section
    store.save_record(summaries, other)
    result = render_list(papers_path, summaries)
    assert "2505.00005" in result.published
    assert any("placed by its summary's setting 'semi-supervised'" in note for note in result.notes)
    reasons = {s.key: s.reason for s in result.skipped}
    assert "its summary's setting 'few-shot' is not a section" in reasons["2506.00006"]


LISTED = """\
list:
  title: Listed
  sections:
    - id: wsl
      name_zh: WSL
      name_en: WSL
      columns: [Date, Title, Code, Publication]
papers:
  - source: "title:An undated paper"
    title: An undated paper
    setting: wsl
    status: listed
  - source: "title:A dated paper"
    title: A dated paper
    date: 2025-02
    venue: TMI
    paper_url: https://example.org/p
    has_code: false
    setting: wsl
    status: listed
"""


def test_absent_columns_stay_absent_and_unknown_is_a_dash(tmp_path: Path) -> None:
    papers_path = tmp_path / "papers.yaml"
    papers_path.write_text(LISTED, encoding="utf-8")
    result = render_list(papers_path, tmp_path / "summaries")
    assert "| Date | Title | Code | Publication |\n|---|---|---|---|\n" in result.text
    assert "| — | An undated paper | None | — |\n| 2025-02 | A dated paper | None | [TMI](https://example.org/p) |" \
        in result.text
    assert "N/A" not in result.text and "Dim" not in result.text
    # Listed papers are published without a summary.
    assert len(result.published) == 2 and result.skipped == []
    # Source order, unless the list declares a sort.
    papers_path.write_text(LISTED.replace("  title: Listed\n", "  title: Listed\n  sort: date\n"), encoding="utf-8")
    text = render_list(papers_path, tmp_path / "summaries").text
    assert text.index("A dated paper") < text.index("An undated paper")


NATIVE = """\
# A list

[![Awesome](https://awesome.re/badge.svg)](https://awesome.re)

```
@article{x,
  title={Y}}
```

## **Bold** methods 🧪

**2024**
- [arXiv] A paper with a *star*. [[Paper]](https://arxiv.org/abs/2401.00001) [[Code]](https://github.com/a/b)

**2023**
- [MICCAI] Another paper. [[paper]](https://example.org/x)
"""


def test_native_list_keeps_headings_introduction_and_code_blocks(tmp_path: Path) -> None:
    from pipeline.listing.importer import import_list

    source = tmp_path / "README.md"
    source.write_text(NATIVE, encoding="utf-8")
    import_list(source, tmp_path / "papers.yaml", tmp_path / "summaries")
    text = render_list(tmp_path / "papers.yaml", tmp_path / "summaries").text
    assert text.startswith("# A list\n\n[![Awesome](https://awesome.re/badge.svg)](https://awesome.re)\n\n"
                           "```\n@article{x,\n  title={Y}}\n```\n\n## **Bold** methods 🧪\n\n**2024**\n\n")
    assert "- [arXiv] A paper with a star. [[Paper]](https://arxiv.org/abs/2401.00001) " \
           "[[Code]](https://github.com/a/b)\n" in text
    assert "**2023**\n\n- [MICCAI] Another paper. [[Paper]](https://example.org/x)\n" in text
    assert "\\*\\*" not in text
