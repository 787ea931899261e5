"""papers.yaml: validation with file:line errors, round-trip, atomic writes, concurrent updates."""

from __future__ import annotations

import multiprocessing
import stat
import threading
from pathlib import Path

import pytest

from pipeline.core.errors import ConfigError
from pipeline.core.models import PaperEntry
from pipeline.workspace import papers

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = """\
# The reading backlog (comment at the top)
list:
  title: A list   # a trailing comment
  sections:
    - id: semi
      name_zh: 半监督学习
      name_en: Semi-supervised
      topics:
        - id: consistency
          name_zh: 一致性学习
          name_en: Consistency learning
papers:
  # first paper
  - source: "2401.12345"
    setting: semi
    topic: consistency
    tags: [a, b]
  - source: "title:Some Paper: With a Colon"
    status: backlog   # keep me
"""


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "papers.yaml"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


def test_load_validates(sample: Path) -> None:
    doc = papers.load_papers(sample)
    assert [s.id for s in doc.data.list.sections] == ["semi"]
    assert doc.data.papers[0].tags == ["a", "b"]
    assert papers.entry_key(doc.data.papers[0]) == "2401.12345"


def test_update_keeps_comments_order_and_quotes(sample: Path) -> None:
    papers.update_entry(sample, "2401.12345v3", status="failed", last_error="LLM timed out")
    text = sample.read_text(encoding="utf-8")
    assert text.startswith("# The reading backlog (comment at the top)\n")
    assert "title: A list   # a trailing comment" in text
    assert "  # first paper\n" in text and "status: backlog   # keep me" in text
    assert '- source: "2401.12345"' in text
    assert "    status: failed\n    last_error: LLM timed out\n" in text
    papers.update_entry(sample, "2401.12345", status="drafted", last_error=None)
    text = sample.read_text(encoding="utf-8")
    assert "last_error" not in text and "status: drafted" in text
    # Only the changed lines differ from the original.
    changed = set(text.splitlines()) ^ set(SAMPLE.splitlines())
    assert changed == {"    status: drafted"}


def test_add_refuses_any_version_duplicate(sample: Path) -> None:
    with pytest.raises(ConfigError, match=r"already in .*'2401.12345' \(line 14\)"):
        papers.add_entry(sample, PaperEntry(source="https://arxiv.org/abs/2401.12345v2"))
    papers.add_entry(sample, PaperEntry(source="2402.00001", setting="semi"))
    assert papers.load_papers(sample).data.papers[-1].source == "2402.00001"
    with pytest.raises(ConfigError, match=r"already in .*'title:Some Paper: With a Colon' \(line 18\)"):
        papers.add_entry(sample, PaperEntry(source="2405.00009", title="Some paper — with a colon"))


@pytest.mark.parametrize(("edit", "where"), [
    (("setting: semi\n    topic", "setting: nope\n    topic"), r":15: papers\[0\]\.setting: unknown setting 'nope'"),
    (("topic: consistency", "topic: other"), r":16: papers\[0\]\.topic: unknown topic 'other'"),
    (("status: backlog", "status: sleeping"), r":19: papers\[1\]\.status: Input should be"),
    (("tags: [a, b]", "tags: [a, b"), r":18: invalid YAML"),
    (('source: "title:Some Paper: With a Colon"', "source: 2401.12345v2"),
     r":18: papers\[1\]\.source: duplicate paper '2401.12345v2', already listed as '2401.12345' at line 14"),
])
def test_errors_name_file_line_and_field(sample: Path, edit: tuple[str, str], where: str) -> None:
    sample.write_text(SAMPLE.replace(*edit), encoding="utf-8")
    with pytest.raises(ConfigError, match=where):
        papers.load_papers(sample)


def test_title_keys() -> None:
    entry = PaperEntry(source=papers.title_source("β-FFT:  Nonlinear   Interpolation"))
    assert entry.source == "title:β-FFT: Nonlinear Interpolation"
    key = papers.entry_key(entry)
    assert key.startswith("fft-nonlinear-interpolation-") and len(key.rsplit("-", 1)[1]) == 8
    other = PaperEntry(source="title:β-FFT: Nonlinear Interpolation II")
    assert papers.entry_key(other) != key
    assert papers.entry_key(PaperEntry(source="title:x", key="custom")) == "custom"


