"""Exclusive access to files people and several commands write: threads and processes take turns.

`exclusive(lock_file)` holds a per-path lock for this process's threads (a batch run's workers) and an
advisory ``flock`` on ``lock_file`` for other processes (an ``add`` or a ``review approve`` while a
batch runs). The data file itself cannot carry the lock: every atomic write replaces it with a new
file. People's editors take no lock; writers check that the file is still what they read instead
(`unchanged`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so only this process's threads are excluded
    fcntl = None  # type: ignore[assignment]

_GUARD = threading.Lock()
_THREAD_LOCKS: dict[Path, threading.RLock] = {}
_HELD = threading.local()  # .paths: (process id, lock file) of the flocks this thread holds


def _thread_lock(path: Path) -> threading.RLock:
    with _GUARD:
        return _THREAD_LOCKS.setdefault(path, threading.RLock())


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold the lock named by ``lock_file`` (created if missing) for the duration of the block.

    Reentrant within a thread: an inner `exclusive` on the same path does not block.
    """
    path = lock_file.absolute()
    # The process id is part of the key: a process forked inside the block inherits this thread's
    # memory, the held lock included, but not the flock.
    mine = (os.getpid(), path)
    with _thread_lock(path):
        held: set[tuple[int, Path]] = _HELD.__dict__.setdefault("paths", set())
        if fcntl is None or mine in held:  # no flock here, or reentry: the outer block holds it
            yield
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            held.add(mine)
            try:
                yield
            finally:
                held.discard(mine)
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)



def digest(data: bytes | None) -> str | None:
    """A fingerprint of a file's bytes (None for a missing file), for `unchanged`."""
    return None if data is None else hashlib.sha256(data).hexdigest()


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def unchanged(path: Path, fingerprint: str | None) -> bool:
    """True when ``path`` still has the bytes ``fingerprint`` was taken from (or is still missing)."""
    return digest(read_bytes(path)) == fingerprint
