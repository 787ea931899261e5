"""Provider batch jobs through the ``openai`` client: upload a JSONL request file, create the job, poll
it, download its output and error files.

The client comes from `pipeline.model.llm` (`files_client`), the one module that imports ``openai`` and
that builds every request body and reads every reply: this one only moves files and jobs, so the
requests and replies of a batch job are those of a live run. Each line of a request file is
``{"custom_id", "method", "url", "body"}`` (OpenAI's Batch format, which vLLM's ``run_batch`` reads
too); each line of an output or error file is
``{"custom_id", "response": {"status_code", "body"} | null, "error": {"code", "message"} | null}``.

A job carries ``metadata.pipeline_job``, a token chosen before the upload, so a process killed between
creating the job and recording its id finds it again (`BatchAPI.find`) instead of submitting twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pipeline.core.errors import LLMAuthError, LLMError, LLMTransportError
from pipeline.core.redact import scrub
from pipeline.model.backend import Connection
from pipeline.model.llm import api_failure, files_client

log = logging.getLogger(__name__)

ENDPOINT: Final[Literal["/v1/chat/completions"]] = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
TOKEN_KEY = "pipeline_job"


@dataclass
class JobInfo:
    """A batch job as the provider reports it."""

    id: str
    status: str
    input_file_id: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # why a whole job failed (its input was rejected)

    @property
    def finished(self) -> bool:
        """True once the job will not change any more (completed, expired, cancelled or failed)."""
        return self.status in TERMINAL


def request_line(custom_id: str, body: dict[str, Any]) -> str:
    """One line of a request file."""
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body},
                      ensure_ascii=False, separators=(",", ":"))


def result_lines(data: bytes | str, origin: str) -> Iterable[dict[str, Any]]:
    """The lines of an output or error file that name a request (``origin`` names the file in logs)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            log.warning("%s:%d: not JSON (%s); line ignored", origin, number, exc)
            continue
        if isinstance(item, dict) and isinstance(item.get("custom_id"), str):
            yield item
        else:
            log.warning("%s:%d: no custom_id; line ignored", origin, number)


class BatchAPI:
    """The Files and Batches endpoints of one OpenAI-compatible server."""

    def __init__(self, connection: Connection, *, client: Any = None) -> None:
        self.connection = connection
        self._client = client or files_client(connection)

    def submit(self, data: bytes, *, name: str, token: str) -> JobInfo:
        """Upload ``data`` (the request file) and create a job from it, tagged with ``token``."""
        with self._errors("upload the batch request file"):
            uploaded = self._client.files.create(file=(name, data, "application/jsonl"), purpose="batch")
        with self._errors("create the batch job"):
            job = self._client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT,
                                              completion_window="24h", metadata={TOKEN_KEY: token})
        return _info(job)

    def find(self, token: str) -> JobInfo | None:
        """The job tagged with ``token``, or None when none was created."""
        with self._errors("list the batch jobs"):
            for job in self._client.batches.list(limit=100):
                if (job.metadata or {}).get(TOKEN_KEY) == token:
                    return _info(job)
        return None

    def retrieve(self, job_id: str) -> JobInfo:
        """The job's current state."""
        with self._errors(f"read batch job {job_id}", missing=f"knows no batch job {job_id}"):
            return _info(self._client.batches.retrieve(job_id))

    def content(self, file_id: str) -> bytes:
        """The bytes of an output or error file."""
        with self._errors(f"download batch file {file_id}", missing=f"has no file {file_id} (any more)"):
            return bytes(self._client.files.content(file_id).content)

    def _errors(self, what: str, *, missing: str | None = None) -> _Translate:
        return _Translate(self.connection.host, what, missing)


class _Translate:
    """Turns the client's exceptions into one-line `LLMError`s naming the endpoint and the step."""

    def __init__(self, host: str, what: str, missing: str | None) -> None:
        self.host, self.what, self.missing = host, what, missing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        failure = api_failure(exc)
        if failure is None:
            return
        status, message = failure
        if status is not None:
            detail = scrub(" ".join(message.split())[:200])
            if status in (401, 403):
                raise LLMAuthError(f"{self.host} rejected the credentials (HTTP {status}) trying to "
                                   f"{self.what}: {detail}", hint="check OPENAI_API_KEY / PIPELINE_API_KEY") from exc
            if status == 404 and self.missing:
                raise LLMError(f"{self.host} {self.missing} (HTTP 404)",
                               hint="was it made on another endpoint or account? `batch status` lists the jobs "
                               "this list waits for") from exc
            if status == 404:
                raise LLMError(f"{self.host} has no batch API: HTTP 404 trying to {self.what}",
                               hint="write the requests with `batch submit --export FILE` and run them elsewhere "
                               "(vLLM's run_batch), or use live `batch`") from exc
            raise LLMError(f"{self.host} could not {self.what} (HTTP {status}): {detail}",
                           hint="run the same command again later: jobs already created are kept") from exc
        raise LLMTransportError(f"could not reach {self.host} to {self.what}",
                                hint="check the endpoint is up and reachable; run the command again") from exc


def _info(job: Any) -> JobInfo:
    counts = job.request_counts
    errors = [scrub(str(e.message or e.code)) for e in (job.errors.data or [])] if job.errors else []
    return JobInfo(id=job.id, status=job.status, input_file_id=job.input_file_id,
                   output_file_id=job.output_file_id, error_file_id=job.error_file_id,
                   total=counts.total if counts else 0, completed=counts.completed if counts else 0,
                   failed=counts.failed if counts else 0, errors=errors)


__all__ = ["ENDPOINT", "TERMINAL", "BatchAPI", "JobInfo", "request_line", "result_lines"]
