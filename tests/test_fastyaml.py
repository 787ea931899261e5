"""fastyaml: the read-only loader gives the round-trip loader's data, or None (then the round trip reads it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_LIST
from handwritten_records import handwritten_record
from pydantic_core import to_jsonable_python

from pipeline.core.errors import ConfigError
from pipeline.listing.importer import import_list
from pipeline.storage import fastyaml, files
from pipeline.workspace import papers, store


def _round_trip(text: str) -> Any:
    # As the record loader sees both: dates and timestamps as their JSON text.
    return to_jsonable_python(files.round_trip_yaml().load(text))


def _fast(text: str) -> Any:
    return to_jsonable_python(fastyaml.load(text))


@pytest.mark.parametrize("text", [
    "a: yes\nb: on\nc: 'quoted'\nd: 2025-06\ne: 2025-06-01\nf: 0x1F\ng: .5\nh: ~\ni: -3\nj: 1e3\nk:\n",
    "created: 2025-07-01T12:00:00+00:00\nat: 2025-07-01 12:00:00Z\nflag: true\nn: 0\n",
    "x: |\n  literal\n  two\ny: >\n  folded\n  text\nz: \"esc\\u00e9\"\n",
    "- a\n- [b, {c: d}]\n- {}\n- []\n",
    "title: 'a: b'\nt2: a *b\nt3: '*not an alias'\n",
])
def test_same_data_as_the_round_trip_loader(text: str) -> None:
    assert _fast(text) == _round_trip(text)


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: 012\n", "a: 1_000\n", "a: 0b101\n", "a: [1,\n", "a: 1\na: 2\n",
    "? [a]\n: b\n", "t: 1:20\n", "n: " + "9" * 5000 + "\n",
    "a: 1\nnull: x\n", "a: 1\n~: x\n", "a: 1\n3: x\n",  # keys that are not text (null: a traceback before)
])
def test_anything_it_cannot_vouch_for_goes_round_trip(text: str) -> None:
    assert fastyaml.load(text) is None


def test_written_files_read_back_the_same(tmp_path: Path) -> None:
    papers_path, summaries = tmp_path / "papers.yaml", tmp_path / "summaries"
    import_list(EXAMPLE_LIST, papers_path, summaries)
    store.save_record(summaries, handwritten_record())
    written = [papers_path, *sorted(summaries.glob("*.yaml"))]
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert _fast(text) == _round_trip(text), path
    slow = list(store.iter_records(summaries))
    fast = list(store.iter_records(summaries, read_only=True))
    assert fast == slow and len(fast) == 3
    doc = papers.load_papers(papers_path, read_only=True)
    assert doc.read_only and doc.data == papers.load_papers(papers_path).data
    with pytest.raises(ConfigError, match="loaded for reading only"):
        papers.save_papers(doc)


def test_an_invalid_file_is_still_reported_with_its_line(tmp_path: Path) -> None:
    path = store.save_record(tmp_path, handwritten_record())
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("status: draft", "status: done"), encoding="utf-8")
    assert store.fast_record(path) is None
    errors: list[Any] = []
    assert list(store.iter_records(tmp_path, errors, read_only=True)) == []
    assert f"{path}:" in str(errors[0]) and "status" in str(errors[0])


def test_timestamps_are_aware_like_the_round_trip() -> None:
    data = fastyaml.load("at: 2025-07-01T12:00:00+00:00\n")
    assert data == {"at": dt.datetime(2025, 7, 1, 12, tzinfo=dt.UTC)}
