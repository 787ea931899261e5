"""Recording scrubs credentials and identifying headers from requests and responses."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from cassette import CassetteMismatch, RecordingTransport, ReplayTransport


def test_recording_scrubs_secrets_and_replay_matches_requests(tmp_path: Path) -> None:
    def upstream(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"ok": True}, headers={
            "set-cookie": "session=abc", "openai-organization": "org-secret", "x-request-id": "req_1"})

    recorder = RecordingTransport(httpx2.MockTransport(upstream))
    client = httpx2.Client(transport=recorder)
    client.post("http://x.test/v1/chat/completions", json={"q": 1}, headers={
        "Authorization": "Bearer sk-fake-1", "Cookie": "c=1", "OpenAI-Project": "proj_9"})
    path = tmp_path / "c.json"
    recorder.save(path, {"note": "test"})
    text = path.read_text(encoding="utf-8")
    for secret in ("sk-fake", "Bearer", "c=1", "proj_9", "org-secret", "session=abc", "req_1"):
        assert secret not in text
    replay = httpx2.Client(transport=ReplayTransport(path))
    assert replay.post("http://x.test/v1/chat/completions", json={"q": 1}).json() == {"ok": True}
    with pytest.raises(CassetteMismatch):
        replay.post("http://x.test/v1/chat/completions", json={"q": 1})  # nothing more was recorded
    other = httpx2.Client(transport=ReplayTransport(path))
    with pytest.raises(CassetteMismatch):
        other.post("http://x.test/v1/chat/completions", json={"q": 2})
    assert "body" not in json.loads(text)["exchanges"][0]["request"]  # a digest only: no paper text
