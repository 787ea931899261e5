"""The summary store: round trip, line-located errors, atomic writes, and drafts that never lose an edit."""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from handwritten_records import handwritten_record

from pipeline.core.config import FilesSettings
from pipeline.core.errors import StoreError
from pipeline.core.models import ReviewEvent
from pipeline.storage import files as filelock
from pipeline.workspace import store

KEY = "2209.08575"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_no(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


# --------------------------------------------------------------------------- round trip


def test_written_yaml_is_block_style_unicode_and_unfolded(tmp_path: Path) -> None:
    long_title = "A Handwritten Test Paper" + " with a very long title" * 12
    record = handwritten_record(paper={"title": long_title, "authors": ["Ada Lovelace"]})
    path = store.save_record(tmp_path, record)
    text = path.read_text(encoding="utf-8")
    assert "医学图像的标注需要专家知识" in text  # Chinese written as is, not \u escapes
    assert "\\u" not in text
    assert f"title: {long_title}\n" in text  # one line, never folded
    assert "{" not in text.replace("{}", "")  # block style
    assert store.load_record(path) == record


def test_save_keeps_comments_key_order_and_quoting(tmp_path: Path) -> None:
    path = store.save_record(tmp_path, handwritten_record())
    _edit(path, "status: draft", "# reviewed in the Friday meeting\nstatus: draft  # keep")
    _edit(path, "venue: MICCAI2022", "venue: \"MICCAI2022\"")
    text = path.read_text(encoding="utf-8")
    # a curator moved `warnings` to the top
    text = text.replace("warnings: []\n", "")
    path.write_text("warnings: []\n" + text, encoding="utf-8")

    record = store.load_record(path).model_copy(update={"status": "approved"})
    store.save_record(tmp_path, record)
    saved = path.read_text(encoding="utf-8")
    assert saved.startswith("warnings: []\nkey:")
    assert re.search(r"# reviewed in the Friday meeting\nstatus: approved +# keep\n", saved)
    assert 'venue: "MICCAI2022"' in saved
    assert store.load_record(path).status == "approved"


def test_save_updates_lists_in_place(tmp_path: Path) -> None:
    record = handwritten_record()
    path = store.save_record(tmp_path, record)
    _edit(path, "  tags:\n", "  tags:  # curated\n")
    tags = ["consistency", "mean teacher"]
    summary = record.summary.model_copy(update={"tags": tags})
    store.save_record(tmp_path, record.model_copy(update={"summary": summary}))
    assert "tags:  # curated\n    - consistency\n    - mean teacher\n" in path.read_text(encoding="utf-8")
    assert store.load_record(path).summary.tags == tags


# --------------------------------------------------------------------------- validation on load


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = store.save_record(tmp_path, handwritten_record())
    _edit(path, "venue: MICCAI2022", "venue: [MICCAI2022")
    with pytest.raises(store.RecordInvalid) as info:
        store.load_record(path)
    assert str(info.value).startswith(f"{path}:")
    assert info.value.problems[0].line is not None
    assert "YAML error" in str(info.value)


def test_schema_errors_point_at_the_offending_line(tmp_path: Path) -> None:
    path = store.save_record(tmp_path, handwritten_record())
    _edit(path, "同一图像两个扰动视图上的预测应当一致，这提供了额外的训练信号。",
          "Predictions on two views should agree which gives a signal.")
    _edit(path, "  dim: 2D", "  dim: 4D")
    _edit(path, "  venue: MICCAI2022", "  venue: MICCAI2022\n  colour: red")
    with pytest.raises(StoreError) as info:
        store.load_record(path)
    problems = {p.message.split(":")[0]: p.line for p in info.value.problems}  # type: ignore[attr-defined]
    assert problems == {
        "paper.colour": _line_no(path, "colour: red"),
        "summary.zh.motivation": _line_no(path, "Predictions on two views"),
        "summary.dim": _line_no(path, "dim: 4D"),
    }
    assert str(info.value).startswith(f"{path}:{_line_no(path, 'colour: red')}: paper.colour")


def test_empty_file_and_wrong_key_are_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(store.RecordInvalid, match="empty"):
        store.load_record(empty)
    path = store.save_record(tmp_path, handwritten_record())
    moved = path.rename(tmp_path / "other.yaml")
    with pytest.raises(store.RecordInvalid, match=r"other.yaml:1: key: '2209.08575' does not match"):
        store.load_record(moved)


def test_record_path_refuses_unsafe_keys(tmp_path: Path) -> None:
    assert store.record_path(tmp_path, "hep-th_9901001") == tmp_path / "hep-th_9901001.yaml"
    for key in ("../etc/passwd", "_original", "", "a/b"):
        with pytest.raises(StoreError, match="invalid summary key"):
            store.record_path(tmp_path, key)


def test_iter_records_sorted_skips_side_folders_and_collects_errors(tmp_path: Path) -> None:
    for key in ("2301.00002", "2101.00001"):
        store.write_draft(tmp_path, handwritten_record(key))
    store.write_failure(tmp_path, "2401.00003", {"error": "refusal"})
    (tmp_path / "broken.yaml").write_text("key: [", encoding="utf-8")
    with pytest.raises(store.RecordInvalid, match=r"broken\.yaml"):
        list(store.iter_records(tmp_path))
    errors: list[StoreError] = []
    keys = [record.key for _, record in store.iter_records(tmp_path, errors=errors)]
    assert keys == ["2101.00001", "2301.00002"]
    assert len(errors) == 1 and "broken.yaml:1" in str(errors[0])


# --------------------------------------------------------------------------- atomic writes


def test_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = store.save_record(tmp_path, handwritten_record())
    before = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.save_record(tmp_path, handwritten_record(status="approved"))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [store.LOCK_FILE, path.name]  # no temp file


# --------------------------------------------------------------------------- write_draft


def test_first_draft_is_created_with_its_original(tmp_path: Path) -> None:
    result = store.write_draft(tmp_path, handwritten_record())
    assert result.outcome == "created"
    assert result.path == tmp_path / f"{KEY}.yaml"
    assert store.load_record(store.original_path(tmp_path, KEY)) == store.load_record(result.path)
    assert not store.is_edited(tmp_path, KEY)
    assert store.write_draft(tmp_path, handwritten_record()).outcome == "unchanged"


def test_untouched_draft_is_replaced_and_a_comment_alone_is_not_an_edit(tmp_path: Path) -> None:
    path = store.write_draft(tmp_path, handwritten_record()).path
    _edit(path, "status: draft", "status: draft  # looks fine so far")
    assert not store.is_edited(tmp_path, KEY)
    newer = handwritten_record(warnings=["grounding score below 1"])
    result = store.write_draft(tmp_path, newer)
    assert result.outcome == "replaced"
    assert store.load_record(path) == newer
    assert "# looks fine so far" in path.read_text(encoding="utf-8")
    assert store.load_record(store.original_path(tmp_path, KEY)) == newer


def test_done_when_curator_edit_and_comment_survive_a_new_draft(tmp_path: Path) -> None:
    """Issue 5, Done when: edit one bullet, add a comment, re-summarize; both survive, new output beside."""
    path = store.write_draft(tmp_path, handwritten_record()).path
    _edit(path, "expert annotation is slow and costly.", "expert annotation takes radiologists hours.")
    _edit(path, "  zh:\n", "  zh:  # Chinese checked by a native speaker\n")
    edited_text = path.read_text(encoding="utf-8")
    assert store.is_edited(tmp_path, KEY)

    newer = handwritten_record(warnings=["a new run"])
    result = store.write_draft(tmp_path, newer)

    assert result.outcome == "proposed"
    assert result.path == tmp_path / "_proposed" / f"{KEY}.yaml"
    assert path.read_text(encoding="utf-8") == edited_text
    assert "expert annotation takes radiologists hours." in edited_text
    assert "# Chinese checked by a native speaker" in edited_text
    assert store.load_record(result.path) == newer
    assert str(result.path) in result.message and "review diff" in result.message
    assert "edited" in result.message
    # the model's first output is still the reference for `review diff`
    assert store.load_record(store.original_path(tmp_path, KEY)) == handwritten_record()


def test_reviewed_record_is_not_replaced(tmp_path: Path) -> None:
    path = store.write_draft(tmp_path, handwritten_record()).path
    store.save_record(tmp_path, store.load_record(path).model_copy(update={"status": "approved"}))
    result = store.write_draft(tmp_path, handwritten_record(warnings=["new"]))
    assert result.outcome == "proposed" and "approved" in result.message
    assert store.load_record(path).status == "approved"
    # the same output again offers nothing new
    assert store.write_draft(tmp_path, handwritten_record()).outcome == "unchanged"


def test_force_replaces_but_keeps_the_previous_version_and_history(tmp_path: Path) -> None:
    path = store.write_draft(tmp_path, handwritten_record()).path
    _edit(path, "expert annotation is slow and costly.", "expert annotation takes radiologists hours.")
    approved = store.load_record(path)
    event = ReviewEvent(action="approve", by="ada", at=approved.provenance.created_at)
    store.save_record(tmp_path, approved.model_copy(update={"status": "approved", "review": [event]}))
    before = path.read_text(encoding="utf-8")

    newer = handwritten_record(warnings=["forced"])
    result = store.write_draft(tmp_path, newer, force=True)

    assert result.outcome == "replaced" and "previous" in result.message
    assert store.proposed_path(tmp_path, KEY, previous=True).read_text(encoding="utf-8") == before
    record = store.load_record(path)
    assert record.status == "draft" and record.warnings == ["forced"]
    assert [e.action for e in record.review] == ["approve", "reset"]
    assert not store.is_edited(tmp_path, KEY)


def test_unreadable_record_is_never_overwritten_without_force(tmp_path: Path) -> None:
    path = store.write_draft(tmp_path, handwritten_record()).path
    path.write_text("key: [half an edit", encoding="utf-8")
    result = store.write_draft(tmp_path, handwritten_record(warnings=["new"]))
    assert result.outcome == "proposed" and "unreadable" in result.message
    assert path.read_text(encoding="utf-8") == "key: [half an edit"


def test_record_without_original_counts_as_edited(tmp_path: Path) -> None:
    store.save_record(tmp_path, handwritten_record(backend="imported", status="approved"))
    assert store.is_edited(tmp_path, KEY)


def test_failure_record_is_separate_and_removed_by_a_later_success(tmp_path: Path) -> None:
    failed = store.write_failure(tmp_path, KEY, {"error": "refused", "attempts": [{"raw": "无法回答"}]})
    assert failed == tmp_path / "_failed" / f"{KEY}.yaml"
    assert "无法回答" in failed.read_text(encoding="utf-8")
    assert not store.record_path(tmp_path, KEY).exists()
    store.write_draft(tmp_path, handwritten_record())
    assert not failed.exists()


def test_filling_an_empty_list_writes_block_style(tmp_path: Path) -> None:
    store.write_draft(tmp_path, handwritten_record())
    path = store.write_draft(tmp_path, handwritten_record(warnings=["one", "two"])).path
    assert "warnings:\n  - one\n  - two\n" in path.read_text(encoding="utf-8")


def test_force_keeps_even_an_undecodable_file_byte_for_byte(tmp_path: Path) -> None:
    path = store.write_draft(tmp_path, handwritten_record()).path
    broken = b"key: '2209.08575'\nnote: \xff\xfe latin-1 paste\n"
    path.write_bytes(broken)
    assert store.write_draft(tmp_path, handwritten_record()).outcome == "proposed"
    assert store.write_draft(tmp_path, handwritten_record(), force=True).outcome == "replaced"
    assert store.proposed_path(tmp_path, KEY, previous=True).read_bytes() == broken
    assert store.load_record(path) == handwritten_record()


def _save_during_check(monkeypatch: pytest.MonkeyPatch, save: Callable[[int], None]) -> list[int]:
    """Make `store.is_edited` call ``save(n)`` (a curator saving the file) after its n-th check."""
    check = store.is_edited
    calls: list[int] = []

    def check_then_save(summaries_dir: Path, key: str) -> bool:
        calls.append(len(calls) + 1)
        answer = check(summaries_dir, key)
        save(calls[-1])
        return answer

    monkeypatch.setattr(store, "is_edited", check_then_save)
    return calls


def test_an_edit_saved_just_after_the_check_is_not_overwritten(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The curator saves the draft between the 'is it edited?' check and the write of a new draft."""
    path = store.write_draft(tmp_path, handwritten_record()).path

    def first_time_only(n: int) -> None:
        if n == 1:
            _edit(path, "expert annotation is slow and costly.", "expert annotation takes radiologists hours.")

    calls = _save_during_check(monkeypatch, first_time_only)
    result = store.write_draft(tmp_path, handwritten_record(warnings=["a new run"]))
    assert len(calls) == 2  # decided again on the file as it now is
    assert result.outcome == "proposed"
    assert "takes radiologists hours" in path.read_text(encoding="utf-8")


def test_a_file_that_keeps_changing_is_reported_not_overwritten(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = store.write_draft(tmp_path, handwritten_record()).path

    def every_time(n: int) -> None:
        path.write_text(path.read_text(encoding="utf-8") + f"# save {n}\n", encoding="utf-8")

    calls = _save_during_check(monkeypatch, every_time)
    with pytest.raises(StoreError, match="kept changing"):
        store.write_draft(tmp_path, handwritten_record(warnings=["a new run"]))
    assert path.read_text(encoding="utf-8").endswith(f"# save {len(calls)}\n")


def _save_approved(folder: Path) -> None:
    store.save_record(folder, handwritten_record(status="approved"))


def test_another_process_waits_for_the_summaries_lock(tmp_path: Path) -> None:
    path = store.write_draft(tmp_path, handwritten_record()).path
    context = multiprocessing.get_context("fork")
    with filelock.exclusive(tmp_path / store.LOCK_FILE):
        worker = context.Process(target=_save_approved, args=(tmp_path,))
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive()  # blocked while this process holds the lock
        assert store.load_record(path).status == "draft"
    worker.join(timeout=30)
    assert worker.exitcode == 0 and store.load_record(path).status == "approved"


# --------------------------------------------------------------------------- hostile files (issue 12)


def _listed_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    from test_render import PAPERS, record

    papers_path = tmp_path / "papers.yaml"
    papers_path.write_text(PAPERS, encoding="utf-8")
    summaries = tmp_path / "summaries"
    store.save_record(summaries, record("2501.00001", "The first paper"))
    store.save_record(summaries, record("2502.00002", "The second paper"))
    monkeypatch.setenv("PIPELINE_SUMMARIES_DIR", str(summaries))
    monkeypatch.setenv("PIPELINE_PAPERS_FILE", str(papers_path))
    return papers_path, summaries


COMMANDS = {
    "render": ["render", "--out", "LIST.md"],
    "review list": ["review", "list"],
    "validate": ["validate"],
    "lint": ["lint", "--out", "LIST.md"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("name", "insert"), [
    ("tag", "note: !foo bar\n"),
    ("alias bomb", "junk:\n" + "".join(f"  - &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 10)}]\n"
                                       for i in range(7))),
    ("mapping key", "? {a: 1}\n: x\n"),
    ("long number", "n: " + "9" * 5000 + "\n"),
    ("impossible date", "d: 2024-13-45\n"),
])
def test_a_hostile_summary_file_is_one_clear_line_in_every_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        command: str, name: str, insert: str) -> None:
    from pipeline import cli

    _, summaries = _listed_workspace(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    path = summaries / "2501.00001.yaml"
    path.write_text(path.read_text(encoding="utf-8") + insert, encoding="utf-8")
    needle, words = {"tag": ("!foo", "tag !foo is not accepted"), "alias bomb": ("&l0", "anchor &l0 is not accepted"),
                     "mapping key": ("? {a: 1}", "a key must be plain text"),
                     "long number": ("n: 999", "a number of 5000 digits"),
                     "impossible date": ("d: 2024-13-45", "cannot read this value (month must be in 1..12)")}[name]
    line = _line_no(path, needle)
    started = time.monotonic()
    code = cli.main(COMMANDS[command])  # before the fix: a traceback (tag) or 1 GB and 25 s (bomb)
    assert time.monotonic() - started < 5
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert f"{path}:{line}: YAML error: " in out + err  # validate and lint print findings as data
    assert words in out + err
    assert code == (0 if command == "render" else 1)  # render publishes the rest and notes the bad file


def test_a_summary_file_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = store.save_record(tmp_path, handwritten_record())
    monkeypatch.setattr(filelock, "_limits", FilesSettings(yaml_max_bytes=100))
    with pytest.raises(store.RecordInvalid, match=r"2209\.08575\.yaml:1: YAML error: the file is \d+ bytes, "
                                                  r"over the limit of 100 \(PIPELINE_YAML_MAX_BYTES\)"):
        store.load_record(path)


@pytest.mark.parametrize("key", ["2209.08575\n", "a" * 300])
def test_a_key_with_a_trailing_newline_or_too_long_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(StoreError, match=r"invalid summary key|over the limit of 128"):
        store.record_path(tmp_path, key)


@pytest.mark.parametrize("action", [["review", "approve"], ["review", "show"], ["review", "diff"]])
def test_a_300_character_key_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], action: list[str]) -> None:
    from pipeline import cli

    monkeypatch.setenv("PIPELINE_SUMMARIES_DIR", str(tmp_path))
    assert cli.main([*action, "a" * 300]) == 1  # before the fix: a File name too long traceback (approve)
    err = capsys.readouterr().err
    assert err.startswith("error: summary key aaaa") and "over the limit of 128" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("folder", [store.ORIGINAL_DIR, store.PROPOSED_DIR, store.FAILED_DIR])
def test_a_symlinked_sub_folder_is_refused_and_nothing_is_written_outside(tmp_path: Path, folder: str) -> None:
    summaries, outside = tmp_path / "summaries", tmp_path / "outside"
    summaries.mkdir()
    outside.mkdir()
    (summaries / folder).symlink_to(outside, target_is_directory=True)
    record = handwritten_record()
    with pytest.raises(StoreError, match=f"{folder} is a symbolic link; pipeline writes only inside"):
        if folder == store.FAILED_DIR:
            store.write_failure(summaries, record.key, {"error": "x"})
        else:  # before the fix: the draft's original went to outside/ through the link
            store.write_draft(summaries, record)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_null_key_in_a_summary_file_is_a_finding_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str) -> None:
    from pipeline import cli

    _, summaries = _listed_workspace(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    path = summaries / "2501.00001.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "null: x\n", encoding="utf-8")
    code = cli.main(COMMANDS[command])  # before: AttributeError in the read-only loader
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert f"{path}:1: record: Extra inputs are not permitted" in out + err
    assert code == (0 if command == "render" else 1)


def test_save_new_records_creates_new_files_and_updates_an_existing_one_in_place(tmp_path: Path) -> None:
    old = store.save_record(tmp_path, handwritten_record("2209.08575"))
    old.write_text("# the curator's note\n" + old.read_text(encoding="utf-8"), encoding="utf-8")
    records = [handwritten_record("2209.08575", status="approved"), handwritten_record("2101.00001"),
               handwritten_record("2101.00001", status="approved")]  # the same key twice: the later one wins
    paths = store.save_new_records(tmp_path, records)
    assert paths == [store.record_path(tmp_path, r.key) for r in records]
    kept = old.read_text(encoding="utf-8")
    assert kept.startswith("# the curator's note\n") and store.load_record(old).status == "approved"
    assert store.load_record(paths[1]).status == "approved"
    assert not list(tmp_path.glob(f"{filelock.TEMP_PREFIX}*"))
