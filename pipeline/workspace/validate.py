"""Re-check summary files after hand edits, for CI and pre-commit: ``pipeline validate [paths]``.

Checks, each reported as ``path:line: message``:

- YAML syntax and the `SummaryRecord` schema, which carries the language checks (``zh`` bullets are
  Chinese, ``en`` bullets hold no CJK), parallel ``en``/``zh`` lists, duplicate bullets, placeholder
  text and bullet lengths (all validators of `pipeline.core.models`);
- the key matches the file name, first/last author match the author list;
- terminology: an English term of the glossary (the built-in seed plus ``papers.yaml`` ``list.glossary``)
  in an ``en`` bullet is rendered by its Chinese term in the ``zh`` bullet;
- grounding (every evidence quote is in the paper, every number of an ``en`` bullet too), when the
  extracted text of ``provenance.source_sha256`` is in the cache; otherwise it is skipped with a note.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.core.errors import StoreError
from pipeline.core.models import FIELDS, ExtractedDocument
from pipeline.model import glossary, grounding
from pipeline.model.summary import ChineseSummary, SummaryRecord, grounding_failures
from pipeline.storage import files
from pipeline.storage.cache import Cache
from pipeline.workspace import store
from pipeline.workspace.store import Problem

log = logging.getLogger(__name__)

# A record -> the paper text its summary must be grounded in, or None when it is not cached.
TextLookup = Callable[[SummaryRecord], str | None]
_GROUNDING_MESSAGE = re.compile(r"^en\.(\w+)\[(\d+)\]")


@dataclass
class FileReport:
    """What validating one file found."""

    path: Path
    record: SummaryRecord | None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ValidationReport:
    """What ``validate`` found over all files; ``ok`` is False on any problem."""

    files: list[FileReport]

    @property
    def problems(self) -> list[Problem]:
        return [p for f in self.files for p in f.problems]

    @property
    def notes(self) -> list[str]:
        return [n for f in self.files for n in f.notes]

    @property
    def ok(self) -> bool:
        return not self.problems


def cached_text_lookup(cache_dir: Path) -> TextLookup:
    """Look up what the model was given: the PDF text cached by `pipeline.text.extract` under
    ``provenance.source_sha256``, plus the arXiv title and abstract when their metadata is cached.
    """
    from pipeline.sources import arxiv
    from pipeline.text import extract

    cache = Cache(cache_dir)

    def lookup(record: SummaryRecord) -> str | None:
        sha = record.provenance.source_sha256
        data = cache.get_json(extract.CACHE_NAMESPACE, f"{sha}:{extract.EXTRACTOR_VERSION}") if sha else None
        if data is None:
            return None
        try:
            parts = [record.paper.title, ExtractedDocument.model_validate(data).text]
        except ValidationError:
            log.warning("ignoring stale extracted text of %s in the cache", record.key)
            return None
        paper = record.paper
        for key in (f"{paper.arxiv_id}v{paper.version}", paper.arxiv_id) if paper.arxiv_id else ():
            meta = cache.get_json(arxiv.NAMESPACE, key)
            if isinstance(meta, dict) and meta.get("abstract"):
                parts.insert(1, str(meta["abstract"]))
                break
        return "\n".join(parts)
    return lookup


def _bibliography_problems(path: Path, doc: Any, record: SummaryRecord) -> list[Problem]:
    paper = record.paper
    problems = []
    if paper.authors:
        for name, expected in (("first_author", paper.authors[0]), ("last_author", paper.authors[-1])):
            actual = getattr(paper, name)
            if actual is not None and actual != expected:
                problems.append(Problem(path, files.line_of(doc, ("paper", name)),
                                        f"paper.{name}: {actual!r} is not the author list's "
                                        f"{'first' if name == 'first_author' else 'last'} ({expected!r})"))
    return problems


def _grounding_problems(path: Path, doc: Any, record: SummaryRecord, text: str) -> list[Problem]:
    if record.summary.en is None:
        return []
    problems = []
    for message in grounding_failures(record.summary.en, text):
        loc: tuple[int | str, ...] = ("summary", "en")
        if match := _GROUNDING_MESSAGE.match(message):
            loc = (*loc, match.group(1), int(match.group(2)) - 1)
            if "evidence" in message.split(" ", 1)[0]:
                loc = (*loc, "evidence")
        problems.append(Problem(path, files.line_of(doc, loc), f"summary.{message}"))
    return problems


def _number_problems(path: Path, doc: Any, record: SummaryRecord) -> list[Problem]:
    """Chinese bullets stating a number their English bullet does not (e.g. edited on one side only)."""
    zh = record.summary.zh
    if record.summary.en is None or not isinstance(zh, ChineseSummary):
        return []
    problems = []
    for name in FIELDS:
        for i, (en, text) in enumerate(zip(getattr(record.summary.en, name), getattr(zh, name), strict=False)):
            if mismatch := grounding.quantity_mismatch(text, en.text):
                problems.append(Problem(path, files.line_of(doc, ("summary", "zh", name, i)),
                                        f"summary.zh.{name}[{i + 1}]: {mismatch}"))
    return problems


def _glossary_problems(path: Path, doc: Any, record: SummaryRecord, terms: Mapping[str, str]) -> list[Problem]:
    """Chinese bullets that do not use the list's Chinese term for an English term of their bullet."""
    zh = record.summary.zh
    if record.summary.en is None or not isinstance(zh, ChineseSummary):
        return []
    return [Problem(path, files.line_of(doc, ("summary", "zh", name, i)) if doc is not None else None,
                    f"summary.zh.{name}[{i + 1}]: {miss} (glossary)")
            for name in FIELDS
            for i, (en, text) in enumerate(zip(getattr(record.summary.en, name), getattr(zh, name), strict=False))
            for miss in glossary.misses(en.text, text, terms)]


