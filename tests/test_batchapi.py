"""The Batch API seam (`model/batchapi.py`) through the real openai client against the fake Files and
Batches endpoints (`devtools/devbatch.py`)."""

from __future__ import annotations

import json

import openai
import pytest

from pipeline.core.errors import LLMError, LLMTransportError
from pipeline.devtools.devserver import FakeServer
from pipeline.model.backend import Connection
from pipeline.model.batchapi import BatchAPI, request_line, result_lines


def api_for(server: FakeServer) -> BatchAPI:
    return BatchAPI(Connection("remote", "fake-model", "127.0.0.1", base_url=server.base_url, api_key="k"))


def lines(*words: str) -> bytes:
    return "".join(request_line(f"key{i}|all|1", {"model": "fake-model", "messages": [
        {"role": "user", "content": f"say {w}"}]}) + "\n" for i, w in enumerate(words)).encode()


def test_upload_create_poll_and_read_partial_output_with_an_error_line_per_item() -> None:
    with FakeServer(batch_polls=1, batch_expire=["late"], fault_for={"broken": ["500"]}) as server:
        api = api_for(server)
        job = api.submit(lines("hello", "late", "broken"), name="round1.jsonl", token="tok-1")
        assert job.status == "validating" and not job.finished
        assert api.find("tok-1") == job and api.find("tok-2") is None
        assert api.retrieve(job.id).status == "in_progress"  # the first poll: still running
        done = api.retrieve(job.id)
        assert done.status == "expired" and done.finished and (done.total, done.completed, done.failed) == (3, 1, 2)
        assert done.output_file_id and done.error_file_id
        output = list(result_lines(api.content(done.output_file_id), "output"))
        errors = {e["custom_id"]: e for e in result_lines(api.content(done.error_file_id), "errors")}
    assert [o["custom_id"] for o in output] == ["key0|all|1"] and output[0]["response"]["status_code"] == 200
    assert errors["key1|all|1"]["error"]["code"] == "batch_expired" and errors["key1|all|1"]["response"] is None
    assert errors["key2|all|1"]["response"]["status_code"] == 500
    assert len(server.requests) == 2  # the expired one never ran


def test_result_lines_skip_what_names_no_request(caplog: pytest.LogCaptureFixture) -> None:
    data = b'{"custom_id": "a|all|1", "response": null}\nnot json\n{"no": "id"}\n\n'
    assert [line["custom_id"] for line in result_lines(data, "out.jsonl")] == ["a|all|1"]
    assert "out.jsonl:2: not JSON" in caplog.text and "out.jsonl:3: no custom_id" in caplog.text


def test_a_request_line_is_openai_batch_format() -> None:
    line = json.loads(request_line("k|all|1", {"model": "m"}))
    assert line == {"custom_id": "k|all|1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}


def test_errors_name_the_endpoint_and_what_to_do() -> None:
    with FakeServer() as server:
        api = api_for(server)
        with pytest.raises(LLMError, match=r"^127.0.0.1 knows no batch job nope \(HTTP 404\) \(was it made"):
            api.retrieve("nope")
        url = server.base_url
    closed = BatchAPI(Connection("remote", "m", "127.0.0.1", base_url=url, api_key="k"),
                      client=openai.OpenAI(api_key="k", base_url=url, max_retries=0))
    with pytest.raises(LLMTransportError, match=r"could not reach 127\.0\.0\.1 to read batch job x"):
        closed.retrieve("x")
