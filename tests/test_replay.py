"""End to end through the real openai client, replaying exchanges recorded from the embedded model.

The cassettes in tests/cassettes/ were recorded by ``bench/local_papers.py --record`` from the real
Qwen2.5-Coder-1.5B model; credentials are never recorded (and a test below proves none slipped in).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2
import pytest
from cassette import CassetteMismatch, ReplayTransport
from conftest import ARXIV_API, PDFS, ROOT

from pipeline.core.config import Settings, load_settings
from pipeline.core.models import FIELDS
from pipeline.model.embedded import embedded_backend
from pipeline.model.grounding import normalize, quote_found
from pipeline.model.llm import LLM
from pipeline.sources import fetch_metadata, parse_feed, parse_source
from pipeline.text.extract import extract_document
from pipeline.workspace import store
from pipeline.workspace.summarize import summarize

CASSETTES = Path(__file__).resolve().parent / "cassettes"
BETHE = PDFS / "bethe_lattice_1111.2011v2.pdf"
BETHE_XML = ARXIV_API / "arxiv.py_2016_xml" / "id_list_1111.2011v2.xml"
DEMO = ROOT / "docs" / "report" / "pipeline-report.pdf"
KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9_-]{16,}|Bearer\s+\S{12,}|\"(?:authorization|cookie|set-cookie|"
                      r"openai-organization|openai-project|x-api-key)\"\s*:)", re.IGNORECASE)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PIPELINE_SUMMARIES_DIR", str(tmp_path / "summaries"))
    monkeypatch.setenv("PIPELINE_OFFLINE", "0")  # metadata is seeded into the cache below: no network
    monkeypatch.setenv("PIPELINE_PAPERS_FILE", str(tmp_path / "no-papers.yaml"))  # as bench/local_papers.py
    return load_settings(__import__("os").environ)


def _seed_bethe_metadata(settings: Settings) -> None:
    body = BETHE_XML.read_bytes()
    client = httpx2.Client(transport=httpx2.MockTransport(lambda request: httpx2.Response(200, content=body)))
    fetch_metadata(parse_source(str(BETHE)), settings, client=client)


def _replaying_llm(settings: Settings, cassette: Path) -> tuple[LLM, ReplayTransport]:
    replay = ReplayTransport(cassette)
    client = httpx2.Client(transport=replay, base_url="http://embedded.local/v1")
    connection, profile = embedded_backend(settings, client)
    return LLM(connection, settings.llm, profile), replay


def test_real_model_draft_of_a_shared_pdf_is_valid_grounded_and_bibliographic_fields_are_metadata(
        settings: Settings) -> None:
    _seed_bethe_metadata(settings)
    llm, replay = _replaying_llm(settings, CASSETTES / "1111.2011.json")
    result = summarize(str(BETHE), settings, llm=llm)
    assert replay.used == len(replay.exchanges)
    record = store.load_record(result.path)
    meta = parse_feed(BETHE_XML.read_text(encoding="utf-8"))[0]
    paper = record.paper
    assert (paper.arxiv_id, paper.version, paper.title, paper.authors) == \
        (meta.arxiv_id, meta.version, meta.title, meta.authors)
    assert (paper.first_author, paper.last_author) == (meta.first_author, meta.last_author)
    assert meta.published and paper.date == f"{meta.published:%Y-%m}"
    assert record.provenance.backend == "local" and record.provenance.passes == "translate"
    text = normalize(f"Title: {meta.title}\n{extract_document(BETHE, settings).text}")
    assert record.summary.en is not None and record.summary.zh is not None
    for name in FIELDS:
        for bullet in getattr(record.summary.en, name):
            assert quote_found(bullet.evidence, text), bullet.evidence
    assert record.provenance.grounding_score == 1.0


def test_real_model_draft_of_the_demo_report(settings: Settings) -> None:
    llm, replay = _replaying_llm(settings, CASSETTES / "pipeline-report-4deec728.json")
    result = summarize(str(DEMO), settings, llm=llm)
    record = store.load_record(result.path)
    assert replay.used == len(replay.exchanges) and record.status == "draft"
    assert record.paper.title.startswith("pipeline:") and record.paper.authors


def test_a_stale_cassette_fails_loudly(settings: Settings, tmp_path: Path) -> None:
    data = json.loads((CASSETTES / "pipeline-report-4deec728.json").read_text(encoding="utf-8"))
    data["exchanges"][0]["request"]["body_sha256"] = "0" * 64
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(data), encoding="utf-8")
    llm, _ = _replaying_llm(settings, stale)
    with pytest.raises(CassetteMismatch):
        summarize(str(DEMO), settings, llm=llm)


def test_fixtures_hold_no_secrets_or_identifying_headers() -> None:
    files = [p for p in (ROOT / "tests").rglob("*") if p.is_file() and p.suffix in (".json", ".yaml", ".yml")]
    assert any(p.parent == CASSETTES for p in files)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not KEY_LIKE.search(text), f"{path} holds something that looks like a credential"
    for cassette in CASSETTES.glob("*.json"):
        for exchange in json.loads(cassette.read_text(encoding="utf-8"))["exchanges"]:
            assert set(exchange["request"]["headers"]) <= {"content-type"}
            assert set(exchange["response"]["headers"]) <= {"content-type"}
