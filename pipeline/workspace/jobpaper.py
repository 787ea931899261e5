"""One paper in a provider batch job: its step machine, prepared as a live run prepares it, replayed
from the replies it had, finished as a live run finishes (the draft or the failure record).

`PaperSteps` wraps `pipeline.workspace.passes.steps`, which holds every request of a paper and, through
`LLM.asking`, the repair loop: the replies a job brings are validated and repaired by that one code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.core.config import Settings
from pipeline.core.errors import ConfigError, LLMError
from pipeline.core.models import Usage
from pipeline.model.backend import Backend, batch_factor, cost_usd, select_backend
from pipeline.model.llm import LLM, Reply, Request
from pipeline.storage.cache import Cache
from pipeline.workspace import passes
from pipeline.workspace.batch import StatusWriter, existing_status
from pipeline.workspace.summarize import (
    Answer,
    CacheModeMemory,
    cache_key,
    load_paper,
    make_plan,
    record_failure,
    repair_prompt,
    save,
)

Outcome = Literal["submitted", "waiting", "drafted", "failed", "backlog", "skipped"]


@dataclass
class JobOutcome:
    """What happened to one paper in this command."""

    source: str
    state: Outcome
    reason: str
    key: str | None = None
    job: str | None = None


def custom_id(key: str, request: Request) -> str:
    """``<paper key>|<pass>|<attempt>``: a request's name in a job (keys hold no ``|``)."""
    return f"{key}|{request.label or 'ask'}|{request.attempt}"


def body_sha256(body: dict[str, Any]) -> str:
    """The sha256 of a request body (key order does not count)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class PaperSteps:
    """One paper's step machine, advanced to its next request or to its end (a draft or an error)."""

    def __init__(self, source: str, settings: Settings, llm: LLM,
                 context: tuple[tuple[str, ...], dict[str, str]] | None = None) -> None:
        self.source, self.settings, self.llm = source, settings, llm
        self.paper = load_paper(source, settings)
        self.key = self.paper.source.key
        self.backend = Backend(llm.connection, llm.profile)
        self.plan = make_plan(self.paper, self.backend, settings, context=context)
        self.pairs = passes.prompts(self.plan, settings, llm.profile)
        self.cache_key = cache_key(settings, self.backend, self.pairs, self.plan)
        self.request: Request | None = None
        self.drafted: passes.Drafted | None = None
        self.error: LLMError | None = None
        self.replies: list[tuple[str, Reply]] = []
        self._steps = passes.steps(llm, settings, self.plan, repair=repair_prompt(settings), key=self.key)
        self._advance(None)

    def _advance(self, reply: Reply | None) -> None:
        try:
            self.request = next(self._steps) if reply is None else self._steps.send(reply)
        except StopIteration as done:
            self.request, self.drafted = None, done.value
        except LLMError as exc:
            self.request, self.error = None, exc

    @property
    def pending(self) -> str:
        """The custom_id of the request it waits for."""
        assert self.request is not None
        return custom_id(self.key, self.request)

    def next_body(self) -> dict[str, Any] | None:
        """The body of the request it waits for; None once it has ended. A request that cannot be built
        (a prompt too long for a known context window) ends it with that error, as a live run fails."""
        if self.request is None:
            return None
        try:
            return self.llm.body(self.request, self.llm.first_mode())
        except LLMError as exc:
            self.request, self.error = None, exc
            return None

    def give(self, cid: str, reply: Reply) -> bool:
        """Feed the reply to the request named ``cid``; False when the machine asks something else now."""
        if self.request is None or self.pending != cid:
            return False
        self.replies.append((cid, reply))
        self._advance(reply)
        return True

    def usage(self) -> Usage:
        """Tokens and cost of every reply it had, at batch prices."""
        prompt = sum(r.prompt_tokens for _, r in self.replies)
        completion = sum(r.completion_tokens for _, r in self.replies)
        connection, prices = self.llm.connection, self.settings.llm.prices
        cost = cost_usd(connection, prices, prompt, completion) * batch_factor(connection, prices)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, requests=len(self.replies),
                     cost_usd=round(cost, 6))

    def finish(self, entry: str, writer: StatusWriter) -> JobOutcome:
        """Write the draft or the failure record, as a live run does, and queue the entry's status."""
        if self.drafted is not None:
            mode = self.replies[-1][1].mode if self.replies else None
            answer = Answer.of(self.drafted, self.usage(), mode)
            answer.remember(Cache(self.settings.cache_dir), self.cache_key)
            _, write = save(self.settings, self.paper, self.plan, self.backend, answer)
            writer.put(entry, status=existing_status(self.settings, self.key) if write.outcome == "proposed"
                       else "drafted", last_error=None)
            return JobOutcome(entry, "drafted", write.outcome, self.key)
        assert self.error is not None
        record_failure(self.settings, self.llm, self.paper, self.source, self.error)
        writer.put(entry, status="failed", last_error=str(self.error))
        return JobOutcome(entry, "failed", str(self.error), self.key)


def batch_llm(settings: Settings, *, export: bool) -> LLM:
    """The LLM whose bodies and replies batch jobs use (an endpoint, unless the requests are exported)."""
    connection, profile = select_backend(settings)
    if connection.backend == "local" and not export:
        raise ConfigError("batch jobs need an OpenAI-compatible endpoint; the embedded model answers live only",
                          hint="set OPENAI_BASE_URL / OPENAI_API_KEY, or write the requests with --export FILE")
    return LLM(connection, settings.llm, profile, memory=CacheModeMemory(Cache(settings.cache_dir)))


__all__ = ["JobOutcome", "Outcome", "PaperSteps", "batch_llm", "body_sha256", "custom_id"]
