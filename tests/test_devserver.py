"""The fake OpenAI server: valid grounded replies in every mode, and each fault as specified.

Requests go through the real ``openai`` client, as pipeline/model/llm.py sends them.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import openai
import pypdf
import pytest
from conftest import PDFS
from pydantic import BaseModel, ValidationError

from pipeline import cli
from pipeline.core.config import LLMSettings
from pipeline.core.models import FIELDS
from pipeline.devtools.devreplies import sentences_of
from pipeline.devtools.devserver import FAULTS, MODES, FakeServer, serve
from pipeline.model.backend import Connection
from pipeline.model.llm import LLM
from pipeline.model.summary import ChinesePass, EnglishPass, LLMSummary, check_parallel

# An invented paper, written for this test.
PAPER = """Title: Agreement Anchors for Label-Efficient Segmentation

Abstract:
Dense annotation of medical images is slow and expensive, which limits how far fully supervised
segmentation models can be scaled. We study semi-supervised segmentation, where only a small labelled
subset is available together with a large pool of unlabelled scans. Existing mean teacher methods treat
every pixel alike and therefore propagate confident mistakes from the teacher to the student.

1 Introduction
We argue that a model should trust its own predictions only where two differently perturbed views agree.
Our method, called AnchorSeg, selects anchor regions where the teacher and the student agree and enforces
consistency only there. The remaining regions are handled by a contrastive objective that pulls uncertain
pixels toward the nearest anchor prototype. On two public benchmarks the approach improves the Dice
score by 2.4 points with 10% of the labels.

