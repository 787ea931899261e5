"""The embedded model as the LLM seam sees it: its connection and its prompting profile.

The profile suits a 1.5B model: a small input budget, English first and then Chinese bullet by bullet,
no worked example (it copies the example's quotes), the bullet counts fixed by the grammar, and re-asks
that do not repeat its rejected reply (it would copy that verbatim).
"""

from __future__ import annotations

import httpx2

from pipeline.core.config import Settings
from pipeline.model.backend import SMALL_REPLY_TOKENS, Backend, Connection, Profile
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
    """The input budget and passes that suit the small embedded model."""
    translate = settings.llm.translate if settings.llm.translate is not None else LOCAL_TRANSLATE
    return Profile(translate=translate, budget_tokens=settings.local.budget_tokens, schema_in_prompt=False,
                   bullets=(2, 2), reask_with_reply=False, prompt_example=False, translate_per_bullet=True,
                   restate_copies=False, restate_from_chinese=translate, translation_repairs=1,
                   max_reply_tokens=SMALL_REPLY_TOKENS, grammar_lengths=True)


def embedded_backend(settings: Settings, http_client: httpx2.Client) -> Backend:
    """The embedded model's connection and profile."""
    return Backend(embedded_connection(settings, http_client), embedded_profile(settings))
