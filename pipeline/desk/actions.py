"""What the desk changes in a summary file: a bullet edit and a review decision.

Both refuse to act on a file that changed on disk since the page showed it: the page sends the
`files.Snapshot` it loaded, and anything else raises `files.FileChanged` with nothing written. A bullet
edit is checked with exactly the checks of ``pipeline validate``
(`pipeline.workspace.validate.validate_file`, on the edited text in a scratch file) and written only
when it adds no problem, through the round-trip document, so comments and key order stay. Decisions
are the CLI's own functions (`pipeline.workspace.review`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ruamel.yaml.scalarstring import ScalarString

from pipeline.core.errors import Problem, ReviewError
from pipeline.model.summary import SummaryRecord
from pipeline.storage import files
from pipeline.workspace import review, store
from pipeline.workspace.validate import TextLookup, validate_file

Lang = Literal["zh", "en"]
Decision = Literal["approve", "reject", "needs-changes"]


@dataclass
class EditResult:
    """A bullet edit: ``written`` or refused with ``errors`` (``path:line: message``)."""

    written: bool
    errors: list[str]
    snapshot: str | None


def _check_fresh(path: Path, loaded: str) -> bytes:
    raw = path.read_bytes()
    if files.Snapshot.of(raw).sha256 != loaded:
        raise files.FileChanged(path)
    return raw


def edit_bullet(summaries_dir: Path, key: str, *, lang: Lang, group: str, index: int, text: str, loaded: str,
                lookup: TextLookup | None, terms: Mapping[str, str] | None = None) -> EditResult:
    """Replace bullet ``index`` of ``group`` in ``lang`` (an English bullet's ``text``) with ``text``.

    Checked as ``pipeline validate`` checks it (``terms``: the glossary it uses, `summarize.list_context`).
    Refused with the problems it would add (the file is left as it is); `files.FileChanged` when the
    file is not the version ``loaded`` (a `files.Snapshot` sha256).
    """
    path = store.record_path(summaries_dir, key)
    text = " ".join(text.split())
    with files.exclusive(summaries_dir / store.LOCK_FILE):
        raw = _check_fresh(path, loaded)
        doc = files.round_trip_yaml().load(raw.decode("utf-8"))
        try:
            bullets = doc["summary"][lang][group]
            container, slot = (bullets[index], "text") if lang == "en" else (bullets, index)
            old = container[slot]
        except (KeyError, IndexError, TypeError):
            return EditResult(False, [f"{path}: summary.{lang}.{group} has no bullet {index + 1}"], None)
        container[slot] = type(old)(text) if isinstance(old, ScalarString) else text
        edited = files.dump_yaml(doc)
        with tempfile.TemporaryDirectory(prefix="pipeline-desk-") as tmp:
            scratch = Path(tmp) / path.name
            scratch.write_bytes(raw)
            # New problems are told by message: an edit of one line moves no other line.
            before = {p.message for p in validate_file(scratch, lookup, terms).problems}
            scratch.write_text(edited, encoding="utf-8")
            added = [str(Problem(path, p.line, p.message)) for p in validate_file(scratch, lookup, terms).problems
                     if p.message not in before]
        if added:
            return EditResult(False, added, loaded)
        written = files.atomic_write(path, edited, expected=files.Snapshot.of(raw))
    return EditResult(True, [], written.sha256)


def decide(summaries_dir: Path, key: str, action: Decision, *, note: str | None, by: str | None, loaded: str,
           lookup: TextLookup | None) -> SummaryRecord:
    """Record ``action`` exactly as ``pipeline review`` does; `files.FileChanged` when the file is not ``loaded``."""
    path = store.record_path(summaries_dir, key)
    with files.exclusive(summaries_dir / store.LOCK_FILE):
        _check_fresh(path, loaded)
        if action == "approve":
            return review.approve(summaries_dir, key, by=by, note=note or None, lookup=lookup)
        if action == "reject":
            return review.reject(summaries_dir, key, reason=note or "", by=by)
        if action == "needs-changes":
            return review.needs_changes(summaries_dir, key, note=note or "", by=by)
    raise ReviewError(f"unknown review action {action!r}", hint="use approve, reject or needs-changes")
