"""Which connection and profile a configured server gets (issue 12, rows 1 and 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.config import load_settings
from pipeline.devtools.devserver import FakeServer
from pipeline.model.backend import is_small_model, select_backend


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PIPELINE_CACHE_DIR": str(tmp_path / "cache"), "OPENAI_API_KEY": "test-key", **extra}


def test_credentials_in_the_base_url_never_reach_the_host_or_the_cache_key(tmp_path: Path) -> None:
    settings = load_settings(_env(tmp_path, OPENAI_BASE_URL="https://alice:S3cret@llm.example:8443/v1?key=K3y"))
    connection, _ = select_backend(settings)
    assert connection.host == "llm.example:8443" and connection.id == "llm.example:8443|gpt-4o-mini"


def test_a_server_on_this_machine_gets_a_longer_default_timeout(tmp_path: Path) -> None:
    remote, _ = select_backend(load_settings(_env(tmp_path, OPENAI_BASE_URL="https://llm.example/v1",
                                                  PIPELINE_PROFILE="remote")))
    local, _ = select_backend(load_settings(_env(tmp_path, OPENAI_BASE_URL="http://127.0.0.1:9/v1",
                                                 PIPELINE_PROFILE="remote")))
    assert (remote.timeout_seconds, remote.loopback) == (120.0, False)
    assert local.timeout_seconds == 900.0 and local.loopback
    set_by_hand, _ = select_backend(load_settings(_env(tmp_path, OPENAI_BASE_URL="http://127.0.0.1:9/v1",
                                                       PIPELINE_PROFILE="remote", PIPELINE_TIMEOUT="30")))
    assert set_by_hand.timeout_seconds == 30.0


@pytest.mark.parametrize("model,small", [("qwen2.5-1.5b-instruct", True), ("Llama-3.2-3B-Instruct", True),
                                         ("qwen2-0.5b", True), ("tinyllama-chat", True), ("gpt-4o-mini", False),
                                         ("llama-3.1-8b", False), ("llama-2-13b", False), ("gpt-4.1-nano", False)])
def test_small_model_ids(model: str, small: bool) -> None:
    assert is_small_model(model) is small


def test_a_server_listing_a_small_model_gets_the_small_profile(tmp_path: Path) -> None:
    with FakeServer(model="/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf") as server:
        _, profile = select_backend(load_settings(_env(tmp_path, OPENAI_BASE_URL=server.base_url)))
        _, forced = select_backend(load_settings(_env(tmp_path, OPENAI_BASE_URL=server.base_url,
                                                      PIPELINE_PROFILE="remote")))
    assert profile.translate and profile.translate_per_bullet and profile.budget_tokens == 1600
    assert not forced.translate and forced.budget_tokens == 6000
    _, named = select_backend(load_settings(_env(tmp_path, OPENAI_BASE_URL="https://llm.example/v1",
                                                 PIPELINE_MODEL="llama-3.2-3b-instruct")))
    assert named.budget_tokens == 1600
