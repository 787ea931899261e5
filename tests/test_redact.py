"""Credentials never reach a message or a record (issue 12, row 1)."""

from __future__ import annotations

import pytest

from pipeline.core.errors import LLMError
from pipeline.core.redact import endpoint_host, is_loopback, scrub


@pytest.mark.parametrize("text,expected", [
    ("http://alice:S3cret@127.0.0.1:8080/v1", "http://***@127.0.0.1:8080/v1"),
    ("see https://bob@host.example/v1/chat", "see https://***@host.example/v1/chat"),
    ("https://h.example/v1?key=S3cret&model=m", "https://h.example/v1?key=***&model=m"),
    ("https://h.example/v1?x=1&api_key=S3cret", "https://h.example/v1?x=1&api_key=***"),
    ("api_key=S3cret given", "api_key=*** given"),
    ("Authorization: Bearer S3cretS3cret", "Authorization: Bearer ***"),
    ("plain text, no URL", "plain text, no URL"),
])
def test_scrub(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("url,host", [
    ("http://alice:S3cret@127.0.0.1:8080/v1", "127.0.0.1:8080"),
    ("https://api.example.com/v1?key=S3cret", "api.example.com"),
    ("http://[::1]:9000/v1", "[::1]:9000"),
    (None, "api.openai.com"),
])
def test_endpoint_host_is_host_and_port_only(url: str | None, host: str) -> None:
    assert endpoint_host(url) == host


def test_loopback() -> None:
    assert is_loopback("http://127.0.0.1:1/v1") and is_loopback("http://localhost/v1")
    assert is_loopback("http://[::1]:8/v1") and not is_loopback("https://api.openai.com/v1")
    assert not is_loopback(None)


def test_every_pipeline_error_message_is_scrubbed() -> None:
    error = LLMError("request to http://alice:S3cret@127.0.0.1:1/v1 failed", hint="see ?token=S3cret")
    assert "S3cret" not in str(error)
