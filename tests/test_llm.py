"""The LLM seam through the real openai client over canned HTTP (httpx2.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest

from pipeline.core.config import LLMSettings
from pipeline.core.errors import (
    Attempt,
    LLMAuthError,
    LLMError,
    LLMRefusal,
    LLMTransportError,
    LLMTruncated,
    ModelOutputError,
    SummaryInvalid,
)
from pipeline.model.backend import Connection, Profile
from pipeline.model.llm import LLM, DictMemory, Exchange, RequestHook, strict_schema
from pipeline.model.summary import CitedReply, EnglishPass
from pipeline.text.sentences import split_sentences

PAPER = ("We propose a dual-view consistency framework for semi-supervised segmentation of abdominal CT. "
         "Pseudo labels produced by the teacher network are unreliable near organ boundaries. "
         "Our agreement mask weights the unsupervised consistency loss of every voxel in the volume. "
         "Experiments on 20 labelled scans show a Dice gain of 3.5 points.")


SENTENCES = dict(enumerate(split_sentences(PAPER), 1))  # S1 "We propose …" … S4 "Experiments on 20 …"
CONTEXT = {"sentences": SENTENCES}


def bullet(text: str, *ids: str) -> dict[str, Any]:
    return {"text": text, "sentences": list(ids)}


def english_pass(**overrides: Any) -> dict[str, Any]:
    """A hand-written valid EnglishPass reply grounded in PAPER."""
    data: dict[str, Any] = {
        "en": {
            "problems": [bullet("Teacher pseudo labels are unreliable close to organ boundaries.", "S2")],
            "motivation": [bullet("An agreement mask weights each voxel's unsupervised loss by how far it can "
                                  "be trusted.", "S3")],
            "framework": [bullet("A dual-view consistency scheme guides the semi-supervised segmentation "
                                 "of CT volumes.", "S1")],
        },
        "dim": "3D", "dim_sentence": "S1", "setting": "semi-supervised", "setting_sentence": "S1",
        "tags": ["consistency"],
    }
    data.update(overrides)
    return data


def completion(content: str | None, *, finish: str = "stop", refusal: str | None = None,
               tool: bool = False) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if tool else content, "refusal": refusal}
    if tool:
        message["tool_calls"] = [{"id": "call_1", "type": "function",
                                  "function": {"name": "EnglishPass", "arguments": content}}]
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}}


class Canned:
    """Queue of HTTP replies; records every request body."""

    def __init__(self, *replies: httpx2.Response | Callable[[dict[str, Any]], httpx2.Response]) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        reply = self.replies.pop(0)
        return reply(body) if callable(reply) else reply


def ok(content: dict[str, Any] | str, **kw: Any) -> httpx2.Response:
    text = content if isinstance(content, str) else json.dumps(content)
    return httpx2.Response(200, json=completion(text, **kw))


def make_llm(canned: Canned, *, memory: DictMemory | None = None, sleeps: list[float] | None = None,
             profile: Profile | None = None, hook: RequestHook | None = None, **settings: Any) -> LLM:
    connection = Connection(backend="remote", model="gpt-4o-mini", host="fake.test",
                            base_url="http://fake.test/v1", api_key="sk-test-not-a-real-key",
                            http_client=httpx2.Client(transport=httpx2.MockTransport(canned)))
    recorded = sleeps if sleeps is not None else []
    return LLM(connection, LLMSettings(**settings), profile, memory=memory, sleep=recorded.append, hook=hook)


def repair(errors: list[str], truncated: bool) -> str:
    return "fix: " + "; ".join(errors) + (" (truncated)" if truncated else "")


def ask(llm: LLM) -> Any:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": PAPER}]
    result: CitedReply
    result, _ = llm.ask(messages, EnglishPass, context=CONTEXT, repair=repair)
    return result


def test_strict_schema_closes_every_object_and_requires_all_fields() -> None:
    schema = strict_schema(EnglishPass.model_json_schema())
    bullet_def = schema["$defs"]["CitedBullet"]
    assert bullet_def["additionalProperties"] is False
    assert set(bullet_def["required"]) == {"text", "sentences"}
    assert "tags" in schema["required"]
    assert "minLength" not in json.dumps(schema)
    # A grammar-enforcing server (the embedded model) gets the lengths: a looping bullet ends at 600 chars.
    kept = strict_schema(EnglishPass.model_json_schema(), lengths=True)
    assert kept["$defs"]["CitedBullet"]["properties"]["text"]["maxLength"] == 600


def test_the_embedded_model_s_grammar_ends_a_looping_bullet_at_its_length() -> None:
    from pipeline.core.config import load_settings
    from pipeline.model.embedded.backend import embedded_profile

    canned = Canned(ok(english_pass()))
    ask(make_llm(canned, profile=embedded_profile(load_settings({}))))
    schema = canned.bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["$defs"]["CitedBullet"]["properties"]["text"]["maxLength"] == 600
    assert canned.bodies[0]["max_tokens"] == 640


def test_valid_reply_in_json_schema_mode() -> None:
    canned = Canned(ok(english_pass()))
    llm = make_llm(canned)
    assert ask(llm).dim == "3D"
    assert canned.bodies[0]["response_format"]["type"] == "json_schema"
    assert llm.usage.requests == 1 and llm.usage.prompt_tokens == 100
    assert llm.usage.cost_usd > 0


def test_falls_back_to_json_object_and_remembers_it() -> None:
    rejected = httpx2.Response(400, json={"error": {"message": "json_schema is not supported"}})
    canned = Canned(rejected, ok(english_pass()), ok(english_pass()))
    memory = DictMemory()
    llm = make_llm(canned, memory=memory)
    ask(llm)
    assert [b["response_format"]["type"] for b in canned.bodies] == ["json_schema", "json_object"]
    assert "JSON schema" in canned.bodies[1]["messages"][0]["content"]
    second = make_llm(canned, memory=memory)
    ask(second)
    assert canned.bodies[2]["response_format"]["type"] == "json_object"  # no wasted request


def test_falls_back_to_forced_tool_call() -> None:
    bad = httpx2.Response(400, json={"error": {"message": "unsupported response_format"}})
    canned = Canned(bad, bad, ok(json.dumps(english_pass()), tool=True))
    llm = make_llm(canned)
    assert ask(llm).setting == "semi-supervised"
    assert canned.bodies[2]["tool_choice"]["function"]["name"] == "EnglishPass"
    assert llm.mode == "tool"


def test_rate_limit_honours_retry_after() -> None:
    limited = httpx2.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}})
    canned = Canned(limited, httpx2.Response(500, json={"error": {"message": "boom"}}), ok(english_pass()))
    sleeps: list[float] = []
    ask(make_llm(canned, sleeps=sleeps))
    assert sleeps[0] == 7.0 and len(sleeps) == 2


def test_unauthorized_is_not_retried() -> None:
    canned = Canned(httpx2.Response(401, json={"error": {"message": "bad key"}}))
    with pytest.raises(LLMAuthError, match="HTTP 401"):
        ask(make_llm(canned))
    assert len(canned.bodies) == 1


def test_not_found_is_not_retried() -> None:
    canned = Canned(httpx2.Response(404, json={"error": {"message": "no such model"}}))
    with pytest.raises(LLMError, match="404"):
        ask(make_llm(canned))
    assert len(canned.bodies) == 1


def test_persistent_server_errors_end_in_transport_error() -> None:
    canned = Canned(*[httpx2.Response(503, json={"error": {"message": "down"}}) for _ in range(3)])
    with pytest.raises(LLMTransportError, match="HTTP 503 after 3 attempts"):
        ask(make_llm(canned, max_attempts=3))


def test_invalid_reply_is_repaired_with_the_errors_sent_back() -> None:
    chinese_in_en = english_pass()
    chinese_in_en["en"]["problems"][0]["text"] = "教师模型的伪标签在器官边界处不可靠 near boundaries."
    canned = Canned(ok("{not json"), ok(chinese_in_en), ok(english_pass()))
    llm = make_llm(canned)
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": PAPER}]
    _, attempts = llm.ask(messages, EnglishPass, context=CONTEXT, repair=repair)
    assert [a.kind for a in attempts] == ["invalid", "invalid"]
    assert "not valid JSON" in canned.bodies[1]["messages"][-1]["content"]
    assert "Chinese" in canned.bodies[2]["messages"][-1]["content"]
    assert canned.bodies[2]["messages"][-2]["role"] == "assistant"
    assert [b["temperature"] for b in canned.bodies] == [0.2, 0.6, 0.7]  # re-asks sample more freely


def test_an_unknown_sentence_id_triggers_a_reask_naming_it() -> None:
    invented = english_pass()
    invented["en"]["framework"][0]["sentences"] = ["S1", "S57"]
    canned = Canned(ok(invented), ok(english_pass()))
    ask(make_llm(canned))
    assert "S57 is not in the paper text" in canned.bodies[1]["messages"][-1]["content"]
    assert "(S1-S4)" in canned.bodies[1]["messages"][-1]["content"]


def test_invented_number_triggers_a_reask() -> None:
    invented = english_pass()
    invented["en"]["problems"][0]["text"] = "Teacher pseudo labels are wrong for 42 percent of boundary voxels."
    canned = Canned(ok(invented), ok(english_pass()))
    ask(make_llm(canned))
    assert "numbers not in the paper text: 42" in canned.bodies[1]["messages"][-1]["content"]


def test_repairs_are_bounded_and_every_attempt_is_kept() -> None:
    canned = Canned(ok("{}"), ok("{}"), ok("{}"))
    with pytest.raises(SummaryInvalid) as info:
        ask(make_llm(canned, max_repairs=2))
    assert len(info.value.attempts) == 3 and len(canned.bodies) == 3


def test_refusal_has_its_own_error() -> None:
    canned = Canned(ok("", refusal="I can't help with that."), ok("I'm sorry, I cannot help with that."))
    with pytest.raises(LLMRefusal, match="refused"):
        ask(make_llm(canned, max_repairs=1))


def test_truncation_has_its_own_error_and_asks_for_shorter_output() -> None:
    cut = json.dumps(english_pass())[:120]
    canned = Canned(ok(cut, finish="length"), ok(cut, finish="length"))
    with pytest.raises(LLMTruncated, match="output limit"):
        ask(make_llm(canned, max_repairs=1))
    assert "(truncated)" in canned.bodies[1]["messages"][-1]["content"]


def test_api_key_is_sent_only_as_a_header() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return ok(english_pass())

    connection = Connection(backend="remote", model="m", host="fake.test", base_url="http://fake.test/v1",
                            api_key="sk-fake-secret",
                            http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    ask(LLM(connection, LLMSettings()))
    assert "sk-fake-secret" not in seen[0].content.decode()
    assert "sk-fake-secret" not in repr(connection)


def test_bullet_counts_steer_the_schema_sent() -> None:
    canned = Canned(ok(english_pass()))
    llm = make_llm(canned, profile=Profile(bullets=(2, 3)))
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": PAPER}]
    # A steer for grammar-enforcing servers, not a validation rule: one bullet per question still passes.
    llm.ask(messages, EnglishPass, context=CONTEXT, repair=repair)
    sent = canned.bodies[0]["response_format"]["json_schema"]["schema"]
    problems = sent["$defs"]["English"]["properties"]["problems"]
    assert (problems["minItems"], problems["maxItems"]) == (2, 3)
    assert sent["properties"]["tags"]["maxItems"] == 5


@pytest.mark.parametrize("replies,error,kinds", [
    (["{}", "{not json"], SummaryInvalid, ["invalid", "invalid"]),
    (["refused", "refused"], LLMRefusal, ["refusal", "refusal"]),
    (["{}", "cut"], LLMTruncated, ["invalid", "truncated"]),
])
def test_bad_output_raises_one_error_type_carrying_every_attempt(replies: list[str], error: type[Exception],
                                                                kinds: list[str]) -> None:
    cut = json.dumps(english_pass())[:120]
    canned = Canned(*[ok("", refusal="I can't help with that.") if r == "refused" else
                      ok(cut, finish="length") if r == "cut" else ok(r) for r in replies])
    with pytest.raises(ModelOutputError) as info:
        ask(make_llm(canned, max_repairs=len(replies) - 1))
    assert type(info.value) is error and isinstance(info.value, LLMError)
    attempts = info.value.attempts
    assert all(isinstance(a, Attempt) and a.errors for a in attempts)
    assert [a.kind for a in attempts] == kinds
    assert attempts[0].raw == ("I can't help with that." if kinds[0] == "refusal" else replies[0])


def test_the_request_hook_wraps_every_request_and_learns_what_it_used() -> None:
    seen: list[tuple[str, int, int, int]] = []

    @contextmanager
    def hook(exchange: Exchange) -> Iterator[None]:
        seen.append(("before", exchange.requests, len(exchange.messages), 0))
        try:
            yield
        finally:
            seen.append(("after", exchange.requests, exchange.prompt_tokens, exchange.completion_tokens))

    limited = httpx2.Response(429, headers={"Retry-After": "0"}, json={"error": {"message": "slow down"}})
    canned = Canned(limited, ok("{}"), ok(english_pass()), httpx2.Response(401, json={"error": {"message": "no"}}))
    llm = make_llm(canned, hook=hook)
    ask(llm)
    # A 429 retried inside one request; then a re-ask (the conversation grew by the reply and the repair).
    assert seen == [("before", 0, 2, 0), ("after", 2, 100, 50), ("before", 0, 4, 0), ("after", 1, 100, 50)]
    seen.clear()
    with pytest.raises(LLMAuthError):
        ask(llm)
    assert seen == [("before", 0, 2, 0), ("after", 1, 0, 0)]  # told of a failed request too


def test_a_hook_that_refuses_sends_nothing() -> None:
    @contextmanager
    def closed(exchange: Exchange) -> Iterator[None]:
        raise LLMTransportError("no slot")
        yield

    canned = Canned(ok(english_pass()))
    with pytest.raises(LLMTransportError, match="no slot"):
        ask(make_llm(canned, hook=closed))
    assert canned.bodies == []


def test_the_validation_context_is_only_read() -> None:
    rejected = english_pass()
    rejected["en"]["framework"][0]["text"] = "本文提出了双视图一致性框架 for CT."
    canned = Canned(ok(rejected), ok(english_pass()))
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": PAPER}]
    context = {"sentences": dict(SENTENCES)}
    _, failed = make_llm(canned).ask(messages, EnglishPass, context=context, repair=repair)
    assert len(failed) == 1 and "Chinese" in failed[0].errors[0]
    assert context == {"sentences": SENTENCES}
