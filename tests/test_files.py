"""pipeline.storage.files: atomic writes that keep the mode and can refuse a changed file, the lock
(one holder at a time across threads and processes, reentrant, fork-aware, freed by kill -9),
round-trip YAML and the line lookup."""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from pipeline.core.config import FilesSettings
from pipeline.storage import files

ROOT = Path(__file__).resolve().parent.parent


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(files.TEMP_PREFIX))


# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_replaces_the_file_and_returns_its_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "f.yaml"
    assert files.atomic_write(path, "one\n") == files.Snapshot.read(path)
    assert files.atomic_write(path, "два\n".encode()) == files.Snapshot.of("два\n".encode())
    assert path.read_text(encoding="utf-8") == "два\n"
    assert _leftovers(path.parent) == []


def test_str_is_written_as_utf8_with_its_own_newlines(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    files.atomic_write(path, "a\nb\r\nβ")
    assert path.read_bytes() == "a\nb\r\nβ".encode()


@pytest.mark.parametrize("mode", [0o644, 0o664, 0o600, 0o755])
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "f"
    path.write_text("old", encoding="utf-8")
    path.chmod(mode)
    files.atomic_write(path, "new")
    assert _mode(path) == mode


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path: Path, mask: int, mode: int) -> None:
    with _umask(mask):
        files.atomic_write(tmp_path / "f", "new")
        with files.atomic_writer(tmp_path / "g") as out:
            out.write(b"new")
    assert _mode(tmp_path / "f") == mode and _mode(tmp_path / "g") == mode


def test_an_error_inside_the_writer_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="half way"), files.atomic_writer(path) as out:
        out.write(b"half")
        raise RuntimeError("half way")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_failed_rename_leaves_the_old_file_and_no_temp_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(path, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"] and path.read_bytes() == b"old"


def test_expected_refuses_a_file_that_changed_since_it_was_read(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"read")
    seen = files.Snapshot.read(path)
    path.write_bytes(b"saved in an editor meanwhile")
    with pytest.raises(files.FileChanged, match="changed on disk") as err:
        files.atomic_write(path, b"mine", expected=seen)
    assert err.value.path == path
    assert path.read_bytes() == b"saved in an editor meanwhile" and _leftovers(tmp_path) == []
    now = files.atomic_write(path, b"mine", expected=files.Snapshot.read(path))
    assert files.atomic_write(path, b"mine again", expected=now) == files.Snapshot.of(b"mine again")


def test_expected_absence_refuses_a_file_that_appeared(tmp_path: Path) -> None:
    path = tmp_path / "f"
    absent = files.Snapshot.read(path)
    assert absent == files.Snapshot(None) == files.Snapshot.of(None)
    path.write_bytes(b"someone else's")
    with pytest.raises(files.FileChanged):
        files.atomic_write(path, b"mine", expected=absent)
    path.unlink()
    files.atomic_write(path, b"mine", expected=absent)
    assert path.read_bytes() == b"mine"


def test_snapshots_compare_bytes_and_absence(tmp_path: Path) -> None:
    path = tmp_path / "f"
    missing = files.Snapshot.read(path)
    path.write_bytes(b"")
    assert files.Snapshot.read(path) != missing  # an empty file is not a missing one
    path.write_bytes(b"one")
    seen = files.Snapshot.read(path)
    assert seen == files.Snapshot.of(b"one")
    path.write_bytes(b"two")
    assert files.Snapshot.read(path) != seen


def test_temp_file_then_move_into_place(tmp_path: Path) -> None:
    target = tmp_path / "out" / "final.pdf"
    target.parent.mkdir()
    target.write_bytes(b"old")
    target.chmod(0o640)
    with files.temp_file(tmp_path / "out") as tmp:
        assert tmp.parent == tmp_path / "out" and tmp.name.startswith(files.TEMP_PREFIX)
        tmp.write_bytes(b"%PDF-")
        files.move_into_place(tmp, target)
    assert target.read_bytes() == b"%PDF-" and _mode(target) == 0o640
    assert _leftovers(tmp_path / "out") == []


def test_temp_file_is_removed_when_not_moved(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), files.temp_file(tmp_path) as tmp:
        tmp.write_bytes(b"partial download")
        raise RuntimeError("connection lost")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the lock


def _hold_then_mark(lock: Path, mark: Path) -> None:
    with files.exclusive(lock):
        mark.write_text("child had it", encoding="utf-8")


_HOLDER = """
import sys, time
from pathlib import Path
from pipeline.storage import files
with files.exclusive(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
print("released", flush=True)
"""


def _holder(lock: Path, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock), str(seconds)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "holding\n"
    return process


def test_reentrant_in_one_thread(tmp_path: Path) -> None:
    lock = tmp_path / ".x.lock"
    with files.exclusive(lock), files.exclusive(lock):  # an inner block does not deadlock
        assert lock.exists()
    assert lock.exists()  # the lock file stays: waiters must all lock the same file


def test_threads_take_turns(tmp_path: Path) -> None:
    lock = tmp_path / ".x.lock"
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(20):
            with files.exclusive(lock):
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.001)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_a_process_forked_inside_the_block_still_waits(tmp_path: Path) -> None:
    """The child inherits this thread's record of the held lock; it must not take that for its own."""
    lock, mark = tmp_path / ".x.lock", tmp_path / "mark"
    with files.exclusive(lock):
        child = multiprocessing.get_context("fork").Process(target=_hold_then_mark, args=(lock, mark))
        child.start()
        child.join(timeout=1.0)
        assert child.is_alive() and not mark.exists()
    child.join(timeout=30)
    assert child.exitcode == 0 and mark.read_text(encoding="utf-8") == "child had it"


