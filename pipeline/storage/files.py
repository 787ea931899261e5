"""File plumbing for every stage: atomic writes, the cross-process lock, round-trip YAML, line lookup.

Atomic writes
    `atomic_write` (and `atomic_writer`, for data written in pieces) put the data in a temporary file
    in the same folder, fsync it and rename it over the target with ``os.replace``, so a reader sees the
    old file or the new one, never half of one. A replaced file keeps its mode; a new file gets the mode
    a plain ``open()`` would give it (0666 less the umask). Temporary files are named ``.tmp-...``
    (`TEMP_PREFIX`) and are removed when the write fails; those of a killed process are removed
    later by `remove_stale_temps`.

Writes that must not undo someone else's edit
    People edit ``papers.yaml`` and the summaries in their editors, which take no lock. A writer that
    read a file takes a `Snapshot` of what it read and passes it as ``expected``: the write is refused
    with `FileChanged` when the file on disk is no longer that.

The lock
    `exclusive` holds an advisory lock on a lock file (the ``filelock`` library: ``flock`` on Unix),
    against this process's other threads and other processes. It is reentrant within a thread, a
    process forked inside the block must wait for it like any other, and the operating system frees
    it when its holder dies, even by ``kill -9``. The data file cannot carry the lock itself: every
    atomic write replaces it with a new file.

Round-trip YAML
    `round_trip_yaml` is the one ruamel set-up for files people edit: comments, key order and quoting
    survive a load and dump, and an unchanged document is written back byte for byte. `line_of` and
    `error_line` give 1-based line numbers, as editors and ``file:line`` messages count.

    A file arrives in a pull request, so loading it must stay cheap whatever it holds: anchors and
    aliases are refused (seven levels of ten aliases made a 2.3 KB file expand to 10^7 nodes when it
    was turned into plain data), so are explicit tags (``!foo``, ``!!binary``, even ``!!str``: the
    round-trip loader keeps them as tagged objects that are not plain data), and the file size, node
    count and nesting depth are capped (`FilesSettings`, set once per process with `configure`).
    Each refusal is a `ruamel.yaml.composer.ComposerError` pointing at the offending line, so every
    loader reports it as ``path:line`` like a syntax error.
    Dumps never write anchors either, so a file written here can always be read back.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent, ScalarEvent
from ruamel.yaml.nodes import MappingNode
from ruamel.yaml.representer import RoundTripRepresenter

from pipeline.core.config import FilesSettings
from pipeline.core.errors import FileChanged as FileChanged  # defined with every error; callers use files.FileChanged

TEMP_PREFIX = ".tmp-"


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class Snapshot:
    """What a reader saw of a file: the sha256 of its bytes, or None when there was no file."""

    sha256: str | None

    @classmethod
    def of(cls, data: bytes | None) -> Snapshot:
        """The snapshot of a file holding ``data`` (None: a file that does not exist)."""
        return cls(None if data is None else hashlib.sha256(data).hexdigest())

    @classmethod
    def read(cls, path: Path) -> Snapshot:
        """The snapshot of ``path`` as it is on disk now."""
        try:
            return cls.of(path.read_bytes())
        except FileNotFoundError:
            return cls(None)


# --------------------------------------------------------------------------- atomic writes


def atomic_write(path: Path, data: str | bytes, *, expected: Snapshot | None = None) -> Snapshot:
    """Replace ``path`` with ``data`` (str: UTF-8, newlines as given) atomically; return its new snapshot.

    With ``expected``, raise `FileChanged` and leave the file alone when it no longer matches.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_writer(path, expected=expected) as handle:
        handle.write(raw)
    return Snapshot.of(raw)


