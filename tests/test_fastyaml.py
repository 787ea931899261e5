"""fastyaml: the read-only loader gives the round-trip loader's data, or None (then the round trip reads it)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_LIST
from handwritten_records import handwritten_record
from pydantic_core import to_jsonable_python

from pipeline.core.errors import ConfigError
from pipeline.listing.importer import SCHEMA_HEADER, import_list
from pipeline.model.summary import SummaryRecord
from pipeline.storage import fastyaml, files
from pipeline.workspace import papers, store
from pipeline.workspace.store import _to_node


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


# --------------------------------------------------------------------------- the fast dump of new files

# Texts the dumper quotes, folds or escapes, and texts it writes plain: the fast dump must agree on each.
_TEXTS = ["plain words", "a: b", "a #b", "a#b", "#x", "- x", "-x", "2024-08", "0.1.0", "2026-12-01T05:27:40Z",
          "yes", "No", "null", "True", "~", "", " lead", "trail ", "it's", 'say "hi"', "a:b", "x:", "中文：冒号",
          "文章考虑的问题: 标注", "emoji 💬 ok", "💬 first", "tab\there", "line\u2028sep", "\ufeffbom", "é accent",
          "@at", "`tick", "%pct", "!bang", "&amp", "*star", "[x]", "{y}", "a, b", "?q", "? q", ":c", "1e3", ".5",
          "0x1F", "12", "+1", "---x", "...y", "x" * 3500, "ok " * 1400, "Ünïcödé", "a\x85b", "\x07bell", "a  b",
          "https://github.com/x/y#readme", "C++", "3D", "2D+3D", "N/A", "β-FFT", "Ｆｕｌｌ"]
_KEYS = ["title", "Title Case Key", "y", "n", "2D", "k: v", "key with #", "中文", "a" * 130, "x-y_z"]


def _random_doc(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for _ in range(rng.randint(1, 5)):
        kind = rng.random()
        if kind < 0.5 or depth > 2:
            value: Any = rng.choice([*_TEXTS, *_TEXTS, 0, 7, -3, 0.0, 2.5, 1e-7, True, False])
        elif kind < 0.7:
            value = _random_doc(rng, depth + 1) if rng.random() < 0.8 else {}
        else:
            value = [rng.choice([rng.choice(_TEXTS), _random_doc(rng, depth + 1), {}, []])
                     for _ in range(rng.randint(0, 3))]
        doc[rng.choice(_KEYS) if rng.random() < 0.2 else f"field{len(doc)}"] = value
    return doc


def test_the_fast_dump_writes_the_round_trip_dumpers_bytes_or_declines() -> None:
    rng = random.Random(13)
    taken = 0
    for _ in range(400):
        doc = _random_doc(rng)
        fast = fastyaml.dump(doc)
        if fast is not None:
            taken += 1
            assert fast == files.dump_yaml(doc), doc
    assert taken > 100  # the fast path is actually exercised


def _generated_records(count: int) -> list[SummaryRecord]:
    rng = random.Random(7)
    chars = "数据模型方法标注学习分割图像特征网络训练监督一致性伪标签不确定性边界结构区域目标"
    records = []
    for i in range(count):
        zh = {group: ["".join(rng.choice(chars) for _ in range(rng.randint(20, 40))) + rng.choice(["。", "：对比", ""])
                      for _ in range(rng.randint(1, 3))] for group in ("problems", "motivation", "framework")}
        base = handwritten_record(f"paper-{i}", status=rng.choice(["draft", "approved"]))
        paper = base.paper.model_copy(update={"title": rng.choice(_TEXTS[:30]) + f" {i}",
                                              "date": f"20{i % 30:02d}-0{i % 9 + 1}",
                                              "venue": rng.choice(["CVPR2024", "arXiv", "MICCAI 2023: oral"])})
        assert base.summary.zh is not None
        summary = base.summary.model_copy(update={"zh": base.summary.zh.model_copy(update=zh)})
        records.append(base.model_copy(update={"paper": paper, "summary": summary}))
    return records


def test_new_summary_files_are_byte_identical_to_the_round_trip_dump(tmp_path: Path) -> None:
    records = _generated_records(60)
    store.save_new_records(tmp_path, records)
    fast = 0
    for record in records:
        data = to_jsonable_python(record.model_dump(mode="json", exclude_none=True))
        expected = files.dump_yaml(_to_node(data))
        assert store.record_path(tmp_path, record.key).read_text(encoding="utf-8") == expected
        fast += fastyaml.dump(data) == expected
    assert fast >= 55  # written by the fast path, not its fallback (a title with a line break declines)


def test_an_imported_list_writes_what_the_round_trip_dumper_would(tmp_path: Path) -> None:
    papers_path, summaries = tmp_path / "papers.yaml", tmp_path / "summaries"
    import_list(EXAMPLE_LIST, papers_path, summaries)
    fresh = papers.new_papers(papers_path, papers.load_papers(papers_path).data, SCHEMA_HEADER)
    text = papers.dump_papers(fresh)  # a new file: the fast path
    assert text == files.dump_yaml(fresh.raw) == papers_path.read_text(encoding="utf-8")  # comment included
    for path in summaries.glob("*.yaml"):
        data = store.load_record(path).model_dump(mode="json", exclude_none=True)
        assert path.read_text(encoding="utf-8") == files.dump_yaml(_to_node(data)), path