def test_another_process_holding_the_lock_makes_this_one_wait(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / ".x.lock"  # the folder is created on demand
    holder = _holder(lock, 1.0)
    start = time.monotonic()
    with files.exclusive(lock):
        waited = time.monotonic() - start
    holder.wait(timeout=30)
    assert waited > 0.5


def test_the_lock_is_freed_when_its_holder_is_killed(tmp_path: Path) -> None:
    lock = tmp_path / ".x.lock"
    holder = _holder(lock, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    taken = threading.Event()

    def take() -> None:
        with files.exclusive(lock):
            taken.set()

    threading.Thread(target=take, daemon=True).start()
    assert taken.wait(timeout=5)


# --------------------------------------------------------------------------- round-trip YAML

COMMENTED = """\
# a comment at the top
list:
  title: "A list"   # quoted, with a trailing comment
  note: 'single'
papers:
  # first paper
  - source: "2401.12345"
    tags: [a, b]
    summary: |
      two lines
      of text
  - source: title:Ünïcode — kept as is
"""


@pytest.mark.parametrize("text", [COMMENTED, (ROOT / "papers.yaml").read_text(encoding="utf-8")],
                         ids=["commented", "repository-papers.yaml"])
def test_an_unchanged_document_is_written_back_byte_for_byte(text: str) -> None:
    assert files.dump_yaml(files.round_trip_yaml().load(text)) == text


def test_plain_data_is_block_style_unicode_and_never_folded() -> None:
    title = " ".join(["A very long title"] * 20)
    text = files.dump_yaml({"title": title, "zh": "医学图像", "tags": ["a", "b"]})
    assert text == f"title: {title}\nzh: 医学图像\ntags:\n  - a\n  - b\n"


def test_line_of_counts_from_one_and_falls_back_to_the_closest_node() -> None:
    doc = files.round_trip_yaml().load(COMMENTED)
    assert files.line_of(doc, ["list", "title"]) == 3
    assert files.line_of(doc, ("papers", 0)) == 7
    assert files.line_of(doc, ["papers", 0, "tags", 1]) == 8
    assert files.line_of(doc, ["papers", 1, "no-such-field"]) == 12  # the entry
    assert files.line_of(doc, ["papers", 9]) == 5  # the list's key
    assert files.line_of(doc, ["papers", -1]) == 5  # no negative indexes
    assert files.line_of(doc, ["nope"]) == 2  # the document's first key
    assert files.line_of(doc, []) == 2


def test_line_of_a_node_without_a_position() -> None:
    doc = files.round_trip_yaml().load(COMMENTED)
    doc["list"]["added"] = CommentedMap(x=1)
    assert files.line_of(doc, ["list", "added", "x"]) == 2  # inserted after loading: its parent's line
    assert files.line_of(CommentedMap(a=1), ["a"]) is None  # built in memory


def test_error_line_counts_from_one() -> None:
    with pytest.raises(MarkedYAMLError) as err:
        files.round_trip_yaml().load("a: 1\nb: [1, 2\nc: 3\n")
    assert files.error_line(err.value) == 3  # where "c: 3" breaks the unclosed list


# --------------------------------------------------------------------------- hostile YAML


def alias_bomb(levels: int = 7, fan: int = 10) -> str:
    """A small document whose aliases expand to ``fan ** levels`` values (issue 12, row 5)."""
    lines = ["junk:", f"  l0: &l0 [{', '.join(['x'] * fan)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("text", "line", "words"), [
    (alias_bomb(), 2, "anchor &l0 is not accepted"),
    ("a: 1\nb: *x\n", 2, "alias *x is not accepted"),
    ("a:\n  note: !foo bar\n", 2, "tag !foo is not accepted"),
    ("a: !!binary aGVsbG8=\n", 1, "tag !!binary is not accepted"),
    ("a: !!python/object:os.system x\n", 1, "tag !!python/object:os.system is not accepted"),
    ("a: " + "[" * 60 + "]" * 60 + "\n", 1, "nested more than 50 levels"),
    ("a: 1\n? {b: 1}\n: x\n", 2, "a key must be plain text"),
    ("a: 1\n? [1, 2]\n: x\n", 2, "a key must be plain text"),
    ("n: " + "9" * 5000 + "\n", 1, "a number of 5000 digits"),
    ("a: 1\nb: 2024-13-45\n", 2, "cannot read this value (month must be in 1..12)"),
    ("a:\n  - 2024-01-01T25:00:00\n", 2, "cannot read this value (hour must be in 0..23)"),
])
def test_aliases_anchors_tags_and_deep_nesting_are_refused_at_their_line(text: str, line: int, words: str) -> None:
    with pytest.raises(MarkedYAMLError) as err:
        files.round_trip_yaml().load(text)
    assert words in str(err.value.problem)
    assert files.error_line(err.value) == line


def test_even_a_standard_tag_is_refused() -> None:
    with pytest.raises(MarkedYAMLError, match="tag !!str is not accepted"):
        files.round_trip_yaml().load("a: !!str 2024\n")


def test_node_count_and_size_limits_come_from_the_settings() -> None:
    small = FilesSettings(yaml_max_nodes=50, yaml_max_bytes=200)
    with pytest.raises(MarkedYAMLError, match="more than 50 YAML values"):
        files.round_trip_yaml(small).load("a: [" + ", ".join(["1"] * 60) + "]\n")
    with pytest.raises(MarkedYAMLError, match="over the limit of 200"):
        files.round_trip_yaml(small).load("a: '" + "x" * 300 + "'\n")
    files.configure(small)
    try:
        with pytest.raises(MarkedYAMLError, match="more than 50 YAML values"):
            files.round_trip_yaml().load("a: [" + ", ".join(["1"] * 60) + "]\n")
    finally:
        files.configure(FilesSettings())


def test_an_object_held_twice_is_dumped_twice_not_as_an_alias() -> None:
    shared = ["a", "b"]
    text = files.dump_yaml({"x": shared, "y": shared})
    assert "&" not in text and "*" not in text
    assert files.round_trip_yaml().load(text) == {"x": shared, "y": shared}


def test_create_files_writes_new_files_and_leaves_existing_ones(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("mine\n", encoding="utf-8")
    items: list[tuple[Path, str | bytes]] = [(tmp_path / "a.yaml", "a: 1\n"), (tmp_path / "b.yaml", b"b: 2\n"),
                                             (tmp_path / "sub" / "c.yaml", "c: 3\n")]
    assert files.create_files(items) == [tmp_path / "b.yaml"]
    assert (tmp_path / "a.yaml").read_text(encoding="utf-8") == "a: 1\n"
    assert (tmp_path / "b.yaml").read_text(encoding="utf-8") == "mine\n"  # never replaced
    assert (tmp_path / "sub" / "c.yaml").read_text(encoding="utf-8") == "c: 3\n"
    assert not list(tmp_path.rglob(f"{files.TEMP_PREFIX}*"))


def test_create_files_syncs_once_and_names_a_file_only_once_its_data_is_synced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(os, "sync", lambda: seen.append(sorted(p.name for p in tmp_path.iterdir())))
    files.create_files([(tmp_path / f"{i}.yaml", f"n: {i}\n") for i in range(3)])
    assert len(seen) == 1 and all(name.startswith(files.TEMP_PREFIX) for name in seen[0])  # no real name yet
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.yaml", "1.yaml", "2.yaml"]


def test_create_files_leaves_no_temp_file_when_a_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "sync", fail)
    with pytest.raises(OSError):
        files.create_files([(tmp_path / "a.yaml", "a: 1\n")])
    assert list(tmp_path.iterdir()) == []


def test_create_files_renames_where_the_file_system_has_no_hard_links(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError("operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "b.yaml").write_text("mine\n", encoding="utf-8")
    items: list[tuple[Path, str | bytes]] = [(tmp_path / "a.yaml", "a: 1\n"), (tmp_path / "b.yaml", "b: 2\n")]
    assert files.create_files(items) == [tmp_path / "b.yaml"]
    assert (tmp_path / "a.yaml").read_text(encoding="utf-8") == "a: 1\n"
    assert (tmp_path / "b.yaml").read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]
