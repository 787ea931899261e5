"""``papers.yaml``: the reading backlog and the list's structure, edited by people and by commands.

The file is round-tripped with ruamel.yaml so comments, key order and quoting survive every write,
and written atomically (`pipeline.storage.files`). Loading validates it against
`pipeline.core.models.PapersFile` and cross-checks it (each entry's setting/topic exists, no paper twice);
every problem is reported as ``file:line: what (how to fix)``.

A paper known only by its title (as in a hand-made list) uses ``source: "title:<title>"``; its key is
a slug of the title plus 8 hex digits of a hash of the folded title (`title_key`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from pipeline.core.config import Settings
from pipeline.core.errors import ConfigError, SourceError
from pipeline.core.errors import PapersChanged as PapersChanged  # defined with every error; re-exported
from pipeline.core.models import PaperEntry, PapersFile
from pipeline.model import glossary, grounding
from pipeline.model.summary import DEFAULT_SETTINGS
from pipeline.sources.ids import match_arxiv_id, parse_source, slug
from pipeline.storage import fastyaml, files

log = logging.getLogger(__name__)
_T = TypeVar("_T")

TITLE_PREFIX = "title:"


@dataclass
class PapersDoc:
    """A loaded ``papers.yaml``: the validated model (``data``) and the round-trip document (``raw``).

    Change ``data`` (assign fields, append entries) and call `save_papers`; the raw document is
    updated in place so untouched comments and formatting stay as they were.
    """

    path: Path
    data: PapersFile
    raw: CommentedMap
    # What the file held when it was loaded; a new document expects no file.
    loaded: files.Snapshot = field(default_factory=lambda: files.Snapshot(None))
    # Loaded for reading only (`load_papers(read_only=True)`): ``raw`` is empty, so it cannot be saved.
    read_only: bool = False
    # A new document's leading comment (`new_papers`); None for a loaded one.
    header: str | None = None


# --------------------------------------------------------------------------- keys


def title_key(title: str) -> str:
    """The summary key of a paper known by its title: a slug plus a hash of the folded title."""
    folded = grounding.normalize(title)
    digest = hashlib.sha256(folded.encode("utf-8")).hexdigest()[:8]
    return f"{slug(title, 40)}-{digest}"


def title_source(title: str) -> str:
    """The ``source`` value of a paper known only by its title."""
    return f"{TITLE_PREFIX}{' '.join(title.split())}"


def entry_key(entry: PaperEntry) -> str:
    """The summary key of an entry: its ``key``, else derived from its source (title slug for titles)."""
    if entry.key:
        return entry.key
    if entry.source.startswith(TITLE_PREFIX):
        title = entry.source[len(TITLE_PREFIX):].strip() or (entry.title or "")
        if not title:
            raise ConfigError(f"paper entry {entry.source!r} has an empty title",
                              hint="write source: \"title:<the paper's title>\"")
        return title_key(title)
    return parse_source(entry.source).key


def entry_arxiv_id(entry: PaperEntry) -> str | None:
    """The canonical arXiv id (no version) an entry names, if any; never touches the filesystem."""
    text = entry.source.strip()
    if text.startswith(TITLE_PREFIX) or not text:
        return None
    bare = text.split("arxiv.org/", 1)[-1] if "arxiv.org/" in text else text
    for prefix in ("abs/", "pdf/", "html/", "arXiv:", "arxiv:"):
        if bare.startswith(prefix):
            bare = bare[len(prefix):]
    bare = bare.removesuffix(".pdf").rstrip("/")
    found = match_arxiv_id(bare)
    return found[0] if found else None


def _identity(entry: PaperEntry) -> str:
    """What makes two entries the same paper (arXiv id any version, key, or source text)."""
    if arxiv_id := entry_arxiv_id(entry):
        return f"arxiv:{arxiv_id}"
    if entry.key or entry.source.startswith(TITLE_PREFIX):
        try:
            return f"key:{entry_key(entry)}"
        except ConfigError:
            pass
    # Not parse_source: for a local PDF it hashes the whole file, on every load of papers.yaml.
    return f"source:{entry.source.strip()}"


# --------------------------------------------------------------------------- load


def _where(path: Path, raw: Any, loc: Sequence[int | str]) -> str:
    line = files.line_of(raw, loc)
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    return f"{path}:{line}: {field}" if line else f"{path}: {field}"


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return str(node)


def parse_papers(text: str, path: Path) -> PapersDoc:
    """Parse and validate the text of a papers file; ConfigError naming ``path:line`` otherwise."""
    try:
        raw = files.round_trip_yaml().load(text)
    except MarkedYAMLError as exc:
        line = files.error_line(exc) or "?"
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc}",
                          hint="fix the YAML syntax at that line") from exc
    except YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}", hint="fix the YAML syntax") from exc
    if not isinstance(raw, CommentedMap):
        raise ConfigError(f"{path}:1: papers file must be a mapping with 'list' and 'papers'",
                          hint="see the schema at the top of the repository's papers.yaml")
    try:
        data = PapersFile.model_validate(_plain(raw))
    except ValidationError as exc:
        problems = [f"{_where(path, raw, err['loc'])}: {str(err['msg']).removeprefix('Value error, ')}"
                    for err in exc.errors()]
        raise ConfigError("; ".join(problems[:10]) + (f"; and {len(problems) - 10} more"
                                                      if len(problems) > 10 else ""),
                          hint="fix these fields; the schema is documented at the top of papers.yaml") from exc
    doc = PapersDoc(path=path, data=data, raw=raw)
    problems = check_structure(doc)
    if problems:
        raise ConfigError("; ".join(problems), hint="fix papers.yaml at those lines")
    return doc


def check_structure(doc: PapersDoc) -> list[str]:
    """Cross-field problems: unknown setting/topic ids, duplicate ids, the same paper twice."""
    problems: list[str] = []
    sections = {}
    for i, section in enumerate(doc.data.list.sections):
        if section.id in sections:
            problems.append(f"{_where(doc.path, doc.raw, ['list', 'sections', i, 'id'])}: "
                            f"duplicate section id {section.id!r}")
        sections[section.id] = {t.id for t in section.topics}
        if len(sections[section.id]) != len(section.topics):
            problems.append(f"{_where(doc.path, doc.raw, ['list', 'sections', i, 'topics'])}: "
                            f"duplicate topic id in section {section.id!r}")
    seen: dict[str, int] = {}
    for i, entry in enumerate(doc.data.papers):
        if entry.setting is not None and entry.setting not in sections:
            problems.append(f"{_where(doc.path, doc.raw, ['papers', i, 'setting'])}: unknown setting "
                            f"{entry.setting!r} (declared: {', '.join(sections) or 'none'})")
        elif entry.topic is not None:
            if entry.setting is None:
                problems.append(f"{_where(doc.path, doc.raw, ['papers', i, 'topic'])}: a topic needs a setting")
            elif entry.topic not in sections[entry.setting]:
                problems.append(f"{_where(doc.path, doc.raw, ['papers', i, 'topic'])}: unknown topic "
                                f"{entry.topic!r} in setting {entry.setting!r}")
        ident = _identity(entry)
        if ident in seen:
            first = doc.data.papers[seen[ident]]
            problems.append(f"{_where(doc.path, doc.raw, ['papers', i, 'source'])}: duplicate paper "
                            f"{entry.source!r}, already listed as {first.source!r} at line "
                            f"{files.line_of(doc.raw, ['papers', seen[ident]])}")
        else:
            seen[ident] = i
    return problems


def _read_only(text: str, path: Path) -> PapersDoc | None:
    plain = fastyaml.load(text)
    if not isinstance(plain, dict):
        return None
    try:
        doc = PapersDoc(path=path, data=PapersFile.model_validate(plain), raw=CommentedMap(), read_only=True)
    except ValidationError:
        return None  # parse_papers reports it with its lines
    return None if check_structure(doc) else doc


def load_papers(path: Path, *, read_only: bool = False) -> PapersDoc:
    """Load and validate ``papers.yaml``; ConfigError with ``file:line`` for YAML and schema errors.

    ``read_only``: for commands that write nothing; through the fast loader where it can
    (`pipeline.storage.fastyaml`), keeping no comments or positions: such a document cannot be saved,
    and `files.line_of` finds no line in it.
    """
    try:
        data = path.read_bytes()
        # The snapshot is of the bytes: a digest of the decoded text never matched a file with
        # Windows line endings, so such a file could not be updated at all.
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        raise ConfigError(f"papers file not found: {path}",
                          hint="create it (the README's tour shows a first one; `pipeline import LIST.md` makes one "
                          "from an existing list) or set PIPELINE_PAPERS_FILE") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {path}: it is not UTF-8 text ({exc})",
                          hint="save it as UTF-8 in your editor") from exc
    doc = (_read_only(text, path) if read_only else None) or parse_papers(text, path)
    doc.loaded = files.Snapshot.of(data)
    return doc


def list_context(settings: Settings) -> tuple[tuple[str, ...], dict[str, str]]:
    """The settings a summary may choose (the list's sections) and the glossary (seed plus the list's own).

    Without a readable ``papers.yaml`` the model chooses from a generic vocabulary of settings. Here,
    not in `pipeline.workspace.summarize`, so that `validate` gets the glossary without importing the
    LLM client (openai alone took half a second to import).
    """
    path = settings.papers_file
    if not path.is_file():
        return DEFAULT_SETTINGS, glossary.merged(None)
    try:
        info = load_papers(path, read_only=True).data.list
    except ConfigError as exc:
        log.warning("%s cannot be read (%s): settings and glossary fall back to the defaults", path, exc)
        return DEFAULT_SETTINGS, glossary.merged(None)
    ids = tuple(section.id for section in info.sections) or DEFAULT_SETTINGS
    return ids, glossary.merged(info.glossary)


def new_papers(path: Path, data: PapersFile, header: str = "") -> PapersDoc:
    """A document for a papers file that does not exist yet (``header``: leading comment, no ``#``)."""
    raw = CommentedMap()
    if header:
        raw.yaml_set_start_comment(header)
    return PapersDoc(path=path, data=data, raw=raw, header=header)


# --------------------------------------------------------------------------- save


def _dump(model: BaseModel) -> dict[str, Any]:
    # Fields left unset are not written; None means "remove the key" so cleared errors disappear.
    dumped = model.model_dump(mode="json", exclude_unset=True)
    return {k: v for k, v in dumped.items() if v is not None}


def _merge_map(raw: CommentedMap, new: dict[str, Any], order: Sequence[str]) -> None:
    for key in [k for k in raw if k not in new]:
        del raw[key]
    for key in order:
        if key not in new:
            continue
        value = new[key]
        if key in raw and _plain(raw[key]) == value:
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict) and isinstance(raw.get(key), list):
            raw[key] = _merge_seq(raw[key], value)
        elif isinstance(value, dict) and isinstance(raw.get(key), CommentedMap):
            _merge_map(raw[key], value, list(value))
        elif key in raw:
            raw[key] = value
        else:
            raw.insert(_insert_position(raw, key, order), key, value)


