"""arXiv metadata against the real recorded API responses; retries, politeness and caching."""

from __future__ import annotations

import datetime as dt
import http.server
import itertools
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from conftest import ARXIV_API

from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import MetadataError, NetworkError, PaperNotFound, PaperWithdrawn
from pipeline.sources import Source, fetch_metadata, parse_feed, parse_source
from pipeline.sources.arxiv import is_withdrawn
from pipeline.sources.http import RateLimiter, parse_retry_after

RECORDED = ARXIV_API / "arxiv.py_2026"
OLD_XML = ARXIV_API / "arxiv.py_2016_xml"


def _recording(name: str) -> tuple[int, str]:
    (path,) = RECORDED.glob(f"id_{name}_s0_*.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    return int(data["status_code"]), str(data["body"])


class Recorder:
    """A MockTransport handler that serves fixed replies and records every request."""

    def __init__(self, replies: list[httpx2.Response | Exception] | Callable[[httpx2.Request], httpx2.Response]):
        self.replies = replies
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if callable(self.replies):
            return self.replies(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))


def _serve(name: str, body: str | None = None) -> Recorder:
    status, recorded = _recording(name)
    return Recorder([httpx2.Response(status, text=body if body is not None else recorded)])


@pytest.fixture
def settings() -> Settings:
    return load_settings(os.environ)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_one_paper(settings: Settings) -> None:
    server = _serve("1605.08386")
    meta = fetch_metadata(parse_source("1605.08386"), settings, client=server.client())
    assert meta.key == meta.arxiv_id == "1605.08386"
    assert meta.version == 1
    assert meta.title == "Heat-bath random walks with Markov bases"
    assert meta.authors == ["Caprice Stanley", "Tobias Windisch"]
    assert (meta.first_author, meta.last_author) == ("Caprice Stanley", "Tobias Windisch")
    assert meta.published == meta.updated == dt.date(2016, 5, 26)
    assert meta.abstract.startswith("Graphs on lattice points are studied")
    assert meta.primary_category == "math.CO"
    assert meta.categories == ["math.CO", "math.ST"]
    assert meta.comment == "20 pages, 3 figures"
    assert meta.journal_ref is None and meta.doi is None and not meta.withdrawn
    assert meta.pdf_url == "https://arxiv.org/pdf/1605.08386v1"
    assert meta.abs_url == "https://arxiv.org/abs/1605.08386v1"
    (request,) = server.requests
    assert request.url.params["id_list"] == "1605.08386"
    assert str(request.url).startswith(settings.arxiv.api_url)
    assert request.headers["User-Agent"] == settings.arxiv.user_agent
    assert "pipeline" in request.headers["User-Agent"]


def test_two_papers_feed_keeps_order_and_skips_unknown_ids(settings: Settings) -> None:
    _, body = _recording("0808.05394_1707.08567")
    (paper,) = parse_feed(body)
    assert paper.arxiv_id == "1707.08567"
    assert paper.title.startswith("Proceedings of Workshop AEW10")
    assert paper.authors[:3] == ["Kees A. Schouhamer Immink", "Stan Baggen", "Ferdaous Chaabane"]
    assert len(paper.authors) > 10 and paper.last_author == paper.authors[-1]
    server = _serve("0808.05394_1707.08567")
    meta = fetch_metadata(parse_source("arXiv:1707.08567"), settings, client=server.client())
    assert meta.authors == paper.authors


def test_versioned_id(settings: Settings) -> None:
    server = _serve("2104.12255v1")
    meta = fetch_metadata(parse_source("https://arxiv.org/abs/2104.12255v1"), settings, client=server.client())
    assert server.requests[0].url.params["id_list"] == "2104.12255v1"
    assert (meta.arxiv_id, meta.version, meta.title) == ("2104.12255", 1, "0")  # a real title of "0"
    assert meta.authors == ["Quan Thoi Minh Nguyen"]
    assert meta.comment is None and meta.categories == ["cs.CR"]


def test_zero_results_is_not_found(settings: Settings) -> None:
    server = _serve("0000.0000")
    with pytest.raises(PaperNotFound, match=r"^no arXiv paper 2506\.99999"):
        fetch_metadata(parse_source("2506.99999"), settings, client=server.client())


