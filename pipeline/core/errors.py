"""The single error tree of pipeline. Core module: no I/O.

Every message says what failed, where (id, path, URL) and how to fix it. The CLI catches
`PipelineError` once and prints ``str(error)`` as one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline.core.redact import scrub


class PipelineError(Exception):
    """Base of every expected failure.

    ``retryable`` tells batch runs and transport layers whether trying again later may help;
    ``hint`` is the how-to-fix part, appended to the message.
    """

    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool | None = None) -> None:
        self.message = message
        self.hint = hint
        if retryable is not None:
            self.retryable = retryable
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = " ".join(self.message.split())
        if self.hint:
            text = f"{text} ({' '.join(self.hint.split())})"
        return scrub(text)  # a message may quote a URL or an upstream error holding credentials


class ConfigError(PipelineError):
    """Invalid or missing configuration (settings, environment, papers.yaml)."""


class PapersChanged(ConfigError):
    """The papers file changed on disk between loading and saving (someone edited it meanwhile)."""


class SourceError(PipelineError):
    """The input does not name a paper we can read (malformed id or URL, missing file)."""


class MetadataError(PipelineError):
    """The metadata service failed or has no such paper."""


class PaperNotFound(MetadataError):
    """The metadata service answered, but knows no such paper."""


class PaperWithdrawn(MetadataError):
    """The paper exists but was withdrawn by its authors."""


class NetworkError(PipelineError):
    """A transport failure talking to a remote service (after retries)."""

    retryable = True


class PdfError(PipelineError):
    """The PDF cannot be read: corrupt, encrypted, not a PDF, no text, too large."""


class LLMError(PipelineError):
    """The LLM endpoint failed (transport, auth, refusal, truncation, invalid output)."""


class LLMTransportError(LLMError):
    """Network, timeout, 429 or 5xx after the transport retries ran out."""

    retryable = True


class LLMAuthError(LLMError):
    """The endpoint rejected the credentials (401/403)."""


class ContextOverflow(LLMError):
    """The prompt does not fit the server's context window with room for the reply.

    ``context_tokens`` is the window; ``prompt_tokens`` the prompt's size as the server counted it (or
    as estimated); ``estimated_tokens`` our estimate of the same prompt, so the caller can scale.
    """

    def __init__(self, message: str, *, context_tokens: int, prompt_tokens: int, estimated_tokens: int,
                 hint: str | None = None) -> None:
        self.context_tokens, self.prompt_tokens, self.estimated_tokens = \
            context_tokens, prompt_tokens, estimated_tokens
        super().__init__(message, hint=hint)


class NoBackendError(LLMError):
    """No LLM endpoint is configured and the embedded model is not installed."""


@dataclass
class Attempt:
    """One reply that could not be accepted, and why."""

    kind: Literal["invalid", "truncated", "refusal"]
    raw: str | None
    errors: list[str]

    def as_dict(self) -> dict[str, Any]:
        """The failure record's form of the attempt."""
        return {"kind": self.kind, "raw": self.raw, "errors": self.errors}


class ModelOutputError(LLMError):
    """The model's replies stayed unusable after every repair re-ask.

    ``attempts`` keeps every failed attempt in order: the raw reply and each reason it was rejected.
    """

    def __init__(self, message: str, *, attempts: Sequence[Attempt] = (), hint: str | None = None) -> None:
        self.attempts = list(attempts)
        super().__init__(message, hint=hint)


class LLMRefusal(ModelOutputError):
    """The model refused to answer."""


class LLMTruncated(ModelOutputError):
    """The model stopped at its output limit (finish_reason=length)."""


class SummaryInvalid(ModelOutputError):
    """The model's output stayed invalid (schema, language, grounding) after every repair re-ask."""


class RateLimitCancelled(PipelineError):
    """A wait for a request slot or rate-limit allowance was abandoned because the run is stopping."""


class EmbeddedRequestError(PipelineError):
    """A request the embedded model's endpoint cannot serve; it answers with an OpenAI-style JSON error."""

    def __init__(self, status: int, message: str, code: str = "invalid_request") -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class StoreError(PipelineError):
    """A summary file cannot be read, validated or written."""


class FileChanged(StoreError):
    """A write was refused: the file on disk is no longer what the writer read (`Snapshot`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"{path} changed on disk after it was read; nothing was written",
                         hint="run the command again: it reads the file again and keeps that edit")


@dataclass(frozen=True)
class Problem:
    """One validation finding, printed as ``path:line: message``."""

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line or 1}: {self.message}"


class RecordInvalid(StoreError):
    """A summary file does not parse or does not match the schema; ``problems`` lists every finding."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}",
                         hint="fix the file by hand; `pipeline validate` lists every problem")


class ReviewError(PipelineError):
    """A review action is not allowed in the current state."""


class RenderError(PipelineError):
    """The list cannot be rendered or is stale."""


class ImportListError(PipelineError):
    """An existing Markdown list cannot be imported."""
