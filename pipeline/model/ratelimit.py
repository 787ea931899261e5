"""Thread-safe per-endpoint rate limits: requests per minute and tokens per minute.

Two token buckets per endpoint, refilled continuously (``rpm / 60`` and ``tpm / 60`` per second) and
capped at one minute's allowance, which is how OpenAI-style providers meter. A caller blocks in
`RateLimiter.acquire` with its *estimated* tokens; once it knows the real usage it calls
`RateLimiter.reconcile`, which refunds an over-estimate or charges the shortfall. A bucket may go into
debt (an under-estimate), so later callers wait until the debt is paid off instead of the endpoint
answering 429.

`RequestGate` is the request hook an `LLM` enters around every request (see
`pipeline.model.llm.RequestHook`): a slot among the run's concurrent requests, then the limiter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.core.errors import RateLimitCancelled
from pipeline.text.budget import estimate_tokens

if TYPE_CHECKING:  # importing llm at run time would load openai (a second) for every batch plan
    from pipeline.model.llm import Exchange

log = logging.getLogger(__name__)

Clock = Callable[[], float]

@dataclass
class Reservation:
    """What one `RateLimiter.acquire` took from the buckets, to be reconciled with actual usage."""

    requests: float
    tokens: float
    waited: float = 0.0
    reconciled: bool = False


class _Bucket:
    """A continuously refilled bucket; ``level`` may go negative (debt)."""

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = float(per_minute)
        self.stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` (capped at capacity, so a huge request still runs) is available."""
        need = min(amount, self.capacity) - self.level
        # A sliver below one millionth of a unit is float noise; waiting for it could spin forever.
        return need / self.rate if need > 1e-6 else 0.0


class RateLimiter:
    """Blocking limiter for one endpoint; ``None`` for a limit means unlimited.

    ``clock`` and the condition's wait are injectable through ``clock``/``waiter`` so tests need not
    sleep for real.
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None, *,
                 clock: Clock = time.monotonic,
                 waiter: Callable[[threading.Condition, float], None] | None = None) -> None:
        if any(limit is not None and limit <= 0 for limit in (rpm, tpm)):
            raise ValueError("rate limits must be positive (or None for unlimited)")
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._waiter = waiter or (lambda cond, seconds: cond.wait(seconds))
        self._cond = threading.Condition()
        now = clock()
        self._requests = _Bucket(rpm, now) if rpm else None
        self._tokens = _Bucket(tpm, now) if tpm else None

    @property
    def unlimited(self) -> bool:
        """True when neither limit is set (acquire never blocks)."""
        return self._requests is None and self._tokens is None

    def acquire(self, tokens: int = 0, *, requests: int = 1,
                cancel: threading.Event | None = None) -> Reservation:
        """Block until ``requests`` requests carrying about ``tokens`` tokens may be sent, then take them.

        Raises RateLimitCancelled when ``cancel`` is set while waiting.
        """
        start = self._clock()
        with self._cond:
            while True:
                if cancel is not None and cancel.is_set():
                    raise RateLimitCancelled("stopped while waiting for a rate-limit slot")
                wait = self._wait_seconds(tokens, requests)
                if wait <= 0:
                    break
                log.debug("rate limit: waiting %.2fs for %d request(s), %d tokens", wait, requests, tokens)
                # Short slices so a cancel or a refund (reconcile) is noticed promptly.
                self._waiter(self._cond, min(wait, 0.25))
            if self._requests:
                self._requests.level -= requests
            if self._tokens:
                self._tokens.level -= tokens
        return Reservation(requests=requests, tokens=tokens, waited=self._clock() - start)

    def reconcile(self, reservation: Reservation, *, tokens: int, requests: int) -> None:
        """Correct a reservation with what was really used (refund or charge the difference)."""
        if reservation.reconciled:
            return
        with self._cond:
            now = self._clock()
            if self._requests:
                self._requests.refill(now)
                self._requests.level += reservation.requests - requests
                self._requests.level = min(self._requests.level, self._requests.capacity)
            if self._tokens:
                self._tokens.refill(now)
                self._tokens.level += reservation.tokens - tokens
                self._tokens.level = min(self._tokens.level, self._tokens.capacity)
            reservation.reconciled = True
            self._cond.notify_all()

    def _wait_seconds(self, tokens: int, requests: int) -> float:
        now = self._clock()
        wait = 0.0
        for bucket, amount in ((self._requests, requests), (self._tokens, tokens)):
            if bucket is not None:
                bucket.refill(now)
                wait = max(wait, bucket.wait_for(amount))
        return wait


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(endpoint: str, *, rpm: float | None = None, tpm: float | None = None) -> RateLimiter:
    """The process-wide limiter of ``endpoint``; created (or replaced when the limits differ) on demand.

    Every worker of a run talking to the same endpoint shares one limiter, so the limits hold for the
    endpoint as a whole, not per thread.
    """
    with _registry_lock:
        limiter = _registry.get(endpoint)
        if limiter is None or (limiter.rpm, limiter.tpm) != (rpm, tpm):
            limiter = RateLimiter(rpm, tpm)
            _registry[endpoint] = limiter
        return limiter


class RequestGate:
    """The request hook of one paper's `LLM`: a slot among ``slots`` (the run's requests in flight at
    once), then the shared ``limiter``, reconciled with what the request really used.

    Until the paper's first request is sent, a set ``stop`` calls the paper off (RateLimitCancelled);
    once it has started, it is finished. ``expected_output`` is the completion tokens reserved per request.
    """

    def __init__(self, slots: threading.Semaphore, limiter: RateLimiter, stop: threading.Event, *,
                 expected_output: int) -> None:
        self.slots = slots
        self.limiter = limiter
        self.stop = stop
        self.expected_output = expected_output
        self.started = False

    @contextmanager
    def __call__(self, exchange: Exchange) -> Iterator[None]:
        """Wait for a slot and the rate limits, let the request run, then settle its real usage."""
        while not self.slots.acquire(timeout=0.25):
            if not self.started and self.stop.is_set():
                raise RateLimitCancelled("stopped before the paper's first request")
        try:
            cancel = None if self.started else self.stop
            self.started = True
            if self.limiter.unlimited:
                yield
                return
            expected = estimate_tokens("\n".join(str(m.get("content", "")) for m in exchange.messages))
            reservation = self.limiter.acquire(expected + self.expected_output, cancel=cancel)
            try:
                yield
            finally:
                self.limiter.reconcile(reservation, tokens=exchange.prompt_tokens + exchange.completion_tokens,
                                       requests=exchange.requests)
        finally:
            self.slots.release()