def test_error_feed_gives_its_message(settings: Settings) -> None:
    server = _serve("abc")
    source = Source(kind="arxiv", raw="abc", key="abc", arxiv_id="abc")
    with pytest.raises(MetadataError, match="incorrect id format for abc") as info:
        fetch_metadata(source, settings, client=server.client())
    assert not isinstance(info.value, PaperNotFound)
    assert len(server.requests) == 1  # a 400 is never retried


def test_2016_record(settings: Settings) -> None:
    body = (OLD_XML / "id_list_1111.2011v2.xml").read_text(encoding="utf-8")
    server = Recorder([httpx2.Response(200, text=body)])
    meta = fetch_metadata(parse_source("1111.2011v2"), settings, client=server.client())
    assert meta.title == ("Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large "
                          "Connectivity Limit")
    assert meta.authors == ["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"]
    assert (meta.published, meta.updated) == (dt.date(2011, 11, 8), dt.date(2012, 4, 2))
    assert meta.version == 2
    assert meta.doi == "10.1103/PhysRevB.85.115117"
    assert meta.journal_ref == "Phys. Rev. B 85, 115117 (2012)"
    assert meta.comment == "8 pages, 3 figures. Published version"
    assert meta.primary_category == "cond-mat.str-el"
    assert meta.categories == ["cond-mat.str-el", "cond-mat.stat-mech"]
    assert meta.pdf_url == "https://arxiv.org/pdf/1111.2011v2"
    assert "\n" not in meta.abstract and "  " not in meta.abstract
    assert meta.abstract.startswith("Theoretical description of anisotropic systems")


def test_second_call_comes_from_the_cache(settings: Settings) -> None:
    server = _serve("1605.08386")
    first = fetch_metadata(parse_source("1605.08386"), settings, client=server.client())
    offline = Recorder([RuntimeError("no request expected")])
    second = fetch_metadata(parse_source("https://arxiv.org/abs/1605.08386"), settings,
                            client=offline.client())
    assert second == first and offline.requests == []
    assert len(server.requests) == 1


def test_refresh_asks_again_and_replaces_the_entry(settings: Settings) -> None:
    _, body = _recording("1605.08386")
    server = Recorder([httpx2.Response(200, text=body),
                       httpx2.Response(200, text=body.replace("1605.08386v1", "1605.08386v2"))])
    assert fetch_metadata(parse_source("1605.08386"), settings, client=server.client()).version == 1
    fresh = fetch_metadata(parse_source("1605.08386"), settings, client=server.client(), refresh=True)
    assert fresh.version == 2 and fresh.pdf_url == "https://arxiv.org/pdf/1605.08386v2"
    assert fetch_metadata(parse_source("1605.08386"), settings, client=server.client()).version == 2
    assert len(server.requests) == 2


def test_corrupt_cache_entry_is_fetched_again(settings: Settings) -> None:
    from pipeline.storage.cache import Cache

    server = _serve("1605.08386")
    fetch_metadata(parse_source("1605.08386"), settings, client=server.client())
    path = Cache.from_settings(settings).path_for("arxiv-meta", "1605.08386", ".json")
    path.write_text(path.read_text()[:40])
    meta = fetch_metadata(parse_source("1605.08386"), settings, client=server.client())
    assert meta.title.startswith("Heat-bath") and len(server.requests) == 2


def test_withdrawn_paper(settings: Settings) -> None:
    _, body = _recording("1605.08386")
    body = body.replace("20 pages, 3 figures", "This paper has been withdrawn by the author due to an "
                        "error in Lemma 3")
    assert "withdrawn" in body
    server = Recorder([httpx2.Response(200, text=body)])
    with pytest.raises(PaperWithdrawn, match=r"1605.08386 was withdrawn"):
        fetch_metadata(parse_source("1605.08386"), settings, client=server.client())
    with pytest.raises(PaperWithdrawn):  # cached, still withdrawn, no new request
        fetch_metadata(parse_source("1605.08386"), settings, client=server.client())
    assert len(server.requests) == 1


