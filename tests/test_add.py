"""The add command: sources, duplicates, title search against a recorded arXiv search page."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from conftest import ARXIV_API

from pipeline import cli
from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import ConfigError
from pipeline.sources import parse_feed
from pipeline.workspace import add as add_module
from pipeline.workspace.add import Candidate, add, fold_title, pick, rank_candidates
from pipeline.workspace.papers import load_papers

RECORDED = ARXIV_API / "arxiv.py_2026"
SEARCH_PAGE = next(RECORDED.glob("q_testing_s0_m10_*.json"), RECORDED / "missing")
ONE_PAPER = next(RECORDED.glob("id_1605.08386_*.json"), RECORDED / "missing")
EXACT = "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
PAPERS = """# my backlog
list:
  title: Test list
  sections:
    - id: semi-supervised
      name_zh: 半监督学习
      name_en: Semi-supervised learning
papers:
  - source: 2104.12255v1  # a comment that must survive
"""


def body(path: Path) -> str:
    return str(json.loads(path.read_text(encoding="utf-8"))["body"])


class Recorded:
    """A mock transport answering every arXiv API request with one recorded body."""

    def __init__(self, path: Path) -> None:
        self.text = body(path)
        self.urls: list[str] = []

    def client(self) -> httpx2.Client:
        def handler(request: httpx2.Request) -> httpx2.Response:
            self.urls.append(str(request.url))
            return httpx2.Response(200, text=self.text, headers={"Content-Type": "application/atom+xml"})
        return httpx2.Client(transport=httpx2.MockTransport(handler))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "papers.yaml").write_text(PAPERS, encoding="utf-8")
    return load_settings({"PIPELINE_CACHE_DIR": str(tmp_path / "cache"), "PIPELINE_ARXIV_DELAY": "0",
                          "PIPELINE_PAPERS_FILE": str(tmp_path / "papers.yaml")})


def test_add_arxiv_id_fetches_the_title_and_keeps_comments(settings: Settings) -> None:
    api = Recorded(ONE_PAPER)
    result = add("arXiv:1605.08386", settings, setting="semi-supervised", tags=["SAM", "x"], priority=2,
                 client=api.client())
    assert result.added and result.key == "1605.08386"
    assert len(api.urls) == 1 and "id_list=1605.08386" in api.urls[0]
    entry = load_papers(settings.papers_file).data.papers[-1]
    assert entry.source == "1605.08386" and entry.title and entry.status == "backlog"
    assert (entry.setting, entry.tags, entry.priority) == ("semi-supervised", ["SAM", "x"], 2)
    assert "# a comment that must survive" in settings.papers_file.read_text(encoding="utf-8")


def test_duplicates_are_refused_for_any_version_before_any_request(settings: Settings) -> None:
    api = Recorded(ONE_PAPER)
    with pytest.raises(ConfigError, match="already in"):
        add("2104.12255v2", settings, client=api.client())
    with pytest.raises(ConfigError, match="already in"):
        add("https://arxiv.org/abs/2104.12255", settings, client=api.client())
    assert api.urls == []
    assert len(load_papers(settings.papers_file).data.papers) == 1


def test_add_pdf_path_is_stored_relative_and_refused_twice(settings: Settings, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = tmp_path / "pdfs" / "my paper.pdf"
    pdf.parent.mkdir()
    pdf.write_bytes(b"%PDF-1.4\n% not parsed by add\n")
    monkeypatch.chdir(pdf.parent)
    result = add("my paper.pdf", settings)
    assert result.entry is not None and result.entry.source == "pdfs/my paper.pdf"
    with pytest.raises(ConfigError, match="already in"):
        add(str(pdf), settings)


def test_unknown_setting_is_refused_and_nothing_written(settings: Settings) -> None:
    before = settings.papers_file.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting"):
        add("1605.08386", settings, setting="nope", client=Recorded(ONE_PAPER).client())
    assert settings.papers_file.read_text(encoding="utf-8") == before


def test_title_search_takes_an_exact_match(settings: Settings) -> None:
    api = Recorded(SEARCH_PAGE)
    result = add(None, settings, title=EXACT.upper().replace(":", " -"), client=api.client())
    assert result.added and result.entry is not None
    assert result.entry.source == "2202.12139" and result.entry.title == EXACT
    assert 'search_query=ti%3A%22TESTING+DEEP' in api.urls[0] or "search_query=ti:" in api.urls[0]


def test_title_search_lists_candidates_when_ambiguous(settings: Settings) -> None:
    before = settings.papers_file.read_text(encoding="utf-8")
    result = add(None, settings, title="Testing", client=Recorded(SEARCH_PAGE).client())
    assert not result.added and len(result.candidates) == 10
    assert "no unambiguous arXiv match" in result.message
    assert settings.papers_file.read_text(encoding="utf-8") == before


def test_cli_add_title_prints_candidates_and_exits_1(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PIPELINE_PAPERS_FILE", str(settings.papers_file))
    papers = parse_feed(body(SEARCH_PAGE))
    monkeypatch.setattr(add_module, "search_title", lambda title, settings, client=None: papers)
    assert cli.main(["add", "--title", "web testing"]) == 1
    out = capsys.readouterr().out
    assert "2503.05378" in out and out.count("\n") == 10


def test_ranking_and_picking() -> None:
    assert fold_title("  Foo: BAR-baz! ") == fold_title("foo bar baz")
    papers = parse_feed(body(SEARCH_PAGE))
    ranked = rank_candidates("A Survey on Web Testing: On the Rise of AI and Applications in Industry.",
                             papers)
    assert ranked[0].arxiv_id == "2503.05378" and ranked[0].score == 1.0
    assert pick(ranked) is ranked[0]
    near = rank_candidates("A Survey on Web Testing: the Rise of AI and Applications in Industry", papers)
    assert near[0].score < 1.0 and pick(near) is near[0]  # one word off, far ahead of the rest
    same = [Candidate("1", "Same", [], None, 1.0), Candidate("2", "Same", [], None, 1.0)]
    assert pick(same) is None
    close = [Candidate("1", "a", [], None, 0.93), Candidate("2", "b", [], None, 0.9)]
    assert pick(close) is None
    assert pick([]) is None


def test_title_of_a_listed_title_only_entry_gives_it_the_arxiv_id(settings: Settings) -> None:
    listed = "A Survey on Web Testing: On the Rise of AI and Applications in Industry"
    text = settings.papers_file.read_text(encoding="utf-8")
    settings.papers_file.write_text(text + f"  - source: 'title:{listed}'\n    setting: semi-supervised\n"
                                    "    notes: keep me\n", encoding="utf-8")
    api = Recorded(SEARCH_PAGE)
    result = add(None, settings, title=listed.lower(), client=api.client())
    assert result.added and "resolved" in result.message and len(api.urls) == 1
    entries = load_papers(settings.papers_file).data.papers
    assert len(entries) == 2
    assert (entries[1].source, entries[1].title) == ("2503.05378", listed)
    assert (entries[1].setting, entries[1].notes, entries[1].key) == ("semi-supervised", "keep me", None)
    with pytest.raises(ConfigError, match="already in"):
        add("2503.05378v1", settings, client=api.client())
