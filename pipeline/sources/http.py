"""HTTP plumbing shared by the arXiv API client and PDF downloads.

* `ARXIV_LIMITER`: one process-wide, thread-safe limiter. arXiv's terms of use ask for at least
  3 s between requests, whichever thread sends them, so every request to an arXiv host waits here;
  other `pipeline` processes on the machine take part through a time stamp in the cache folder.
* `call_with_retries`: transport retries with tenacity on timeouts, connection errors, 429 (honouring
  Retry-After, in seconds or as an HTTP date, capped) and 5xx. Other 4xx are never retried. After the
  last attempt a `NetworkError` names the URL. With a `Deadline`, no attempt starts and no backoff
  sleeps past it.
* `Deadline`: one wall-clock limit over a whole operation (every attempt, redirect and body byte),
  for servers that answer just fast enough to never trip a per-read timeout.
* `check_public_url`: refuses URLs whose host is or resolves to a private, loopback, link-local or
  otherwise non-global address, so a PDF link (or a redirect) cannot make us fetch from the machine
  or the network we run in. The check resolves the name itself; the connection resolves it again,
  so a name that changes its answer in between (DNS rebinding) is not excluded, only made harder.
  Only PDF URLs are checked: they come from users and from arXiv's answers, whereas the arXiv API URL
  is a setting (``PIPELINE_ARXIV_API_URL``) that whoever runs the tool chose.

Sleeps are injectable so tests never wait.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx2
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_any
from tenacity.stop import stop_base

from pipeline.core.config import Settings
from pipeline.core.errors import NetworkError
from pipeline.storage import files as filelock

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], None]

RETRY_AFTER_CAP = 120.0
BACKOFF_CAP = 30.0
_TRANSIENT = (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)


class RateLimiter:
    """Guarantees at least ``delay`` seconds between the starts of two requests, across threads, and
    across processes that share a ``stamp`` file (the time the last request started)."""

    def __init__(self, clock: Callable[[], float] = time.time, sleep: Sleep = time.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last: float | None = None

    def wait(self, delay: float, stamp: Path | None = None) -> None:
        """Block until ``delay`` seconds have passed since the previous request started (in this
        process, or in any process that used ``stamp``)."""
        # Holding the locks while sleeping is the point: requesters queue up and start one at a time.
        shared = filelock.exclusive(stamp.with_name(stamp.name + ".lock")) if stamp else contextlib.nullcontext()
        with self._lock, shared:
            last = max(self._last or 0.0, _read_stamp(stamp) if stamp else 0.0)
            # At most ``delay``: a stamp from a clock that was set back must not stall the process.
            remaining = min(last + delay - self._clock(), delay)
            if delay > 0 and remaining > 0:
                log.debug("waiting %.2f s before the next arXiv request", remaining)
                self._sleep(remaining)
            self._last = self._clock()
            if stamp is not None:
                _write_stamp(stamp, self._last)


def _read_stamp(stamp: Path) -> float:
    try:
        return float(stamp.read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):  # missing or garbled: no other process has a claim
        return 0.0


def _write_stamp(stamp: Path, value: float) -> None:
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(f"{value:.3f}\n", encoding="ascii")
    except OSError as exc:  # a read-only cache costs only the coordination with other processes
        log.debug("cannot write %s: %s", stamp, exc)


ARXIV_LIMITER = RateLimiter()
ARXIV_STAMP = "arxiv-last-request"  # in the cache folder


def is_arxiv_host(url: str) -> bool:
    """True for arxiv.org and its subdomains (export.arxiv.org), which share one politeness budget."""
    host = (urlsplit(url).hostname or "").lower()
    return host == "arxiv.org" or host.endswith(".arxiv.org")


def polite_wait(url: str, settings: Settings, limiter: RateLimiter | None = None) -> None:
    """Wait for the arXiv limiter when ``url`` is on arXiv; other hosts go straight through."""
    if is_arxiv_host(url):
        (limiter or ARXIV_LIMITER).wait(settings.arxiv.delay_seconds, stamp=settings.cache_dir / ARXIV_STAMP)


class RetryableStatus(Exception):
    """A 429 or 5xx answer; tenacity retries it, honouring ``retry_after`` when the server sent one."""

    def __init__(self, url: str, status: int, retry_after: float | None) -> None:
        super().__init__(f"{url} answered HTTP {status}")
        self.url = url
        self.status = status
        self.retry_after = retry_after


def check_transient_status(response: httpx2.Response) -> None:
    """Raise `RetryableStatus` for 429 and 5xx answers; leave every other status to the caller."""
    status = response.status_code
    if status == 429 or 500 <= status <= 599:
        raise RetryableStatus(str(response.request.url), status,
                              parse_retry_after(response.headers.get("Retry-After")))


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


@dataclass
class Deadline:
    """``seconds`` of wall-clock time from creation for a whole operation; ``setting`` names the
    option that sets it, for the error message."""

    seconds: float
    setting: str
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        """Seconds left (negative once expired)."""
        return self.started + self.seconds - time.monotonic()

    def expired(self) -> bool:
        """True once the time is up."""
        return self.remaining() <= 0

    def check(self, url: str) -> None:
        """Raise `NetworkError` naming ``url`` when the time is up."""
        if self.expired():
            raise NetworkError(f"{url} did not finish within {self.seconds:g} s",
                               hint=f"the server is too slow; try again later or raise {self.setting}")


# Non-global addresses a URL must not lead to unless private URLs are allowed; is_global is False for
# private, loopback, link-local, unspecified (0.0.0.0, ::), shared (100.64/10) and reserved ranges.
def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def check_public_url(url: str, settings: Settings) -> None:
    """Refuse ``url`` (`NetworkError`) when its host is, or resolves to, a non-public address:
    private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback (127/8, ::1, localhost), link-local
    (169.254/16, fe80::/10), unspecified (0.0.0.0) or an IPv4-mapped IPv6 form of those.

    ``settings.pdf.allow_private_urls`` (``PIPELINE_ALLOW_PRIVATE_URLS=1``) turns the check off, for
    a PDF served on the local network on purpose (and the tests' loopback servers).
    """
    if settings.pdf.allow_private_urls:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise NetworkError(f"refusing {url}: only http and https URLs with a host are fetched", retryable=False)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme.lower() == "https" else 80),
                                       type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return  # cannot resolve: the request itself fails and reports it
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if _forbidden(address):
            raise NetworkError(
                f"refusing {url}: {host} is a private, loopback or link-local address ({address})",
                hint="PDFs are fetched only from public addresses; set PIPELINE_ALLOW_PRIVATE_URLS=1 "
                "to fetch from this network on purpose", retryable=False)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
        return exc.retry_after
    return float(min(2 ** (state.attempt_number - 1), BACKOFF_CAP))


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    delay = state.next_action.sleep if state.next_action else 0.0
    log.warning("attempt %d failed (%s); retrying in %.1f s", state.attempt_number, exc, delay)


class _StopAt(stop_base):
    """Stop retrying once ``deadline`` (if any) has expired."""

    def __init__(self, deadline: Deadline | None) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.deadline is not None and self.deadline.expired()


def call_with_retries(attempt: Callable[[], T], *, url: str, settings: Settings,
                      sleep: Sleep = time.sleep, deadline: Deadline | None = None) -> T:
    """Run ``attempt`` with transport retries; raise `NetworkError` naming ``url`` when they run out.

    ``attempt`` performs one request (including its politeness wait) and raises `RetryableStatus`
    via `check_transient_status` for 429/5xx. Any other exception it raises passes through untouched.
    With ``deadline``, retries stop when it expires (its `NetworkError` then says so) and a backoff
    never sleeps past it.
    """
    attempts = settings.arxiv.max_attempts

    def wait(state: RetryCallState) -> float:
        delay = _wait(state)
        return delay if deadline is None else max(min(delay, deadline.remaining()), 0.0)

    retrying = Retrying(
        stop=stop_any(stop_after_attempt(attempts), _StopAt(deadline)),
        wait=wait,
        retry=retry_if_exception(lambda exc: isinstance(exc, (RetryableStatus, *_TRANSIENT))),
        sleep=sleep,
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except RetryableStatus as exc:
        if deadline is not None:
            deadline.check(url)
        raise NetworkError(f"{url} answered HTTP {exc.status} after {attempts} attempts",
                           hint="the server is busy or failing; try again later") from exc
    except _TRANSIENT as exc:
        if deadline is not None:
            deadline.check(url)
        raise NetworkError(f"cannot reach {url} after {attempts} attempts: {type(exc).__name__}: {exc}",
                           hint="check the network connection and try again") from exc
    except httpx2.RequestError as exc:  # e.g. unsupported scheme, too many redirects, broken gzip
        raise NetworkError(f"request to {url} failed: {type(exc).__name__}: {exc}",
                           hint="check the URL and the network settings", retryable=False) from exc


@contextlib.contextmanager
def http_client(settings: Settings, client: httpx2.Client | None) -> Iterator[httpx2.Client]:
    """The caller's client, or a fresh one (closed afterwards) with our timeout and User-Agent."""
    if client is not None:
        yield client
        return
    with httpx2.Client(timeout=settings.arxiv.timeout_seconds, follow_redirects=True,
                       headers={"User-Agent": settings.arxiv.user_agent}) as own:
        yield own


def headers(settings: Settings, **extra: str) -> dict[str, str]:
    """Per-request headers: the descriptive User-Agent even on a caller-supplied client."""
    return {"User-Agent": settings.arxiv.user_agent, **extra}