@contextmanager
def atomic_writer(path: Path, *, expected: Snapshot | None = None) -> Iterator[IO[bytes]]:
    """A binary file to write ``path``'s new content into; it replaces ``path`` when the block ends
    without an exception (an exception leaves ``path`` as it was and removes the temporary file).

    With ``expected``, the replacement is refused with `FileChanged` when ``path`` no longer matches.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path.parent, f"{path.name}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _keep_mode(path, tmp)
        # Checked as late as possible; an editor saving between this check and the rename is not
        # excluded (editors take no lock), only made unlikely.
        if expected is not None and Snapshot.read(path) != expected:
            raise FileChanged(path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def create_files(items: Sequence[tuple[Path, str | bytes]]) -> list[Path]:
    """Create every ``(path, data)`` file of a batch that does not exist yet (str: UTF-8); return the
    paths that existed by the time theirs was to be created, which are left as they are.

    For bulk writes (an import of a thousand summaries), where a sync per file cost more than the
    rest of the write. Each file goes to a temporary file; one ``os.sync`` makes all their data
    durable; only then is each linked into place (a link never replaces: a file that appeared
    meanwhile is kept and reported) and one fsync per folder makes the new names durable. A crash
    can only lose whole new files, never leave a half-written one under its real name.
    """
    written: list[tuple[Path, Path]] = []
    existing: list[Path] = []
    try:
        for path, data in items:
            raw = data.encode("utf-8") if isinstance(data, str) else data
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = _create_temp(path.parent, f"{path.name}-")
            written.append((path, tmp))
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
        os.sync()
        for path, tmp in written:
            try:
                os.link(tmp, path)
            except FileExistsError:
                existing.append(path)
            except OSError:  # a file system without hard links: rename, as atomic_write does
                if path.exists():
                    existing.append(path)
                else:
                    os.replace(tmp, path)
    finally:
        for _, tmp in written:
            tmp.unlink(missing_ok=True)
    for folder in {path.parent for path, _ in written}:
        _fsync_folder(folder)
    return existing


@contextmanager
def temp_file(folder: Path) -> Iterator[Path]:
    """An empty temporary file in ``folder`` (created if missing), removed on exit unless it was moved
    away (`move_into_place`)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(folder, "")
    os.close(fd)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def move_into_place(tmp: Path, path: Path) -> None:
    """Rename the finished file ``tmp`` (same file system) over ``path``, durably; a replaced ``path``
    keeps its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    _keep_mode(path, tmp)
    os.replace(tmp, path)
    _fsync_folder(path.parent)


def remove_stale_temps(folder: Path, older_than: float) -> int:
    """Remove ``.tmp-*`` files in ``folder`` last written more than ``older_than`` seconds ago; return how many.

    A process killed with ``kill -9`` cannot remove its temporary file; a live writer keeps touching
    its own, so only a file nobody has written for that long is taken to be such a leftover.
    """
    removed = 0
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:  # gone meanwhile, or not ours to remove: either way not worth failing a write
            continue
    return removed


def _create_temp(folder: Path, stem: str) -> tuple[int, Path]:
    # Not tempfile.mkstemp: it creates files 0600, and a new file must get the mode open() would give
    # it (umask and default ACLs applied by the kernel), because the rename makes it the real file.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = folder / f"{TEMP_PREFIX}{stem}{secrets.token_hex(6)}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _keep_mode(path: Path, tmp: Path) -> None:
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    os.chmod(tmp, mode)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform or file system allows it, hence best effort.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- the lock


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold the lock named by ``lock_file`` (created if missing) for the duration of the block.

    Threads and processes take turns; an inner `exclusive` on the same path in the same thread does
    not block.
    """
    # Imported here: only writers lock, and the read-only commands are timed at list scale.
    from filelock import FileLock

    path = lock_file.absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    # One instance per path (is_singleton) is what makes the lock reentrant within a thread; its holds
    # are per thread (filelock's default), so two threads exclude each other through their own flocks.
    with FileLock(path, is_singleton=True):
        yield


# --------------------------------------------------------------------------- round-trip YAML


_limits = FilesSettings()


def configure(settings: FilesSettings) -> None:
    """Use ``settings`` (the ``files`` section of the settings) for every later load in this process.

    Process-wide like the arXiv limiter: the files are read from many places that carry no settings,
    and the limits are a safety net, not a per-call choice. The CLI calls it once at start.
    """
    global _limits
    _limits = settings


def limits() -> FilesSettings:
    """The file limits in force (`configure`; the defaults until it is called)."""
    return _limits


# Python refuses to convert integers of more than 4,300 digits (a ValueError, not a YAML error).
_LONGEST_NUMBER = 1000
_NUMBER = re.compile(r"[-+]?[0-9][0-9_]*")