def _insert_position(raw: CommentedMap, key: str, order: Sequence[str]) -> int:
    rank = {k: i for i, k in enumerate(order)}
    pos = 0
    for i, existing in enumerate(raw):
        if rank.get(existing, len(order)) < rank[key]:
            pos = i + 1
    return pos


def _merge_seq(raw: CommentedSeq, new: list[dict[str, Any]]) -> CommentedSeq:
    def ident(item: Any) -> str | None:
        if isinstance(item, Mapping):
            value = item.get("id", item.get("source"))
            return str(value) if value is not None else None
        return None

    by_id = {ident(item): item for item in raw if ident(item) is not None}
    result: list[Any] = []
    for value in new:
        old = by_id.get(ident(value))
        if isinstance(old, CommentedMap):
            _merge_map(old, value, list(value))
            result.append(old)
        else:
            result.append(value)
    _replace_items(raw, result)
    return raw


def _replace_items(seq: CommentedSeq, result: list[Any]) -> None:
    """Make ``seq`` hold ``result``, in place, so the sequence's own comments and style stay attached."""
    same_prefix = 0
    while same_prefix < min(len(seq), len(result)) and seq[same_prefix] is result[same_prefix]:
        same_prefix += 1
    del seq[same_prefix:]
    seq.extend(result[same_prefix:])


