"""A loopback OpenAI-compatible fake server: fault injection for tests, a benchmark target, a keyless demo.

`FakeServer` answers ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1 only. Its normal
replies are valid for `pipeline.models` (`LLMSummary`, `EnglishPass` or `ChinesePass`, whichever the
request asks for): English bullets quote sentences of the paper text in the first user message verbatim,
so grounding passes; Chinese bullets are templated sentences around a term from the matching English
bullet. Faults (HTTP errors, hangs, broken or ungrounded JSON, refusals) are injected per request.

The paper text is the first user message, or the part inside ``<paper>...</paper>`` when present;
sentences that also occur in the system prompt or in an earlier assistant reply are never quoted, so a
re-ask after a rejected reply gets fresh evidence. The contract (single pass, English pass, Chinese pass)
is read from the json_schema / tool / ``response_format.schema``, else from a schema pasted in the prompt.
Requests in a structured-output mode missing from ``accept`` get HTTP 400 (as llama.cpp's server does
for ``json_schema``) and consume no fault. ``zh-in-en`` and ``bad-evidence`` only change replies that
carry English bullets; a Chinese pass is answered normally.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from pipeline import grounding
from pipeline.errors import ConfigError
from pipeline.models import FIELDS

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MODES = frozenset({"json_schema", "json_object", "tool"})
FAULTS = frozenset({"429", "500", "503", "401", "hang", "disconnect", "malformed", "truncated", "refusal",
                    "refusal-text", "zh-in-en", "bad-evidence"})
REFUSAL = "I'm sorry, I can't assist with that request."
Kind = Literal["single", "english", "chinese"]
Json = dict[str, Any]

_PAPER_TAG = re.compile(r"<paper>(.*?)</paper>", re.DOTALL | re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_HYPHEN_BREAK = re.compile(r"(\w)-\s*\n\s*(\w)")
# Instruction-like sentences are prompt text, not paper text: quoting them would fail grounding.
_INSTRUCTION = re.compile(r"\b(?:json|schema|bullets?|evidence|verbatim|you|your|answer|respond|"
                          r"summar\w*|translat\w*|chinese|english)\b")  # applied to lower-cased text
_ACRONYM = re.compile(r"\b[A-Z][A-Za-z]*[A-Z][A-Za-z]*\b")
_LABEL = re.compile(r"^[A-Z][\w()-]*(?: [\w()-]+){0,2}:\s")  # "Title: ..." is prompt layout, not paper
_BAD_CHARS = frozenset("{}<>")
_DIGIT = re.compile(r"[0-9]")
_WORD = re.compile(r"\b[A-Za-z]{6,}\b")
_REQUIRED = re.compile(r'"required"\s*:\s*\[([^\]]*)\]')
_EN_LEAD = {"problems": "The paper addresses the issue described as follows:",
            "motivation": "The key motivation of the approach is stated as follows:",
            "framework": "The overall framework is described by the authors as follows:"}
_ZH_TEMPLATES = {  # six per field: up to six parallel bullets, none repeated
    "problems": ["本文关注与{t}相关的核心问题，指出现有方法在这一方面仍有明显不足。",
                 "本文还讨论了{t}在实际场景中面临的困难和局限。",
                 "作者指出以往围绕{t}的工作难以兼顾效果与效率。",
                 "本文分析了{t}带来的额外挑战以及其产生的原因。",
                 "现有的{t}相关方法对标注数据依赖较强，泛化能力有限。",
                 "本文也注意到{t}在评测方式上存在的问题。"],
    "motivation": ["作者认为围绕{t}重新设计模型可以更好地解决上述问题。",
                   "本文的思路是充分利用{t}提供的信息来改进学习过程。",
                   "作者观察到{t}中蕴含的规律可以作为有效的监督信号。",
                   "本文希望借助{t}降低训练成本并提升稳定性。",
                   "作者的关键想法是让{t}与已有模块形成互补。",
                   "本文从{t}的角度出发重新审视了这一任务。"],
    "framework": ["整体框架以{t}为核心模块，并与其他组件协同工作。",
                  "框架中还设计了与{t}相关的结构，用于提升整体效果。",
                  "训练阶段，模型通过{t}联合优化多个目标。",
                  "推理阶段，框架利用{t}得到最终的预测结果。",
                  "作者在多个数据集上验证了{t}各个组件的作用。",
                  "框架最后通过{t}对结果进行整合与校正。"],
}
_SETTINGS = (("semi-supervised", "semi-supervised"), ("weakly", "weakly-supervised"),
             ("active learning", "active-learning"), ("zero-shot", "zero-shot"), ("few-shot", "few-shot"),
             ("unsupervised", "unsupervised"), ("supervised", "fully-supervised"))


# --------------------------------------------------------------------------- request parsing


def _content(message: Json) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def prompt_text(body: Json) -> str:
    """All message contents of a chat request, joined."""
    return "\n".join(_content(m) for m in body.get("messages", []) if isinstance(m, dict))


def request_mode(body: Json) -> tuple[str, Json | None, str]:
    """(structured-output mode, JSON schema if the request carries one, schema or tool name)."""
    if tools := body.get("tools"):
        function = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
        return "tool", function.get("parameters"), str(function.get("name", "summary"))
    response_format = body.get("response_format") or {}
    kind = response_format.get("type", "text")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        return "json_schema", spec.get("schema"), str(spec.get("name", "summary"))
    schema = response_format.get("schema")  # llama.cpp's json_object extension
    return str(kind), schema if isinstance(schema, dict) else None, ""


def detect_kind(body: Json) -> Kind:
    """Which contract the request asks for, from its schema, its name, or the schema text in its prompt."""
    _, schema, name = request_mode(body)
    props = set((schema or {}).get("properties", {}))
    text = prompt_text(body)
    if not props:
        for match in _REQUIRED.finditer(text):  # a schema pasted into the prompt (json_object mode)
            required = set(re.findall(r'"(\w+)"', match.group(1)))
            if required & {"en", "zh"}:
                props = required
                break
    if props & {"en", "zh"}:
        return "single" if {"en", "zh"} <= props else "english" if "en" in props else "chinese"
    hint = f"{name} {text}".lower()
    for word, kind in (("chinesepass", "chinese"), ("englishpass", "english"), ("llmsummary", "single")):
        if word in hint:
            return kind  # type: ignore[return-value]
    return "single"


# --------------------------------------------------------------------------- the deterministic summary


def _paper(body: Json) -> str:
    users = [_content(m) for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
    first = users[0] if users else ""
    tagged = _PAPER_TAG.search(first)
    return tagged.group(1) if tagged else first


def _paragraphs(text: str) -> Iterator[str]:
    """Lines joined back into paragraphs where a line wraps mid-sentence (headings stay apart)."""
    paragraph = ""
    for line in (ln.strip() for ln in text.splitlines()):
        last = paragraph[paragraph.rfind("\n") + 1:]
        if line and paragraph and (paragraph.endswith("-") or line[:1].islower() or (
                line[:1].isalpha() and last[-1:] not in ".!?:" and last.count(" ") >= 7)):
            paragraph += "\n" + line
            continue
        if paragraph:
            yield paragraph
        paragraph = line
    if paragraph:
        yield paragraph


def _clean(text: str) -> str:
    """Fold line-end hyphenation and whitespace the way grounding.normalize does, keeping case."""
    return " ".join(_HYPHEN_BREAK.sub(r"\1\2", text).split())


def quotes(paper: str, avoid: str = "", enough: int = 24) -> list[str]:
    """Sentences of ``paper`` that make good evidence (digit-free ones first), else word windows.

    Stops after ``enough`` digit-free sentences: a reply needs six, and scanning a whole paper per
    request would make the server CPU-bound under benchmark concurrency.
    """
    plain: list[str] = []
    numbered: list[str] = []
    seen: set[str] = set()
    for paragraph in _paragraphs(paper):
        for raw in _SENTENCE_END.split(paragraph):
            sentence = _clean(raw)
            low = sentence.lower()
            if (not 8 <= sentence.count(" ") + 1 <= 45 or len(sentence) > 400 or low in seen
                    or not _BAD_CHARS.isdisjoint(sentence) or _INSTRUCTION.search(low)
                    or (not sentence.isascii() and grounding.cjk_count(sentence))
                    or any(w in low for w in ("todo", "placeholder", "lorem", "to be", "generation failed"))
                    or _LABEL.match(sentence) or sentence in avoid):
                continue
            seen.add(low)
            (numbered if _DIGIT.search(sentence) else plain).append(sentence)
        if len(plain) >= enough:
            break
    good = plain if len(plain) >= 6 else plain + numbered
    if len(good) >= 3:
        return good
    words = [w for p in _paragraphs(paper) if not _INSTRUCTION.search(p.lower()) for w in _clean(p).split()]
    windows = [" ".join(words[i:i + 12]) for i in range(0, max(len(words) - 11, 0), 12)]
    return good + windows


def _term(text: str) -> str:
    """A short English term to keep inside a Chinese sentence: an acronym, else the longest long word."""
    if acronym := _ACRONYM.search(text):
        return acronym.group(0)
    words = sorted(_WORD.findall(text), key=len, reverse=True)
    return words[0] if words else "model"


def _spread(items: list[str], n: int) -> list[str]:
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else items[:1]


def english(paper: str, avoid: str = "") -> Json:
    """An `EnglishSummary` whose evidence quotes are copied from ``paper``: 2 bullets per field, or 1."""
    picked = quotes(paper, avoid)
    per_field = 2 if len(picked) >= 6 else 1
    picked = _spread(picked, per_field * len(FIELDS))
    source = grounding.normalize(paper) if any(_DIGIT.search(q) for q in picked) else ""
    summary: Json = {}
    for f, name in enumerate(FIELDS):
        bullets = summary[name] = []
        for quote in picked[f * per_field:(f + 1) * per_field] or picked[-1:]:
            text = quote
            if source and grounding.missing_numbers(quote, source):  # a number glued to text in the source
                text = _DIGIT.sub("", quote)
            bullets.append({"text": f"{_EN_LEAD[name]} {text}", "evidence": quote})
    return summary


def chinese(en: Mapping[str, Any]) -> Json:
    """A `ChineseSummary` parallel to the English bullets (counts per field), one term from each."""
    zh: Json = {}
    for name in FIELDS:
        bullets = en.get(name) or [{}, {}]
        texts = [str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in bullets[:6]]
        zh[name] = [_ZH_TEMPLATES[name][i].format(t=_term(t.removeprefix(_EN_LEAD[name])))
                    for i, t in enumerate(texts)]
    return zh


def _english_in_prompt(body: Json) -> Mapping[str, Any]:
    """The English bullets a translate request carries as JSON, or {} when there are none."""
    decoder = json.JSONDecoder()
    for message in body.get("messages", []):
        text = _content(message) if isinstance(message, dict) and message.get("role") == "user" else ""
        for start in (m.start() for m in re.finditer(r"\{", text)):
            try:
                value, _ = decoder.raw_decode(text, start)
            except ValueError:
                continue
            if isinstance(value, dict) and isinstance(value.get("en"), dict):
                return value["en"]  # type: ignore[no-any-return]
            if isinstance(value, dict) and isinstance(value.get("problems"), list):
                return value
    return {}


def _classify(paper: str) -> Json:
    paper = paper[:20000]  # the abstract and introduction say enough; whole papers cost CPU per request
    low = paper.lower()
    dim = "3D" if re.search(r"\b3d\b|volumetric", low) else "2D" if "image" in low else "N/A"
    setting = next((value for word, value in _SETTINGS if word in low), "other")
    tags = list(dict.fromkeys(a for a in _ACRONYM.findall(paper) if len(a) <= (6 if a.isupper() else 12)))[:3]
    return {"dim": dim, "setting": setting, "tags": tags}


def build_summary(body: Json, fault: str | None = None) -> Json:
    """The valid reply object for ``body``; ``zh-in-en`` and ``bad-evidence`` break it on purpose."""
    kind = detect_kind(body)
    # Quoting the prompt's own text, or repeating a reply the client already rejected, could never pass.
    avoid = "\n".join(_content(m) for m in body.get("messages", [])
                      if isinstance(m, dict) and m.get("role") in ("system", "assistant"))
    paper = _paper(body)
    en = _english_in_prompt(body) if kind == "chinese" else english(paper, avoid)
    reply: Json = {} if kind == "chinese" else {"en": en}
    if kind != "english":
        reply["zh"] = chinese(en)
    if kind != "chinese":
        reply.update(_classify(paper))
        first = reply["en"]["problems"][0]
        if fault == "zh-in-en":
            first["text"] = _ZH_TEMPLATES["problems"][0].format(t=_term(first["text"]))
        elif fault == "bad-evidence":
            first["evidence"] = "this sentence was invented by the fake server and is not in the paper"
    return reply


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

    def send_json(self, status: int, payload: Json, headers: Mapping[str, str] | None = None) -> None:
        """Write one JSON response."""
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            model = {"id": self.server.fake.model, "object": "model", "created": 0, "owned_by": "pipeline"}
            self.send_json(200, {"object": "list", "data": [model]})
        else:
            self.send_json(404, _error(f"unknown path {self.path}", "invalid_request_error"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
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
                 hang_seconds: float = 30.0, port: int = 0, model: str = "fake-model") -> None:
        fault_map = dict(fault_for or {})
        if isinstance(faults, Mapping):
            fault_map.update(faults)
            faults = None
        self.latency, self.retry_after, self.hang_seconds = latency, retry_after, hang_seconds
        self.accept = frozenset(accept if accept is not None else modes if modes is not None else MODES)
        self.port, self.model = port, model
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

    def handle(self, handler: _Handler, body: Json) -> None:
        """Answer one chat completion request (called from the handler thread)."""
        mode, _, name = request_mode(body)
        with self._lock:
            self._requests.append(body)
            self._count += 1
            number = self._count
            accepted = mode not in MODES or mode in self.accept
            fault = self._next_fault(prompt_text(body)) if accepted else None
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency:
                self._stop.wait(self.latency)
            if not accepted:
                param = "tools" if mode == "tool" else "response_format"
                handler.send_json(400, _error(f"'{mode}' is not supported by this server", "invalid_request_error",
                                              param=param))
            else:
                self._reply(handler, body, fault, mode, name, number)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _reply(self, handler: _Handler, body: Json, fault: str | None, mode: str, name: str, number: int) -> None:
        if fault in _STATUS_FAULTS:
            status, text, code = _STATUS_FAULTS[fault]
            headers = {"Retry-After": self.retry_after} if status == 429 else None
            kind = "invalid_request_error" if status == 401 else "server_error" if status >= 500 else "requests"
            handler.send_json(status, _error(text, kind, code=code), headers)
            return
        if fault in ("hang", "disconnect"):
            if fault == "hang":
                self._stop.wait(self.hang_seconds)
            handler.close_connection = True
            return
        content = json.dumps(build_summary(body, fault), ensure_ascii=False)
        finish = "tool_calls" if mode == "tool" else "stop"
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
        handler.send_json(200, {
            "id": f"chatcmpl-fake-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": str(body.get("model") or self.model), "system_fingerprint": "pipeline-devserver",
            "choices": [{"index": 0, "message": reply, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })


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
