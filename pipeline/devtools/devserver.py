"""A loopback OpenAI-compatible fake server: fault injection for tests, a benchmark target, a keyless demo.

`FakeServer` answers ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1 only, and a
provider's Files and Batches endpoints (`pipeline.devtools.devbatch`: ``batch_expire``, ``batch_polls``,
``batch_create_delay``). Its normal
replies (`pipeline.devtools.devreplies`) are valid and grounded for whichever contract the request asks for.
Faults (HTTP errors, hangs, broken or ungrounded JSON, refusals) are injected per request.

The paper text is the first user message, or the part inside ``<paper>...</paper>`` when present;
sentences that also occur in the system prompt or in an earlier assistant reply are never quoted, so a
re-ask after a rejected reply gets fresh evidence. The contract (single pass, English pass, Chinese pass)
is read from the json_schema / tool / ``response_format.schema``, else from a schema pasted in the prompt.
Requests in a structured-output mode missing from ``accept`` get HTTP 400 and consume no fault; with
``reject_as="llama.cpp"`` they get what llama-cpp-python's server (0.3.x) answers to a ``json_schema``
response format: HTTP 500 carrying its request validation error (`LLAMA_CPP_REJECTION`). With
``context_tokens`` a request whose prompt and ``max_tokens`` exceed it gets that server's HTTP 400
(`context_error`). ``trickle`` sends the body one byte per that many seconds; the ``huge`` fault pads
the reply to ``huge_bytes``. ``zh-in-en`` and ``bad-evidence`` only change replies that carry English
bullets; a Chinese pass is answered normally.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from pipeline.core.errors import ConfigError
from pipeline.devtools.devbatch import BatchFake
from pipeline.devtools.devreplies import Json, build_summary, prompt_text, request_mode

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MODES = frozenset({"json_schema", "json_object", "tool"})
FAULTS = frozenset({"429", "500", "503", "401", "hang", "disconnect", "malformed", "truncated", "refusal",
                    "refusal-text", "zh-in-en", "bad-evidence", "huge"})
REFUSAL = "I'm sorry, I can't assist with that request."
# What llama-cpp-python 0.3.36's server (`python -m llama_cpp.server`, FastAPI 0.165) answers, as HTTP 500
# with type "internal_server_error", to a chat request whose response_format is json_schema: its
# RouteErrorHandler turns the request validation error into str(error). Captured from the real server.
LLAMA_CPP_REJECTION = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n  File \"/usr/lib/python3/site-packages/llama_cpp/"
    "server/app.py\", line 376, in create_chat_completion\n    POST /v1/chat/completions")


def context_error(window: int, prompt_tokens: int, completion_tokens: int) -> str:
    """llama-cpp-python's server's context-overflow message (OpenAI's wording), sent as HTTP 400."""
    return (f"This model's maximum context length is {window} tokens. However, you requested "
            f"{prompt_tokens + completion_tokens} tokens ({prompt_tokens} in the messages, {completion_tokens} "
            "in the completion). Please reduce the length of the messages or completion.")

# --------------------------------------------------------------------------- HTTP


_STATUS_FAULTS = {"429": (429, "Rate limit reached; retry later.", "rate_limit_exceeded"),
                  "500": (500, "The server had an error processing your request.", "server_error"),
                  "503": (503, "The server is overloaded; retry later.", "server_error"),
                  "401": (401, "Incorrect API key provided.", "invalid_api_key")}


def _error(message: str, kind: str, code: str | None = None, param: str | None = None) -> Json:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of concurrent connections

    def __init__(self, port: int, fake: FakeServer) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        super().__init__((HOST, port), _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skips HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = HOST, self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: Nagle would add ~40 ms
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def send_json(self, status: int, payload: Json, headers: Mapping[str, str] | None = None,
                  trickle: float = 0.0) -> None:
        """Write one JSON response (one byte per ``trickle`` seconds when set, until the server stops)."""
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not trickle:
            self.wfile.write(data)
            return
        self.wfile.flush()
        for i in range(len(data)):
            if self.server.fake._stop.wait(trickle):
                return
            try:
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
            except OSError:  # the client gave up
                return

    def send_bytes(self, data: bytes) -> None:
        """Write one binary response (a batch output file)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def batch_api(self, method: str, raw: bytes = b"") -> bool:
        """Answer a Files or Batches request; False when the path is neither."""
        path = self.path.split("/v1", 1)[1] if self.path.startswith("/v1/") else self.path
        answer = self.server.fake.batches.route(method, path, self.headers.get("Content-Type", ""), raw)
        if answer is None:
            return False
        status, payload = answer
        if isinstance(payload, bytes):
            self.send_bytes(payload)
        else:
            self.send_json(status, payload)
        return True

    def do_GET(self) -> None:
        if self.batch_api("GET"):
            return
        if self.path.rstrip("/").endswith("/models"):
            model = {"id": self.server.fake.model, "object": "model", "created": 0, "owned_by": "pipeline"}
            self.send_json(200, {"object": "list", "data": [model]})
        else:
            self.send_json(404, _error(f"unknown path {self.path}", "invalid_request_error"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.batch_api("POST", raw):
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_json(404, _error(f"unknown path {self.path}", "invalid_request_error"))
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ValueError("'messages' must be a list")
            if body.get("stream"):
                raise ValueError("streaming is not supported by this fake server")
        except ValueError as exc:
            self.send_json(400, _error(f"invalid request body: {exc}", "invalid_request_error"))
            return
        self.server.fake.handle(self, body)


class FakeServer:
    """Loopback OpenAI-compatible server; use as a context manager (``with FakeServer() as s:``).

    ``faults`` are consumed one per accepted request, in order; ``fault_for`` maps a substring of the
    prompt (e.g. a paper title) to faults for matching requests only, and takes precedence. A fault name
    ending in ``*`` is never consumed (fails every matching request). Passing a mapping as ``faults``
    means ``fault_for``; ``modes`` is an alias of ``accept``.
    """

    def __init__(self, latency: float = 0.0, faults: Sequence[str] | Mapping[str, list[str]] | None = None, *,
                 accept: set[str] | frozenset[str] | None = None, modes: set[str] | None = None,
                 fault_for: Mapping[str, list[str]] | None = None, retry_after: str = "1",
                 hang_seconds: float = 30.0, port: int = 0, model: str = "fake-model",
                 reject_as: str = "openai", context_tokens: int | None = None, trickle: float = 0.0,
                 huge_bytes: int = 20 * 1024 * 1024, batch_expire: Sequence[str] = (), batch_polls: int = 0,
                 batch_create_delay: float = 0.0) -> None:
        fault_map = dict(fault_for or {})
        if isinstance(faults, Mapping):
            fault_map.update(faults)
            faults = None
        self.latency, self.retry_after, self.hang_seconds = latency, retry_after, hang_seconds
        self.accept = frozenset(accept if accept is not None else modes if modes is not None else MODES)
        self.port, self.model = port, model
        if reject_as not in ("openai", "llama.cpp"):
            raise ValueError(f"unknown reject_as {reject_as!r}; known: openai, llama.cpp")
        self.reject_as, self.context_tokens, self.trickle, self.huge_bytes = \
            reject_as, context_tokens, trickle, huge_bytes
        self._faults = list(faults or [])
        self._fault_for = {key: list(value) for key, value in fault_map.items()}
        for name in self._faults + [f for v in self._fault_for.values() for f in v]:
            if name.rstrip("*") not in FAULTS:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
        if unknown := self.accept - MODES:
            raise ValueError(f"unknown output modes {sorted(unknown)}; known: {sorted(MODES)}")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._requests: list[Json] = []
        self._count = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.batches = BatchFake(self.batch_item, expire=batch_expire, polls=batch_polls,
                                 create_delay=batch_create_delay, stop=self._stop)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        if self._server is None:
            raise RuntimeError("FakeServer is not running; use it as a context manager")
        return f"http://{HOST}:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[Json]:
        """A copy of every chat request body received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def count_for(self, substring: str) -> int:
        """How many chat requests had ``substring`` in their messages."""
        return sum(1 for body in self.requests if substring in prompt_text(body))

    def start(self) -> FakeServer:
        """Bind 127.0.0.1 and serve in a daemon thread (a no-op when already running)."""
        if self._server is not None:
            return self
        self._server = _Server(self.port, self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-openai",
                                        daemon=True)  # a short poll interval makes exit prompt
        self._thread.start()
        log.debug("fake OpenAI server on %s", self.base_url)
        return self

    def close(self) -> None:
        """Stop serving, wake hanging handlers, drop open connections and join the server thread."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            for connection in list(self._server.connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _next_fault(self, text: str) -> str | None:
        queue = next((q for key, q in self._fault_for.items() if key in text and q), None)
        queue = queue if queue is not None else self._faults
        if not queue:
            return None
        return queue[0].rstrip("*") if queue[0].endswith("*") else queue.pop(0)

    def _admit(self, body: Json, mode: str) -> tuple[int, bool, str | None]:
        """Record a request (the caller holds the lock): its number, whether its output mode is
        accepted, and the fault it draws."""
        self._requests.append(body)
        self._count += 1
        accepted = mode not in MODES or mode in self.accept
        return self._count, accepted, self._next_fault(prompt_text(body)) if accepted else None

    def handle(self, handler: _Handler, body: Json) -> None:
        """Answer one chat completion request (called from the handler thread)."""
        mode, _, name = request_mode(body)
        with self._lock:
            number, accepted, fault = self._admit(body, mode)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency:
                self._stop.wait(self.latency)
            prompt_tokens = max(1, len(json.dumps(body.get("messages", []), ensure_ascii=False)) // 4)
            completion_tokens = int(body.get("max_tokens") or 0)
            if not accepted and self.reject_as == "llama.cpp" and mode == "json_schema":
                handler.send_json(500, _error(LLAMA_CPP_REJECTION, "internal_server_error"))
            elif not accepted:
                param = "tools" if mode == "tool" else "response_format"
                handler.send_json(400, _error(f"'{mode}' is not supported by this server", "invalid_request_error",
                                              param=param))
            elif self.context_tokens and prompt_tokens + completion_tokens > self.context_tokens:
                handler.send_json(400, _error(context_error(self.context_tokens, prompt_tokens, completion_tokens),
                                              "invalid_request_error", code="context_length_exceeded",
                                              param="messages"))
            else:
                self._reply(handler, body, fault, mode, name, number)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _reply(self, handler: _Handler, body: Json, fault: str | None, mode: str, name: str, number: int) -> None:
        if fault in ("hang", "disconnect"):
            if fault == "hang":
                self._stop.wait(self.hang_seconds)
            handler.close_connection = True
            return
        status, payload, headers = self.completion(body, fault, mode, name, number)
        handler.send_json(status, payload, headers, trickle=self.trickle if status == 200 else 0.0)

    def completion(self, body: Json, fault: str | None, mode: str, name: str,
                   number: int) -> tuple[int, Json, dict[str, str] | None]:
        """(HTTP status, JSON body, headers) of the answer to one chat request with ``fault``."""
        if fault in _STATUS_FAULTS:
            status, text, code = _STATUS_FAULTS[fault]
            headers = {"Retry-After": self.retry_after} if status == 429 else None
            kind = "invalid_request_error" if status == 401 else "server_error" if status >= 500 else "requests"
            return status, _error(text, kind, code=code), headers
        if fault in ("hang", "disconnect"):  # in a batch job: the item fails as a server error
            return 500, _error("The server had an error processing your request.", "server_error"), None
        content = json.dumps(build_summary(body, fault), ensure_ascii=False)
        finish = "tool_calls" if mode == "tool" else "stop"
        if fault == "huge":
            content = content[:-1] + ', "padding": "' + "x" * self.huge_bytes + '"}'
        if fault == "malformed":
            content = content.replace('":', '" =', 3)[:-1]
        elif fault == "truncated":
            content, finish = content[: len(content) // 2], "length"
        reply: Json = {"role": "assistant", "content": content, "refusal": None}
        if fault == "refusal":
            reply.update(content=None, refusal=REFUSAL)
            finish = "stop"
        elif fault == "refusal-text":
            reply["content"], finish = "I'm sorry, I can't help with that.", "stop"
        elif mode == "tool":
            reply["content"] = None
            reply["tool_calls"] = [{"id": f"call_fake_{number}", "type": "function",
                                    "function": {"name": name, "arguments": content}}]
        prompt_tokens = max(1, len(json.dumps(body.get("messages", []), ensure_ascii=False)) // 4)
        completion_tokens = max(1, len(content) // 4)
        return 200, {
            "id": f"chatcmpl-fake-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": str(body.get("model") or self.model), "system_fingerprint": "pipeline-devserver",
            "choices": [{"index": 0, "message": reply, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }, None

    def batch_item(self, body: Json) -> tuple[int, Json]:
        """Answer one request of a batch job as the chat endpoint would: (HTTP status, JSON body).

        Counted in `requests` and consuming faults like a live request; a mode the server does not
        accept is answered with HTTP 400."""
        mode, _, name = request_mode(body)
        with self._lock:
            number, accepted, fault = self._admit(body, mode)
        if not accepted:
            return 400, _error(f"'{mode}' is not supported by this server", "invalid_request_error")
        status, payload, _ = self.completion(body, fault, mode, name, number)
        return status, payload


def serve(port: int = 8089, latency: float = 0.0, only_json_object: bool = False, *,
          on_ready: Callable[[FakeServer], None] | None = None, stop: threading.Event | None = None) -> None:
    """Run a `FakeServer` until ``stop`` is set or Ctrl-C (the ``dev-server`` command)."""
    accept = frozenset({"json_object"}) if only_json_object else MODES
    server = FakeServer(latency, accept=accept, port=port)
    try:
        server.start()
    except (OSError, OverflowError) as exc:  # OverflowError: a port outside 0-65535
        raise ConfigError(f"dev-server cannot listen on {HOST}:{port}: {getattr(exc, 'strerror', None) or exc}",
                          hint="pick another --port, or --port 0 for a free one") from exc
    with server:
        if on_ready is not None:
            on_ready(server)
        (stop or threading.Event()).wait()