@pytest.mark.parametrize(("comment", "expected"), [
    ("This paper has been withdrawn by the author", True),
    ("Withdrawn: the main result is wrong", True),
    ("withdrawn by arXiv administrators", True),
    ("20 pages; v2: withdrawn claim about X removed, results unchanged", False),
    ("We study withdrawn patients in a clinical trial", False),
    (None, False),
])
def test_is_withdrawn(comment: str | None, expected: bool) -> None:
    assert is_withdrawn(comment) is expected


def test_source_without_arxiv_id(settings: Settings, tmp_path: Path) -> None:
    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(MetadataError, match="comes from the PDF"):
        fetch_metadata(parse_source(str(pdf)), settings, client=Recorder([RuntimeError()]).client())


def test_answer_for_another_id_is_not_found(settings: Settings) -> None:
    server = _serve("1605.08386")
    with pytest.raises(PaperNotFound, match=r"no arXiv paper 2506.01234"):
        fetch_metadata(parse_source("2506.01234"), settings, client=server.client())


@pytest.mark.parametrize("body", ["<html>maintenance</html", "", "{\"not\": \"xml\"}"])
def test_unreadable_answer(settings: Settings, body: str) -> None:
    server = Recorder([httpx2.Response(200, text=body)])
    with pytest.raises(MetadataError, match=r"unreadable answer from .*id_list=1605.08386"):
        fetch_metadata(parse_source("1605.08386"), settings, client=server.client())


# --------------------------------------------------------------------------- retries


def test_retry_on_429_honours_retry_after(settings: Settings) -> None:
    status, body = _recording("1605.08386")
    server = Recorder([httpx2.Response(429, headers={"Retry-After": "7"}), httpx2.Response(status, text=body)])
    sleeps = Sleeps()
    meta = fetch_metadata(parse_source("1605.08386"), settings, client=server.client(), sleep=sleeps)
    assert meta.arxiv_id == "1605.08386"
    assert sleeps == [7.0] and len(server.requests) == 2


def test_retry_on_5xx_and_timeouts_with_backoff(settings: Settings) -> None:
    status, body = _recording("1605.08386")
    server = Recorder([httpx2.Response(500), httpx2.ReadTimeout("slow"), httpx2.ConnectError("refused"),
                       httpx2.Response(status, text=body)])
    sleeps = Sleeps()
    fetch_metadata(parse_source("1605.08386"), settings, client=server.client(), sleep=sleeps)
    assert sleeps == [1.0, 2.0, 4.0] and len(server.requests) == 4


def test_gives_up_after_max_attempts_naming_the_url(settings: Settings) -> None:
    server = Recorder([httpx2.Response(503)])
    sleeps = Sleeps()
    with pytest.raises(NetworkError, match=r"export\.arxiv\.org/api/query\?id_list=1605\.08386 answered "
                                           r"HTTP 503 after 4 attempts") as info:
        fetch_metadata(parse_source("1605.08386"), settings, client=server.client(), sleep=sleeps)
    assert info.value.retryable
    assert len(server.requests) == settings.arxiv.max_attempts == 4 and len(sleeps) == 3


def test_connection_errors_become_network_error(settings: Settings) -> None:
    server = Recorder([httpx2.ConnectError("Name or service not known")])
    with pytest.raises(NetworkError, match=r"cannot reach .*ConnectError"):
        fetch_metadata(parse_source("1605.08386"), settings, client=server.client(), sleep=Sleeps())


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_no_retry_on_other_4xx(settings: Settings, status: int) -> None:
    server = Recorder([httpx2.Response(status)])
    sleeps = Sleeps()
    with pytest.raises(MetadataError, match=f"HTTP {status}"):
        fetch_metadata(parse_source("1605.08386"), settings, client=server.client(), sleep=sleeps)
    assert len(server.requests) == 1 and sleeps == []


