"""An in-process OpenAI chat-completions endpoint backed by llama.cpp, as an ``httpx2`` transport.

``openai.OpenAI(base_url=EMBEDDED_BASE_URL, http_client=local_http_client(settings))`` talks to the
embedded model exactly as it talks to a remote server, so the ``openai`` client stays the only LLM path.
Chosen over a loopback server subprocess because no port is opened at all, no process can outlive the
command, and the 1.1 GB model is loaded once per process without a readiness poll.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx2

from pipeline.core.config import Settings
from pipeline.core.errors import EmbeddedRequestError
from pipeline.model.embedded.install import LOCAL_MODEL_NAME, install_model
from pipeline.model.embedded.runtime import ChatModel, GrammarFactory, llama_grammar, load_llama, thread_counts

log = logging.getLogger(__name__)

EMBEDDED_BASE_URL = "http://embedded.local/v1"
EMBEDDED_API_KEY = "embedded"

# OpenAI request fields passed to llama.cpp unchanged; the rest are mapped or ignored.
_PASSTHROUGH = ("temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty")


def _error_response(status: int, message: str, code: str) -> httpx2.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return httpx2.Response(status, json=body)


def _text(content: Any) -> str:
    """Message content as plain text; OpenAI also allows a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def _normalize_messages(messages: Any) -> list[dict[str, str]]:
    """Map OpenAI messages onto the plain roles a GGUF chat template knows.

    Tool calls and tool results from a repair conversation become ordinary text, because the output
    is constrained by grammar rather than by the template's own tool-call syntax.
    """
    if not isinstance(messages, list) or not messages:
        raise EmbeddedRequestError(400, "'messages' must be a non-empty list")
    out: list[dict[str, str]] = []
    for msg in messages:
        if not isinstance(msg, dict):
            raise EmbeddedRequestError(400, "each message must be an object")
        role = msg.get("role")
        content = _text(msg.get("content"))
        if role == "developer":
            role = "system"
        elif role == "assistant" and not content and msg.get("tool_calls"):
            content = "\n".join(_text(c.get("function", {}).get("arguments")) for c in msg["tool_calls"])
        elif role == "tool":
            role, content = "user", f"Result of your tool call:\n{content}"
        if role not in ("system", "user", "assistant"):
            raise EmbeddedRequestError(400, f"unsupported message role {role!r}")
        out.append({"role": role, "content": content})
    return out


def _forced_tool(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tool whose arguments the reply must be, or None when no tool call is requested."""
    tools = body.get("tools")
    if not tools:
        return None
    choice = body.get("tool_choice", "auto")
    functions: list[dict[str, Any]] = [t.get("function", {}) for t in tools if isinstance(t, dict)]
    if choice == "none":
        return None
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name")
        for fn in functions:
            if fn.get("name") == name:
                return fn
        raise EmbeddedRequestError(400, f"tool_choice names {name!r}, which is not in 'tools'")
    if len(functions) == 1:
        return functions[0]
    raise EmbeddedRequestError(400, "the embedded model needs tool_choice to name one function when several "
                                    "tools are given")


def _schema_of(body: Mapping[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """The JSON schema the reply must follow (None: any), and whether the reply must be JSON at all."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") == "text":
        return None, False
    kind = fmt.get("type")
    if kind == "json_schema":
        schema: object = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise EmbeddedRequestError(400, "response_format json_schema needs json_schema.schema")
        return schema, True
    if kind == "json_object":
        loose: object = fmt.get("schema")
        return (loose if isinstance(loose, dict) else None), True
    raise EmbeddedRequestError(400, f"unsupported response_format type {kind!r}")