def test_failed_write_leaves_file_intact(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("pipeline.storage.files.os.replace", boom)
    with pytest.raises(OSError):
        papers.update_entry(sample, "2401.12345", status="drafted")
    assert sample.read_text(encoding="utf-8") == SAMPLE
    assert sorted(p.name for p in sample.parent.iterdir()) == [".papers.yaml.lock", "papers.yaml"]  # no temp file


@pytest.mark.parametrize("mode", [0o644, 0o664])
def test_a_rewritten_file_keeps_its_mode(sample: Path, mode: int) -> None:
    sample.chmod(mode)  # a checkout's file, readable by the web server or the group
    papers.update_entry(sample, "2401.12345", status="drafted")
    assert "status: drafted" in sample.read_text(encoding="utf-8")
    assert stat.S_IMODE(sample.stat().st_mode) == mode


def test_a_file_with_windows_line_endings_can_be_updated(sample: Path) -> None:
    sample.write_bytes(SAMPLE.replace("\n", "\r\n").encode("utf-8"))
    papers.update_entry(sample, "2401.12345", status="drafted")
    assert papers.load_papers(sample).data.papers[0].status == "drafted"


def test_concurrent_updates_lose_nothing(sample: Path) -> None:
    for i in range(12):
        papers.add_entry(sample, PaperEntry(source=f"2403.{i:05d}"))
    threads = [threading.Thread(target=papers.update_entry, args=(sample, f"2403.{i:05d}"),
                                kwargs={"status": "drafted", "notes": f"n{i}"}) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    data = papers.load_papers(sample).data
    assert {p.notes for p in data.papers if p.status == "drafted"} == {f"n{i}" for i in range(12)}


def _add_many(path: Path, prefix: str, count: int) -> None:
    for i in range(count):
        papers.add_entry(path, PaperEntry(source=f"{prefix}.{i:05d}"))


def test_two_processes_adding_at_once_lose_nothing(sample: Path) -> None:
    # Without the file lock this loses entries in every run tried (6 of 6).
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_add_many, args=(sample, prefix, 25)) for prefix in ("2501", "2502")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    sources = {p.source for p in papers.load_papers(sample).data.papers}
    assert sources >= {f"{prefix}.{i:05d}" for prefix in ("2501", "2502") for i in range(25)}


def test_another_process_waits_for_the_lock(sample: Path) -> None:
    context = multiprocessing.get_context("fork")
    with papers.locked(sample):
        worker = context.Process(target=_add_many, args=(sample, "2503", 1))
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive()  # blocked on the lock this process holds
    worker.join(timeout=30)
    assert worker.exitcode == 0
    assert "2503.00000" in {p.source for p in papers.load_papers(sample).data.papers}


def test_an_edit_made_while_updating_is_kept(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load = papers.load_papers
    calls = 0

    def load_then_someone_saves(path: Path) -> papers.PapersDoc:
        nonlocal calls
        calls += 1
        doc = load(path)
        if calls == 1:  # a curator saves the file in an editor between our read and our write
            path.write_text(path.read_text(encoding="utf-8") + "  # added by hand\n", encoding="utf-8")
        return doc

    monkeypatch.setattr(papers, "load_papers", load_then_someone_saves)
    papers.update_entry(sample, "2401.12345", status="drafted")
    text = sample.read_text(encoding="utf-8")
    assert calls == 2 and "# added by hand" in text
    assert papers.load_papers(sample).data.papers[0].status == "drafted"


def test_save_refuses_to_overwrite_a_changed_file(sample: Path) -> None:
    doc = papers.load_papers(sample)
    doc.data.papers[0].notes = "mine"
    sample.write_text(SAMPLE.replace("keep me", "edited meanwhile"), encoding="utf-8")
    with pytest.raises(papers.PapersChanged, match="changed on disk"):
        papers.save_papers(doc)
    assert "edited meanwhile" in sample.read_text(encoding="utf-8")


def test_repository_papers_yaml_is_valid() -> None:
    doc = papers.load_papers(ROOT / "papers.yaml")
    assert doc.data.list.sections, "the repository's papers.yaml declares the list's sections"
    assert len(doc.data.papers) >= 8


# --------------------------------------------------------------------------- hostile files (issue 12)


@pytest.mark.parametrize(("insert", "needle", "words"), [
    ("junk:\n" + "".join(f"  - &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 10)}]\n" for i in range(7)),
     "&l0", "anchor &l0 is not accepted"),
    ("junk: !foo bar\n", "!foo", "tag !foo is not accepted"),
])
def test_a_hostile_papers_file_stops_render_with_one_clear_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], insert: str, needle: str, words: str) -> None:
    import time

    from pipeline import cli

    path = tmp_path / "papers.yaml"
    path.write_text(SAMPLE + insert, encoding="utf-8")
    line = next(i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text)
    started = time.monotonic()
    # Before the fix the bomb took 973 MB and 30 s here.
    code = cli.main(["render", "--papers", str(path), "--summaries", str(tmp_path / "s"),
                     "--out", str(tmp_path / "LIST.md")])
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}:{line}: invalid YAML: {words}")


def test_the_lists_own_sections_are_the_only_settings_a_summary_may_choose(sample: Path, tmp_path: Path) -> None:
    from pipeline.core.config import load_settings
    from pipeline.model.summary import DEFAULT_SETTINGS

    def context(path: Path) -> tuple[str, ...]:
        settings = load_settings({"PIPELINE_PAPERS_FILE": str(path), "PIPELINE_CACHE_DIR": str(tmp_path / "c")})
        return papers.list_context(settings)[0]

    assert context(sample) == ("semi",)
    # The generic words are only a hint when there is no list, or a list without sections.
    assert context(tmp_path / "missing.yaml") == DEFAULT_SETTINGS
    bare = tmp_path / "bare.yaml"
    bare.write_text("list:\n  title: A list\npapers: []\n", encoding="utf-8")
    assert context(bare) == DEFAULT_SETTINGS
