"""The read-only commands' index: the plain data of each YAML file, kept until the file changes.

`render`, `validate`, `lint` and `review list` read every summary file; parsing them (even through
libyaml, `pipeline.storage.fastyaml`) was the largest part of each command at 1,000 papers. The index
keeps, per folder, one JSON file in the cache with each file's data as `fastyaml.load` read it (as
JSON: dates as ISO text, which is what the record loader validates anyway), under the file's status:
inode, size, modification and change time in nanoseconds.

Fresh by construction:
- an entry is used only while the file's status is exactly the recorded one; any write changes the
  change time (which no tool can set back), a replacing write the inode as well;
- a file changed less than `RACY_SECONDS` before it was recorded may be written again within the same
  clock tick and keep its times (git's racy-clean rule): such an entry also holds the sha256 of the
  file's bytes and is used only after the file is read and hashed again (far cheaper than parsing it);
  once the file is older than that window, the hash is dropped and the status alone decides;
- the index is dropped whole when its format, the package version or the YAML size limit differ;
- a file the fast loader refuses is never recorded: it goes round-trip every time, with its error line.

A command that has just created files with `fastyaml.dump` (import's summaries) records them with
`written`: their data is what it dumped, so the next read-only command parses none of them.

The CLI turns it on (`use`) and writes it back once at the end (`save`); library calls without it
read every file as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from pipeline import __version__
from pipeline.storage import fastyaml, files

log = logging.getLogger(__name__)

# Bump when what `fastyaml.load` returns for a file changes, or the entries' shape.
FORMAT = 2
RACY_SECONDS = 2.0

_Status = list[int]


class _Folder:
    def __init__(self, path: Path, stamp: list[Any]) -> None:
        self.path = path
        self.stamp = stamp
        self.entries: dict[str, list[Any]] = {}  # name -> [status, data]
        self.changed = False
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(saved, dict) and saved.get("stamp") == stamp and isinstance(saved.get("entries"), dict):
                self.entries = saved["entries"]
        except (OSError, ValueError):
            pass  # no index yet, or a damaged one: every file is read


_root: Path | None = None
_folders: dict[Path, _Folder] = {}


def use(root: Path | None) -> None:
    """Keep the index under ``root`` (a cache folder) for this process; None: no index."""
    global _root
    _root = root
    _folders.clear()


def _folder(folder: Path) -> _Folder | None:
    if _root is None:
        return None
    folder = folder.absolute()
    if folder not in _folders:
        name = hashlib.sha256(str(folder).encode("utf-8")).hexdigest()
        stamp = [FORMAT, __version__, files.limits().yaml_max_bytes]
        _folders[folder] = _Folder(_root / f"{name}.json", stamp)
    return _folders[folder]


def _status(stat: os.stat_result) -> _Status:
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _racy(stat: os.stat_result) -> bool:
    return time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) <= RACY_SECONDS * 1e9


def _entry(stat: os.stat_result, data: Any, raw: bytes, *, checked: bool) -> list[Any]:
    # [status, data], plus the bytes' sha256 while the status alone cannot vouch for them.
    if checked and not _racy(stat):
        return [_status(stat), data]
    return [_status(stat), data, hashlib.sha256(raw).hexdigest()]


def load_json(path: Path) -> Any | None:
    """The data of the YAML file ``path`` as JSON-compatible values (dates as ISO text), or None when
    the fast loader cannot vouch for it (then load it round-trip) or it cannot be read."""
    index = _folder(path.parent)
    try:
        stat = os.stat(path)  # before the read: a file written meanwhile has another status next time
        entry = index.entries.get(path.name) if index is not None else None
        if index is not None and entry is not None and entry[0] == _status(stat):
            if len(entry) == 2:
                return entry[1]
            raw = path.read_bytes()
            if hashlib.sha256(raw).hexdigest() == entry[2]:
                if not _racy(stat):
                    index.entries[path.name] = entry[:2]
                    index.changed = True
                return entry[1]
        else:
            raw = path.read_bytes()
        text = raw.decode("utf-8")
        if "\r" in text:  # as reading in text mode gives it
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        plain = fastyaml.load(text)
    except (OSError, UnicodeDecodeError):
        return None
    if plain is None:
        return None
    data = to_jsonable_python(plain)
    if index is not None:
        index.entries[path.name] = _entry(stat, data, raw, checked=True)
        index.changed = True
    return data


def written(path: Path, text: str, data: Any) -> None:
    """Record that ``path`` was just created holding ``text``, whose plain data is ``data``: what
    `fastyaml.dump` was given for it, which `fastyaml.load` reads back exactly. The entry keeps the
    text's sha256, so the file is used only while it still holds those bytes."""
    index = _folder(path.parent)
    if index is None:
        return
    raw = text.encode("utf-8")
    try:
        stat = os.stat(path)
    except OSError:
        return
    if stat.st_size == len(raw):
        index.entries[path.name] = _entry(stat, to_jsonable_python(data), raw, checked=False)
        index.changed = True


def save() -> None:
    """Write back every folder's index that changed; entries of files that are gone are dropped."""
    for folder, index in _folders.items():
        if not index.changed:
            continue
        try:
            present = set(os.listdir(folder))  # one call, not a stat per entry
        except OSError:
            present = set()
        entries = {name: entry for name, entry in index.entries.items() if name in present}
        try:
            files.atomic_write(index.path, json.dumps({"stamp": index.stamp, "entries": entries},
                                                      ensure_ascii=False, separators=(",", ":")))
        except OSError as exc:  # a cache that cannot be written only costs speed
            log.debug("index %s not written: %s", index.path, exc)
        index.changed = False
