"""`validate`: every problem of a hand-edited summary as one `path:line: message` line, exit 1 on any."""

from __future__ import annotations

from pathlib import Path

import pytest
from handwritten_records import HANDWRITTEN_SOURCE_TEXT, handwritten_record

from pipeline.cli import main
from pipeline.core.models import ExtractedDocument, Section
from pipeline.model.summary import SummaryRecord
from pipeline.sources import arxiv
from pipeline.storage.cache import Cache
from pipeline.text import extract
from pipeline.workspace import store
from pipeline.workspace.validate import cached_text_lookup, validate_file, validate_paths

SHA = "0" * 64


def _lookup(record: SummaryRecord) -> str | None:
    return HANDWRITTEN_SOURCE_TEXT if record.provenance.source_sha256 == SHA else None


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_no(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


@pytest.fixture
def draft(tmp_path: Path) -> Path:
    return store.write_draft(tmp_path, handwritten_record()).path


def test_valid_record_passes_and_is_grounded(draft: Path) -> None:
    report = validate_file(draft, _lookup)
    assert report.problems == [] and report.notes == []


def test_grounding_is_skipped_with_a_note_when_no_text_is_cached(draft: Path) -> None:
    assert validate_file(draft, None).notes == [
        f"{draft}: grounding not checked: no extracted text given"]
    notes = validate_file(draft, lambda record: None).notes
    assert len(notes) == 1 and "no cached extracted text for source 000000000000" in notes[0]


@pytest.mark.parametrize(("old", "new", "needle", "expected"), [
    ("同一图像两个扰动视图上的预测应当一致，这提供了额外的训练信号。",
     "Predictions on two views of a scan should agree with each other.", "Predictions on two views",
     "summary.zh.motivation: bullet 1 has no Chinese characters"),
    ("giving a signal.", "giving a signal 信号.", "giving a signal 信号",
     "summary.en.motivation.0.text: English bullet contains Chinese characters"),
    ("学生网络向 teacher 网络学习，teacher 的权重是学生权重的指数滑动平均。", "TODO", "- TODO",
     "summary.zh.framework"),
    ("学生网络向 teacher 网络学习，teacher 的权重是学生权重的指数滑动平均。",
     "同一图像两个扰动视图上的预测应当一致，这提供了额外的训练信号。", "  zh:",
     "summary.zh: duplicate bullet in motivation and framework"),
])
def test_hand_edit_errors_name_the_line(draft: Path, old: str, new: str, needle: str, expected: str) -> None:
    _edit(draft, old, new)
    problems = validate_file(draft, _lookup).problems
    assert problems, "the broken edit was not reported"
    first = problems[0]
    assert first.message.startswith(expected)
    assert first.line == _line_no(draft, needle)


def test_lists_that_are_not_parallel_are_reported(draft: Path) -> None:
    _edit(draft, "      - 医学图像的标注需要专家知识，成本很高，因此有标签的数据十分稀缺。\n",
          "      - 医学图像的标注需要专家知识，成本很高，因此有标签的数据十分稀缺。\n"
          "      - 专家标注每一张扫描图像都需要花费大量的时间。\n")
    problems = validate_file(draft, _lookup).problems
    assert [str(p) for p in problems] == [
        f"{draft}:{_line_no(draft, 'summary:')}: summary: problems: en has 1 bullets but zh has 2; "
        "they must be parallel"]


def test_ungrounded_evidence_and_numbers_point_at_the_bullet(draft: Path) -> None:
    _edit(draft, "evidence: the teacher weights are", "evidence: the teacher weights were once")
    _edit(draft, "with decay 0.99.", "with decay 0.95.")
    messages = {p.line: p.message for p in validate_file(draft, _lookup).problems}
    assert set(messages) == {_line_no(draft, "the teacher weights were once"), _line_no(draft, "decay 0.95")}
    assert "is not a verbatim quote" in messages[_line_no(draft, "the teacher weights were once")]
    assert "0.95" in messages[_line_no(draft, "decay 0.95")]


def test_author_fields_must_match_the_author_list(draft: Path) -> None:
    _edit(draft, "last_author: Alan Turing", "last_author: Grace Hopper")
    [problem] = validate_file(draft, _lookup).problems
    assert problem.line == _line_no(draft, "last_author: Grace Hopper")
    assert "last" in problem.message and "Alan Turing" in problem.message


def test_imported_records_skip_grounding(tmp_path: Path) -> None:
    path = store.save_record(tmp_path, handwritten_record(backend="imported", status="approved"))
    report = validate_file(path, lambda record: "unrelated text")
    assert report.problems == [] and report.notes == []


def test_validate_paths_defaults_to_every_record_and_reports_missing_files(tmp_path: Path) -> None:
    store.write_draft(tmp_path, handwritten_record("2101.00001"))
    store.write_draft(tmp_path, handwritten_record("2101.00002"))
    store.write_failure(tmp_path, "2101.00003", {"error": "x"})
    report = validate_paths([], summaries_dir=tmp_path, lookup=_lookup)
    assert [f.path.name for f in report.files] == ["2101.00001.yaml", "2101.00002.yaml"]
    assert report.ok
    assert validate_paths([], summaries_dir=tmp_path / "none yet").ok
    missing = validate_paths([tmp_path / "nope.yaml"], summaries_dir=tmp_path)
    assert not missing.ok and str(missing.problems[0]).endswith("nope.yaml:1: no such file")


def test_cli_prints_one_line_per_error_and_exits_1(tmp_path: Path, draft: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PIPELINE_SUMMARIES_DIR", str(tmp_path))
    assert main(["validate"]) == 0
    _edit(draft, "  dim: 2D", "  dim: 4D")
    _edit(draft, "status: draft", "status: done")
    capsys.readouterr()
    assert main(["validate", str(draft)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{draft}:{_line_no(draft, 'status: done')}: status: Input should be 'draft', 'approved', "
                   "'rejected' or 'needs-changes'",
                   f"{draft}:{_line_no(draft, 'dim: 4D')}: summary.dim: Input should be '2D', '3D', '2D+3D', "
                   "'N/A' or 'unknown'"]
    draft.write_text("key: [", encoding="utf-8")
    assert main(["validate", str(tmp_path)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{draft}:1: YAML error")


def test_grounding_uses_the_extraction_cache(tmp_path: Path) -> None:
    """The text `pipeline extract` cached for the record's source_sha256 (+ cached arXiv abstract)."""
    path = store.write_draft(tmp_path / "summaries", handwritten_record()).path
    cache_dir = tmp_path / "cache"
    lookup = cached_text_lookup(cache_dir)
    assert "no cached extracted text" in validate_file(path, lookup).notes[0]

    intro, method = HANDWRITTEN_SOURCE_TEXT.split("Method\n")
    abstract, body = intro.split("We propose")
    document = ExtractedDocument(sha256=SHA, pages=1, chars=len(HANDWRITTEN_SOURCE_TEXT), sections=[
        Section(title="Introduction", kind="introduction", text="We propose" + body),
        Section(title="Method", kind="method", text=method)])
    cache = Cache(cache_dir)
    cache.put_json(extract.CACHE_NAMESPACE, f"{SHA}:{extract.EXTRACTOR_VERSION}", document.model_dump(mode="json"))
    # the first quote is only in the arXiv abstract, which the model was given too
    [problem] = validate_file(path, lookup).problems
    assert "summary.en.problems[1].evidence is not a verbatim quote" in problem.message
    cache.put_json(arxiv.NAMESPACE, "2209.08575v1", {"abstract": abstract.removeprefix("Introduction\n")})
    report = validate_file(path, lookup)
    assert report.problems == [] and report.notes == []


def test_a_number_changed_on_one_side_only_points_at_the_chinese_bullet(draft: Path) -> None:
    _edit(draft, "成本很高，", "成本高达3倍，")
    problems = validate_file(draft, _lookup).problems
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (_line_no(draft, "成本高达3倍"), "summary.zh.problems[1]")]
    assert "'3' (3) is not a number of the English bullet" in problems[0].message


def test_a_glossary_miss_points_at_the_chinese_bullet(draft: Path) -> None:
    _edit(draft, "医学图像的标注需要专家知识", "医学图像的注释需要专家知识")  # annotation -> 标注 in the glossary
    problems = validate_file(draft, _lookup).problems
    assert [(p.line, p.message) for p in problems] == [
        (_line_no(draft, "医学图像的注释"), "summary.zh.problems[1]: 'annotation' must be translated as '标注' "
                                             "(glossary)")]
    assert validate_file(draft, _lookup, terms={"expert": "专家"}).problems == []  # a list's own glossary


def test_an_evidence_of_cited_sentences_is_checked_sentence_by_sentence(draft: Path) -> None:
    quote = "annotating medical images requires expert knowledge and is time consuming"
    _edit(draft, f"evidence: {quote}", f"evidence: {quote} … We propose a simple consistency framework.")
    _edit(draft, "sentences: []", "sentences: [2, 3]")  # the first bullet's
    assert validate_file(draft, _lookup).problems == []
    _edit(draft, "… We propose a simple", "… We propose a complicated")
    assert "is not a verbatim quote" in validate_file(draft, _lookup).problems[0].message
