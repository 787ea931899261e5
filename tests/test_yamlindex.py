"""yamlindex: a file's data comes from the index only while the file is exactly as it was read."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import to_jsonable_python

from pipeline.storage import fastyaml, files, yamlindex

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "cache"
    yamlindex.use(root)
    yield root
    yamlindex.use(None)


def _settled(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if every file had been written long ago (the racy window is tested on its own below).
    monkeypatch.setattr(yamlindex, "RACY_SECONDS", -1.0)


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    real = fastyaml.load

    def load(text: str) -> Any:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(fastyaml, "load", load)
    return parsed


def test_an_unchanged_file_is_not_parsed_again_even_in_a_new_process(
        tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _settled(monkeypatch)
    path = tmp_path / "a.yaml"
    path.write_text("key: a\nat: 2025-07-01\n", encoding="utf-8")
    assert yamlindex.load_json(path) == {"key": "a", "at": "2025-07-01"}
    yamlindex.save()
    yamlindex.use(index)  # what the next command starts with
    parsed = _no_parsing(monkeypatch)
    assert yamlindex.load_json(path) == {"key": "a", "at": "2025-07-01"}
    assert parsed == []


@pytest.mark.parametrize("how", ["in place, same size", "replaced", "appended"])
def test_a_changed_file_is_read_again(tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    _settled(monkeypatch)
    path = tmp_path / "a.yaml"
    path.write_text("key: a\n", encoding="utf-8")
    assert yamlindex.load_json(path) == {"key": "a"}
    yamlindex.save()
    time.sleep(0.05)  # past the file system's clock tick
    if how == "in place, same size":
        with path.open("r+", encoding="utf-8") as handle:
            handle.write("key: b\n")
    elif how == "replaced":
        files.atomic_write(path, "key: c\n")
    else:
        with path.open("a", encoding="utf-8") as handle:
            handle.write("more: 1\n")
    yamlindex.use(index)
    expected = {"in place, same size": {"key": "b"}, "replaced": {"key": "c"}, "appended": {"key": "a", "more": 1}}
    assert yamlindex.load_json(path) == expected[how]


def _entry(index: Path, name: str) -> list[Any]:
    entry: list[Any] = json.loads(next(index.glob("*.json")).read_text(encoding="utf-8"))["entries"][name]
    return entry


def _same_times(path: Path, index: Path) -> None:
    # What two writes within one clock tick can leave: new bytes under the recorded status.
    saved = next(index.glob("*.json"))
    data = json.loads(saved.read_text(encoding="utf-8"))
    stat = path.stat()
    data["entries"][path.name][0] = [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
    saved.write_text(json.dumps(data), encoding="utf-8")


def test_a_file_written_within_the_racy_window_is_used_only_while_its_bytes_are_the_same(
        tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("key: a\n", encoding="utf-8")
    assert yamlindex.load_json(path) == {"key": "a"}
    yamlindex.save()
    assert len(_entry(index, "a.yaml")) == 3  # with the bytes' sha256: the times alone cannot vouch
    yamlindex.use(index)
    parsed = _no_parsing(monkeypatch)
    assert yamlindex.load_json(path) == {"key": "a"}
    assert parsed == []  # hashed, not parsed
    with path.open("r+", encoding="utf-8") as handle:
        handle.write("key: b\n")
    _same_times(path, index)
    yamlindex.use(index)
    assert yamlindex.load_json(path) == {"key": "b"}
    assert parsed == ["key: b\n"]


def test_the_hash_is_dropped_once_the_file_is_older_than_the_window(
        tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("key: a\n", encoding="utf-8")
    yamlindex.load_json(path)
    yamlindex.save()
    _settled(monkeypatch)
    yamlindex.use(index)
    assert yamlindex.load_json(path) == {"key": "a"}
    yamlindex.save()
    assert len(_entry(index, "a.yaml")) == 2


def test_a_file_a_command_wrote_is_not_parsed_by_the_next(tmp_path: Path, index: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.yaml"
    data = {"key": "a", "at": "2025-07-01T10:00:00Z", "month": "2025-07", "count": 2, "tags": ["x", "y"]}
    text = fastyaml.dump(data)
    assert text is not None
    files.create_files([(path, text)])
    yamlindex.written(path, text, data)
    yamlindex.save()
    assert data == to_jsonable_python(fastyaml.load(text))
    yamlindex.use(index)
    parsed = _no_parsing(monkeypatch)
    assert yamlindex.load_json(path) == data
    assert parsed == []
    with path.open("r+", encoding="utf-8") as handle:
        handle.write("key: b")
    _same_times(path, index)
    yamlindex.use(index)
    yamlindex.load_json(path)
    assert parsed  # other bytes: parsed again


def test_a_refused_file_is_never_recorded(tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _settled(monkeypatch)
    path = tmp_path / "a.yaml"
    path.write_text("a: &x 1\nb: *x\n", encoding="utf-8")
    assert yamlindex.load_json(path) is None  # the round-trip loader reports it, with its line
    yamlindex.save()
    assert not list(index.glob("*.json")) or "a.yaml" not in next(index.glob("*.json")).read_text(encoding="utf-8")


def test_another_size_limit_or_a_damaged_index_drops_it(tmp_path: Path, index: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _settled(monkeypatch)
    path = tmp_path / "a.yaml"
    path.write_text("key: a\n", encoding="utf-8")
    yamlindex.load_json(path)
    yamlindex.save()
    saved = next(index.glob("*.json"))
    monkeypatch.setattr(files, "_limits", files.limits().model_copy(update={"yaml_max_bytes": 3}))
    yamlindex.use(index)
    assert yamlindex.load_json(path) is None  # over the new limit: refused, not served from the index
    monkeypatch.undo()
    _settled(monkeypatch)
    saved.write_text("{not json", encoding="utf-8")
    yamlindex.use(index)
    assert yamlindex.load_json(path) == {"key": "a"}


def test_entries_of_removed_files_are_dropped(tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _settled(monkeypatch)
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(f"key: {name}\n", encoding="utf-8")
        yamlindex.load_json(tmp_path / f"{name}.yaml")
    (tmp_path / "b.yaml").unlink()
    yamlindex.save()
    entries = json.loads(next(index.glob("*.json")).read_text(encoding="utf-8"))["entries"]
    assert list(entries) == ["a.yaml"]


def test_without_an_index_every_file_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yamlindex.use(None)
    path = tmp_path / "a.yaml"
    path.write_text("key: a\n", encoding="utf-8")
    parsed = _no_parsing(monkeypatch)
    yamlindex.load_json(path)
    yamlindex.load_json(path)
    yamlindex.save()
    assert len(parsed) == 2


def test_after_an_import_the_index_holds_what_each_new_file_reads_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # import records the summaries it creates (their data as dumped), so the first render parses none:
    # that data must be exactly what the fast loader reads from each file.
    from pipeline import cli

    spec = importlib.util.spec_from_file_location("list_scale", ROOT / "bench" / "list_scale.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    source = tmp_path / "list.md"
    source.write_text(bench.generate(40), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["import", str(source)]) == 0
    [saved] = (tmp_path / "cache" / "yaml-index").glob("*.json")
    entries = json.loads(saved.read_text(encoding="utf-8"))["entries"]
    summaries = sorted((tmp_path / "summaries").glob("*.yaml"))
    assert len(summaries) == 40 and sorted(entries) == [path.name for path in summaries]
    for path in summaries:
        assert entries[path.name][1] == to_jsonable_python(fastyaml.load(path.read_text(encoding="utf-8"))), path
    parsed = _no_parsing(monkeypatch)
    assert cli.main(["render"]) == 0
    assert parsed == [] or all("papers:" in text for text in parsed)  # papers.yaml only
