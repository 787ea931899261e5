"""The summary store: ``summaries/<key>.yaml``, one round-trip YAML file per paper.

Files are edited by people, so they are read and written with ruamel.yaml's round-trip mode:
comments, key order and scalar styles survive every save, and writes are atomic
(`pipeline.storage.files`). Loading validates against `SummaryRecord`; every problem names the file and
the line.

Beside the records live:

- ``_original/<key>.yaml``: the model's output as written, so a human edit can be told apart.
  Edits are compared on validated *data* (``status`` and ``review`` excluded), so a comment or a
  re-quoted string alone is not an edit; such comments are still kept on every save.
- ``_proposed/<key>.yaml``: a newer model output that was not applied because the record was
  edited or already reviewed (``_proposed/<key>.previous.yaml``: what ``--force`` replaced).
- ``_failed/<key>.yaml``: the raw attempts of a summarize run that failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString, ScalarString

from pipeline.core.errors import Problem as Problem  # defined with every error; re-exported for callers
from pipeline.core.errors import RecordInvalid as RecordInvalid
from pipeline.core.errors import StoreError
from pipeline.core.models import ReviewEvent
from pipeline.model.summary import SummaryRecord
from pipeline.storage import fastyaml, files, yamlindex

log = logging.getLogger(__name__)

LOCK_FILE = ".summaries.lock"
_ATTEMPTS = 5
_T = TypeVar("_T")
ORIGINAL_DIR = "_original"
PROPOSED_DIR = "_proposed"
FAILED_DIR = "_failed"
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # fullmatch: "$" would let a trailing newline through
# Fields a review action changes; they are not content, so they never make a record "edited".
_NOT_CONTENT = ("status", "review")


@dataclass(frozen=True)
class DraftWrite:
    """What `write_draft` did: the path written and a one-line message for the user."""

    path: Path
    outcome: Literal["created", "replaced", "proposed", "unchanged"]
    message: str


def parse_document(path: Path) -> Any:
    """The round-trip document of ``path``; RecordInvalid with the line on YAML errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"no summary file {path}", hint="run `pipeline summarize` first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    try:
        return files.round_trip_yaml().load(text)
    except MarkedYAMLError as exc:
        line = files.error_line(exc)
        what = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise RecordInvalid([Problem(path, line, f"YAML error: {what}")]) from exc
    except YAMLError as exc:
        raise RecordInvalid([Problem(path, None, f"YAML error: {' '.join(str(exc).split())}")]) from exc


def _bullet_line(doc: Any, loc: tuple[int | str, ...], message: str) -> int | None:
    # List validators say "bullet N ..."; point at that bullet rather than at the list's key.
    match = re.match(r"bullet (\d+) ", message)
    if match:
        return files.line_of(doc, (*loc, int(match.group(1)) - 1))
    return files.line_of(doc, loc)


def _is_union_tag(part: int | str) -> bool:
    # Pydantic puts the union member into the error location ("ChineseSummary",
    # "function-after[...]"); record field names are lower-case identifiers.
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def validate_document(path: Path, doc: Any) -> tuple[SummaryRecord | None, list[Problem]]:
    """Validate a parsed document against `SummaryRecord`; problems carry file and line."""
    if doc is None:
        return None, [Problem(path, 1, "the file is empty; a summary record is expected")]
    if not isinstance(doc, CommentedMap):
        return None, [Problem(path, 1, "a summary record must be a mapping (key: value lines)")]
    try:
        record = SummaryRecord.model_validate(to_jsonable_python(doc))
    except ValidationError as exc:
        problems: list[Problem] = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
            message = str(err["msg"]).removeprefix("Value error, ")
            where = ".".join(str(p) for p in loc) or "record"
            problem = Problem(path, _bullet_line(doc, loc, message), f"{where}: {message}")
            if problem not in problems:  # each member of a union reports the same fault
                problems.append(problem)
        return None, problems
    problems = []
    if path.stem != record.key and path.parent.name not in (ORIGINAL_DIR, PROPOSED_DIR):
        problems.append(Problem(path, files.line_of(doc, ("key",)),
                                f"key: {record.key!r} does not match the file name {path.name!r}"))
    return record, problems


def _load(path: Path) -> tuple[Any, SummaryRecord]:
    doc = parse_document(path)
    record, problems = validate_document(path, doc)
    if problems or record is None:
        raise RecordInvalid(problems)
    return doc, record


def _record_data(record: SummaryRecord) -> dict[str, Any]:
    data: dict[str, Any] = record.model_dump(mode="json", exclude_none=True)
    return data


