"""The one seam in front of every model; the only module that imports ``openai``.

Remote servers and the embedded model are both reached through the real ``openai`` client (the
embedded model through an in-process HTTP transport), so nothing above this module branches on the
backend. Two loops are kept apart, as they fail for different reasons:

- transport retries (timeouts, connection errors, 429 honouring Retry-After, 5xx; never other 4xx),
  done with tenacity inside :meth:`LLM.chat`;
- the repair loop in :meth:`LLM.ask`: an invalid, truncated or refused reply goes back to the model
  with the reasons as a new message, at most ``max_repairs`` times; every failed attempt is kept.

Structured output tries ``json_schema`` (strict), then ``json_object``, then a forced tool call, and
remembers per endpoint which mode worked so the fallback costs at most one request. A server that
rejects the response format (HTTP 400 or 422, or a 500 whose message names ``response_format`` /
``json_schema``, as llama.cpp's Python server answers) moves on to the next mode at once, never retried.

Servers on this machine are serial: a timed-out request is not sent again there (the retry would
queue behind the abandoned one). A server's context window, when it states it in an error ("maximum
context length is N tokens"), is remembered per endpoint and every later request's ``max_tokens`` fits
it; a prompt that cannot fit raises `ContextOverflow` so the caller can send less text. Each HTTP
request has a total deadline and a reply-size cap (`pipeline.model.limits`); a rejected reply goes back
to the model, and into failure records, only as a bounded excerpt.

An `LLM` is built from a `Connection` (where the model is) and a `Profile` (how to prompt it), both
in `pipeline.model.backend`. Callers that must pace requests (batch runs: concurrency slots, rate
limits) pass a ``hook``: a context manager entered around every `LLM.chat` call, told what it sent.
"""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import re
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, TypeVar

import openai
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from pipeline.core.config import LLMSettings, OutputMode
from pipeline.core.errors import (
    Attempt,
    ContextOverflow,
    LLMAuthError,
    LLMError,
    LLMRefusal,
    LLMTransportError,
    LLMTruncated,
    ModelOutputError,
    SummaryInvalid,
)
from pipeline.core.models import FIELDS, Usage
from pipeline.core.redact import scrub
from pipeline.model.backend import Connection, Profile, cost_usd
from pipeline.model.limits import ReplyTooLarge, deadline_for, guarded_client
from pipeline.text.budget import estimate_tokens

log = logging.getLogger(__name__)

MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "tool")
REASK_TEMPERATURE = 0.6
_REFUSAL_STARTS = ("i'm sorry", "i am sorry", "i can't", "i cannot", "sorry,", "i won't", "as an ai")
T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")
# OpenAI's wording, which llama.cpp's Python server and vLLM copy: "This model's maximum context length is
# 8192 tokens. However, you requested 10798 tokens (8298 in the messages, 2500 in the completion)."
_CONTEXT_LIMIT = re.compile(r"maximum context length is (\d+) tokens", re.IGNORECASE)
_CONTEXT_MESSAGES = re.compile(r"\((\d+) in the messages", re.IGNORECASE)
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "tool_choice", "'tools'")
CONTEXT_MARGIN = 64  # tokens kept free: chat templates add a few per message


def context_limit(message: str) -> tuple[int, int | None] | None:
    """(context window, tokens in the messages or None) from a context-length error text, else None."""
    found = _CONTEXT_LIMIT.search(message)
    if not found:
        return None
    messages = _CONTEXT_MESSAGES.search(message)
    return int(found.group(1)), int(messages.group(1)) if messages else None


def excerpt(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters cut]"


def _context_key(endpoint_id: str) -> str:
    return f"{endpoint_id}|context-tokens"


def _sleep(seconds: float) -> None:
    """Back-off sleep of the transport retries (a seam tests replace to run without waiting)."""
    time.sleep(seconds)


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
class Request:
    """One chat request a step machine wants sent (see `LLM.asking`): the conversation, the contract's
    name and JSON schema, the temperature (None: the setting's), what it asks (``label``) and which try
    it is (``attempt``: 1, then 2 and on for the repairs)."""

    messages: list[dict[str, Any]]
    name: str
    schema: dict[str, Any]
    temperature: float | None = None
    label: str = ""
    attempt: int = 1


Steps = Generator[Request, Reply, R]
"""A step machine: yields the requests to send, is sent each one's `Reply`, returns its result (or raises)."""