def _sync(doc: PapersDoc) -> None:
    data = doc.data
    list_new = _dump(data.list)
    list_new["sections"] = [_section_dump(s) for s in data.list.sections]
    if not data.list.sections:
        list_new.pop("sections")
    papers = [_dump(p) for p in data.papers]
    if not isinstance(doc.raw.get("list"), CommentedMap):
        doc.raw["list"] = CommentedMap()
    _merge_map(doc.raw["list"], list_new, list(type(data.list).model_fields))
    if "papers" not in doc.raw or not isinstance(doc.raw["papers"], CommentedSeq):
        doc.raw["papers"] = CommentedSeq()
    seq = doc.raw["papers"]
    by_source = {str(item.get("source")): item for item in seq if isinstance(item, CommentedMap)}
    order = list(PaperEntry.model_fields)
    result: list[Any] = []
    for new in papers:
        old = by_source.pop(new["source"], None)
        if isinstance(old, CommentedMap):
            _merge_map(old, new, order)
            result.append(old)
        else:
            # What merging into an empty map gives, without its per-key insert search (an import of
            # 1,000 entries spent 0.1 s there).
            result.append(CommentedMap([(key, new[key]) for key in order if key in new]))
    _replace_items(seq, result)


def _section_dump(section: BaseModel) -> dict[str, Any]:
    dumped = _dump(section)
    topics = getattr(section, "topics", [])
    if topics:
        dumped["topics"] = [_dump(t) for t in topics]
    return dumped