def _to_node(value: Any) -> Any:
    if isinstance(value, dict):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = _to_node(item)
        return node
    if isinstance(value, list):
        return CommentedSeq(_to_node(item) for item in value)
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    return value


def _same_scalar(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, dt.datetime) and isinstance(new, str):
        try:
            return old == dt.datetime.fromisoformat(new)
        except ValueError:
            return False
    return bool(old == new)


def _merge(old: Any, new: Any) -> Any:
    """Update the round-trip node ``old`` to hold ``new``, keeping comments and styles where possible."""
    if isinstance(old, CommentedMap) and isinstance(new, dict):
        for key in [k for k in old if k not in new]:
            del old[key]
        previous: Any = None
        for key, value in new.items():
            if key in old:
                merged = _merge(old[key], value)
                if merged is not old[key]:
                    old[key] = merged
            else:
                keys = list(old)
                pos = keys.index(previous) + 1 if previous in keys else 0
                old.insert(pos, key, _to_node(value))
            previous = key
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        while len(old) > len(new):
            del old[len(old) - 1]
        for i, value in enumerate(new):
            if i < len(old):
                merged = _merge(old[i], value)
                if merged is not old[i]:
                    old[i] = merged
            else:
                old.append(_to_node(value))
        return old
    if not isinstance(new, dict | list) and not isinstance(old, dict | list) and _same_scalar(old, new):
        return old
    if isinstance(old, ScalarString) and isinstance(new, str):
        return type(old)(new)  # the curator chose this quoting or block style; keep it
    return _to_node(new)


# --------------------------------------------------------------------------- public API


def record_path(summaries_dir: Path, key: str) -> Path:
    """Path of the record for ``key``; StoreError when the key is not filesystem-safe or too long."""
    if not _KEY.fullmatch(key):
        raise StoreError(f"invalid summary key {key!r}",
                         hint="keys are letters, digits, '.', '_' and '-', e.g. 2209.08575")
    limit = files.limits().max_key_length
    if len(key) > limit:
        raise StoreError(f"summary key {key[:40]}... is {len(key)} characters, over the limit of {limit}",
                         hint="choose a shorter key (PIPELINE_MAX_KEY_LENGTH raises the limit up to 200)")
    return summaries_dir / f"{key}.yaml"


def _sub_folder(summaries_dir: Path, name: str) -> Path:
    # A symlinked _original/ (or one in a folder moved by a symlink) would put files outside the
    # summaries folder, wherever the link points.
    folder = summaries_dir / name
    if folder.is_symlink() or (folder.exists() and not folder.resolve().is_relative_to(summaries_dir.resolve())):
        raise StoreError(f"{folder} is a symbolic link; pipeline writes only inside {summaries_dir}",
                         hint=f"replace the link by a real folder (mv it away, then mkdir {folder})")
    return folder


def original_path(summaries_dir: Path, key: str) -> Path:
    """Path of the model's original output for ``key``."""
    return _sub_folder(record_path(summaries_dir, key).parent, ORIGINAL_DIR) / f"{key}.yaml"


def proposed_path(summaries_dir: Path, key: str, *, previous: bool = False) -> Path:
    """Path of a proposed (not applied) model output, or of the version ``--force`` replaced."""
    name = f"{key}.previous.yaml" if previous else f"{key}.yaml"
    return _sub_folder(record_path(summaries_dir, key).parent, PROPOSED_DIR) / name


def failure_path(summaries_dir: Path, key: str) -> Path:
    """Path of the failure record for ``key``."""
    return _sub_folder(record_path(summaries_dir, key).parent, FAILED_DIR) / f"{key}.yaml"


def load_record(path: Path) -> SummaryRecord:
    """Read and validate one summary file; RecordInvalid (a StoreError) names file and line."""
    return _load(path)[1]


def fast_record(path: Path) -> SummaryRecord | None:
    """The record of ``path`` through the fast read-only loader (`pipeline.storage.fastyaml`), or
    None when that cannot vouch for it (then `load_record` reads it and locates any problem)."""
    data = yamlindex.load_json(path)
    if not isinstance(data, dict):
        return None
    try:
        record = SummaryRecord.model_validate(data)
    except ValidationError:
        return None
    if path.stem != record.key and path.parent.name not in (ORIGINAL_DIR, PROPOSED_DIR):
        return None
    return record