@dataclass
class Exchange:
    """One `LLM.chat` call as a request hook sees it: what was sent, and, once the call ends (even by
    an error), the HTTP requests it took (rejected modes and transport retries included) and the tokens
    it used."""

    messages: list[dict[str, Any]]
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


RequestHook = Callable[[Exchange], AbstractContextManager[object]]
"""Entered around every `LLM.chat` call: wait before it (a slot, a rate limit), account after it."""


def _no_hook(exchange: Exchange) -> AbstractContextManager[object]:
    return nullcontext()


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a schema tree, parents before children."""
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def strict_schema(schema: dict[str, Any], *, lengths: bool = False) -> dict[str, Any]:
    """Adapt a pydantic JSON schema to OpenAI's strict mode.

    Every object closes (``additionalProperties: false``) and requires all its properties; keywords
    strict mode rejects (string lengths, defaults) are dropped, since validation checks them anyway.
    ``lengths`` keeps the string lengths, for a server that enforces them with a grammar (the embedded
    model): a bullet that loops then ends at its 600 characters instead of running to the token cap.
    """
    drop = ("default", "title") if lengths else ("default", "minLength", "maxLength", "title")
    out = copy.deepcopy(schema)
    for node in _objects(out):
        if "$ref" in node:
            for key in [k for k in node if k != "$ref"]:
                del node[key]
            continue
        for key in drop:
            node.pop(key, None)
        if node.get("type") == "object" and "properties" in node:
            node["additionalProperties"] = False
            node["required"] = list(node["properties"])
    return out


def bullet_counts(schema: dict[str, Any], counts: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """A copy of ``schema`` whose bullet lists (the arrays named in ``counts``, the summary's
    `FIELDS`) ask for ``counts[name] = (min, max)`` items.

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


def _transient(exc: BaseException, retry_timeouts: bool = True) -> bool:
    if isinstance(exc, openai.APITimeoutError):
        return retry_timeouts
    if isinstance(exc, openai.APIConnectionError):
        return not isinstance(exc.__cause__, ReplyTooLarge)
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500) \
        and not _rejects_format(exc)


def _rejects_format(exc: openai.APIStatusError) -> bool:
    """True when the server refuses the structured-output mode itself: a 400 or 422 (but not a context
    overflow), or a 500 naming the response format (llama.cpp's Python server reports its request
    validation error, "Input should be 'text' or 'json_object'", as HTTP 500)."""
    detail = _error_detail(exc, 2000)
    if exc.status_code in (400, 422):
        return context_limit(detail) is None
    return exc.status_code >= 500 and any(word in detail for word in _FORMAT_WORDS)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    hinted = _retry_after(exc) if exc else None
    backoff = min(30.0, 1.0 * 2 ** (state.attempt_number - 1))
    return min(60.0, hinted) if hinted is not None else backoff