3 Method
The framework has three parts: a shared encoder, an anchor selection module, and a prototype memory that is
updated with an exponential moving average. During training, labelled images receive a standard
cross-entropy loss, while unlabelled images receive the anchor consistency loss and the prototype
contrastive loss. At inference time only the student network is used, so the method adds no cost at test
time.
"""
CONTEXT = {"sentences": sentences_of(PAPER)}
SYSTEM = "You summarize research papers. Answer with one JSON object following the schema."


def _client(server: FakeServer, **options: Any) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.base_url, api_key="test-key", **options)


def _ask(client: openai.OpenAI, mode: str = "json_schema", model: type[BaseModel] = LLMSummary,
         user: str = PAPER, extra: list[dict[str, str]] | None = None, schema_in_format: bool = False) -> Any:
    """One request the way pipeline/model/llm.py builds it; json_object carries its schema in the system prompt."""
    schema = model.model_json_schema()
    system = SYSTEM if mode == "json_schema" or schema_in_format else f"{SYSTEM}\n{json.dumps(schema)}"
    kwargs: dict[str, Any] = {}
    if mode == "json_schema":
        kwargs["response_format"] = {"type": "json_schema",
                                     "json_schema": {"name": model.__name__, "strict": True, "schema": schema}}
    elif mode == "json_object":
        kwargs["response_format"] = {"type": "json_object", **({"schema": schema} if schema_in_format else {})}
    else:
        kwargs["tools"] = [{"type": "function", "function": {"name": model.__name__, "parameters": schema}}]
        kwargs["tool_choice"] = {"type": "function", "function": {"name": model.__name__}}
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}, *(extra or [])]
    return client.chat.completions.create(model="fake", messages=messages, **kwargs)  # type: ignore[arg-type]


def _content(completion: Any) -> str:
    message = completion.choices[0].message
    if message.tool_calls:
        return str(message.tool_calls[0].function.arguments)
    return str(message.content)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_mode_replies_with_a_valid_grounded_summary(mode: str) -> None:
    with FakeServer() as server:
        completion = _ask(_client(server), mode)
    summary: Any = LLMSummary.model_validate_json(_content(completion), context=CONTEXT)
    assert summary.setting == "semi-supervised" and "AnchorSeg" in summary.tags
    assert completion.choices[0].finish_reason == ("tool_calls" if mode == "tool" else "stop")
    assert completion.usage.prompt_tokens > 100 and completion.usage.completion_tokens > 100
    body = server.requests[0]
    assert body["messages"][1]["content"] == PAPER


def test_translate_mode_english_then_parallel_chinese() -> None:
    with FakeServer(accept={"json_object"}) as server:
        client = _client(server)
        english: Any = EnglishPass.model_validate_json(_content(_ask(client, "json_object", EnglishPass)),
                                                  context=CONTEXT)
        plain = {f: [b.text for b in getattr(english.en, f)] for f in FIELDS}
        user = f"Paper: x\n\nEnglish bullets to translate:\n{json.dumps(plain, indent=1)}\n\nAnswer with " \
               '{"zh": {"problems": [...], "motivation": [...], "framework": [...]}}.'
        chinese = ChinesePass.model_validate_json(
            _content(_ask(client, "json_object", ChinesePass, user, schema_in_format=True)),
            context={"expected_counts": {f: len(plain[f]) for f in FIELDS}})
    check_parallel(english.en, chinese.zh)


def test_a_restate_request_gets_one_english_sentence_from_the_terms_it_shows() -> None:
    from pipeline.model.summary import RestatedBullet

    user = "English terms of the paper: anchor, consistency, teacher\nChinese: 教师只在一致的区域施加一致性约束。"
    with FakeServer() as server:
        reply = RestatedBullet.model_validate_json(_content(_ask(_client(server), "json_schema", RestatedBullet,
                                                                 user)))
    assert "anchor, consistency, teacher" in reply.en


def test_repair_reask_gets_a_valid_reply() -> None:
    errors = "Your previous answer could not be accepted:\n- en.problems.0.text: English bullet contains " \
             "Chinese characters; write it in English only\nAnswer again with the complete corrected JSON object."
    with FakeServer(faults=["zh-in-en"]) as server:
        client = _client(server)
        bad = _content(_ask(client))
        with pytest.raises(ValidationError, match="Chinese characters"):
            LLMSummary.model_validate_json(bad, context=CONTEXT)
        repaired = _ask(client, extra=[{"role": "assistant", "content": bad}, {"role": "user", "content": errors}])
    summary: Any = LLMSummary.model_validate_json(_content(repaired), context=CONTEXT)
    cited = {n for f in FIELDS for b in json.loads(bad)["en"][f] for n in b["sentences"]}
    assert cited.isdisjoint(n for f in FIELDS for b in getattr(summary.en, f) for n in b.sentences)  # fresh


def test_only_json_object_rejects_other_modes_like_llama_cpp() -> None:
    with FakeServer(accept={"json_object"}, faults=["500"]) as server:
        client = _client(server)
        with pytest.raises(openai.BadRequestError) as schema_error:
            _ask(client, "json_schema")
        with pytest.raises(openai.BadRequestError) as tool_error:
            _ask(client, "tool")
        with pytest.raises(openai.InternalServerError):  # rejected requests consumed no fault
            _ask(client, "json_object")
        LLMSummary.model_validate_json(_content(_ask(client, "json_object")), context=CONTEXT)
    assert isinstance(schema_error.value.body, dict) and "json_schema" in schema_error.value.body["message"]
    assert isinstance(tool_error.value.body, dict) and tool_error.value.body["param"] == "tools"
    assert len(server.requests) == 4


@pytest.mark.parametrize(("fault", "error", "status"), [
    ("429", openai.RateLimitError, 429), ("500", openai.InternalServerError, 500),
    ("503", openai.InternalServerError, 503), ("401", openai.AuthenticationError, 401)])
def test_status_faults(fault: str, error: type[openai.APIStatusError], status: int) -> None:
    with FakeServer(faults=[fault], retry_after="7") as server, pytest.raises(error) as caught:
        _ask(_client(server))
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and caught.value.body["message"]
    assert caught.value.response.headers.get("retry-after") == ("7" if fault == "429" else None)


def test_429_then_normal_after_the_clients_own_retry() -> None:
    with FakeServer(faults=["429", "429"], retry_after="0.01") as server:
        completion = _ask(_client(server, max_retries=2))
    LLMSummary.model_validate_json(_content(completion), context=CONTEXT)
    assert len(server.requests) == 3


def test_hang_outlasts_the_client_timeout_and_disconnect_sends_nothing() -> None:
    with FakeServer(faults=["hang", "disconnect"], hang_seconds=30) as server:
        client = _client(server, timeout=0.5)
        with pytest.raises(openai.APITimeoutError):
            _ask(client)
        with pytest.raises(openai.APIConnectionError) as caught:
            _ask(client)
        assert not isinstance(caught.value, openai.APITimeoutError)
        LLMSummary.model_validate_json(_content(_ask(client)), context=CONTEXT)


@pytest.mark.parametrize("mode", ["json_schema", "tool"])
def test_broken_content_faults(mode: str) -> None:
    with FakeServer(faults=["malformed", "truncated", "refusal", "refusal-text"]) as server:
        client = _client(server)
        malformed, truncated, refusal, refusal_text = (_ask(client, mode) for _ in range(4))
    with pytest.raises(json.JSONDecodeError):
        json.loads(_content(malformed))
    assert truncated.choices[0].finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(_content(truncated))
    assert refusal.choices[0].message.refusal and refusal.choices[0].message.content is None
    assert refusal_text.choices[0].message.content == "I'm sorry, I can't help with that."


@pytest.mark.parametrize(("fault", "message"), [("zh-in-en", "Chinese characters"),
                                                 ("bad-evidence", "S99999 is not in the paper text")])
def test_invalid_summary_faults_fail_validation(fault: str, message: str) -> None:
    with FakeServer(faults=[fault]) as server:
        content = _content(_ask(_client(server)))
    json.loads(content)
    with pytest.raises(ValidationError, match=message):
        LLMSummary.model_validate_json(content, context=CONTEXT)


def test_faults_are_consumed_in_order_and_fault_for_targets_one_paper() -> None:
    other = PAPER.replace("Agreement Anchors", "Another Title")
    with FakeServer(faults=["500"], fault_for={"Agreement Anchors": ["503*"], "Another": ["malformed"]}) as server:
        client = _client(server)
        for _ in range(3):
            with pytest.raises(openai.InternalServerError) as caught:
                _ask(client)
            assert caught.value.status_code == 503
        with pytest.raises(json.JSONDecodeError):
            json.loads(_content(_ask(client, user=other)))
        with pytest.raises(openai.InternalServerError) as caught:  # the global fault comes next
            _ask(client, user=other)
        assert caught.value.status_code == 500
        LLMSummary.model_validate_json(_content(_ask(client, user=other)), context={"sentences": sentences_of(other)})
    assert server.count_for("Agreement Anchors") == 3 and server.count_for("Another Title") == 3


def test_latency_does_not_serialize_concurrent_requests() -> None:
    with FakeServer(latency=0.3) as server:
        client = _client(server)
        start = threading.Barrier(4)
        results: list[str] = []

        def one() -> None:
            start.wait()
            results.append(_content(_ask(client)))

        threads = [threading.Thread(target=one) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == 4 and server.peak_in_flight == 4


def test_models_endpoint_loopback_only_and_closed_on_exit() -> None:
    with FakeServer(model="fake-7b") as server:
        client = _client(server)
        assert [m.id for m in client.models.list()] == ["fake-7b"]
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    with pytest.raises(openai.APIConnectionError):
        _ask(client)


def test_streaming_is_refused_with_400() -> None:
    with FakeServer() as server, pytest.raises(openai.BadRequestError, match="streaming"):
        _client(server).chat.completions.create(model="fake", messages=[{"role": "user", "content": PAPER}],
                                                stream=True)


def test_unknown_fault_or_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FakeServer(faults=["418"])
    with pytest.raises(ValueError, match="unknown output modes"):
        FakeServer(accept={"grammar"})
    assert {"429", "hang", "bad-evidence"} <= FAULTS


def test_contract_aliases_modes_and_fault_mapping() -> None:
    with FakeServer(0.0, {"Agreement": ["401"]}, modes={"tool"}) as server:
        client = _client(server)
        with pytest.raises(openai.BadRequestError):
            _ask(client, "json_schema")
        with pytest.raises(openai.AuthenticationError):
            _ask(client, "tool")


@pytest.mark.parametrize("name", ["mixmatch_1905.02249.pdf", "refinenet_1611.06612.pdf"])
def test_real_paper_text_gets_grounded_replies(name: str) -> None:
    reader = pypdf.PdfReader(PDFS / name)
    text = "\n".join(page.extract_text() or "" for page in reader.pages[:3])
    with FakeServer() as server:
        content = _content(_ask(_client(server), user=f"Summarize this paper.\n\n<<<\n{text}\n>>>"))
    LLMSummary.model_validate_json(content, context={"sentences": sentences_of(text)})


def test_through_the_llm_seam_json_object_fallback() -> None:
    with FakeServer(accept={"json_object"}) as server:
        connection = Connection(backend="remote", model="fake", host="127.0.0.1", base_url=server.base_url,
                                api_key="test-key")
        llm = LLM(connection, LLMSettings(max_attempts=1), sleep=lambda _: None)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PAPER}]
        summary, failed = llm.ask(messages, LLMSummary, context=CONTEXT,
                                  repair=lambda errors, _: "\n".join(errors))
    assert failed == [] and llm.mode == "json_object" and len(server.requests) == 2
    assert summary.__dict__["zh"].problems


def test_dev_server_command_serves_until_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    urls: list[str] = []

    def ready(server: FakeServer) -> None:
        urls.append(server.base_url)
        stop.set()  # serve() returns once stop is set, after closing the server

    serve(0, 0.0, True, on_ready=ready, stop=stop)
    assert urls and urls[0].startswith("http://127.0.0.1:")
    args = cli.build_parser().parse_args(["dev-server", "--port", "0", "--latency", "0.5", "--only-json-object"])
    assert (args.port, args.latency, args.only_json_object) == (0, 0.5, True)
    with FakeServer() as busy:
        port = busy.base_url.rsplit(":", 1)[1].split("/")[0]
        assert cli.main(["dev-server", "--port", port]) == 1
    assert "cannot listen" in capsys.readouterr().err