def dump_papers(doc: PapersDoc) -> str:
    """The text `save_papers` would write."""
    _sync(doc)
    if doc.header is not None and doc.loaded.sha256 is None:
        # A new file (an import of 1,000 rows): nothing but the leading comment to keep, so the fast
        # emitter writes the round-trip dumper's bytes; it took seconds through ruamel.
        comment, body = _comment_text(doc.header), fastyaml.dump(doc.raw)
        if comment is not None and body is not None:
            return comment + body
    return files.dump_yaml(doc.raw)


@functools.lru_cache(maxsize=8)
def _comment_text(header: str) -> str | None:
    # The leading comment exactly as the round-trip dumper writes it above a document.
    probe = CommentedMap(k=0)
    if header:
        probe.yaml_set_start_comment(header)
    text = files.dump_yaml(probe)
    return text[: -len("k: 0\n")] if text.endswith("k: 0\n") else None


def save_papers(doc: PapersDoc) -> None:
    """Validate and write ``doc`` atomically, keeping comments, key order and quoting.

    Raises `PapersChanged`, writing nothing, when the file on disk is no longer the text ``doc`` was
    loaded from (or exists although ``doc`` is new): writing would undo that other edit. Callers that
    reload and redo their change (`update_entry`, `add_entry`, batch runs) do so on this error.
    """
    if doc.read_only:
        raise ConfigError(f"{doc.path} was loaded for reading only; nothing was written",
                          hint="load it with load_papers(path) to change it")
    problems = check_structure(doc)
    if problems:
        raise ConfigError("; ".join(problems), hint="nothing was written")
    text = dump_papers(doc)
    # Re-validate what we are about to write, so a bug here can never leave an unloadable file (fast
    # when it can: the round-trip parse of 1,000 entries took seconds; it stays the one for errors).
    if _read_only(text, doc.path) is None:
        parse_papers(text, doc.path)
    try:
        doc.loaded = files.atomic_write(doc.path, text, expected=doc.loaded)
    except files.FileChanged as exc:
        raise PapersChanged(f"{doc.path} changed on disk after it was read; nothing was written",
                            hint="run the command again: it re-reads the file and keeps that edit") from exc


