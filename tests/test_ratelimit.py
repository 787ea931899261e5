"""The per-endpoint limiter: request and token buckets, blocking, reconciliation, threads; the request gate."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pipeline.core.errors import RateLimitCancelled
from pipeline.model.llm import Exchange
from pipeline.model.ratelimit import RateLimiter, RequestGate, Reservation, limiter_for


class FakeClock:
    """A clock that only moves when a limiter waits, so no test sleeps for real."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, cond: threading.Condition, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def make(rpm: float | None = None, tpm: float | None = None) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rpm, tpm, clock=clock, waiter=clock.wait), clock


def test_unlimited_never_waits() -> None:
    limiter, clock = make()
    assert limiter.unlimited
    for _ in range(1000):
        limiter.acquire(10**6)
    assert clock.now == 0


def test_requests_per_minute_blocks_after_a_minutes_allowance() -> None:
    limiter, clock = make(rpm=60)
    for _ in range(60):
        limiter.acquire()
    assert clock.now == 0
    reservation = limiter.acquire()
    assert clock.now == pytest.approx(1.0, abs=0.01)
    assert reservation.waited == pytest.approx(1.0, abs=0.01)
    for _ in range(10):
        limiter.acquire()
    assert clock.now == pytest.approx(11.0, abs=0.01)


def test_tokens_per_minute_blocks_on_the_estimate() -> None:
    limiter, clock = make(tpm=6000)
    limiter.acquire(6000)
    limiter.acquire(3000)
    assert clock.now == pytest.approx(30.0, abs=0.01)


def test_reconcile_refunds_an_over_estimate() -> None:
    limiter, clock = make(tpm=6000)
    reservation = limiter.acquire(6000)
    limiter.reconcile(reservation, tokens=1000, requests=1)
    limiter.acquire(5000)
    assert clock.now == 0


def test_reconcile_charges_an_under_estimate_as_debt() -> None:
    limiter, clock = make(tpm=6000)
    reservation = limiter.acquire(1000)
    limiter.reconcile(reservation, tokens=9000, requests=1)
    # 6000 - 9000 = -3000 in the bucket: 1000 more tokens need 4000 refilled at 100/s.
    limiter.acquire(1000)
    assert clock.now == pytest.approx(40.0, abs=0.01)


def test_reconcile_counts_extra_requests() -> None:
    limiter, clock = make(rpm=2)
    reservation = limiter.acquire(requests=1)
    limiter.reconcile(reservation, tokens=0, requests=3)  # a repair loop sent three requests
    limiter.acquire()
    assert clock.now == pytest.approx(60.0, abs=0.1)


def test_reconcile_twice_is_ignored() -> None:
    limiter, clock = make(tpm=6000)
    reservation = limiter.acquire(6000)
    limiter.reconcile(reservation, tokens=0, requests=1)
    limiter.reconcile(reservation, tokens=0, requests=1)
    limiter.acquire(6000)
    assert clock.now == 0
    limiter.acquire(100)
    assert clock.now > 0


def test_request_larger_than_the_bucket_still_runs() -> None:
    limiter, clock = make(tpm=1000)
    limiter.acquire(50_000)
    assert clock.now == 0
    limiter.acquire(10)
    assert clock.now > 60


def test_cancel_stops_a_waiter() -> None:
    limiter, _ = make(rpm=1)
    limiter.acquire()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RateLimitCancelled):
        limiter.acquire(cancel=cancel)


def test_threads_share_one_allowance() -> None:
    limiter, clock = make(rpm=60)
    taken: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(30):
            limiter.acquire()
            with lock:
                taken.append(clock.now)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 120
    # The first 60 go at once, the other 60 at one per second.
    assert clock.now == pytest.approx(60.0, abs=0.5)
    assert sum(1 for t in taken if t == 0) == 60


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rpm=0)


def test_limiter_for_is_shared_per_endpoint() -> None:
    a = limiter_for("http://a.test/v1", rpm=10)
    assert limiter_for("http://a.test/v1", rpm=10) is a
    assert limiter_for("http://b.test/v1", rpm=10) is not a
    assert limiter_for("http://a.test/v1", rpm=20) is not a


class RecordingLimiter(RateLimiter):
    """A limiter that records what the gate reserves and reconciles."""

    def __init__(self, **limits: Any) -> None:
        clock = FakeClock()
        super().__init__(clock=clock, waiter=clock.wait, **limits)
        self.calls: list[tuple[str, int, int]] = []

    def acquire(self, tokens: int = 0, *, requests: int = 1, cancel: threading.Event | None = None) -> Reservation:
        self.calls.append(("acquire", tokens, requests))
        return super().acquire(tokens, requests=requests, cancel=cancel)

    def reconcile(self, reservation: Reservation, *, tokens: int, requests: int) -> None:
        self.calls.append(("reconcile", tokens, requests))
        super().reconcile(reservation, tokens=tokens, requests=requests)


def test_the_gate_reserves_before_a_request_and_settles_what_it_used() -> None:
    limiter = RecordingLimiter(rpm=60, tpm=10_000)
    slots = threading.BoundedSemaphore(1)
    gate = RequestGate(slots, limiter, threading.Event(), expected_output=1000)
    exchange = Exchange([{"role": "user", "content": "word " * 400}])
    with gate(exchange):
        assert not slots.acquire(blocking=False)  # the one slot is taken while the request runs
        exchange.requests, exchange.prompt_tokens, exchange.completion_tokens = 2, 120, 30
    assert slots.acquire(blocking=False)
    assert [c[0] for c in limiter.calls] == ["acquire", "reconcile"]
    assert limiter.calls[0][1] > 1000 and limiter.calls[1][1:] == (150, 2)


def test_the_gate_settles_a_failed_request_too() -> None:
    limiter = RecordingLimiter(rpm=60)
    gate = RequestGate(threading.BoundedSemaphore(1), limiter, threading.Event(), expected_output=10)
    exchange = Exchange([])
    with pytest.raises(RuntimeError), gate(exchange):
        exchange.requests = 3
        raise RuntimeError("the request failed")
    assert limiter.calls[-1] == ("reconcile", 0, 3)


def test_a_stopping_run_calls_off_a_paper_only_before_its_first_request() -> None:
    stop = threading.Event()
    slots = threading.BoundedSemaphore(1)
    started = RequestGate(slots, limiter_for("gate.test|m"), stop, expected_output=0)
    with started(Exchange([])):
        pass
    stop.set()
    with started(Exchange([])):  # a paper under way is finished
        pass
    fresh = RequestGate(slots, limiter_for("gate.test|m"), stop, expected_output=0)
    slots.acquire()  # every slot busy: the fresh paper would have to wait, and the run is stopping
    with pytest.raises(RateLimitCancelled), fresh(Exchange([])):
        pass
    slots.release()
    assert slots.acquire(blocking=False)  # the gate took no slot it did not give back
