"""The single error tree of pipeline. Core module: no I/O.

Every message says what failed, where (id, path, URL) and how to fix it. The CLI catches
`PipelineError` once and prints ``str(error)`` as one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations


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
        return text


class ConfigError(PipelineError):
    """Invalid or missing configuration (settings, environment, papers.yaml)."""


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
    """The LLM endpoint failed (transport, auth, refusal, truncation)."""


class LLMTransportError(LLMError):
    """Network, timeout, 429 or 5xx after the transport retries ran out."""

    retryable = True


class LLMAuthError(LLMError):
    """The endpoint rejected the credentials (401/403)."""


class LLMRefusal(LLMError):
    """The model refused to answer."""


class LLMTruncated(LLMError):
    """The model stopped at its output limit (finish_reason=length)."""


class NoBackendError(LLMError):
    """No LLM endpoint is configured and the embedded model is not installed."""


class SummaryInvalid(PipelineError):
    """The model's output stayed invalid after every repair re-ask.

    ``attempts`` holds each raw reply with the validation errors it got.
    """

    def __init__(self, message: str, *, attempts: list[dict[str, object]] | None = None,
                 hint: str | None = None) -> None:
        self.attempts = attempts or []
        super().__init__(message, hint=hint)


class StoreError(PipelineError):
    """A summary file cannot be read, validated or written."""


class ReviewError(PipelineError):
    """A review action is not allowed in the current state."""


class RenderError(PipelineError):
    """The list cannot be rendered or is stale."""


class ImportListError(PipelineError):
    """An existing Markdown list cannot be imported."""
