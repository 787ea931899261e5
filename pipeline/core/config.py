"""Typed, nested settings; every option is described. Core module: no I/O.

Settings come from defaults, then the environment (passed in explicitly by the caller, so this
module never reads ``os.environ`` itself), then command-line flags applied by the CLI.
Secrets (the API key) are held as ``SecretStr`` and excluded from every dump.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from pipeline.core.errors import ConfigError

DEFAULT_USER_AGENT = "pipeline/0.1 (research-paper list curation tool; polite arXiv client)"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ArxivSettings(_Section):
    api_url: str = Field("https://export.arxiv.org/api/query", description="arXiv Atom API endpoint.")
    delay_seconds: float = Field(
        3.0, ge=0, description="Minimum pause between two requests to arXiv (their terms ask for 3 s)."
    )
    user_agent: str = Field(DEFAULT_USER_AGENT, description="User-Agent sent to arXiv and PDF hosts.")
    timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one HTTP request.")
    max_attempts: int = Field(4, ge=1, description="Transport attempts per request (timeouts, 429, 5xx).")


class PdfSettings(_Section):
    max_bytes: int = Field(50 * 1024 * 1024, gt=0, description="Largest PDF accepted, in bytes.")
    max_pages: int = Field(300, gt=0, description="Largest page count accepted.")
    budget_tokens: int = Field(
        6000, gt=0, description="Token budget of the text selection sent to a remote model."
    )
    download_deadline_seconds: float = Field(
        300.0, gt=0, description="Wall-clock limit of one PDF download: every attempt, redirect and body "
        "byte (a server trickling bytes never trips the per-read timeout).")
    max_redirects: int = Field(5, ge=0, description="Redirects followed for one PDF download.")
    allow_private_urls: bool = Field(
        False, description="Fetch PDFs from private, loopback and link-local addresses too "
        "(PIPELINE_ALLOW_PRIVATE_URLS=1); off, a link or redirect to 127.0.0.1, 10.x, 169.254.x ... is refused.")
    extract_seconds: float = Field(
        60.0, gt=0, description="Time budget of the text extraction of one paper, checked between pages.")
    max_page_content_bytes: int = Field(
        8 * 1024 * 1024, gt=0, description="Largest decompressed content of one page (the largest of the "
        "test papers has 84 KB); a page over it (e.g. 74 MB of whitespace in a 72 KB file) stops the extraction.")


class FilesSettings(_Section):
    yaml_max_bytes: int = Field(
        4 * 1024 * 1024, gt=0, description="Largest papers.yaml or summary file read, in bytes.")
    yaml_max_nodes: int = Field(
        100_000, gt=0, description="Most YAML values (keys, items, scalars) read from one such file.")
    yaml_max_depth: int = Field(50, gt=0, description="Deepest nesting of YAML values read from one such file.")
    max_key_length: int = Field(
        128, ge=8, le=200, description="Longest summary key; file names carry it plus a suffix, "
        "and file systems allow 255 bytes.")
    stale_temp_seconds: float = Field(
        3600.0, gt=0, description="Age after which a temporary file left by a killed process is removed "
        "from the cache.")


class Price(_Section):
    input_per_mtok: float = Field(description="USD per million prompt tokens.")
    output_per_mtok: float = Field(description="USD per million completion tokens.")
    batch_factor: float = Field(0.5, gt=0, le=1, description="Share of these prices a provider batch job "
                                "charges (OpenAI's Batch API: half).")


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(input_per_mtok=0.15, output_per_mtok=0.60),
    "gpt-4o": Price(input_per_mtok=2.50, output_per_mtok=10.00),
    "gpt-4.1-mini": Price(input_per_mtok=0.40, output_per_mtok=1.60),
    "gpt-4.1": Price(input_per_mtok=2.00, output_per_mtok=8.00),
    "gpt-4.1-nano": Price(input_per_mtok=0.10, output_per_mtok=0.40),
}

OutputMode = Literal["json_schema", "json_object", "tool"]
DEFAULT_LLM_TIMEOUT = 120.0


class LLMSettings(_Section):
    model: str = Field("gpt-4o-mini", description="Model name sent to the endpoint.")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; None means OpenAI's.")
    api_key: SecretStr | None = Field(None, description="API key; only ever read from the environment.",
                                      exclude=True, repr=False)
    timeout_seconds: float | None = Field(
        None, gt=0, description="Timeout of one LLM request (waiting for the reply); None: 120 s, or "
        "loopback_timeout_seconds for a server on this machine.")
    loopback_timeout_seconds: float = Field(
        900.0, gt=0, description="Default timeout for a server on this machine (127.x, localhost, ::1): "
        "a CPU server may need minutes for one summary.")
    retry_timeouts: bool | None = Field(
        None, description="Send a timed-out request again; None: yes, except to a server on this machine "
        "(a local server is still busy with the abandoned request and the retry would queue behind it).")
    deadline_seconds: float | None = Field(
        None, gt=0, description="Wall-clock limit of one HTTP request to the LLM, the reply body included "
        "(a server trickling bytes); None: twice the timeout.")
    max_reply_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest HTTP reply body accepted from the LLM; a bigger one is "
        "refused before parsing (a summary is about 10 KB).")
    max_excerpt_chars: int = Field(
        16_000, gt=0, description="Longest part of a rejected reply sent back in a re-ask or kept in a "
        "failure record.")
    context_tokens: int | None = Field(
        None, gt=0, description="Context window of the server's model, in tokens; None: unknown until the "
        "server says it (a 'maximum context length is N tokens' error), then remembered per endpoint.")
    profile: Literal["small", "remote"] | None = Field(
        None, description="How to prompt a configured server: 'small' (small budget, English then Chinese "
        "bullet by bullet) or 'remote'; None: 'small' when the model id names a small model (…1.5b…, "
        "…3b…, tiny).")
    max_attempts: int = Field(4, ge=1, description="Transport attempts per request (timeouts, 429, 5xx).")
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature.")
    max_output_tokens: int = Field(2500, gt=0, description="Cap on completion tokens per request.")
    max_repairs: int = Field(2, ge=0, description="Re-asks with the validation errors after a bad reply.")
    output_mode: OutputMode | None = Field(
        None, description="Force a structured-output mode; None tries json_schema, json_object, tool."
    )
    translate: bool | None = Field(
        None, description="English first, then Chinese from the English JSON; None lets the backend decide."
    )
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES),
                                     description="Per-model prices for cost accounting.")
    explicit: bool = Field(False, description="True when an endpoint was configured (flag or environment).")
    model_set: bool = Field(False, description="True when the model name was configured (flag or environment).")

    def timeout_for(self, loopback: bool) -> float:
        """The timeout of one request: the configured one, else the default for where the server is."""
        if self.timeout_seconds is not None:
            return self.timeout_seconds
        return self.loopback_timeout_seconds if loopback else DEFAULT_LLM_TIMEOUT


class LocalSettings(_Section):
    threads: int | None = Field(
        None, ge=1, description="Generation threads; None picks cores-1 (spinning threads collapse speed)."
    )
    context_tokens: int = Field(8192, gt=0, description="Context window of the embedded model.")
    budget_tokens: int = Field(1600, gt=0, description="Input token budget for the small embedded model.")
    model_path: Path | None = Field(None, description="Use this GGUF file instead of the joined model parts.")


class Settings(_Section):
    cache_dir: Path = Field(description="Cache of metadata, PDFs, extracted text and LLM results.")
    summaries_dir: Path = Field(Path("summaries"), description="Where drafts and reviewed summaries live.")
    papers_file: Path = Field(Path("papers.yaml"), description="The reading backlog and list structure.")
    prompts_dir: Path = Field(description="Folder of the jinja2 prompt files.")
    offline: bool = Field(False, description="Never look up optional metadata on the network (PIPELINE_OFFLINE=1).")
    arxiv: ArxivSettings = Field(default_factory=ArxivSettings)
    pdf: PdfSettings = Field(default_factory=PdfSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)
    files: FilesSettings = Field(default_factory=FilesSettings)


# The prompt files ship inside the package (``pipeline/prompts`` links to the top-level ``prompts/``
# in a checkout and is a real folder in a built wheel).
PACKAGED_PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """``PIPELINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/pipeline``, else ``~/.cache/pipeline``."""
    if env.get("PIPELINE_CACHE_DIR"):
        return Path(env["PIPELINE_CACHE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "pipeline"
    return Path(env.get("HOME", "~")).expanduser() / ".cache" / "pipeline"


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build settings from defaults and the given environment mapping.

    Recognised: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``PIPELINE_MODEL``, ``PIPELINE_BASE_URL``,
    ``PIPELINE_API_KEY``, ``PIPELINE_TIMEOUT``, ``PIPELINE_TEMPERATURE``, ``PIPELINE_OUTPUT_MODE``,
    ``PIPELINE_MAX_REPAIRS``, ``PIPELINE_DEADLINE``, ``PIPELINE_MAX_REPLY_BYTES``,
    ``PIPELINE_CONTEXT_TOKENS``, ``PIPELINE_PROFILE``, ``PIPELINE_RETRY_TIMEOUTS``,
    ``PIPELINE_BUDGET_TOKENS``, ``PIPELINE_CACHE_DIR``,
    ``PIPELINE_SUMMARIES_DIR``, ``PIPELINE_PAPERS_FILE``, ``PIPELINE_PROMPTS_DIR``,
    ``PIPELINE_ARXIV_API_URL``, ``PIPELINE_ARXIV_DELAY``, ``PIPELINE_LOCAL_THREADS``,
    ``PIPELINE_LOCAL_MODEL``, ``PIPELINE_OFFLINE``, ``PIPELINE_YAML_MAX_BYTES``,
    ``PIPELINE_YAML_MAX_NODES``, ``PIPELINE_MAX_KEY_LENGTH``, ``PIPELINE_DOWNLOAD_DEADLINE``,
    ``PIPELINE_ALLOW_PRIVATE_URLS``, ``PIPELINE_EXTRACT_SECONDS``.
    """
    def get(*names: str) -> str | None:
        for name in names:
            value = env.get(name)
            if value:
                return value
        return None

    try:
        llm = LLMSettings()
        base_url = get("PIPELINE_BASE_URL", "OPENAI_BASE_URL")
        api_key = get("PIPELINE_API_KEY", "OPENAI_API_KEY")
        if base_url:
            llm.base_url = base_url
        if api_key:
            llm.api_key = SecretStr(api_key)
        llm.explicit = bool(base_url or api_key)
        if model := get("PIPELINE_MODEL"):
            llm.model, llm.model_set = model, True
        if timeout := get("PIPELINE_TIMEOUT"):
            llm.timeout_seconds = float(timeout)
        if temperature := get("PIPELINE_TEMPERATURE"):
            llm.temperature = float(temperature)
        if mode := get("PIPELINE_OUTPUT_MODE"):
            llm.output_mode = mode  # type: ignore[assignment]
        if repairs := get("PIPELINE_MAX_REPAIRS"):
            llm.max_repairs = int(repairs)
        if deadline := get("PIPELINE_DEADLINE"):
            llm.deadline_seconds = float(deadline)
        if reply_bytes := get("PIPELINE_MAX_REPLY_BYTES"):
            llm.max_reply_bytes = int(reply_bytes)
        if context := get("PIPELINE_CONTEXT_TOKENS"):
            llm.context_tokens = int(context)
        if profile := get("PIPELINE_PROFILE"):
            llm.profile = profile  # type: ignore[assignment]
        if retry := get("PIPELINE_RETRY_TIMEOUTS"):
            llm.retry_timeouts = retry.lower() in ("1", "true", "yes")

        arxiv = ArxivSettings()
        if api_url := get("PIPELINE_ARXIV_API_URL"):
            arxiv.api_url = api_url
        if delay := get("PIPELINE_ARXIV_DELAY"):
            arxiv.delay_seconds = float(delay)

        pdf = PdfSettings()
        if budget := get("PIPELINE_BUDGET_TOKENS"):
            pdf.budget_tokens = int(budget)
        if download_deadline := get("PIPELINE_DOWNLOAD_DEADLINE"):
            pdf.download_deadline_seconds = float(download_deadline)
        if allow := get("PIPELINE_ALLOW_PRIVATE_URLS"):
            pdf.allow_private_urls = allow.lower() in ("1", "true", "yes")
        if extract_seconds := get("PIPELINE_EXTRACT_SECONDS"):
            pdf.extract_seconds = float(extract_seconds)

        files = FilesSettings()
        if max_bytes := get("PIPELINE_YAML_MAX_BYTES"):
            files.yaml_max_bytes = int(max_bytes)
        if max_nodes := get("PIPELINE_YAML_MAX_NODES"):
            files.yaml_max_nodes = int(max_nodes)
        if max_key := get("PIPELINE_MAX_KEY_LENGTH"):
            files.max_key_length = int(max_key)

        local = LocalSettings()
        if threads := get("PIPELINE_LOCAL_THREADS"):
            local.threads = int(threads)
        if model_path := get("PIPELINE_LOCAL_MODEL"):
            local.model_path = Path(model_path).expanduser()

        return Settings(
            cache_dir=default_cache_dir(env),
            summaries_dir=Path(get("PIPELINE_SUMMARIES_DIR") or "summaries"),
            papers_file=Path(get("PIPELINE_PAPERS_FILE") or "papers.yaml"),
            prompts_dir=Path(get("PIPELINE_PROMPTS_DIR") or PACKAGED_PROMPTS),
            offline=(get("PIPELINE_OFFLINE") or "0").lower() in ("1", "true", "yes"),
            arxiv=arxiv,
            pdf=pdf,
            llm=llm,
            local=local,
            files=files,
        )
    except (ValidationError, ValueError) as exc:
        raise ConfigError(
            f"invalid setting in the environment: {exc}".splitlines()[0],
            hint="check the PIPELINE_* and OPENAI_* variables",
        ) from exc
