"""mdlist: the shapes real lists have (tables, one-line and multi-line bullets), links as data, and every
entry accounted for."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE_LIST, LISTS

from pipeline.listing.mdlist import parse_list
from pipeline.listing.mdparts import ParsedList

TABLE = LISTS / "weakly-supervised-table.md"
BULLETS = LISTS / "semi-supervised-bullets.md"
ONE_LINE = LISTS / "foundation-models-one-line.md"


def _parse(path: Path) -> ParsedList:
    return parse_list(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("path", "papers", "reported", "ignored"), [
    (TABLE, 14, 56, 5), (BULLETS, 73, 0, 0), (ONE_LINE, 225, 119, 5), (EXAMPLE_LIST, 14, 5, 9)])
def test_every_entry_is_accounted_for(path: Path, papers: int, reported: int, ignored: int) -> None:
    parsed = _parse(path)
    assert (len(parsed.rows), parsed.count("reported"), parsed.count("ignored")) == (papers, reported, ignored)
    assert len(parsed.rows) + parsed.bullets_read + parsed.count("reported") + parsed.count("ignored") \
        == parsed.entries
    # Every entry not read has a note of its own line.
    lines = path.read_text(encoding="utf-8").splitlines()
    for note in parsed.notes:
        if note.fate == "reported":
            assert lines[note.line - 1].strip(), note


def test_table_under_an_unnumbered_heading_with_links_as_data() -> None:
    parsed = _parse(TABLE)
    [section] = parsed.sections
    assert (section.heading.markdown, section.heading.level, section.layout) == ("Literature List", 2, "table")
    assert section.columns == ["Date", "1st Institute", "Title", "Code", "Publication", "Label", "Dataset"]
    first, cyclemix = section.rows[0], section.rows[2]
    assert first.title.startswith("PA-Seg: Learning from Point Annotations")
    assert (first.venue, first.paper_url, first.venue_note, first.arxiv_id) == (
        "Arxiv", "https://arxiv.org/abs/2208.05669", "under TMI revision", "2208.05669")
    assert first.code.present is False and first.institute and first.institute.endswith("成电王国泰组")
    assert first.cells == {"Label": "__`point.`__", "Dataset": ":hospital: [VS, BraTS](#vs)"}
    assert first.tags == ["point."]
    assert cyclemix.code.url == "https://github.com/BWGZK/CycleMix" and cyclemix.venue == "CVPR 2022"
    notes = {n.line: n.message for n in parsed.notes}
    assert "HTML table (results, not papers)" in notes[82]
    assert "without a Title column" in notes[74]


def test_multi_line_bullets_under_year_headings() -> None:
    parsed = _parse(BULLETS)
    [section] = parsed.sections
    assert section.heading.name == "Semantic and Instance Segmentation" and section.layout == "lines"
    assert [t.name for t in section.topics][:3] == ["2023", "2022", "2021"]
    fuzzy = section.rows[0]
    assert fuzzy.title == "Fuzzy Positive Learning for Semi-Supervised Semantic Segmentation"
    assert fuzzy.venue == "CVPR 2023" and fuzzy.topic is not None and fuzzy.topic.name == "2023"
    assert fuzzy.authors and fuzzy.authors.startswith("Pengchong Qiao, Zhidan Wei") and \
        fuzzy.authors.endswith("and Jie Chen")
    assert [(link.label, link.url) for link in fuzzy.links] == [("project page", "https://github.com/qpc1611094/FPL")]
    ps_mt = next(r for r in section.rows if r.title.startswith("Perturbed and Strict Mean Teachers"))
    assert (ps_mt.paper_url, ps_mt.code.url, ps_mt.arxiv_id) == (
        "https://arxiv.org/abs/2111.12903", "https://github.com/yyliu01/PS-MT", "2111.12903")


def test_one_line_bullets_under_bold_lines() -> None:
    parsed = _parse(ONE_LINE)
    names = [(s.heading.name, s.layout) for s in parsed.sections]
    assert names == [("Related survey", "bullets"), ("LFM methods", "bullets"), ("VFM methods", "bullets"),
                     ("BFM methods", "bullets"), ("MFM methods", "bullets")]
    bfm = parsed.sections[3]
    assert [(t.markdown, t.level) for t in bfm.topics] == [("**2024**", 0), ("**2023**", 0), ("**2022**", 0),
                                                           ("**2021**", 0)]
    # A bold line glued to the item above it (no blank line) still starts the next year.
    dnagpt = next(r for r in bfm.rows if r.title.startswith("DNAGPT"))
    assert dnagpt.topic is not None and dnagpt.topic.name == "2023"
    assert (dnagpt.venue, dnagpt.paper_url, dnagpt.code.url) == (
        "arXiv", "https://arxiv.org/abs/2307.05628", "https://github.com/TencentAILabHealthcare/DNAGPT")
    # The introduction keeps its Markdown, the BibTeX block included.
    assert parsed.description is not None and "```\n@ARTICLE{10750441," in parsed.description
    assert parsed.description.startswith("[![Awesome](https://awesome.re/badge.svg)](https://awesome.re)")


def test_example_keeps_its_plain_line_headings() -> None:
    parsed = _parse(EXAMPLE_LIST)
    assert parsed.plain_headings and parsed.title == "Medical image segmentation"
    assert parsed.subtitle == "Medical image segmentation under limited annotation"
    assert [s.heading.num for s in parsed.sections] == ["1.1", "1.2", "1.3", "1.4", "1.5"]
    assert parsed.sections[1].columns == ["Date", "The First and Last Authors", "Title", "Code", "Reference"]
    summarized = [r for r in parsed.rows if r.groups]
    assert [r.title[:6] for r in summarized] == ["A Sema", "β-FFT:"]
    assert summarized[1].topic is not None and summarized[1].topic.name == "一致性学习"


def test_inline_text_without_markdown_syntax_is_read_as_the_parser_reads_it() -> None:
    # read_inline skips the parser for text with no inline Markdown; it must give the parser's answer.
    import random

    from pipeline.core.links import markdown_parser
    from pipeline.listing import mdparts

    def parsed(text: str) -> mdparts.InlineRun:
        tokens = markdown_parser().parseInline(text)
        return mdparts.inline_run(tokens[0].children or []) if tokens else mdparts.InlineRun(text=text)

    samples = [cell for path in (TABLE, BULLETS, ONE_LINE, EXAMPLE_LIST)
               for line in path.read_text(encoding="utf-8").splitlines()
               for cell in (mdparts.split_row(line) if line.lstrip().startswith("|") else [line])]
    rng = random.Random(13)
    alphabet = "ab 中\t\u3000#-+:|.()'\"$%^=/{}@\\`*_~[]!<&;\n\r\0" + "x" * 10
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    fast = 0
    for text in samples:
        assert mdparts.read_inline(text) == parsed(text), repr(text)
        assert mdparts.plain_text(text) == " ".join(parsed(text).text.split()), repr(text)
        fast += mdparts._INLINE_SYNTAX.isdisjoint(text)
    assert fast > 1000  # the fast path was taken, not only the parser


def test_the_parse_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    text = TABLE.read_text(encoding="utf-8")
    assert gc.isenabled()
    parse_list(text)
    assert gc.isenabled()
    gc.disable()
    try:
        parse_list(text)
        assert not gc.isenabled()  # paused by someone else: not switched back on behind their back
    finally:
        gc.enable()
