"""The review desk without a browser: the paper text and its citations, edits, decisions, the preview,
and the server's refusals (no token, another site, another host), over real HTTP on the loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from handwritten_records import HANDWRITTEN_SOURCE_TEXT, handwritten_record
from test_desk_browser import demo_draft, make_settings

from pipeline.core.config import Settings
from pipeline.core.errors import ReviewError
from pipeline.desk import actions, paper, preview
from pipeline.desk.app import Desk
from pipeline.desk.server import Bound, running
from pipeline.model.summary import SummaryRecord, evidence_quotes
from pipeline.sources import download
from pipeline.storage import files
from pipeline.storage.cache import Cache
from pipeline.text import extract
from pipeline.workspace import store

KEY = "2209.08575"


def _lookup(record: SummaryRecord) -> str | None:
    return HANDWRITTEN_SOURCE_TEXT


@pytest.fixture
def summaries(tmp_path: Path) -> Path:
    folder = tmp_path / "summaries"
    store.write_draft(folder, handwritten_record(KEY))
    path = folder / f"{KEY}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("summary:\n", "# keep me\nsummary:\n"), encoding="utf-8")
    return folder


def _loaded(path: Path) -> str:
    sha = files.Snapshot.read(path).sha256
    assert sha is not None
    return sha


# --------------------------------------------------------------------------- the paper text


def test_every_bullet_cites_the_sentences_its_evidence_quotes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    record = store.load_record(demo_draft(settings))
    text = paper.paper_text(record, settings)
    assert text.missing is None and text.sections[0].title == "Title"
    cites = paper.citations(text)
    assert set(cites) == {f"{g}-{i}" for g in ("problems", "motivation", "framework") for i in (1, 2)}
    by_id = {s.id: s for s in text.sentences()}
    assert record.summary.en is not None
    for bullet_id, ids in cites.items():
        group, number = bullet_id.rsplit("-", 1)
        bullet = getattr(record.summary.en, group)[int(number) - 1]
        assert ids == bullet.sentences, "the page's S-numbers are the ones the model was shown"
        for quote in evidence_quotes(bullet.evidence):
            assert quote in [by_id[i].text for i in ids]
    assert [s.title for s in text.sections if s.cut] == record.provenance.sections_cut


def test_the_text_is_extracted_again_when_the_cache_lost_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    record = store.load_record(demo_draft(settings))
    sha = record.provenance.source_sha256
    assert sha
    Cache.from_settings(settings).delete(extract.CACHE_NAMESPACE, extract.cache_key(sha), ".json")
    missing = paper.paper_text(record, settings)
    assert missing.missing and "pipeline extract" in missing.missing
    from test_desk_browser import DEMO_PDF

    Cache.from_settings(settings).put_bytes(download.PDF_NAMESPACE, sha, DEMO_PDF.read_bytes(), ".pdf")
    again = paper.paper_text(record, settings)
    assert again.missing is None and paper.citations(again)


def test_a_draft_without_sentence_ids_cites_what_its_quotes_cover(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    record = store.load_record(demo_draft(settings))
    assert record.summary.en is not None
    cited = paper.citations(paper.paper_text(record, settings))
    old = record.summary.en.model_copy(update={"problems": [
        b.model_copy(update={"sentences": []}) for b in record.summary.en.problems]})
    older = record.model_copy(update={"summary": record.summary.model_copy(update={"en": old})})
    located = paper.citations(paper.paper_text(older, settings))
    assert located["problems-1"] == cited["problems-1"] and located["problems-2"] == cited["problems-2"]


# --------------------------------------------------------------------------- edits and decisions


def test_an_invalid_edit_is_refused_with_the_validators_reasons_and_not_written(summaries: Path) -> None:
    path = summaries / f"{KEY}.yaml"
    before = path.read_bytes()
    result = actions.edit_bullet(summaries, KEY, lang="zh", group="problems", index=0,
                                 text="Labelled scans are scarce.", loaded=_loaded(path), lookup=_lookup)
    assert not result.written and path.read_bytes() == before
    [error] = result.errors
    assert error.startswith(f"{path}:") and "summary.zh.problems" in error and "Chinese" in error


def test_a_valid_edit_is_written_in_place_keeping_comments(summaries: Path) -> None:
    path = summaries / f"{KEY}.yaml"
    text = "Labelled medical scans are scarce because expert annotation takes long."
    result = actions.edit_bullet(summaries, KEY, lang="en", group="problems", index=0, text=f"  {text}\n",
                                 loaded=_loaded(path), lookup=_lookup)
    assert result.written and result.snapshot == _loaded(path)
    saved = path.read_text(encoding="utf-8")
    assert "# keep me" in saved and store.load_record(path).summary.en.problems[0].text == text  # type: ignore[union-attr]


def test_an_edit_over_a_file_changed_on_disk_is_refused(summaries: Path) -> None:
    path = summaries / f"{KEY}.yaml"
    loaded = _loaded(path)
    path.write_text(path.read_text(encoding="utf-8") + "# saved in an editor\n", encoding="utf-8")
    editor = path.read_bytes()
    with pytest.raises(files.FileChanged):
        actions.edit_bullet(summaries, KEY, lang="zh", group="problems", index=0, text="医学图像的标注十分昂贵。",
                            loaded=loaded, lookup=_lookup)
    with pytest.raises(files.FileChanged):
        actions.decide(summaries, KEY, "approve", note=None, by="ada", loaded=loaded, lookup=_lookup)
    assert path.read_bytes() == editor


def test_decisions_are_the_clis_and_approving_an_invalid_record_is_refused(summaries: Path) -> None:
    path = summaries / f"{KEY}.yaml"
    with pytest.raises(ReviewError, match="empty"):
        actions.decide(summaries, KEY, "reject", note=" ", by="ada", loaded=_loaded(path), lookup=_lookup)
    record = actions.decide(summaries, KEY, "needs-changes", note="shorter", by="ada", loaded=_loaded(path),
                            lookup=_lookup)
    assert (record.status, record.review[-1].action, record.review[-1].by) == ("needs-changes", "needs-changes", "ada")
    path.write_text(path.read_text(encoding="utf-8").replace("first_author: Ada Lovelace", "first_author: Bob"),
                    encoding="utf-8")
    with pytest.raises(ReviewError, match="first_author"):
        actions.decide(summaries, KEY, "approve", note=None, by="ada", loaded=_loaded(path), lookup=_lookup)
    assert store.load_record(path).status == "needs-changes" and "# keep me" in path.read_text(encoding="utf-8")


def test_the_preview_is_the_rendered_entry_with_markup_escaped() -> None:
    record = handwritten_record(KEY, paper={"title": "Attention <script>alert(1)</script> | *all*", "venue": "arXiv"})
    html = preview.preview_html(record, Path("no-summaries"), Path("no-papers.yaml"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<table>" in html and "医学图像的标注需要专家知识" in html and "Problems addressed" in html


# --------------------------------------------------------------------------- the server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Bound, Settings]]:
    settings = make_settings(tmp_path)
    hostile = handwritten_record("2301.00002", status="needs-changes",
                                 paper={"title": "<img src=x onerror=alert(1)> & more", "authors": []})
    for record in (handwritten_record(KEY, status="approved"), hostile, handwritten_record("2301.00001")):
        store.write_draft(settings.summaries_dir, record)
    with running(Desk(settings, by="ada")) as bound:
        yield bound, settings


def _request(url: str, *, data: object = None, headers: dict[str, str] | None = None,
             method: str | None = None) -> tuple[int, str]:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_desk_listens_on_the_loopback_only(served: tuple[Bound, Settings]) -> None:
    bound, _ = served
    assert bound.sock.getsockname()[0] == "127.0.0.1"


def test_the_queue_lists_drafts_first_and_escapes_every_value(served: tuple[Bound, Settings]) -> None:
    bound, _ = served
    status, page = _request(bound.url)
    assert status == 200
    assert page.index("2301.00001") < page.index("2301.00002") < page.index(KEY)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt; &amp; more" in page
    status, page = _request(bound.base + bound.desk.url("/", status="approved"))
    assert KEY in page and "2301.00001" not in page
    status, page = _request(bound.base + bound.desk.url("/paper/2301.00002"))
    assert status == 200 and "<img src=x" not in page


def test_requests_without_the_token_are_refused(served: tuple[Bound, Settings]) -> None:
    bound, settings = served
    path = settings.summaries_dir / "2301.00001.yaml"
    before = path.read_bytes()
    for url in (bound.base + "/", bound.base + "/paper/2301.00001", bound.base + "/static/desk.js",
                bound.base + "/?token=wrong"):
        assert _request(url)[0] == 403, url
    decide = {"action": "approve", "loaded": _loaded(path)}
    json_type = {"Content-Type": "application/json"}
    assert _request(bound.base + "/paper/2301.00001/decide", data=decide, headers=json_type)[0] == 403
    # The token in the query does not authorise a change: only the page's header does.
    assert _request(bound.base + bound.desk.url("/paper/2301.00001/decide"), data=decide, headers=json_type)[0] == 403
    assert path.read_bytes() == before


def test_cross_site_posts_and_other_hosts_are_refused(served: tuple[Bound, Settings]) -> None:
    bound, settings = served
    path = settings.summaries_dir / "2301.00001.yaml"
    before = path.read_bytes()
    url = bound.base + "/paper/2301.00001/decide"
    decide = {"action": "approve", "loaded": _loaded(path)}
    token = {"Content-Type": "application/json", "X-Desk-Token": bound.desk.token}
    for extra in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                  {"Sec-Fetch-Site": "same-site"}, {"Content-Type": "text/plain"},
                  {"Host": f"evil.example:{bound.port}"}):
        status, body = _request(url, data=decide, headers={**token, **extra})
        assert status == 403, (extra, body)
    assert _request(bound.base + bound.desk.url("/"), headers={"Host": "rebound.example"})[0] == 403
    assert _request(bound.base + bound.desk.url("/"), method="DELETE")[0] == 403
    assert path.read_bytes() == before
    status, body = _request(url, data=decide, headers={**token, "Origin": bound.base, "Sec-Fetch-Site": "same-origin"})
    assert status == 200 and json.loads(body)["next"].startswith("/paper/2301.00002?token=")
    assert store.load_record(path).status == "approved"


def test_without_a_browser_the_browser_tests_skip_with_one_line_but_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import browser

    monkeypatch.setattr(browser, "CHROMIUM", ("no-such-chromium",))
    monkeypatch.setattr(browser, "DRIVER", ("no-such-chromedriver",))  # whatever this machine has installed
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception,
                       match=r"^no chromium and chromedriver: .*\(apt-get install chromium chromium-driver\)$"):
        browser.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true, so they may not be skipped"):
        browser.require_browser()


def test_a_save_is_checked_with_the_lists_glossary_as_validate_does(served: tuple[Bound, Settings]) -> None:
    bound, settings = served
    settings.papers_file.write_text("list:\n  title: T\n  glossary:\n    annotation budget: 标注预算\n"
                                    "  sections:\n    - {id: semi-supervised, name_zh: 半监督, name_en: Semi}\n"
                                    "papers: []\n", encoding="utf-8")
    path = settings.summaries_dir / "2301.00001.yaml"
    before = path.read_bytes()
    save = {"lang": "en", "group": "problems", "index": 0, "loaded": _loaded(path),
            "text": "Labelled medical scans are scarce because the annotation budget is small and costly."}
    headers = {"Content-Type": "application/json", "X-Desk-Token": bound.desk.token}
    status, body = _request(bound.base + "/paper/2301.00001/save", data=save, headers=headers)
    assert status == 422 and "'annotation budget' must be translated as '标注预算'" in body
    assert path.read_bytes() == before
    save["text"] = "Labelled medical scans are scarce because expert annotation is slow and very costly."
    status, body = _request(bound.base + "/paper/2301.00001/save", data=save, headers=headers)
    assert status == 200 and json.loads(body)["loaded"] == _loaded(path) != files.Snapshot.of(before).sha256
    assert json.loads(body)["problems"] == []  # what validate says now: the page replaces its list with it