class LLM:
    """A chat client for one model with structured output, retries and the repair loop.

    ``connection`` says where the model is, ``profile`` how to prompt it (default: a strong remote
    model's); ``hook`` is entered around every request (see `RequestHook`).
    """

    def __init__(self, connection: Connection, settings: LLMSettings, profile: Profile | None = None, *,
                 memory: ModeMemory | None = None, sleep: Callable[[float], None] | None = None,
                 client: openai.OpenAI | None = None, hook: RequestHook | None = None) -> None:
        self.connection = connection
        self.profile = profile or Profile()
        self.settings = settings
        self.memory: ModeMemory = memory or DictMemory()
        self._sleep = sleep or (lambda seconds: _sleep(seconds))
        self._hook = hook or _no_hook
        http_client = connection.http_client
        if client is None and http_client is None:
            http_client = guarded_client(timeout_seconds=connection.timeout_seconds,
                                         deadline_seconds=deadline_for(settings, connection.timeout_seconds),
                                         max_reply_bytes=settings.max_reply_bytes)
        self._client = client or openai.OpenAI(
            api_key=connection.api_key or "not-needed", base_url=connection.base_url,
            timeout=connection.timeout_seconds, max_retries=0, http_client=http_client,
        )
        self.usage = Usage()
        self.http_requests = 0  # every request sent, including rejected modes and retried ones
        self.mode: str | None = None
        self._estimate = 0  # estimated tokens of the last prompt sent
        self._ratio = 1.1  # server tokens per estimated token (our estimate runs low on code and markup)

    def context_tokens(self) -> int | None:
        """The server's context window: the setting, else what the server said once, else None."""
        if self.settings.context_tokens:
            return self.settings.context_tokens
        known = self.memory.get(_context_key(self.connection.id))
        return int(known) if known and known.isdigit() else None

    def _retry_timeouts(self) -> bool:
        if self.settings.retry_timeouts is not None:
            return self.settings.retry_timeouts
        return not self.connection.loopback

    def _modes(self) -> list[OutputMode]:
        if self.settings.output_mode:
            return [self.settings.output_mode]
        known = self.memory.get(self.connection.id)
        if known in MODES:
            return [known]
        return list(MODES)

    # ------------------------------------------------------------------ one request

    def chat(self, messages: list[dict[str, Any]], name: str, schema: dict[str, Any], *,
             temperature: float | None = None) -> Reply:
        """Send one request in the first structured-output mode the endpoint accepts, inside the hook."""
        exchange = Exchange(messages)
        requests, prompt, completion = self.http_requests, self.usage.prompt_tokens, self.usage.completion_tokens
        with self._hook(exchange):
            try:
                return self._chat(messages, name, schema, temperature)
            finally:
                exchange.requests = self.http_requests - requests
                exchange.prompt_tokens = self.usage.prompt_tokens - prompt
                exchange.completion_tokens = self.usage.completion_tokens - completion

    def _chat(self, messages: list[dict[str, Any]], name: str, schema: dict[str, Any],
              temperature: float | None) -> Reply:
        modes = self._modes()
        for i, mode in enumerate(modes):
            try:
                try:
                    reply = self._send(messages, name, schema, mode, temperature)
                except openai.APIStatusError as exc:
                    if not self._learn_context(exc):
                        raise
                    reply = self._send(messages, name, schema, mode, temperature)  # max_tokens now fits
            except openai.APIStatusError as exc:
                last = i == len(modes) - 1
                if _rejects_format(exc) and not last:
                    log.info("%s rejected %s output (HTTP %s); trying %s", self.connection.host, mode,
                             exc.status_code, modes[i + 1])
                    continue
                raise self._status_error(exc, mode) from exc
            if self.memory.get(self.connection.id) != mode:
                self.memory.set(self.connection.id, mode)
            self.mode = mode
            return reply
        raise AssertionError("unreachable: the mode list is never empty")

    def _learn_context(self, exc: openai.APIStatusError) -> bool:
        """Remember the context window a 400 states; True when the same prompt fits with fewer reply
        tokens (send it again), raise `ContextOverflow` when the prompt itself is too long."""
        found = context_limit(_error_detail(exc, 1000)) if exc.status_code == 400 else None
        if found is None:
            return False
        window, in_messages = found
        log.info("%s: the model's context is %d tokens; requests now fit it", self.connection.host, window)
        self.memory.set(_context_key(self.connection.id), str(window))
        if in_messages is not None:
            if self._estimate:
                self._ratio = max(self._ratio, 1.02 * in_messages / self._estimate)
            if in_messages + self.profile.min_reply_tokens + CONTEXT_MARGIN > window:
                raise self._overflow(window, in_messages, self._estimate)
        return True

    def _overflow(self, window: int, prompt_tokens: int, estimated: int) -> ContextOverflow:
        return ContextOverflow(
            f"the prompt ({prompt_tokens} tokens) leaves too little of {self.connection.host}'s "
            f"{window}-token context for the reply", context_tokens=window, prompt_tokens=prompt_tokens,
            estimated_tokens=estimated,
            hint="start the server with a larger context (llama.cpp: --n_ctx), or lower PIPELINE_BUDGET_TOKENS")

    def _max_tokens(self, messages: list[dict[str, Any]]) -> int:
        """The reply's token cap: the setting (or the profile's, if lower), shrunk so prompt and reply fit a
        known context window."""
        self._estimate = estimate_tokens(json.dumps(messages, ensure_ascii=False))
        cap = self.settings.max_output_tokens
        if self.profile.max_reply_tokens is not None:
            cap = min(cap, self.profile.max_reply_tokens)
        window = self.context_tokens()
        if window is None:
            return cap
        prompt = int(self._estimate * self._ratio)
        room = window - prompt - CONTEXT_MARGIN
        if room < self.profile.min_reply_tokens:
            raise self._overflow(window, prompt, self._estimate)
        return min(cap, room)

    def first_mode(self) -> OutputMode:
        """The structured-output mode a request is sent in first: the configured one, else the one this
        endpoint is known to take, else ``json_schema``."""
        return self._modes()[0]

    def body(self, request: Request, mode: OutputMode | None = None) -> dict[str, Any]:
        """The chat-completions request body of ``request`` in ``mode`` (default: the first mode this
        endpoint is known or configured to take), as a live request sends it and a batch file holds it."""
        mode = mode or self.first_mode()
        messages = list(request.messages)
        kwargs = self._request_kwargs(messages, request.name, request.schema, mode, request.temperature)
        return {"messages": messages, **kwargs}

    def _request_kwargs(self, messages: list[dict[str, Any]], name: str, schema: dict[str, Any],
                        mode: OutputMode, temperature: float | None) -> dict[str, Any]:
        """The request's fields but the messages; ``messages`` (a copy the caller owns) is adapted in place."""
        kwargs: dict[str, Any] = {"model": self.connection.model,
                                  "temperature": self.settings.temperature if temperature is None else temperature}
        messages[:] = [dict(m) for m in messages]
        if mode != "json_schema" and self.profile.schema_in_prompt:
            stated = json.dumps(without_descriptions(schema), ensure_ascii=False, separators=(",", ":")) \
                if self.profile.compact_schema else json.dumps(schema, ensure_ascii=False)
            messages[0]["content"] = (f"{messages[0]['content']}\n\nThe JSON object must follow this JSON "
                                      f"schema:\n{stated}")
        kwargs["max_tokens"] = self._max_tokens(messages)
        if mode == "json_schema":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": name, "strict": True, "schema": strict_schema(schema, lengths=self.profile.grammar_lengths)}}
        elif mode == "json_object":
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        else:
            kwargs["tools"] = [{"type": "function", "function": {
                "name": name, "description": f"Record the {name}.", "parameters": schema}}]
            kwargs["tool_choice"] = {"type": "function", "function": {"name": name}}
        return kwargs

    def _send(self, messages: list[dict[str, Any]], name: str, schema: dict[str, Any],
              mode: OutputMode, temperature: float | None = None) -> Reply:
        messages = list(messages)
        kwargs = self._request_kwargs(messages, name, schema, mode, temperature)
        retry_timeouts = self._retry_timeouts()
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts), wait=_wait,
            retry=retry_if_exception(lambda exc: _transient(exc, retry_timeouts)), sleep=self._sleep,
            reraise=True,
            before_sleep=lambda s: log.warning(
                "LLM request to %s failed (%s); retry %d of %d", self.connection.host,
                scrub(str(s.outcome.exception())) if s.outcome else "?", s.attempt_number,
                self.settings.max_attempts - 1),
        )

        def create() -> Any:
            self.http_requests += 1
            return self._client.chat.completions.create(messages=messages, **kwargs)  # type: ignore[arg-type]

        try:
            completion = retrying(create)
        except openai.APIConnectionError as exc:
            if isinstance(exc.__cause__, ReplyTooLarge):
                return Reply(content=None, mode=mode, finish_reason="too_large", prompt_tokens=0,
                             completion_tokens=0)
            raise self._transport_error(exc, retry_timeouts) from exc
        self.usage.requests += 1
        prompt_tokens, completion_tokens = _tokens(completion)
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        cost = cost_usd(self.connection, self.settings.prices, prompt_tokens, completion_tokens)
        self.usage.cost_usd = round(self.usage.cost_usd + cost, 6)
        return self.reply(completion, mode)

    def reply(self, completion: Any, mode: str) -> Reply:
        """The `Reply` in a chat completion: an ``openai`` object, or its JSON (a batch output line's body)."""
        if isinstance(completion, dict):
            try:
                completion = openai.types.chat.ChatCompletion.model_validate(completion)
            except ValidationError as exc:
                raise LLMError(f"LLM reply from {self.connection.host} is not a chat completion: "
                               f"{_validation_messages(exc)[0]}",
                               hint="the server is not OpenAI-compatible for chat completions") from exc
        prompt_tokens, completion_tokens = _tokens(completion)
        if not completion.choices:
            raise LLMError(f"LLM reply from {self.connection.host} has no choices",
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

    def _transport_error(self, exc: openai.APIConnectionError, retried: bool) -> LLMTransportError:
        host, attempts = self.connection.host, self.settings.max_attempts
        if not isinstance(exc, openai.APITimeoutError):
            return LLMTransportError(f"LLM request to {host} could not connect after {attempts} attempts",
                                     hint="check the endpoint is up and reachable")
        deadline = deadline_for(self.settings, self.connection.timeout_seconds)
        limit = f"{self.connection.timeout_seconds:g} s timeout, {deadline:g} s deadline"
        if not retried:
            return LLMTransportError(
                f"LLM request to {host} timed out ({limit}); not sent again: a server on this machine is "
                "still working on it and a retry would queue behind it",
                hint="raise PIPELINE_TIMEOUT, or use a smaller model" + (
                    "" if self.profile.translate_per_bullet else " or PIPELINE_PROFILE=small (shorter requests)"))
        return LLMTransportError(f"LLM request to {host} timed out after {attempts} attempts ({limit})",
                                 hint="check the endpoint is up and reachable, or raise PIPELINE_TIMEOUT")

    def _status_error(self, exc: openai.APIStatusError, mode: str) -> LLMError:
        host, code = self.connection.host, exc.status_code
        detail = _error_detail(exc)
        if code in (401, 403):
            return LLMAuthError(f"{host} rejected the credentials (HTTP {code}): {detail}",
                                hint="check OPENAI_API_KEY / PIPELINE_API_KEY")
        if code == 404:
            return LLMError(f"{host} has no model {self.connection.model!r} or no chat endpoint (HTTP 404)",
                            hint="check PIPELINE_MODEL and OPENAI_BASE_URL (it usually ends in /v1)")
        if code == 429 or code >= 500:
            return LLMTransportError(f"{host} kept failing with HTTP {code} after "
                                     f"{self.settings.max_attempts} attempts: {detail}",
                                     hint="wait and run again; batch runs pick up where they stopped")
        if _rejects_format(exc):
            return LLMError(f"{host} rejected the request (HTTP {code}, {mode} output): {detail}",
                            hint="set PIPELINE_OUTPUT_MODE to a mode the server supports")
        return LLMError(f"{host} rejected the request (HTTP {code}): {detail}",
                        hint="see the server's log; PIPELINE_CONTEXT_TOKENS or PIPELINE_BUDGET_TOKENS fit a "
                        "small context")

    # ------------------------------------------------------------------ the repair loop

    def ask(self, messages: list[dict[str, Any]], model: type[T], *, context: dict[str, Any],
            repair: Callable[[list[str], bool], str],
            counts: dict[str, tuple[int, int]] | None = None,
            checks: Callable[[T], list[str]] | None = None, label: str = "",
            max_repairs: int | None = None) -> tuple[T, list[Attempt]]:
        """Get a reply that validates as ``model``; re-ask with the errors at most ``max_repairs`` times.

        ``repair(errors, truncated)`` renders the follow-up message; ``counts`` narrows the bullets per
        question the schema asks for (default: the profile's ``bullets``). ``context`` is the validation
        context of every attempt (validators only read it); ``checks`` finds what is wrong with a reply
        that validates (each finding counts as a validation error: the model is asked again);
        ``max_repairs`` overrides the setting of that name for this request. Returns
        the valid object and the failed attempts before it; raises a `ModelOutputError` (SummaryInvalid,
        LLMRefusal or LLMTruncated) carrying every attempt when the last re-ask fails too.
        """
        return self.drive(self.asking(messages, model, context=context, repair=repair, counts=counts,
                                      checks=checks, label=label, max_repairs=max_repairs))

    def drive(self, steps: Steps[R]) -> R:
        """Run a step machine live: send each `Request` it yields with `chat`, give it the `Reply`."""
        try:
            request = next(steps)
            while True:
                reply = self.chat(request.messages, request.name, request.schema, temperature=request.temperature)
                request = steps.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def asking(self, messages: list[dict[str, Any]], model: type[T], *, context: dict[str, Any],
               repair: Callable[[list[str], bool], str],
               counts: dict[str, tuple[int, int]] | None = None,
               checks: Callable[[T], list[str]] | None = None, label: str = "",
               max_repairs: int | None = None) -> Steps[tuple[T, list[Attempt]]]:
        """`ask` as a step machine: yields each `Request` (``label`` names it), is sent its `Reply`.

        The one repair loop: `ask` drives it live, a provider batch job drives it one round per job.
        """
        schema = _json_schema(model)
        if counts is None and self.profile.bullets:
            counts = {name: self.profile.bullets for name in FIELDS}
        if counts:
            schema = bullet_counts(schema, counts)
        conversation = list(messages)
        attempts: list[Attempt] = []
        repairs = self.settings.max_repairs if max_repairs is None else min(max_repairs, self.settings.max_repairs)
        for attempt_number in range(repairs + 1):
            # A re-ask at the same low temperature often gets the same answer back, word for word
            # (small models copy their previous turn); sample a little more freely on re-asks.
            temperature = None if attempt_number == 0 else \
                min(1.0, max(self.settings.temperature, REASK_TEMPERATURE) + 0.1 * (attempt_number - 1))
            reply = yield Request(conversation, model.__name__, schema, temperature, label, attempt_number + 1)
            attempt = _judge(reply, model, context, self.settings.max_reply_bytes)
            if isinstance(attempt, BaseModel):
                problems = checks(attempt) if checks else []
                if not problems:
                    return attempt, attempts
                attempt = Attempt("invalid", reply.content, problems)
            # Only a bounded excerpt of a bad reply is kept or sent back: a 20 MB reply must not grow
            # every re-ask and the failure record by 20 MB.
            limit = self.settings.max_excerpt_chars
            attempt.raw = excerpt(attempt.raw, limit)
            attempt.errors = [excerpt(e, 1000) or "" for e in attempt.errors[:20]]
            attempts.append(attempt)
            log.info("reply rejected (%s): %s", attempt.kind, "; ".join(attempt.errors)[:300])
            follow_up = {"role": "user", "content": repair(attempt.errors, attempt.kind == "truncated")}
            if self.profile.reask_with_reply:
                shown = excerpt(reply.content, limit) or ""
                conversation = [*conversation, {"role": "assistant", "content": shown}, follow_up]
            else:
                conversation = [*messages, follow_up]
        raise self._output_error(attempts)

    def _output_error(self, attempts: list[Attempt]) -> ModelOutputError:
        last = attempts[-1]
        where = f"{self.connection.host} ({self.connection.model})"
        tries = len(attempts)
        if last.kind == "refusal":
            return LLMRefusal(
                f"the model at {where} refused to summarize, {tries} times: {last.errors[0][:120]}",
                attempts=attempts, hint="try another model (PIPELINE_MODEL)")
        if last.kind == "truncated":
            return LLMTruncated(
                f"the model at {where} hit its output limit {tries} times", attempts=attempts,
                hint="raise the limit (max_output_tokens) or use a model with a larger context")
        return SummaryInvalid(
            f"the model at {where} gave no valid summary in {tries} attempts; last problem: "
            f"{last.errors[0][:200]}", attempts=attempts,
            hint="see the failure record; try a stronger model or PIPELINE_MAX_REPAIRS")


def _tokens(completion: Any) -> tuple[int, int]:
    """(prompt, completion) tokens a chat completion reports; 0 for a server that reports none."""
    usage = completion.usage
    return (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)


def without_descriptions(schema: Any) -> Any:
    """``schema`` without its descriptions and titles: the shape alone, for a prompt that explains it."""
    if isinstance(schema, dict):
        return {k: without_descriptions(v) for k, v in schema.items() if k not in ("description", "title")}
    if isinstance(schema, list):
        return [without_descriptions(v) for v in schema]
    return schema


def files_client(connection: Connection) -> Any:
    """An ``openai.OpenAI`` client for the Files and Batches endpoints of ``connection`` (used by
    `pipeline.model.batchapi`, so that this stays the one module importing openai). Its own retries
    cover those few calls (connection errors, 429, 5xx); no reply-size cap: an output file holds every
    reply of a job."""
    return openai.OpenAI(api_key=connection.api_key or "not-needed", base_url=connection.base_url,
                         timeout=120.0, max_retries=3)


def api_failure(exc: BaseException | None) -> tuple[int | None, str] | None:
    """(HTTP status, message) of an error the openai client raised (status None: no connection);
    None for any other exception."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code, str(exc.message)
    if isinstance(exc, openai.APIConnectionError):
        return None, str(exc)
    return None


@lru_cache(maxsize=16)
def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _judge(reply: Reply, model: type[T], context: dict[str, Any], max_bytes: int) -> T | Attempt:
    """The validated object, or the failed attempt with every reason."""
    if reply.finish_reason == "too_large":
        return Attempt("invalid", None, [f"the reply was larger than {max_bytes} bytes and was refused unread; "
                                         "answer with the JSON object only, one short sentence per bullet"])
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


def _error_detail(exc: openai.APIStatusError, limit: int = 200) -> str:
    body = exc.body
    text = str(exc.message)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            text = str(inner["message"])
        elif isinstance(inner, str):
            text = inner
    return scrub(" ".join(text.split())[:limit])
