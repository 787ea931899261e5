"""Record and replay HTTP exchanges of the LLM seam (the third tier of test doubles).

A cassette is a JSON file of request/response pairs in order. Recording scrubs credentials from
requests and keeps only the content type of responses, so no key, cookie or organisation id can
reach the repository. Replaying checks each request against the recorded one, so a cassette that no
longer matches the prompts fails loudly instead of answering the wrong question.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx2

SCRUBBED_REQUEST_HEADERS = {"authorization", "cookie", "openai-organization", "openai-project", "x-api-key",
                            "api-key"}
KEPT_REQUEST_HEADERS = {"content-type"}
KEPT_RESPONSE_HEADERS = {"content-type"}


def _body_sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _outline(content: bytes) -> dict[str, Any]:
    """Model, output mode and message sizes of a chat request, without its text."""
    try:
        body = json.loads(content)
    except ValueError:
        return {"bytes": len(content)}
    if not isinstance(body, dict):
        return {"bytes": len(content)}
    messages = body.get("messages") or []
    format_ = body.get("response_format") or {}
    return {
        "model": body.get("model"), "temperature": body.get("temperature"),
        "output": format_.get("type") if isinstance(format_, dict) else None,
        "messages": [{"role": m.get("role"), "chars": len(str(m.get("content") or ""))}
                     for m in messages if isinstance(m, dict)],
    }


class RecordingTransport(httpx2.BaseTransport):
    """Passes requests to ``inner`` and keeps a scrubbed copy of every exchange."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[dict[str, Any]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        content = response.read()
        self.exchanges.append({
            "request": {
                "method": request.method, "path": request.url.path,
                "headers": {k: v for k, v in request.headers.items() if k.lower() in KEPT_REQUEST_HEADERS},
                # Only a digest and an outline of the request: its body holds the paper's text, which
                # (for third-party papers) must not be copied into the repository.
                "body_sha256": _body_sha(request.content), "outline": _outline(request.content),
            },
            "response": {
                "status": response.status_code,
                "headers": {k: v for k, v in response.headers.items() if k.lower() in KEPT_RESPONSE_HEADERS},
                "body": json.loads(content) if content else None,
            },
        })
        return httpx2.Response(response.status_code, headers=response.headers, content=content,
                               request=request)

    def save(self, path: Path, meta: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"meta": meta, "exchanges": self.exchanges}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


class CassetteMismatch(AssertionError):
    """The code sent a request the cassette did not record: re-record it."""


class ReplayTransport(httpx2.BaseTransport):
    """Answers requests from a cassette, in order, checking each request matches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.exchanges: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["exchanges"]
        self.used = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.used >= len(self.exchanges):
            raise CassetteMismatch(f"{self.path.name}: request {self.used + 1} was never recorded")
        recorded = self.exchanges[self.used]
        self.used += 1
        expected = recorded["request"]
        if (request.method, request.url.path) != (expected["method"], expected["path"]) or \
                _body_sha(request.content) != expected["body_sha256"]:
            raise CassetteMismatch(
                f"{self.path.name}: request {self.used} differs from the recording (prompt, text or "
                "schema changed); re-record with `python bench/local_papers.py --record`")
        reply = recorded["response"]
        return httpx2.Response(reply["status"], headers=reply["headers"],
                               content=json.dumps(reply["body"]).encode(), request=request)
