"""Loading llama.cpp and choosing its thread counts. ``llama_cpp`` is imported only inside functions.

Measured on a 2-core machine while other processes were busy (1,000-token prompt, 48 new tokens):
1 generation thread made 9.1 tokens/s, 2 threads 0.4 tokens/s, because llama.cpp's worker threads
spin at every barrier and a descheduled thread stalls the others. Prompt processing collapses the same
way (17.7 tokens/s with 1 thread, 7.7-9.3 with 2). On an idle machine all cores win: prompt
processing 45 tokens/s with 2 threads against 25 with 1, and a restatement-sized request (90 tokens
in, 57 grammar-bound tokens out) takes 3.45 s with 2 generation threads against 4.21 s with 1
(`bench/threads.py`).
Hence: all cores for generation and prompt processing while the other cores are idle, cores-1 while
another process keeps one busy, decided before each request from a short /proc/stat sample.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipeline.core.config import Settings

log = logging.getLogger(__name__)

GrammarFactory = Callable[[dict[str, Any]], Any]
# Busy cores (besides ours) above which a request runs on cores-1 threads.
BUSY_THRESHOLD = 0.5
SAMPLE_SECONDS = 0.2


class ChatModel(Protocol):
    """The part of ``llama_cpp.Llama`` the transport uses (a fake in tests)."""

    @property
    def create_chat_completion(self) -> Callable[..., Any]:
        """Run one chat completion; returns an OpenAI-shaped dict."""


@dataclass(frozen=True)
class Threads:
    """Thread policy: threads while the other cores are idle, threads while they are busy, adapt or not."""

    idle: int
    busy: int
    adaptive: bool


def cpu_count() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_counts(settings: Settings, cpus: int | None = None) -> Threads:
    """All cores while the others are idle, cores-1 while another process keeps one busy.

    ``settings.local.threads`` (``PIPELINE_LOCAL_THREADS``) fixes the count and turns adapting off.
    """
    cpus = cpus or cpu_count()
    if settings.local.threads:
        return Threads(settings.local.threads, settings.local.threads, adaptive=False)
    busy = max(1, cpus - 1)
    return Threads(cpus, busy, adaptive=cpus > busy)


def _cpu_times(stat: str) -> tuple[int, int]:
    """(total, idle) jiffies of the aggregate ``cpu`` line of /proc/stat."""
    for line in stat.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            return sum(values[:8]), idle
    raise ValueError("no aggregate cpu line")


def busy_cores(read: Callable[[], str] | None = None, sleep: Callable[[float], None] = time.sleep,
               cpus: int | None = None) -> float | None:
    """How many cores other processes keep busy right now (we are idle while sampling); None if unknown."""
    def read_stat() -> str:
        return Path("/proc/stat").read_text(encoding="ascii")

    reader = read or read_stat
    try:
        total1, idle1 = _cpu_times(reader())
        sleep(SAMPLE_SECONDS)
        total2, idle2 = _cpu_times(reader())
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total2 - total1
    if elapsed <= 0:
        return None
    return (elapsed - (idle2 - idle1)) / elapsed * (cpus or cpu_count())


def request_threads(threads: Threads, busy: float | None) -> int:
    """Threads (generation and prompt processing) for the next request, given the other processes' load."""
    if not threads.adaptive or busy is None or busy <= BUSY_THRESHOLD:
        return threads.idle
    return threads.busy


class AdaptiveLlama:
    """A loaded ``Llama`` that picks its thread count before each request.

    One context serves one request at a time: concurrent callers (batch runs with several transports
    sharing this model) wait on the lock.
    """

    def __init__(self, llama: Any, threads: Threads,
                 measure: Callable[[], float | None] = busy_cores) -> None:
        self.llama = llama
        self.threads = threads
        self._measure = measure
        self._current = threads.idle
        self._lock = threading.Lock()

    def create_chat_completion(self, **kwargs: Any) -> Any:
        """Set the thread counts for the current load, then run the completion."""
        with self._lock:
            if self.threads.adaptive:
                n = request_threads(self.threads, self._measure())
                if n != self._current:
                    import llama_cpp

                    llama_cpp.llama_set_n_threads(self.llama.ctx, n, n)
                    log.debug("the embedded model now runs on %d thread(s)", n)
                    self._current = n
            return self.llama.create_chat_completion(**kwargs)


_MODELS: dict[tuple[str, int, Threads], AdaptiveLlama] = {}
_LOAD_LOCK = threading.Lock()


def load_llama(path: Path, n_ctx: int, threads: Threads) -> AdaptiveLlama:
    """Load the GGUF model once per process (same arguments, same object)."""
    key = (str(path), n_ctx, threads)
    with _LOAD_LOCK:
        if key not in _MODELS:
            from llama_cpp import Llama  # a large shared library: loaded only when a request arrives

            started = time.monotonic()
            # verbose=False also keeps llama.cpp's C-level log off the terminal; --debug turns it on.
            llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads.idle, n_threads_batch=threads.idle,
                          verbose=logging.getLogger("pipeline").isEnabledFor(logging.DEBUG))
            log.info("loaded the embedded model %s in %.1f s (threads: %s)", path.name,
                     time.monotonic() - started, threads)
            _MODELS[key] = AdaptiveLlama(llama, threads)
        return _MODELS[key]


def llama_grammar(schema: dict[str, Any]) -> Any:
    """Compile a JSON schema to a llama.cpp grammar; plain JSON when the converter cannot handle it."""
    import json

    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception as exc:  # the converter raises bare Exceptions on unsupported schema features
        log.warning("the embedded model cannot enforce this JSON schema (%s); enforcing plain JSON", exc)
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