def iter_records(summaries_dir: Path, errors: list[StoreError] | None = None, *,
                 read_only: bool = False) -> Iterator[tuple[Path, SummaryRecord]]:
    """Every record in ``summaries_dir`` sorted by key (``_original/`` etc. are skipped).

    Raises on the first invalid file, unless ``errors`` is given: then invalid files are appended
    to it and skipped. ``read_only``: for commands that write none of them, through the fast loader
    where it can (`fast_record`): same records, same errors, a tenth of the time.
    """
    if not summaries_dir.is_dir():
        return
    for path in sorted(summaries_dir.glob("*.yaml"), key=lambda p: p.stem):
        try:
            record = (fast_record(path) if read_only else None) or load_record(path)
        except StoreError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        yield path, record


def consistent(summaries_dir: Path, key: str, operation: Callable[[files.Snapshot], _T]) -> _T:
    """Run ``operation``, which reads the record of ``key`` and rewrites it, so that it never writes
    over a version it did not read.

    It runs under a lock shared by this process's threads and other processes (`files.exclusive`).
    ``operation`` is given a `files.Snapshot` of the record as it was when it started, and passes it
    as ``expected`` to its write of the record (`save_record`, `files.atomic_write`): when a curator
    saved the file in an editor meanwhile, that write is refused and the operation starts again from
    the file as it is now.
    """
    path = record_path(summaries_dir, key)
    with files.exclusive(summaries_dir / LOCK_FILE):
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return operation(files.Snapshot.read(path))
            except files.FileChanged as exc:
                if exc.path != path:
                    raise
                log.info("%s changed while being updated; reading it again (attempt %d)", path, attempt + 1)
    raise StoreError(f"{path} kept changing while pipeline was updating it; nothing was written",
                     hint="run the command again once the file is saved")


def save_record(summaries_dir: Path, record: SummaryRecord, *, expected: files.Snapshot | None = None) -> Path:
    """Write ``record`` atomically; an existing file is updated in place so comments survive.

    Without ``expected`` it runs as its own `consistent` operation. Inside one, pass the operation's
    snapshot as ``expected``: the write is then refused (`files.FileChanged`) when the file changed.
    """
    path = record_path(summaries_dir, record.key)
    if expected is None:
        consistent(summaries_dir, record.key, lambda seen: save_record(summaries_dir, record, expected=seen))
        return path
    # A new file has no comments to keep: the fast emitter writes the round-trip dumper's bytes.
    text = files.dump_yaml(_merge(parse_document(path), _record_data(record))) if path.exists() \
        else _new_text(record)
    files.atomic_write(path, text, expected=expected)
    return path


def save_new_records(summaries_dir: Path, records: Sequence[SummaryRecord]) -> list[Path]:
    """Write ``records`` as `save_record` would, in one batch: the files that do not exist yet are
    created together (`files.create_files`: one sync for all, not two per file); a file that exists
    is updated in place by `save_record`, so its comments survive."""
    paths = [record_path(summaries_dir, record.key) for record in records]
    with files.exclusive(summaries_dir / LOCK_FILE):
        fresh: dict[Path, int] = {}  # path -> the first record for it (a later one updates that file)
        for index, path in enumerate(paths):
            if path not in fresh and not path.exists():
                fresh[path] = index
        data = {path: _record_data(records[index]) for path, index in fresh.items()}
        dumped = {path: fastyaml.dump(item) for path, item in data.items()}
        texts = [(path, dumped[path] or files.dump_yaml(_to_node(item))) for path, item in data.items()]
        taken = set(files.create_files(texts))
        for path, text in texts:
            if path not in taken and dumped[path] is not None:
                # What the next read-only command would parse back: its data as dumped.
                yamlindex.written(path, text, data[path])
        for index, (path, record) in enumerate(zip(paths, records, strict=True)):
            if fresh.get(path) != index or path in taken:
                save_record(summaries_dir, record)
    return paths


def _new_text(record: SummaryRecord) -> str:
    data = _record_data(record)
    return fastyaml.dump(data) or files.dump_yaml(_to_node(data))


def _content(record: SummaryRecord) -> dict[str, Any]:
    data = _record_data(record)
    for name in _NOT_CONTENT:
        data.pop(name, None)
    return data


def content_yaml(record: SummaryRecord) -> str:
    """The record's content (``status`` and ``review`` left out) as plain YAML, for diffs."""
    return files.dump_yaml(_to_node(_content(record)))


def is_edited(summaries_dir: Path, key: str) -> bool:
    """True when the record's content differs from the model's original output.

    Comments and formatting are not content. A record with no original (or an unreadable file)
    counts as edited, because nothing proves it is not.
    """
    original = original_path(summaries_dir, key)
    if not original.exists():
        return True
    try:
        return _content(load_record(record_path(summaries_dir, key))) != _content(load_record(original))
    except StoreError:
        return True