def test_parse_retry_after() -> None:
    now = dt.datetime(2026, 4, 12, 22, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("100000") == 120.0  # capped
    assert parse_retry_after("Sun, 12 Apr 2026 22:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sun, 12 Apr 2026 21:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --------------------------------------------------------------------------- politeness


class FakeClock:
    """A clock that only moves when somebody sleeps; sleeping is thread-safe."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def test_limiter_spaces_request_starts_across_threads() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            limiter.wait(3.0)
            with lock:
                starts.append(clock())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 18
    assert all(b - a >= 3.0 for a, b in itertools.pairwise(starts))


def test_limiters_sharing_a_stamp_file_space_requests_like_one(tmp_path: Path) -> None:
    """Two processes (each its own limiter) see each other's requests through the stamp file."""
    clock = FakeClock()
    stamp = tmp_path / "arxiv-last-request"
    first, second = (RateLimiter(clock=clock, sleep=clock.sleep) for _ in range(2))
    first.wait(3.0, stamp=stamp)
    assert clock.now == 1000.0
    second.wait(3.0, stamp=stamp)
    assert clock.now == 1003.0  # waited for the other limiter's request
    clock.now += 10
    first.wait(3.0, stamp=stamp)
    assert clock.now == 1013.0  # long enough ago: no wait


def test_a_stamp_from_the_future_costs_at_most_one_delay(tmp_path: Path) -> None:
    clock = FakeClock()
    stamp = tmp_path / "arxiv-last-request"
    stamp.write_text("99999999.0\n", encoding="ascii")  # written before the clock was set back
    RateLimiter(clock=clock, sleep=clock.sleep).wait(3.0, stamp=stamp)
    assert clock.now == 1003.0
    assert float(stamp.read_text(encoding="ascii")) == 1003.0


def test_fetch_waits_for_the_limiter_between_arxiv_requests(settings: Settings) -> None:
    settings.arxiv.delay_seconds = 3.0
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    server = Recorder(lambda request: httpx2.Response(200, text=_recording(
        "1605.08386" if request.url.params["id_list"] == "1605.08386" else "2104.12255v1")[1]))
    fetch_metadata(parse_source("1605.08386"), settings, client=server.client(), limiter=limiter)
    assert clock.now == 1000.0  # the first request does not wait
    fetch_metadata(parse_source("2104.12255v1"), settings, client=server.client(), limiter=limiter)
    assert clock.now == 1003.0


# --------------------------------------------------------------------------- the command, end to end


@pytest.fixture
def fake_arxiv(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A loopback arXiv API serving the recorded answers, wired in through PIPELINE_ARXIV_API_URL."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            wanted = parse_qs(urlsplit(self.path).query)["id_list"][0]
            if wanted == "1111.2011v2":
                status, body = 200, (OLD_XML / "id_list_1111.2011v2.xml").read_text(encoding="utf-8")
            else:
                status, body = _recording(wanted if wanted in ("1605.08386", "abc") else "0000.0000")
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/atom+xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("PIPELINE_ARXIV_API_URL", f"http://127.0.0.1:{server.server_address[1]}/api/query")
    try:
        yield hits
    finally:
        server.shutdown()
        server.server_close()


def test_cli_fetch_yaml_and_json(fake_arxiv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from ruamel.yaml import YAML

    from pipeline.cli import main

    assert main(["fetch", "https://arxiv.org/abs/1111.2011v2"]) == 0
    data = YAML(typ="safe").load(capsys.readouterr().out)
    assert data["key"] == "1111.2011" and data["version"] == 2
    assert data["first_author"] == "James M. Murray" and data["last_author"] == "Zlatko Tesanovic"
    assert data["doi"] == "10.1103/PhysRevB.85.115117"
    assert main(["fetch", "--json", "1111.2011v2"]) == 0  # from the cache
    assert json.loads(capsys.readouterr().out)["title"].startswith("Quantum Criticality")
    assert len(fake_arxiv) == 1


@pytest.mark.parametrize(("source", "message"), [
    ("2506.99999", "error: no arXiv paper 2506.99999"),
    ("not an id", "error: not a paper source: 'not an id'"),
])
def test_cli_fetch_failures_are_one_line(fake_arxiv: list[str], capsys: pytest.CaptureFixture[str],
                                         source: str, message: str) -> None:
    from pipeline.cli import main

    assert main(["fetch", source]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message) and captured.err.count("\n") == 1


def test_cli_fetch_local_pdf_says_metadata_comes_from_the_pdf(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main

    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    assert main(["fetch", "--json", str(pdf)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["path"] == str(pdf.resolve()) and data["key"].startswith("notes-")
    assert "comes from the PDF" in data["note"]