def validate_file(path: Path, lookup: TextLookup | None = None,
                  terms: Mapping[str, str] | None = None) -> FileReport:
    """Every problem of one summary file (never raises for a bad file: it reports it)."""
    # Most files are fine: read them fast, and read round-trip (for the lines) only what has a problem.
    record = store.fast_record(path)
    if record is not None:
        report = _check(path, None, record, lookup, terms)
        if not report.problems:
            return report
    try:
        doc = store.parse_document(path)
    except store.RecordInvalid as exc:
        return FileReport(path, None, list(exc.problems))
    except StoreError as exc:
        return FileReport(path, None, [Problem(path, None, str(exc))])
    record, problems = store.validate_document(path, doc)
    if record is None:
        return FileReport(path, record, problems)
    report = _check(path, doc, record, lookup, terms)
    report.problems[:0] = problems
    return report


def _check(path: Path, doc: Any, record: SummaryRecord, lookup: TextLookup | None,
           terms: Mapping[str, str] | None = None) -> FileReport:
    report = FileReport(path, record, [])
    report.problems.extend(_bibliography_problems(path, doc, record))
    sha = record.provenance.source_sha256
    if record.provenance.backend == "imported" or record.summary.en is None:
        return report
    report.problems.extend(_number_problems(path, doc, record))
    report.problems.extend(_glossary_problems(path, doc, record, glossary.SEED if terms is None else terms))
    if not sha:
        report.notes.append(f"{path}: grounding not checked: provenance.source_sha256 is missing")
    elif lookup is None:
        report.notes.append(f"{path}: grounding not checked: no extracted text given")
    elif (text := lookup(record)) is None:
        report.notes.append(f"{path}: grounding not checked: no cached extracted text for source "
                            f"{sha[:12]} (run `pipeline extract` on the paper to enable it)")
    else:
        report.problems.extend(_grounding_problems(path, doc, record, text))
    return report


def _expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.yaml"), key=lambda p: p.stem))
        else:
            files.append(path)
    return files


def validate_paths(paths: Sequence[Path], *, summaries_dir: Path, lookup: TextLookup | None = None,
                   terms: Mapping[str, str] | None = None) -> ValidationReport:
    """Validate the given files and folders (folders: their ``*.yaml``); default: every record."""
    if not paths and not summaries_dir.is_dir():
        return ValidationReport([])  # nothing summarized yet is not an error
    files = _expand(paths or [summaries_dir])
    reports = []
    for path in files:
        if not path.exists():
            reports.append(FileReport(path, None, [Problem(path, None, "no such file")]))
            continue
        reports.append(validate_file(path, lookup, terms))
    log.info("validated %d files", len(reports))
    return ValidationReport(reports)
