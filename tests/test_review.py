"""The review queue: states, who/when/why in the file, refusal of invalid approvals, diffs, CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import PDFS
from handwritten_records import HANDWRITTEN_SOURCE_TEXT, handwritten_record

from pipeline.cli import main
from pipeline.core.errors import ReviewError, StoreError
from pipeline.model.summary import SummaryRecord
from pipeline.workspace import review, store

KEY = "2209.08575"
NOW = dt.datetime(2026, 11, 4, 12, 0, tzinfo=dt.UTC)


def _lookup(record: SummaryRecord) -> str | None:
    return HANDWRITTEN_SOURCE_TEXT


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def summaries(tmp_path: Path) -> Path:
    folder = tmp_path / "summaries"
    store.write_draft(folder, handwritten_record(KEY))
    store.write_draft(folder, handwritten_record("2301.00001", backend="local"))
    return folder


def test_list_rows_filters_and_json(summaries: Path) -> None:
    _edit(summaries / f"{KEY}.yaml", "slow and costly", "slow and expensive")
    listing = review.list_reviews(summaries, now=NOW)
    assert [(r.key, r.status, r.age, r.backend, r.edited) for r in listing.rows] == [
        (KEY, "draft", "3d", "remote", True), ("2301.00001", "draft", "3d", "local", False)]
    review.reject(summaries, "2301.00001", reason="off topic", by="ada", now=NOW)
    assert [r.key for r in review.list_reviews(summaries, status="rejected").rows] == ["2301.00001"]
    row = review.list_reviews(summaries, status="draft", now=NOW).rows[0].to_json()
    assert row["title"] == "A Handwritten Test Paper on Consistency"
    assert row["grounding_score"] == 1.0 and row["warnings"] == 0
    assert "2209.08575*" in review.format_table(listing.rows)


def test_list_reports_unreadable_files_without_stopping(summaries: Path) -> None:
    (summaries / "broken.yaml").write_text("key: [", encoding="utf-8")
    listing = review.list_reviews(summaries)
    assert len(listing.rows) == 2
    assert len(listing.errors) == 1 and "broken.yaml:1" in listing.errors[0]


def test_approve_records_who_when_why_and_keeps_comments(summaries: Path) -> None:
    path = summaries / f"{KEY}.yaml"
    _edit(path, "status: draft", "status: draft  # second look by Grace")
    _edit(path, "  tags:\n", "  # tags follow the list's vocabulary\n  tags:\n")
    record = review.approve(summaries, KEY, by="Ada Lovelace", note="checked against the PDF",
                            lookup=_lookup, now=NOW)
    assert record.status == "approved"
    saved = store.load_record(path)
    assert saved.status == "approved"
    [event] = saved.review
    assert (event.action, event.by, event.at, event.note) == ("approve", "Ada Lovelace", NOW,
                                                              "checked against the PDF")
    text = path.read_text(encoding="utf-8")
    assert "# second look by Grace" in text and "# tags follow the list's vocabulary" in text
    assert "review:\n  - action: approve\n    by: Ada Lovelace\n" in text
    with pytest.raises(ReviewError, match="already approved by Ada Lovelace"):
        review.approve(summaries, KEY, by="Ada Lovelace", lookup=_lookup)


def test_approve_is_refused_with_the_reasons_while_validation_fails(summaries: Path) -> None:
    path = summaries / f"{KEY}.yaml"
    _edit(path, "with decay 0.99.", "with decay 0.5.")
    _edit(path, "last_author: Alan Turing", "last_author: Grace Hopper")
    before = path.read_text(encoding="utf-8")
    with pytest.raises(ReviewError) as info:
        review.approve(summaries, KEY, by="ada", lookup=_lookup)
    message = str(info.value)
    assert "cannot approve 2209.08575: 2 validation problem(s)" in message
    assert "numbers not in the paper text: 0.5" in message and "last_author" in message
    assert path.read_text(encoding="utf-8") == before

    _edit(path, "  dim: 2D", "  dim: flat")
    with pytest.raises(StoreError, match=r"2209\.08575\.yaml:\d+: summary\.dim"):
        review.approve(summaries, KEY, by="ada", lookup=_lookup)


def test_reject_and_needs_changes_require_a_reason(summaries: Path) -> None:
    with pytest.raises(ReviewError, match="empty"):
        review.reject(summaries, KEY, reason="  ", by="ada")
    with pytest.raises(ReviewError, match="empty"):
        review.needs_changes(summaries, KEY, note="", by="ada")
    review.needs_changes(summaries, KEY, note="framework bullet 1 is vague", by="ada", now=NOW)
    review.needs_changes(summaries, KEY, note="still vague", by="grace", now=NOW)
    review.reject(summaries, KEY, reason="duplicate of 2301.00001", by="ada", now=NOW)
    with pytest.raises(ReviewError, match="already rejected"):
        review.reject(summaries, KEY, reason="again", by="ada")
    record = store.load_record(summaries / f"{KEY}.yaml")
    assert record.status == "rejected"
    assert [(e.action, e.by, e.note) for e in record.review] == [
        ("needs-changes", "ada", "framework bullet 1 is vague"), ("needs-changes", "grace", "still vague"),
        ("reject", "ada", "duplicate of 2301.00001")]


def test_unknown_key_says_how_to_find_one(summaries: Path) -> None:
    with pytest.raises(ReviewError, match=r"no summary .*review list"):
        review.show(summaries, "2999.99999")


def test_resummarize_with_force_returns_to_draft(summaries: Path) -> None:
    review.approve(summaries, KEY, by="ada", lookup=_lookup, now=NOW)
    assert store.write_draft(summaries, handwritten_record(KEY, warnings=["new run"])).outcome == "proposed"
    assert store.load_record(summaries / f"{KEY}.yaml").status == "approved"
    store.write_draft(summaries, handwritten_record(KEY, warnings=["new run"]), force=True)
    record = store.load_record(summaries / f"{KEY}.yaml")
    assert record.status == "draft"
    assert [e.action for e in record.review] == ["approve", "reset"]


def test_default_reviewer_falls_back_to_user(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_git(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert review.default_reviewer({"USER": "grace"}) == "grace"
    assert review.default_reviewer({}) == "unknown"


def test_diff_shows_only_the_curators_content_changes(summaries: Path) -> None:
    path = summaries / f"{KEY}.yaml"
    assert review.diff(summaries, KEY) == ""
    _edit(path, "status: draft", "status: draft  # a comment is not an edit")
    assert review.diff(summaries, KEY) == ""
    _edit(path, "slow and costly", "slow and expensive")
    text = review.diff(summaries, KEY)
    assert "(model original)" in text and "(curator)" in text
    changed = [line for line in text.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        "-      - text: Labelled medical scans are scarce because expert annotation is slow and costly.",
        "+      - text: Labelled medical scans are scarce because expert annotation is slow and expensive."]


def test_diff_against_the_proposed_output(summaries: Path) -> None:
    with pytest.raises(ReviewError, match="no proposed model output"):
        review.diff(summaries, KEY, against="proposed")
    _edit(summaries / f"{KEY}.yaml", "slow and costly", "slow and expensive")
    store.write_draft(summaries, handwritten_record(KEY, warnings=["new run"]))
    text = review.diff(summaries, KEY, against="proposed")
    assert "+  - new run" in text and "-      - text: Labelled medical scans are scarce because " \
        "expert annotation is slow and expensive." in text


def test_show_marks_local_drafts_and_lists_evidence(summaries: Path) -> None:
    local = review.format_record(review.show(summaries, "2301.00001", lookup=_lookup))
    assert local.startswith(f"!!! {review.LOCAL_BANNER}")
    assert "## 文章考虑的问题 / Problems addressed" in local
    assert "医学图像的标注需要专家知识" in local
    assert 'evidence: "the teacher weights are an exponential moving average of the student weights"' in local
    remote = review.show(summaries, KEY, lookup=_lookup)
    assert review.LOCAL_BANNER not in review.format_record(remote)
    assert remote.problems == [] and not remote.edited and remote.proposed is None


def test_cli_review_commands(summaries: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PIPELINE_SUMMARIES_DIR", str(summaries))
    assert main(["review", "list", "--json"]) == 0
    assert [row["key"] for row in json.loads(capsys.readouterr().out)] == [KEY, "2301.00001"]
    assert main(["review", "approve", KEY, "--by", "Ada", "--note", "ok"]) == 0
    assert capsys.readouterr().out.startswith(f"{KEY}: approved by Ada at ")
    assert main(["review", "approve", KEY, "--by", "Ada"]) == 1
    assert "error: 2209.08575 is already approved" in capsys.readouterr().err
    assert main(["review", "needs-changes", "2301.00001", "--note", "tighten bullet 2"]) == 0
    capsys.readouterr()
    assert main(["review", "list", "--status", "needs-changes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KEY", "STATUS", "AGE", "BACKEND", "GROUND", "WARN", "TITLE"]
    assert [line.split()[:2] for line in lines[1:]] == [["2301.00001", "needs-changes"]]
    assert main(["review", "show", "2301.00001"]) == 0
    assert "tighten bullet 2" in capsys.readouterr().out
    assert main(["review", "diff", KEY]) == 0
    assert "no differences" in capsys.readouterr().err


# --------------------------------------------------------------------------- end to end through summarize


def test_done_when_resummarize_keeps_the_edit_and_offers_the_new_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 5, Done when, through the real `summarize` (loopback fake LLM, shared PDF, offline)."""

    from pipeline.devtools.devserver import FakeServer

    folder = tmp_path / "summaries"
    monkeypatch.setenv("PIPELINE_SUMMARIES_DIR", str(folder))
    monkeypatch.setenv("PIPELINE_OFFLINE", "1")
    pdf = PDFS / "mixmatch_1905.02249.pdf"
    with FakeServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        assert main(["summarize", str(pdf)]) == 0
        [path] = folder.glob("*.yaml")
        key = path.stem
        record = store.load_record(path)
        assert record.summary.en is not None
        first = record.summary.en.problems[0].text
        line = next(ln for ln in path.read_text(encoding="utf-8").splitlines() if "- text:" in ln)
        assert first[-30:] in line
        curated = f"{first.rstrip('.')}, as the curator puts it."
        _edit(path, line, f"      - text: {json.dumps(curated)}")  # a JSON string is a YAML string
        _edit(path, "  zh:\n", "  zh:  # checked by a native speaker\n")
        edited = path.read_text(encoding="utf-8")
        capsys.readouterr()
        assert main(["summarize", str(pdf)]) == 0
    err = capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == edited
    assert store.load_record(path).summary.en.problems[0].text == curated  # type: ignore[union-attr]
    assert "# checked by a native speaker" in edited
    proposed = folder / "_proposed" / f"{key}.yaml"
    assert store.load_record(proposed).summary.en.problems[0].text == first  # type: ignore[union-attr]
    assert f"proposed: {proposed}" in err and "untouched" in err and "review diff" in err
    assert main(["review", "diff", key]) == 0
    assert "as the curator puts it." in capsys.readouterr().out
    # grounding is re-checked against the text `extract` cached while summarizing
    assert main(["validate", str(path)]) == 0
    assert "grounding not checked" not in capsys.readouterr().err
    assert main(["review", "approve", key, "--by", "curator"]) == 0
    assert store.load_record(path).status == "approved"


def test_records_without_a_model_original_are_not_shown_as_edited(tmp_path: Path) -> None:
    store.save_record(tmp_path, handwritten_record(backend="imported", status="approved"))
    [row] = review.list_reviews(tmp_path).rows
    assert not row.edited and store.is_edited(tmp_path, KEY)  # the store still plays safe
    assert "edited" not in review.format_record(review.show(tmp_path, KEY)).splitlines()[0]


def test_an_edit_saved_during_approval_is_kept_and_validated(summaries: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = summaries / f"{KEY}.yaml"
    validate = review.validate_file  # type: ignore[attr-defined]
    seen: list[str] = []

    def validate_while_curator_saves(file: Path, lookup: Any = None) -> Any:
        seen.append(file.read_text(encoding="utf-8"))
        report = validate(file, lookup)
        if len(seen) == 1:
            _edit(path, "slow and costly", "slow and expensive")
        return report

    monkeypatch.setattr(review, "validate_file", validate_while_curator_saves)
    review.approve(summaries, KEY, by="ada", lookup=_lookup, now=NOW)
    text = path.read_text(encoding="utf-8")
    assert "slow and expensive" in text and "status: approved" in text
    assert len(seen) == 2 and "slow and expensive" in seen[1]  # the approved text is the one validated
