"""End to end through the real openai client, replaying exchanges recorded from the embedded model.

The cassettes in tests/cassettes/ were recorded by ``bench/local_papers.py --record`` from the real
Qwen2.5-Coder-1.5B model; credentials are never recorded (and a test below proves none slipped in).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cassette import CassetteMismatch, ReplayTransport
from conftest import ARXIV_API, PDFS, ROOT
from pydantic import ValidationError

from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import Attempt
from pipeline.core.models import FIELDS
from pipeline.model import glossary, mend
from pipeline.model.backend import Backend
from pipeline.model.embedded import embedded_backend
from pipeline.model.grounding import normalize, quote_found
from pipeline.model.llm import LLM
from pipeline.model.summary import ChineseBullet
from pipeline.sources import fetch_metadata, parse_feed, parse_source
from pipeline.text.extract import extract_document
from pipeline.text.sentences import Sentence, is_about_cited_work
from pipeline.workspace import passes, store
from pipeline.workspace.summarize import load_paper, make_plan, summarize

CASSETTES = Path(__file__).resolve().parent / "cassettes"
BETHE = PDFS / "bethe_lattice_1111.2011v2.pdf"
BETHE_XML = ARXIV_API / "arxiv.py_2016_xml" / "id_list_1111.2011v2.xml"
DEMO = ROOT / "docs" / "report" / "pipeline-report.pdf"
KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9_-]{16,}|Bearer\s+\S{12,}|\"(?:authorization|cookie|set-cookie|"
                      r"openai-organization|openai-project|x-api-key)\"\s*:)", re.IGNORECASE)


def _recorded_for_sentence_ids(cassette: Path) -> bool:
    meta: dict[str, Any] = json.loads(cassette.read_text(encoding="utf-8"))["meta"]
    return meta.get("contract") == "sentence-ids"


# The cassettes in the repository were recorded for the quote contract. The sentence-id contract
# (issue 11) needs them recorded again with the embedded model; until then the tests that replay them
# say so instead of passing on something hand-made.
needs_new_cassettes = pytest.mark.skipif(
    not all(_recorded_for_sentence_ids(c) for c in CASSETTES.glob("*.json")),
    reason="tests/cassettes predate the sentence-id contract: re-record them with the embedded model "
           "(python bench/local_papers.py --record tests/cassettes <pdf>)")


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


@needs_new_cassettes
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
            assert bullet.sentences and all(quote_found(q, text) for q in bullet.quotes), bullet.evidence
    assert record.provenance.grounding_score == 1.0 and len(record.provenance.readings) == 3


@needs_new_cassettes
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


# --------------------------------------------------------------------------- corrupted real replies


def _plan(settings: Settings, pdf: Path) -> passes.Plan:
    paper = load_paper(str(pdf), settings)
    connection, profile = embedded_backend(settings, httpx2.Client())
    return make_plan(paper, Backend(connection, profile), settings)


def _replies(cassette: Path) -> list[dict[str, Any]]:
    """The JSON each recorded response carried, in order."""
    data = json.loads(cassette.read_text(encoding="utf-8"))
    return [json.loads(e["response"]["body"]["choices"][0]["message"]["content"]) for e in data["exchanges"]
            if e["response"]["status"] == 200]


Accepted = dict[str, tuple[Any, dict[str, Any], dict[int, str]]]


def _accepted_english(settings: Settings, cassette: Path, pdf: Path) -> Accepted:
    """Each question's recorded English reply the run accepted (or, when every attempt failed, what it
    kept of the last one), with its contract and the sentences it was shown."""
    plan = _plan(settings, pdf)
    out = {}
    for reading, model in zip(plan.readings, passes.reply_models(plan), strict=True):
        shown = {k: s.text for k, s in plan.shown(reading).items()}
        attempts = []
        for reply in _replies(cassette):
            if set(reply.get("en", {})) == set(plan.questions(reading)):
                try:
                    model.model_validate(reply, context={"sentences": shown})
                except ValidationError as exc:
                    errors = [f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                              for e in exc.errors()]
                    attempts.append(Attempt("invalid", json.dumps(reply), errors))
                    continue
                out[reading.question] = (model, reply, shown)
                break
        else:
            kept = mend.salvage(attempts, model, {"sentences": shown}, lambda reply: [])
            assert kept is not None, f"no accepted {reading.question} reply in {cassette.name}"
            out[reading.question] = (model, kept[0].model_dump(mode="json"), shown)
    return out


@needs_new_cassettes
def test_a_real_reply_citing_an_unknown_sentence_is_refused(settings: Settings) -> None:
    _seed_bethe_metadata(settings)
    accepted = _accepted_english(settings, CASSETTES / "1111.2011.json", BETHE)
    assert list(accepted) == list(FIELDS)
    model, reply, shown = accepted["problems"]
    broken = copy.deepcopy(reply)
    group = next(iter(broken["en"]))
    broken["en"][group][0]["sentences"] = ["S9999"]
    with pytest.raises(ValidationError, match=rf"en.{group}\[1\].sentences: S9999 is not in the paper text"):
        model.model_validate(broken, context={"sentences": shown})


@needs_new_cassettes
def test_a_real_bullet_made_a_copy_of_its_evidence_goes_back(settings: Settings) -> None:
    _seed_bethe_metadata(settings)
    plan = _plan(settings, BETHE)
    model, reply, shown = _accepted_english(settings, CASSETTES / "1111.2011.json", BETHE)["motivation"]
    copied = copy.deepcopy(reply)
    group = next(iter(copied["en"]))
    first = copied["en"][group][0]
    first["text"] = " ".join(shown[int(first["sentences"][0][1:])].split()[:40])
    problems = mend.soft_problems(model.model_validate(copied, context={"sentences": shown}),
                                    plan.shown(plan.readings[1]), plan.names)
    assert any(p.startswith(f"en.{group}[1] repeats") and "nearly word for word" in p for p in problems)


@needs_new_cassettes
def test_a_real_framework_bullet_moved_onto_cited_work_goes_back(settings: Settings) -> None:
    _seed_bethe_metadata(settings)
    plan = _plan(settings, BETHE)
    model, reply, shown = _accepted_english(settings, CASSETTES / "1111.2011.json", BETHE)["framework"]
    assert set(reply["en"]) == {"framework"}
    # The paper's own citations are superscripts the cleaning drops, so the moved-to sentence is one
    # about cited work as papers with bracketed references write it.
    others = [Sentence(9999, "Tarvainen and Valpola [9] average the student weights into a mean teacher.",
                       "I. INTRODUCTION", "introduction", 3)]
    assert is_about_cited_work(others[0].text, plan.names)
    moved = copy.deepcopy(reply)
    extra = len(shown) + 1  # shown to the model as one more sentence of the reading
    moved["en"]["framework"][0]["sentences"] = [f"S{extra}"]
    reply_ = model.model_validate(moved, context={"sentences": {**shown, extra: others[0].text}})
    problems = mend.soft_problems(reply_, {**plan.shown(plan.readings[2]), extra: others[0]}, plan.names)
    assert any(p.startswith("en.framework[1]: it cites") and "cited work" in p for p in problems)


@needs_new_cassettes
def test_a_real_translation_that_misses_a_glossary_term_is_refused(settings: Settings) -> None:
    _seed_bethe_metadata(settings)
    accepted = _accepted_english(settings, CASSETTES / "1111.2011.json", BETHE)
    english = [b["text"] for _, reply, _ in accepted.values() for name in FIELDS for b in reply["en"].get(name, [])]
    chinese = [r["zh"] for r in _replies(CASSETTES / "1111.2011.json") if isinstance(r.get("zh"), str)]
    # The accepted translation of each English bullet (rejected attempts come before it).
    pairs: list[tuple[str, str]] = []
    for zh in chinese:
        text = english[len(pairs)] if len(pairs) < len(english) else ""
        try:
            ChineseBullet.model_validate({"zh": zh}, context={"english": text, "glossary": glossary.merged(None)})
        except ValidationError:
            continue
        pairs.append((text, zh))
    text, zh = pairs[0]
    term = max(re.findall(r"[a-z]{6,}", text.lower()), key=len)
    with pytest.raises(ValidationError, match=f"'{term}' must be translated as '术语甲'"):
        ChineseBullet.model_validate({"zh": zh}, context={"english": text, "glossary": {term: "术语甲"}})
