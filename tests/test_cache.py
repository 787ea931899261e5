"""Cache: any key works, writes are atomic, corrupt entries are misses, the root is created lazily."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from pipeline.core.config import load_settings
from pipeline.core.errors import ConfigError
from pipeline.storage.cache import Cache, sha256_file


def test_root_is_created_lazily(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    assert cache.get_json("meta", "k") is None
    assert not (tmp_path / "c").exists()
    cache.put_json("meta", "k", {"a": 1})
    assert (tmp_path / "c" / "meta").is_dir()


def test_from_settings_uses_cache_dir(tmp_path: Path) -> None:
    settings = load_settings({"PIPELINE_CACHE_DIR": str(tmp_path / "x")})
    assert Cache.from_settings(settings).root == tmp_path / "x"


@pytest.mark.parametrize("key", ["2209.08575", "hep-th/9901001", "https://x.org/a b.pdf?q=1#f",
                                 "../../etc/passwd", "中文键", "", "a" * 5000])
def test_json_round_trip_any_key(tmp_path: Path, key: str) -> None:
    cache = Cache(tmp_path)
    value = {"title": "Ünïcode ﬁ", "n": [1, 2.5, None, True]}
    path = cache.put_json("arxiv-meta", key, value)
    assert path.parent == tmp_path / "arxiv-meta"
    assert path.name == hashlib.sha256(key.encode()).hexdigest() + ".json"
    assert cache.get_json("arxiv-meta", key) == value
    assert cache.get_json("arxiv-meta", key + "x") is None


def test_overwrite_and_delete(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_json("ns", "k", 1)
    cache.put_json("ns", "k", 2)
    assert cache.get_json("ns", "k") == 2
    cache.delete("ns", "k", ".json")
    assert cache.get_json("ns", "k") is None
    cache.delete("ns", "k", ".json")  # absent: no error


def test_namespaces_are_separate(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_json("a", "k", "in a")
    assert cache.get_json("b", "k") is None


@pytest.mark.parametrize("namespace", ["", "UPPER", "../x", "a/b", ".hidden", "x" * 65])
def test_bad_namespace_is_a_programming_error(tmp_path: Path, namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        Cache(tmp_path).path_for(namespace, "k")


def test_bad_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="suffix"):
        Cache(tmp_path).path_for("ns", "k", "pdf")


@pytest.mark.parametrize("content", [b"", b'{"key": "k", "val', b"\xff\xfe garbage", b"[1, 2]",
                                     b'{"key": "other", "value": 1}', b'{"key": "k"}'])
def test_corrupt_json_is_a_logged_miss(tmp_path: Path, content: bytes,
                                       caplog: pytest.LogCaptureFixture) -> None:
    cache = Cache(tmp_path)
    path = cache.put_json("ns", "k", {"good": True})
    path.write_bytes(content)  # what a crash mid-write without atomic rename would leave
    with caplog.at_level(logging.WARNING, logger="pipeline.storage.cache"):
        assert cache.get_json("ns", "k") is None
    assert "ignoring" in caplog.text and str(path) in caplog.text


def test_stored_none_round_trips_as_none(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_json("ns", "k", None)
    assert cache.get_json("ns", "k") is None


def test_bytes_round_trip(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.get_bytes("text", "k", ".txt") is None
    path = cache.put_bytes("text", "k", b"\x00abc", ".txt")
    assert path.suffix == ".txt"
    assert cache.get_bytes("text", "k", ".txt") == b"\x00abc"
    assert cache.get_bytes("text", "k") is None  # suffix is part of the entry


def test_writes_leave_no_temp_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    for i in range(5):
        cache.put_json("ns", f"k{i}", i)
        cache.put_bytes("ns", f"b{i}", b"x")
    assert not [p for p in (tmp_path / "ns").iterdir() if p.name.startswith(".tmp-")]


def test_failed_write_keeps_old_entry_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path)
    cache.put_json("ns", "k", "old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigError, match=r"cannot write the cache folder .*No space left"):
        cache.put_json("ns", "k", "new")
    monkeypatch.undo()
    assert cache.get_json("ns", "k") == "old"
    assert [p.name for p in (tmp_path / "ns").iterdir()] == [cache.path_for("ns", "k", ".json").name]


def test_temp_file_then_put_file_from(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    with cache.temp_file("pdf") as tmp:
        assert tmp.parent == tmp_path / "pdf" and tmp.name.startswith(".tmp-")
        tmp.write_bytes(b"%PDF-1.7 body")
        final = cache.put_file_from(tmp, "pdf", "abc", ".pdf")
    assert final == cache.path_for("pdf", "abc", ".pdf")
    assert final.read_bytes() == b"%PDF-1.7 body"
    assert sorted(p.name for p in (tmp_path / "pdf").iterdir()) == [final.name]


def test_temp_file_removed_on_error(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    with pytest.raises(RuntimeError), cache.temp_file("pdf") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("connection dropped")
    assert list((tmp_path / "pdf").iterdir()) == []


def test_unwritable_root_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="PIPELINE_CACHE_DIR"):
        Cache(blocker / "cache").put_json("ns", "k", 1)


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(3 * (1 << 20) + 17)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) == hashlib.sha256(data).hexdigest()


def test_temp_files_of_a_killed_process_are_removed_by_the_next_write(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    folder = cache.path_for("pdf", "x").parent
    folder.mkdir(parents=True)
    stale, fresh = folder / ".tmp-stale0123", folder / ".tmp-fresh4567"
    stale.write_bytes(b"%PDF half a download")  # what kill -9 during a download leaves
    fresh.write_bytes(b"%PDF another process, still writing")
    hour_ago = os.stat(stale).st_mtime - 3601
    os.utime(stale, (hour_ago, hour_ago))
    with Cache(tmp_path).temp_file("pdf"):  # before the fix: the stale file stayed forever
        pass
    assert not stale.exists() and fresh.exists()
