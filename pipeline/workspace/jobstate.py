"""The state of provider batch jobs: one JSON file in the cache per papers file, written atomically.

It holds what a killed process needs to go on: every job (its token, provider id, request file, round)
and every paper still in a job: the request it waits for (its ``custom_id`` and the sha256 of the
request body) and the replies it already had, in order. A paper's requests are not stored: they are
made again from the cached text by the same step machine (`pipeline.workspace.passes.steps`), fed the
stored replies; the hash says whether the request made again is still the one that was sent.

Every change is saved before the provider is asked to act on it: a job is recorded (with its token)
before its file is uploaded, and found again by that token when the process died before recording the
job's id; a collected job is marked so before its follow-up job is created. `locked` keeps two
commands from working on the same state at once (`pipeline.storage.files.exclusive`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.config import Settings
from pipeline.core.errors import ConfigError
from pipeline.model.llm import Reply
from pipeline.storage import files
from pipeline.storage.cache import Cache

log = logging.getLogger(__name__)

NAMESPACE = "batch-jobs"
VERSION = 1


@dataclass
class Job:
    """One provider batch job (or one exported request file)."""

    token: str  # chosen before the upload; the job's metadata carries it
    round: int
    file: str  # the request file: in the cache, or the --export path
    requests: int
    mode: str  # the structured-output mode of its requests (replies are read in it)
    created_at: str
    export: bool = False
    id: str | None = None  # the provider's batch id, once known
    status: str = "prepared"
    completed: int = 0
    failed: int = 0
    collected: bool = False

    @property
    def name(self) -> str:
        """The provider's id, else the token (an exported or not yet created job)."""
        return self.id or self.token


@dataclass
class PaperState:
    """A paper waiting in a job: what it waits for and the replies it had before."""

    source: str  # as written in papers.yaml
    path: str  # the source resolved (a relative PDF path against papers.yaml's folder)
    pending: str  # the custom_id of the request in the job
    job: str  # that job's token
    sha256: str  # of that request's body
    replies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (custom_id, Reply as dict)

    def reply_objects(self) -> list[tuple[str, Reply]]:
        """The stored replies as `Reply` objects."""
        return [(cid, Reply(**data)) for cid, data in self.replies]


@dataclass
class State:
    """Every job of one papers file and the papers still in them."""

    path: Path
    jobs: list[Job] = field(default_factory=list)
    papers: dict[str, PaperState] = field(default_factory=dict)  # by summary key

    def job(self, token: str) -> Job:
        """The job with ``token``."""
        return next(j for j in self.jobs if j.token == token)

    def new_job(self, *, round_: int, requests: int, mode: str, export: Path | None) -> Job:
        """A job recorded before its file is written or uploaded."""
        token = f"pipeline-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
        file = export or self.path.parent / f"{token}.jsonl"
        job = Job(token=token, round=round_, file=str(file), requests=requests, mode=mode,
                  created_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(), export=export is not None,
                  status="exported" if export else "prepared")
        self.jobs.append(job)
        return job

    def waiting(self, token: str) -> list[str]:
        """The keys of the papers waiting in job ``token``."""
        return [k for k, p in self.papers.items() if p.job == token]

    def save(self) -> None:
        """Write the state atomically."""
        data = {"version": VERSION, "jobs": [asdict(j) for j in self.jobs],
                "papers": {k: asdict(p) for k, p in self.papers.items()}}
        files.atomic_write(self.path, json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def state_path(settings: Settings) -> Path:
    """Where the state of ``settings.papers_file``'s jobs lives in the cache."""
    return Cache(settings.cache_dir).path_for(NAMESPACE, str(settings.papers_file.resolve()), ".json")


def load(settings: Settings) -> State:
    """The state of this papers file's jobs (empty when there is none)."""
    path = state_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return State(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the batch job state {path} cannot be read: {exc}",
                          hint="see the provider's batch jobs list; delete the file to start afresh "
                          "(entries left 'submitted' in papers.yaml are submitted again)") from exc
    if data.get("version") != VERSION:
        raise ConfigError(f"the batch job state {path} has version {data.get('version')!r}, not {VERSION}",
                          hint="collect its jobs with the version that submitted them, or delete the file")
    jobs = [Job(**j) for j in data["jobs"]]
    papers = {k: PaperState(**{**p, "replies": [tuple(r) for r in p["replies"]]}) for k, p in data["papers"].items()}
    return State(path, jobs, papers)


@contextmanager
def locked(settings: Settings) -> Iterator[State]:
    """The state, held against other commands on the same papers file until the block ends."""
    path = state_path(settings)
    with files.exclusive(path.with_suffix(".lock")):
        yield load(settings)


__all__ = ["Job", "PaperState", "State", "load", "locked", "state_path"]
