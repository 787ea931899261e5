"""The review queue: list, show, approve, reject, ask for changes, and diff summaries.

Every function returns data; the CLI prints it. A review action sets ``status`` and appends a
`ReviewEvent` (who, when, why) to the file's ``review:`` list, editing the round-trip document in
place so a curator's comments survive. Approving is refused while the file fails validation.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.core.errors import ReviewError, StoreError
from pipeline.core.models import FIELD_TITLES_EN, FIELD_TITLES_ZH, FIELDS, ReviewEvent, Status
from pipeline.model.summary import SummaryRecord
from pipeline.storage import files
from pipeline.workspace import store
from pipeline.workspace.store import Problem
from pipeline.workspace.validate import TextLookup, validate_file

log = logging.getLogger(__name__)

LOCAL_BANNER = ("DRAFT FROM THE EMBEDDED LOCAL MODEL (small, offline): check every bullet and "
                "its evidence against the paper before approving")


@dataclass(frozen=True)
class ReviewRow:
    """One line of ``review list``."""

    key: str
    title: str
    status: str
    created_at: dt.datetime | None
    age: str
    backend: str
    grounding_score: float | None
    warnings: int
    edited: bool
    path: Path

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for ``review list --json``."""
        return {"key": self.key, "title": self.title, "status": self.status,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "age": self.age, "backend": self.backend, "grounding_score": self.grounding_score,
                "warnings": self.warnings, "edited": self.edited, "path": str(self.path)}


@dataclass
class ReviewList:
    """Rows of ``review list`` plus the files that could not be read (as one-line errors)."""

    rows: list[ReviewRow]
    errors: list[str] = field(default_factory=list)


@dataclass
class RecordView:
    """Everything ``review show`` displays about one record."""

    path: Path
    record: SummaryRecord
    edited: bool
    proposed: Path | None
    problems: list[Problem]
    notes: list[str]


def age_text(since: dt.datetime | None, now: dt.datetime) -> str:
    """Compact age: 45s, 12m, 5h, 3d."""
    if since is None:
        return "-"
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def list_reviews(summaries_dir: Path, *, status: Status | None = None,
                 now: dt.datetime | None = None) -> ReviewList:
    """Every record (optionally only those with ``status``), sorted by key."""
    now = now or dt.datetime.now(dt.UTC)
    errors: list[StoreError] = []
    rows = []
    for path, record in store.iter_records(summaries_dir, errors=errors, read_only=True):
        if status is not None and record.status != status:
            continue
        created = record.provenance.created_at
        rows.append(ReviewRow(
            key=record.key, title=record.paper.title, status=record.status, created_at=created,
            age=age_text(created, now), backend=record.provenance.backend,
            grounding_score=record.provenance.grounding_score, warnings=len(record.warnings),
            edited=_edited(summaries_dir, record.key), path=path))
    return ReviewList(rows, [str(e) for e in errors])


def _edited(summaries_dir: Path, key: str) -> bool:
    # Shown to people: with no model original (imported, hand-written) there is nothing to compare,
    # unlike `store.is_edited`, which must assume an edit to stay safe.
    return store.original_path(summaries_dir, key).exists() and store.is_edited(summaries_dir, key)


def _load(summaries_dir: Path, key: str) -> tuple[Path, SummaryRecord]:
    path = store.record_path(summaries_dir, key)
    if not path.exists():
        raise ReviewError(f"no summary {path} for key {key!r}",
                          hint="see `pipeline review list`, or run `pipeline summarize` first")
    return path, store.load_record(path)


def show(summaries_dir: Path, key: str, *, lookup: TextLookup | None = None) -> RecordView:
    """The record of ``key`` with its validation problems and whether it was edited."""
    path, record = _load(summaries_dir, key)
    report = validate_file(path, lookup)
    proposed = store.proposed_path(summaries_dir, key)
    return RecordView(path, record, _edited(summaries_dir, key),
                      proposed if proposed.exists() else None, report.problems, report.notes)


