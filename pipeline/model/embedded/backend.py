"""The embedded model as the LLM seam sees it: its connection and its prompting profile.

The profile suits a 1.5B model: a small input budget, English first and then Chinese bullet by bullet,
no worked example (it copies the example's quotes), the bullet counts fixed by the grammar, and re-asks
that do not repeat its rejected reply (it would copy that verbatim).
"""

from __future__ import annotations

import dataclasses

import httpx2

from pipeline.core.config import Settings
from pipeline.model.backend import Backend, Connection, Profile, small_profile
from pipeline.model.embedded.install import LOCAL_MODEL_NAME
from pipeline.model.embedded.transport import EMBEDDED_API_KEY, EMBEDDED_BASE_URL

LOCAL_TRANSLATE = True
"""Small models write clean Chinese only when translating their own English JSON (issue 4)."""


def embedded_connection(settings: Settings, http_client: httpx2.Client) -> Connection:
    """The embedded model, answered in process through ``http_client`` (see `local_http_client`)."""
    return Connection(backend="local", model=LOCAL_MODEL_NAME, host="embedded", base_url=EMBEDDED_BASE_URL,
                      api_key=EMBEDDED_API_KEY, timeout_seconds=settings.llm.timeout_for(False),
                      http_client=http_client)


def embedded_profile(settings: Settings) -> Profile:
    """The small-model profile (`pipeline.model.backend.small_profile`), with what the in-process
    llama.cpp changes: its grammar enforces the schema, string lengths included, so the prompt need not
    state it, and its context is known, so a reply keeps the default room."""
    small = small_profile(settings)
    return dataclasses.replace(small, schema_in_prompt=False, compact_schema=False, grammar_lengths=True,
                               min_reply_tokens=Profile().min_reply_tokens)


def embedded_backend(settings: Settings, http_client: httpx2.Client) -> Backend:
    """The embedded model's connection and profile."""
    return Backend(embedded_connection(settings, http_client), embedded_profile(settings))