class _GuardedComposer(Composer):
    """Refuses aliases, anchors, tags, keys that are not scalars, numbers too long to convert and
    documents over the node or depth limit, at the offending node, before anything is constructed."""

    def compose_document(self) -> Any:
        self._nodes = 0
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        mark = event.start_mark
        if isinstance(event, AliasEvent):
            raise ComposerError(None, None, f"alias *{event.anchor} is not accepted in this file; "
                                "write the value out in full", mark)
        if event.anchor is not None:
            raise ComposerError(None, None, f"anchor &{event.anchor} is not accepted in this file; "
                                "remove it and write every value out in full", mark)
        # Every explicit tag, even ``!!str``: the round-trip loader keeps it as a tagged object
        # that is not plain data.
        if event.tag is not None:
            shown = str(event.tag).replace("tag:yaml.org,2002:", "!!")
            raise ComposerError(None, None, f"tag {shown} is not accepted in this file; remove it "
                                "(quote the value if it should be text)", mark)
        if isinstance(parent, MappingNode) and index is None and not isinstance(event, ScalarEvent):
            raise ComposerError(None, None, "a key must be plain text, not a list or a mapping", mark)
        if isinstance(event, ScalarEvent) and event.style is None and len(event.value) > _LONGEST_NUMBER \
                and _NUMBER.fullmatch(event.value):
            raise ComposerError(None, None, f"a number of {len(event.value)} digits; quote it if it is text", mark)
        self._nodes = getattr(self, "_nodes", 0) + 1
        limit = self.loader.max_nodes
        if self._nodes > limit:
            raise ComposerError(None, None, f"the file holds more than {limit} YAML values "
                                "(PIPELINE_YAML_MAX_NODES); split it or raise the limit", mark)
        if self.depth >= self.loader.max_nesting:
            raise ComposerError(None, None, f"values are nested more than {self.loader.max_nesting} "
                                "levels deep; flatten the file", mark)
        return super().compose_node(parent, index)


class _GuardedConstructor(RoundTripConstructor):
    """Turns a value Python refuses (``2024-13-45`` read as a date) into an error at its line."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(None, None, f"cannot read this value ({exc}); quote it if it is text",
                                   node.start_mark) from exc


class _NoAliasRepresenter(RoundTripRepresenter):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # an object held twice is written twice: the loader refuses anchors


class _GuardedYAML(YAML):
    """`YAML` that refuses text over the size limit before parsing it."""

    max_nodes: int
    max_nesting: int
    max_bytes: int

    def load(self, stream: Any) -> Any:
        if isinstance(stream, str | bytes):
            size = len(stream.encode("utf-8")) if isinstance(stream, str) else len(stream)
            if size > self.max_bytes:
                raise ComposerError(None, None, f"the file is {size} bytes, over the limit of {self.max_bytes} "
                                    "(PIPELINE_YAML_MAX_BYTES); split it or raise the limit", None)
        return super().load(stream)


def round_trip_yaml(settings: FilesSettings | None = None) -> YAML:
    """The ruamel set-up for files people edit: round trip (comments, key order, quoting kept), block
    style, unicode as is, long lines never folded, lists indented under their key; loads refuse
    aliases, anchors and unknown tags and stay under the limits of ``settings`` (default: `limits`)."""
    settings = settings or _limits
    yaml = _GuardedYAML(typ="rt")
    yaml.Composer = _GuardedComposer
    yaml.Constructor = _GuardedConstructor
    yaml.Representer = _NoAliasRepresenter
    yaml.max_nesting = settings.yaml_max_depth
    yaml.max_nodes = settings.yaml_max_nodes
    yaml.max_bytes = settings.yaml_max_bytes
    yaml.width = 4096  # never fold a long title or bullet onto two lines
    yaml.allow_unicode = True
    yaml.default_flow_style = False
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def dump_yaml(data: Any) -> str:
    """``data`` (a round-trip document or plain dicts and lists) as text, written by `round_trip_yaml`."""
    buffer = io.StringIO()
    round_trip_yaml().dump(data, buffer)
    return buffer.getvalue()


def line_of(doc: Any, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the node at ``loc`` (keys and list indexes) in a round-trip document.

    When ``loc`` leads to a node the document does not hold, the line of the closest node on the way
    that it does hold, down to the document itself (its first line). None when the document carries
    no positions (built in memory, not loaded from text).
    """
    line: int | None = getattr(getattr(doc, "lc", None), "line", None)
    node = doc
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line, node = node.lc.key(part)[0], node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, node = node.lc.item(part)[0], node[part]
            else:
                break
        except (KeyError, TypeError):  # a node added after loading, or built in memory, has no position
            break
    return line + 1 if line is not None else None  # ruamel counts from 0


def error_line(exc: MarkedYAMLError) -> int | None:
    """The 1-based line a YAML syntax error points at, if it points anywhere."""
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None