def default_reviewer(env: Mapping[str, str]) -> str:
    """``git config user.name``, else ``$USER``, else ``unknown``."""
    try:
        result = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True,
                                timeout=5, check=False)
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        log.debug("git config user.name not available")
    return env.get("USER") or env.get("USERNAME") or "unknown"


def _apply(summaries_dir: Path, seen: files.Snapshot, record: SummaryRecord, status: Status, action: str,
           by: str | None, note: str | None, now: dt.datetime | None) -> SummaryRecord:
    at = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    event = ReviewEvent.model_validate({"action": action, "by": by or default_reviewer(os.environ),
                                        "at": at, "note": note})
    updated = record.model_copy(update={"status": status, "review": [*record.review, event]})
    store.save_record(summaries_dir, updated, expected=seen)
    log.info("%s: %s -> %s", record.key, record.status, status)
    return updated


def approve(summaries_dir: Path, key: str, *, by: str | None = None, note: str | None = None,
            lookup: TextLookup | None = None, now: dt.datetime | None = None) -> SummaryRecord:
    """Mark ``key`` approved; refused (ReviewError with every reason) while it fails validation."""
    return store.consistent(summaries_dir, key,
                            lambda seen: _approve(summaries_dir, seen, key, by, note, lookup, now))


def _approve(summaries_dir: Path, seen: files.Snapshot, key: str, by: str | None, note: str | None,
             lookup: TextLookup | None, now: dt.datetime | None) -> SummaryRecord:
    path, record = _load(summaries_dir, key)
    if record.status == "approved":
        last = next((e for e in reversed(record.review) if e.action == "approve"), None)
        when = f" by {last.by} at {last.at:%Y-%m-%d %H:%M}" if last else ""
        raise ReviewError(f"{key} is already approved{when}")
    problems = validate_file(path, lookup).problems
    if problems:
        reasons = "; ".join(str(p) for p in problems)
        raise ReviewError(f"cannot approve {key}: {len(problems)} validation problem(s): {reasons}",
                          hint=f"fix {path} (see `pipeline validate {path}`), then approve again")
    return _apply(summaries_dir, seen, record, "approved", "approve", by, note, now)


def _required(text: str | None, what: str, key: str) -> str:
    if not text or not text.strip():
        raise ReviewError(f"{what} for {key} is empty", hint="say why, so the next reader knows")
    return text.strip()


def reject(summaries_dir: Path, key: str, *, reason: str, by: str | None = None,
           now: dt.datetime | None = None) -> SummaryRecord:
    """Mark ``key`` rejected, recording why."""
    reason = _required(reason, "the rejection reason", key)

    def act(seen: files.Snapshot) -> SummaryRecord:
        _, record = _load(summaries_dir, key)
        if record.status == "rejected":
            raise ReviewError(f"{key} is already rejected")
        return _apply(summaries_dir, seen, record, "rejected", "reject", by, reason, now)

    return store.consistent(summaries_dir, key, act)


def needs_changes(summaries_dir: Path, key: str, *, note: str, by: str | None = None,
                  now: dt.datetime | None = None) -> SummaryRecord:
    """Mark ``key`` as needing changes, recording what; repeatable for another round of notes."""
    note = _required(note, "the change request", key)

    def act(seen: files.Snapshot) -> SummaryRecord:
        _, record = _load(summaries_dir, key)
        return _apply(summaries_dir, seen, record, "needs-changes", "needs-changes", by, note, now)

    return store.consistent(summaries_dir, key, act)


def diff(summaries_dir: Path, key: str, *, against: Literal["original", "proposed"] = "original") -> str:
    """Unified diff of the record's content against the model's original (or the proposed output).

    Compares data, not bytes: comments, quoting, ``status`` and ``review`` do not show. Empty
    string when there is no difference.
    """
    path, record = _load(summaries_dir, key)
    if against == "original":
        other = store.original_path(summaries_dir, key)
        if not other.exists():
            raise ReviewError(f"no model original for {key} ({other} is missing)",
                              hint="imported or hand-written records have none")
        before, after = store.load_record(other), record
        labels = (f"{other} (model original)", f"{path} (curator)")
    else:
        other = store.proposed_path(summaries_dir, key)
        if not other.exists():
            raise ReviewError(f"no proposed model output for {key} ({other} is missing)",
                              hint="one is written when `summarize` meets an edited or reviewed record")
        before, after = record, store.load_record(other)
        labels = (f"{path} (current)", f"{other} (new model output)")
    lines = difflib.unified_diff(store.content_yaml(before).splitlines(keepends=True),
                                 store.content_yaml(after).splitlines(keepends=True),
                                 fromfile=labels[0], tofile=labels[1])
    return "".join(lines)