def _write_fresh(path: Path, record: SummaryRecord, header: str | None = None, *,
                 expected: files.Snapshot | None = None) -> None:
    doc = _to_node(_record_data(record))
    if header:
        doc.yaml_set_start_comment(header)
    files.atomic_write(path, files.dump_yaml(doc), expected=expected)


def _same_output(a: SummaryRecord, b: SummaryRecord) -> bool:
    def strip(record: SummaryRecord) -> dict[str, Any]:
        data = _content(record)
        data["provenance"].pop("created_at", None)
        data["provenance"].pop("usage", None)
        return data
    return strip(a) == strip(b)


def write_draft(summaries_dir: Path, record: SummaryRecord, *, force: bool = False) -> DraftWrite:
    """Store a new model output for ``record.key`` without ever losing a curator's edit.

    No file: create it (and ``_original/``). An untouched draft: replace it in place. An edited
    or reviewed record: leave it and write ``_proposed/<key>.yaml``, unless ``force``, which first
    copies the current file to ``_proposed/<key>.previous.yaml``, then replaces it as a draft.
    """
    path = record_path(summaries_dir, record.key)
    key = record.key
    with files.exclusive(summaries_dir / LOCK_FILE):
        result = consistent(summaries_dir, key,
                            lambda seen: _write_draft_locked(summaries_dir, path, record, force, seen))
        failure_path(summaries_dir, key).unlink(missing_ok=True)
    log.info("%s", result.message)
    return result


def _write_draft_locked(summaries_dir: Path, path: Path, record: SummaryRecord, force: bool,
                        seen: files.Snapshot) -> DraftWrite:
    key = record.key
    original = original_path(summaries_dir, key)
    if not path.exists():
        text = files.dump_yaml(_to_node(_record_data(record)))  # one dump serves the draft and its original
        files.atomic_write(path, text, expected=seen)
        files.atomic_write(original, text)
        proposed_path(summaries_dir, key).unlink(missing_ok=True)
        return DraftWrite(path, "created", f"wrote draft {path}")
    try:
        current: SummaryRecord | None = load_record(path)
    except StoreError:
        current = None
    edited = current is None or is_edited(summaries_dir, key)
    reviewed = current is not None and current.status != "draft"
    # An edited record always gets the new output beside it, even an identical one, so the curator
    # sees that a re-run happened; an untouched or merely reviewed record has nothing new to see.
    if not edited and current is not None and _same_output(current, record):
        return DraftWrite(path, "unchanged", f"{path} is unchanged ({current.status}); the model gave "
                          "the same summary")
    if (edited or reviewed) and not force:
        proposed = proposed_path(summaries_dir, key)
        _write_fresh(proposed, record, header=(
            f"New model output for {key}, NOT applied: {path.name} was "
            f"{'edited by a curator' if edited else 'already reviewed'}.\n"
            f"Compare: pipeline review diff {key} --against proposed"))
        why = ("it is unreadable" if current is None else "a curator edited it" if edited
               else f"it is {current.status}")
        return DraftWrite(proposed, "proposed",
                          f"kept {path} untouched because {why}; the new model output is in {proposed} "
                          f"(compare with `pipeline review diff {key} --against proposed`, "
                          f"or re-run with --force to replace it)")
    previous_note = ""
    if edited or reviewed:
        backup = proposed_path(summaries_dir, key, previous=True)
        files.atomic_write(backup, path.read_bytes())  # bytes: even a file that no longer decodes is kept
        previous_note = f"; the replaced version is in {backup}"
    history = list(current.review) if current is not None else []
    if reviewed and current is not None:
        history.append(ReviewEvent(action="reset", at=dt.datetime.now(dt.UTC).replace(microsecond=0),
                                   note=f"re-summarized with --force; was {current.status}"))
    new = record.model_copy(update={"status": "draft", "review": history})
    if current is None:
        _write_fresh(path, new, expected=seen)
    else:
        save_record(summaries_dir, new, expected=seen)
    _write_fresh(original, record)
    proposed_path(summaries_dir, key).unlink(missing_ok=True)
    return DraftWrite(path, "replaced", f"replaced draft {path}{previous_note}")


def write_failure(summaries_dir: Path, key: str, failure: dict[str, Any]) -> Path:
    """Write ``_failed/<key>.yaml`` with the raw attempts and their errors; the draft is untouched."""
    path = failure_path(summaries_dir, key)
    data = to_jsonable_python(failure, fallback=str)
    with files.exclusive(summaries_dir / LOCK_FILE):
        files.atomic_write(path, files.dump_yaml(_to_node(data)))
    return path
