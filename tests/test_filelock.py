"""pipeline.storage.files: one holder at a time across threads and processes, reentrant, fork-aware."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from pipeline.storage import files as filelock


def _hold_then_mark(lock: Path, mark: Path) -> None:
    with filelock.exclusive(lock):
        mark.write_text("child had it", encoding="utf-8")


def test_reentrant_in_one_thread(tmp_path: Path) -> None:
    lock = tmp_path / ".x.lock"
    with filelock.exclusive(lock), filelock.exclusive(lock):  # an inner block does not deadlock
        assert lock.exists()


def test_threads_take_turns(tmp_path: Path) -> None:
    lock = tmp_path / ".x.lock"
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(20):
            with filelock.exclusive(lock):
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.001)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_a_process_forked_inside_the_block_still_waits(tmp_path: Path) -> None:
    """The child inherits this thread's bookkeeping of held locks but not the flock itself."""
    lock, mark = tmp_path / ".x.lock", tmp_path / "mark"
    with filelock.exclusive(lock):
        child = multiprocessing.get_context("fork").Process(target=_hold_then_mark, args=(lock, mark))
        child.start()
        child.join(timeout=1.0)
        assert child.is_alive() and not mark.exists()
    child.join(timeout=30)
    assert child.exitcode == 0 and mark.read_text(encoding="utf-8") == "child had it"


def test_unchanged_compares_bytes_and_absence(tmp_path: Path) -> None:
    path = tmp_path / "f"
    missing = filelock.digest(filelock.read_bytes(path))
    assert missing is None and filelock.unchanged(path, missing)
    path.write_bytes(b"one")
    assert not filelock.unchanged(path, missing)
    seen = filelock.digest(filelock.read_bytes(path))
    assert filelock.unchanged(path, seen)
    path.write_bytes(b"two")
    assert not filelock.unchanged(path, seen)