# --------------------------------------------------------------------------- edits


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive access to the papers file ``path`` for one read-modify-write, against this process's
    other threads and other processes (`pipeline.storage.files`, lock file ``.<name>.lock`` beside it)."""
    with files.exclusive(path.parent / f".{path.name}.lock"):
        yield


def edit_papers(path: Path, change: Callable[[PapersDoc], _T], *, attempts: int = 5) -> _T:
    """Load ``path``, apply ``change`` and save, under the lock; reload and redo when the file was
    edited on disk in between (`PapersChanged`). Returns what ``change`` returned."""
    attempt = 1
    while True:
        with locked(path):
            doc = load_papers(path)
            result = change(doc)
            try:
                save_papers(doc)
                return result
            except PapersChanged:
                if attempt >= attempts:
                    raise
        attempt += 1
        log.info("%s changed while being updated; reloading it (attempt %d)", path, attempt)


def find_entry(doc: PapersDoc, source_or_key: str) -> int:
    """Index of the entry whose source, key or arXiv id (any version) is ``source_or_key``."""
    wanted = source_or_key.strip()
    probe = PaperEntry(source=wanted)
    wanted_id = entry_arxiv_id(probe)
    for i, entry in enumerate(doc.data.papers):
        if entry.source.strip() == wanted or entry.key == wanted:
            return i
        if wanted_id is not None and entry_arxiv_id(entry) == wanted_id:
            return i
    for i, entry in enumerate(doc.data.papers):
        try:
            if entry_key(entry) == wanted:
                return i
        except (SourceError, ConfigError):
            continue
    raise ConfigError(f"no entry {source_or_key!r} in {doc.path}",
                      hint="give the entry's source, key or arXiv id; add it with `add` first")


def update_entry(path: Path, source_or_key: str, **changes: Any) -> PaperEntry:
    """Change one entry's fields in ``path`` (reloaded, validated, written atomically, under the lock)."""

    def change(doc: PapersDoc) -> PaperEntry:
        index = find_entry(doc, source_or_key)
        entry = doc.data.papers[index]
        merged = entry.model_dump(exclude_unset=True) | changes
        try:
            updated = PaperEntry.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(f"invalid change to entry {entry.source!r} in {path}: "
                              f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
        doc.data.papers[index] = updated
        return updated

    return edit_papers(path, change)


def _folded_title(entry: PaperEntry) -> str:
    title = entry.title or (entry.source[len(TITLE_PREFIX):] if entry.source.startswith(TITLE_PREFIX) else "")
    return "".join(ch for ch in grounding.normalize(title) if ch.isalnum())


def add_entry(path: Path, entry: PaperEntry) -> None:
    """Append ``entry`` to ``path``; ConfigError naming the existing entry if it is already listed
    (same arXiv id in any version, same key, or the same title, e.g. a ``title:`` entry of the paper)."""

    def change(doc: PapersDoc) -> None:
        ident, title = _identity(entry), _folded_title(entry)
        for i, existing in enumerate(doc.data.papers):
            if _identity(existing) == ident or (title and _folded_title(existing) == title):
                raise ConfigError(
                    f"{entry.source!r} is already in {path} as {existing.source!r} "
                    f"(line {files.line_of(doc.raw, ['papers', i])})",
                    hint="the same paper (any arXiv version) is listed once; edit that entry instead")
        doc.data.papers.append(entry)

    edit_papers(path, change)
