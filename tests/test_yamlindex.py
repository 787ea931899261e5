"""yamlindex: a file's data comes from the index only while the file is exactly as it was read."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.storage import fastyaml, files, yamlindex


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


def test_a_file_written_within_the_racy_window_is_not_recorded(tmp_path: Path, index: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("key: a\n", encoding="utf-8")
    assert yamlindex.load_json(path) == {"key": "a"}
    yamlindex.save()
    yamlindex.use(index)
    parsed = _no_parsing(monkeypatch)
    assert yamlindex.load_json(path) == {"key": "a"}
    assert parsed == ["key: a\n"]  # two writes in one clock tick could have left the same times


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