class LocalChatTransport(httpx2.BaseTransport):
    """Answers ``POST .../chat/completions`` in process; every other path gets a 404 JSON error.

    ``load`` returns the model (called lazily, once, on the first request); ``grammar`` turns a JSON
    schema into a llama.cpp grammar. Requests are serialized: one model, one context.
    """

    def __init__(self, load: Callable[[], ChatModel], grammar: GrammarFactory,
                 model_name: str = LOCAL_MODEL_NAME) -> None:
        self._load = load
        self._grammar = grammar
        self._model_name = model_name
        self._model: ChatModel | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Serve one OpenAI API request."""
        path = request.url.path.rstrip("/")
        if request.method == "GET" and path.endswith("/models"):
            data = [{"id": self._model_name, "object": "model", "created": 0, "owned_by": "embedded"}]
            return httpx2.Response(200, json={"object": "list", "data": data})
        if request.method != "POST" or not path.endswith("/chat/completions"):
            return _error_response(404, f"the embedded model serves only POST /v1/chat/completions, "
                                        f"not {request.method} {path}", "not_found")
        try:
            body = json.loads(request.read() or b"null")
            if not isinstance(body, dict):
                raise EmbeddedRequestError(400, "the request body must be a JSON object")
            return httpx2.Response(200, json=self._complete(body))
        except json.JSONDecodeError as exc:
            return _error_response(400, f"the request body is not JSON: {exc}", "invalid_json")
        except EmbeddedRequestError as exc:
            return _error_response(exc.status, str(exc), exc.code)

    def _complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("stream"):
            raise EmbeddedRequestError(400, "the embedded model does not stream; send stream=false")
        if body.get("n", 1) != 1:
            raise EmbeddedRequestError(400, "the embedded model returns one choice (n=1)")
        kwargs: dict[str, Any] = {"messages": _normalize_messages(body.get("messages"))}
        kwargs.update({k: body[k] for k in _PASSTHROUGH if body.get(k) is not None})
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        tool = _forced_tool(body)
        if tool is not None:
            schema, as_json = tool.get("parameters") or {"type": "object"}, True
        else:
            schema, as_json = _schema_of(body)
        if schema is not None:
            kwargs["grammar"] = self._grammar(schema)
        elif as_json:
            kwargs["response_format"] = {"type": "json_object"}
        # Failures of the local runtime are deterministic, so they get 4xx codes: a 5xx or a raised
        # exception would make the openai client and pipeline/model/llm.py retry a minutes-long request.
        with self._lock:
            if self._model is None:
                try:
                    self._model = self._load()
                except Exception as exc:  # ImportError, OSError, or llama-cpp's bare ValueError
                    raise EmbeddedRequestError(
                        422, f"the embedded model could not be loaded: {exc} (check it with "
                        "python -m pipeline local status)", "model_load_failed") from exc
            try:
                result = self._model.create_chat_completion(**kwargs)
            except ValueError as exc:
                # llama-cpp raises ValueError when the prompt does not fit the context window.
                code = "context_length_exceeded" if "context" in str(exc) else "invalid_request"
                raise EmbeddedRequestError(400, f"embedded model: {exc}", code) from exc
            except RuntimeError as exc:
                raise EmbeddedRequestError(422, f"embedded model failed: {exc}", "embedded_model_error") from exc
        return self._openai_reply(result, body, tool)

    def _openai_reply(self, result: Mapping[str, Any], body: Mapping[str, Any],
                      tool: Mapping[str, Any] | None) -> dict[str, Any]:
        choice = result["choices"][0]
        content = _text(choice.get("message", {}).get("content"))
        finish = choice.get("finish_reason") or "stop"
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool is not None:
            message["content"] = None
            message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                                      "function": {"name": tool.get("name", ""), "arguments": content}}]
            if finish == "stop":
                finish = "tool_calls"
        usage = result.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        completion_tokens = int(usage.get("completion_tokens", 0))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self._model_name,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


def local_transport(settings: Settings) -> LocalChatTransport:
    """The in-process transport answering chat completions with the embedded model.

    Joins the model parts first if that has not happened yet; the model itself loads on the first request.
    """
    path = install_model(settings)
    threads = thread_counts(settings)
    n_ctx = settings.local.context_tokens
    return LocalChatTransport(lambda: load_llama(path, n_ctx, threads), llama_grammar)


def local_http_client(settings: Settings, transport: httpx2.BaseTransport | None = None) -> httpx2.Client:
    """An ``httpx2.Client`` whose requests are answered by the embedded model, in process.

    Pass it to ``openai.OpenAI(base_url=EMBEDDED_BASE_URL, api_key=EMBEDDED_API_KEY, ...)``;
    ``transport`` wraps or replaces the local one (recording, replaying).
    """
    return httpx2.Client(transport=transport or local_transport(settings), base_url=EMBEDDED_BASE_URL,
                         timeout=settings.llm.timeout_for(False))
