"""A small on-disk cache shared by every stage: metadata, PDFs, extracted text, LLM results.

Layout: ``<root>/<namespace>/<sha256(key)><suffix>``. Keys are hashed, so any string is a valid key
(an arXiv id, a URL, a PDF's sha256 plus a settings fingerprint ...). Namespaces are short
lower-case names chosen by the caller, one per kind of entry (``arxiv-meta``, ``pdf``, ``text`` ...).

Every write is atomic (`pipeline.storage.files`): a reader sees either the old entry, the new one, or
none; never half a file. Temporary files start with ``.tmp-`` (`files.TEMP_PREFIX`) and are never read
as entries; those a killed process left behind are removed once they are older than
``files.stale_temp_seconds`` (the first write of a `Cache` to a folder looks). JSON entries carry
their key in an envelope; an entry that does not parse or does not hold its key is logged and
treated as a miss, never returned.

The root folder is created lazily on the first write, so merely building a `Cache` touches nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.core.config import Settings
from pipeline.core.errors import ConfigError
from pipeline.storage import files

log = logging.getLogger(__name__)

_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Cache:
    """Content- and key-addressed cache under ``root`` (``settings.cache_dir``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()
        self._swept: set[Path] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Cache:
        """The cache at ``settings.cache_dir``."""
        return cls(settings.cache_dir)

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    # ------------------------------------------------------------------ paths

    def path_for(self, namespace: str, key: str, suffix: str = "") -> Path:
        """Where the entry ``key`` of ``namespace`` lives (it may not exist)."""
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError(f"invalid cache namespace {namespace!r}: use [a-z0-9_-], at most 64 chars")
        if suffix and not re.fullmatch(r"\.[A-Za-z0-9._-]{1,16}", suffix):
            raise ValueError(f"invalid cache suffix {suffix!r}: use e.g. '.pdf' or '.json'")
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.root / namespace / f"{name}{suffix}"

    # ------------------------------------------------------------------ JSON

    def get_json(self, namespace: str, key: str) -> Any | None:
        """The value stored under ``key``, or None on a miss (absent, unreadable or corrupt entry)."""
        path = self.path_for(namespace, key, ".json")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("ignoring unreadable cache entry %s (%s): %s", path, key, exc)
            return None
        try:
            envelope = json.loads(text)
        except json.JSONDecodeError as exc:
            log.warning("ignoring corrupt cache entry %s (%s): %s", path, key, exc)
            return None
        if not isinstance(envelope, dict) or envelope.get("key") != key or "value" not in envelope:
            log.warning("ignoring cache entry %s: it does not hold key %r", path, key)
            return None
        return envelope["value"]

    def put_json(self, namespace: str, key: str, value: Any) -> Path:
        """Store a JSON-serialisable ``value`` under ``key`` atomically; return its path."""
        data = json.dumps({"key": key, "value": value}, ensure_ascii=False, indent=1, sort_keys=True)
        return self._write(self.path_for(namespace, key, ".json"), data.encode("utf-8"))

    # ------------------------------------------------------------------ bytes and files

    def get_bytes(self, namespace: str, key: str, suffix: str = "") -> bytes | None:
        """The bytes stored under ``key``, or None when absent."""
        path = self.path_for(namespace, key, suffix)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("ignoring unreadable cache entry %s (%s): %s", path, key, exc)
            return None

    def put_bytes(self, namespace: str, key: str, data: bytes, suffix: str = "") -> Path:
        """Store ``data`` under ``key`` atomically; return its path."""
        return self._write(self.path_for(namespace, key, suffix), data)

    @contextlib.contextmanager
    def temp_file(self, namespace: str) -> Iterator[Path]:
        """A fresh temporary file in ``namespace``'s folder, removed on exit unless it was moved.

        Write to it (e.g. a streamed download), then hand it to `put_file_from` inside the block.
        """
        folder = self._folder(namespace)
        with contextlib.ExitStack() as stack:
            try:
                path = stack.enter_context(files.temp_file(folder))
            except OSError as exc:
                raise self._unwritable(folder, exc) from exc
            yield path

    def put_file_from(self, tmp_path: Path, namespace: str, key: str, suffix: str = "") -> Path:
        """Move a finished temporary file (same file system, e.g. from `temp_file`) into the cache."""
        final = self.path_for(namespace, key, suffix)
        try:
            files.move_into_place(tmp_path, final)
        except OSError as exc:
            raise self._unwritable(final.parent, exc) from exc
        return final

    def delete(self, namespace: str, key: str, suffix: str = "") -> None:
        """Remove an entry if present."""
        with contextlib.suppress(FileNotFoundError):
            self.path_for(namespace, key, suffix).unlink()

    # ------------------------------------------------------------------ internals

    def _folder(self, namespace: str) -> Path:
        folder = self.path_for(namespace, "").parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unwritable(folder, exc) from exc
        if folder not in self._swept:
            self._swept.add(folder)
            if removed := files.remove_stale_temps(folder, files.limits().stale_temp_seconds):
                log.info("removed %d stale temporary files from %s", removed, folder)
        return folder

    def _write(self, final: Path, data: bytes) -> Path:
        folder = self._folder(final.parent.name)
        try:
            files.atomic_write(final, data)
        except OSError as exc:
            raise self._unwritable(folder, exc) from exc
        return final

    def _unwritable(self, folder: Path, exc: OSError) -> ConfigError:
        return ConfigError(f"cannot write the cache folder {folder}: {exc.strerror or exc}",
                           hint="set PIPELINE_CACHE_DIR to a writable folder")