# --------------------------------------------------------------------------- plain-text views


def format_table(rows: list[ReviewRow]) -> str:
    """``review list`` as aligned plain text (for pipes and files)."""
    header = ("KEY", "STATUS", "AGE", "BACKEND", "GROUND", "WARN", "TITLE")
    table = [header] + [
        (r.key + ("*" if r.edited else ""), r.status, r.age, r.backend,
         "-" if r.grounding_score is None else f"{r.grounding_score:.2f}", str(r.warnings), r.title)
        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
                     + "  " + row[-1] for row in table)


def format_record(view: RecordView) -> str:
    """``review show``: the bilingual summary with each bullet's evidence, warnings, provenance."""
    r, p = view.record, view.record.provenance
    out: list[str] = []
    if p.backend == "local":
        out += [f"!!! {LOCAL_BANNER} !!!", ""]
    out.append(f"{r.key}  [{r.status}]{'  (edited by a curator)' if view.edited else ''}  {view.path}")
    out.append(r.paper.title)
    authors = ", ".join(r.paper.authors[:3]) + (" ..." if len(r.paper.authors) > 3 else "") or "-"
    out.append(f"{authors} | {r.paper.date or '-'} | {r.paper.venue} | code: {r.paper.code_url or '-'}")
    out.append(f"dim {r.summary.dim} | setting {r.summary.setting} | tags: {', '.join(r.summary.tags) or '-'}")
    for name in FIELDS:
        out += ["", f"## {FIELD_TITLES_ZH[name]} / {FIELD_TITLES_EN[name]}"]
        zh = getattr(r.summary.zh, name) if r.summary.zh else []
        en = getattr(r.summary.en, name) if r.summary.en else []
        if not zh and not en:
            out.append("(none)")
        for i in range(max(len(zh), len(en))):
            if i < len(zh):
                out.append(f"{i + 1}. {zh[i]}")
            if i < len(en):
                out.append(f"{'' if i < len(zh) else f'{i + 1}. '}   {en[i].text}")
                out.append(f"     evidence: \"{en[i].evidence}\"")
    out += ["", "warnings: " + ("none" if not r.warnings else "")]
    out += [f"  - {w}" for w in r.warnings]
    if view.problems:
        out.append("validation problems:")
        out += [f"  - {prob}" for prob in view.problems]
    out += [f"  note: {n}" for n in view.notes]
    usage = p.usage
    out += ["", f"provenance: backend {p.backend}, model {p.model or '-'} @ {p.endpoint_host or '-'}, "
                f"mode {p.output_mode or '-'}, passes {p.passes}, pipeline {p.pipeline_version}",
            f"  created {p.created_at:%Y-%m-%d %H:%M} UTC, attempts {p.attempts}, repairs {p.repairs}, "
            f"grounding {'-' if p.grounding_score is None else f'{p.grounding_score:.2f}'}, "
            f"tokens {usage.prompt_tokens}+{usage.completion_tokens}, cost ${usage.cost_usd:.4f}",
            f"  source sha256 {p.source_sha256 or '-'}; sections used: {', '.join(p.sections_used) or '-'}"]
    if p.imported_from:
        out.append(f"  imported from {p.imported_from}")
    if view.proposed:
        out.append(f"a newer model output waits in {view.proposed} "
                   f"(`pipeline review diff {r.key} --against proposed`)")
    if r.review:
        out += ["", "review history:"]
        out += [f"  {e.at:%Y-%m-%d %H:%M} {e.action} by {e.by or '-'}" + (f": {e.note}" if e.note else "")
                for e in r.review]
    return "\n".join(out)
