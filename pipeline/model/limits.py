"""Bounds on one HTTP exchange with an LLM server: a wall-clock deadline and a reply-size cap.

``httpx2`` timeouts bound each socket operation, not a request: a server sending one byte a second
never trips a 2 s read timeout. `GuardedTransport` wraps the real transport so every request gets a
deadline: no single socket wait may outlast it, and the body stops at the first chunk that arrives
after it (so a request ends within the deadline plus one read timeout). The body is refused once it
grows past ``max_reply_bytes``, before anything parses it. Known gap: status line and headers trickled
byte by byte are bounded by the per-read timeout only (the transport sees the response after them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2

from pipeline.core.config import LLMSettings


class DeadlineExceeded(httpx2.ReadTimeout):
    """The request ran past its total deadline (a timeout: the openai client maps it to APITimeoutError)."""


class ReplyTooLarge(httpx2.TransportError):
    """The reply body grew past the size cap; it was not read further."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the reply is larger than {limit} bytes")


class _BoundedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, deadline: float, max_bytes: int) -> None:
        self._inner, self._deadline, self._max_bytes = inner, deadline, max_bytes

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > self._max_bytes:
                raise ReplyTooLarge(self._max_bytes)
            if time.monotonic() > self._deadline:
                raise DeadlineExceeded("the reply did not arrive within the request deadline")
            yield chunk

    def close(self) -> None:
        self._inner.close()


class GuardedTransport(httpx2.BaseTransport):
    """``inner`` with a total deadline per request and a cap on the reply body."""

    def __init__(self, inner: httpx2.BaseTransport, *, deadline_seconds: float, max_reply_bytes: int) -> None:
        self.inner, self.deadline_seconds, self.max_reply_bytes = inner, deadline_seconds, max_reply_bytes

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = time.monotonic() + self.deadline_seconds
        timeouts = dict(request.extensions.get("timeout") or {})
        # No single socket wait may outlast the deadline (a silent server, a slow connect).
        request.extensions["timeout"] = {k: min(v, self.deadline_seconds) if v is not None else self.deadline_seconds
                                         for k, v in {**dict.fromkeys(("connect", "read", "write", "pool")),
                                                      **timeouts}.items()}
        response = self.inner.handle_request(request)
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_reply_bytes:
            response.close()
            raise ReplyTooLarge(self.max_reply_bytes)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        response.stream = _BoundedStream(response.stream, deadline, self.max_reply_bytes)
        return response

    def close(self) -> None:
        self.inner.close()


def guarded_client(*, timeout_seconds: float, deadline_seconds: float, max_reply_bytes: int,
                   limits: httpx2.Limits | None = None,
                   transport: httpx2.BaseTransport | None = None) -> httpx2.Client:
    """An ``httpx2.Client`` for an LLM server whose every request is bounded in time and reply size."""
    inner = transport or httpx2.HTTPTransport(limits=limits or httpx2.Limits())
    return httpx2.Client(transport=GuardedTransport(inner, deadline_seconds=deadline_seconds,
                                                    max_reply_bytes=max_reply_bytes),
                         timeout=timeout_seconds, follow_redirects=True)


def deadline_for(settings: LLMSettings, timeout_seconds: float) -> float:
    """Wall-clock limit of one HTTP request: the setting, else twice the request's timeout."""
    return settings.deadline_seconds or 2 * timeout_seconds
