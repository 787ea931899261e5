"""The LLM seam through the real openai client over canned HTTP (httpx2.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from pipeline.core.config import LLMSettings
from pipeline.core.errors import LLMAuthError, LLMError, LLMRefusal, LLMTransportError, LLMTruncated, SummaryInvalid
from pipeline.model.llm import LLM, DictMemory, Endpoint, strict_schema
from pipeline.model.summary import EnglishPass

PAPER = ("We propose a dual-view consistency framework for semi-supervised segmentation of abdominal CT. "
         "Pseudo labels produced by the teacher network are unreliable near organ boundaries. "
         "Our agreement mask weights the unsupervised consistency loss of every voxel in the volume. "
         "Experiments on 20 labelled scans show a Dice gain of 3.5 points.")


def bullet(text: str, evidence: str) -> dict[str, str]:
    return {"text": text, "evidence": evidence}


def english_pass(**overrides: Any) -> dict[str, Any]:
    """A hand-written valid EnglishPass reply grounded in PAPER."""
    data: dict[str, Any] = {
        "en": {
            "problems": [bullet("Teacher pseudo labels are unreliable close to organ boundaries.",
                                "Pseudo labels produced by the teacher network are unreliable near organ boundaries")],
            "motivation": [bullet("Agreement between two views shows which voxels deserve trust.",
                                  "Our agreement mask weights the unsupervised consistency loss of every voxel")],
            "framework": [bullet("A dual-view consistency framework for semi-supervised CT segmentation.",
                                 "We propose a dual-view consistency framework for semi-supervised segmentation")],
        },
        "dim": "3D", "setting": "semi-supervised", "tags": ["consistency"],
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
             **settings: Any) -> LLM:
    endpoint = Endpoint(backend="remote", model="gpt-4o-mini", host="fake.test",
                        base_url="http://fake.test/v1", api_key="sk-test-not-a-real-key",
                        http_client=httpx2.Client(transport=httpx2.MockTransport(canned)))
    recorded = sleeps if sleeps is not None else []
    return LLM(endpoint, LLMSettings(**settings), memory=memory, sleep=recorded.append)


def repair(errors: list[str], truncated: bool) -> str:
    return "fix: " + "; ".join(errors) + (" (truncated)" if truncated else "")


def ask(llm: LLM) -> EnglishPass:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": PAPER}]
    result, _ = llm.ask(messages, EnglishPass, context={"source_text": PAPER}, repair=repair)
    return result


def test_strict_schema_closes_every_object_and_requires_all_fields() -> None:
    schema = strict_schema(EnglishPass.model_json_schema())
    bullet_def = schema["$defs"]["EvidencedBullet"]
    assert bullet_def["additionalProperties"] is False
    assert set(bullet_def["required"]) == {"text", "evidence"}
    assert "tags" in schema["required"]
    assert "minLength" not in json.dumps(schema)


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
    _, attempts = llm.ask(messages, EnglishPass, context={"source_text": PAPER}, repair=repair)
    assert [a.kind for a in attempts] == ["invalid", "invalid"]
    assert "not valid JSON" in canned.bodies[1]["messages"][-1]["content"]
    assert "Chinese" in canned.bodies[2]["messages"][-1]["content"]
    assert canned.bodies[2]["messages"][-2]["role"] == "assistant"
    assert [b["temperature"] for b in canned.bodies] == [0.2, 0.6, 0.7]  # re-asks sample more freely


def test_ungrounded_evidence_triggers_a_reask_naming_it() -> None:
    invented = english_pass()
    invented["en"]["framework"][0]["evidence"] = "a sentence that the paper never wrote anywhere at all"
    canned = Canned(ok(invented), ok(english_pass()))
    ask(make_llm(canned))
    assert "not a verbatim quote" in canned.bodies[1]["messages"][-1]["content"]


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

    endpoint = Endpoint(backend="remote", model="m", host="fake.test", base_url="http://fake.test/v1",
                        api_key="sk-fake-secret",
                        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    ask(LLM(endpoint, LLMSettings()))
    assert "sk-fake-secret" not in seen[0].content.decode()
    assert "sk-fake-secret" not in repr(endpoint)


def test_bullet_counts_steer_the_schema_sent() -> None:
    canned = Canned(ok(english_pass()))
    llm = make_llm(canned)
    llm.endpoint.bullets = (2, 3)
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": PAPER}]
    # A steer for grammar-enforcing servers, not a validation rule: one bullet per question still passes.
    llm.ask(messages, EnglishPass, context={"source_text": PAPER}, repair=repair)
    sent = canned.bodies[0]["response_format"]["json_schema"]["schema"]
    problems = sent["$defs"]["EnglishSummary"]["properties"]["problems"]
    assert (problems["minItems"], problems["maxItems"]) == (2, 3)
    assert sent["properties"]["tags"]["maxItems"] == 5
