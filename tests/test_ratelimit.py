"""The per-endpoint limiter: request and token buckets, blocking, reconciliation, threads."""

from __future__ import annotations

import threading

import pytest

from pipeline.model.ratelimit import RateLimitCancelled, RateLimiter, limiter_for


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
