"""fetch_pdf: local checks, streamed downloads that only land in the cache when whole and a real PDF."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import httpx2
import pytest
from conftest import PDFS

from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import NetworkError, PdfError, SourceError
from pipeline.core.models import PaperMetadata
from pipeline.sources import fetch_pdf, parse_source, pdf_url
from pipeline.storage.cache import Cache, sha256_file

PDF = PDFS / "mixmatch_1905.02249.pdf"


@pytest.fixture
def settings() -> Settings:
    return load_settings(os.environ)


@pytest.fixture
def pdf_bytes() -> bytes:
    return PDF.read_bytes()


def _cache_files(settings: Settings) -> list[Path]:
    root = settings.cache_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


Reply = httpx2.Response | Callable[[], httpx2.Response]


class Recorder:
    """Serves replies in order (the last one repeats); a callable reply builds a fresh response."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply() if callable(reply) else reply

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))


def _no_sleep(seconds: float) -> None:
    pass


# --------------------------------------------------------------------------- local files


def test_local_pdf_is_returned_as_is(settings: Settings) -> None:
    source = parse_source(str(PDF))
    assert fetch_pdf(source, settings, client=Recorder().client()) == PDF.resolve()
    assert _cache_files(settings) == []


def test_local_pdf_deleted_after_parsing(settings: Settings, tmp_path: Path) -> None:
    pdf = tmp_path / "gone.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    source = parse_source(str(pdf))
    pdf.unlink()
    with pytest.raises(SourceError, match=f"PDF file not found: {pdf}"):
        fetch_pdf(source, settings)


def test_local_pdf_over_the_size_limit(settings: Settings, tmp_path: Path) -> None:
    pdf = tmp_path / "big.pdf"
    pdf.write_bytes(b"%PDF-1.4" + b"0" * 2000)
    settings.pdf.max_bytes = 1000
    with pytest.raises(PdfError, match=f"{pdf} is 0.0 MB, over the 0 MB limit"):
        fetch_pdf(parse_source(str(pdf)), settings)


# --------------------------------------------------------------------------- downloads


def test_pdf_url_choice() -> None:
    source = parse_source("2506.01234v2")
    assert pdf_url(source) == "https://arxiv.org/pdf/2506.01234v2"
    assert pdf_url(parse_source("hep-th/9901001")) == "https://arxiv.org/pdf/hep-th/9901001"
    meta = PaperMetadata(key="2506.01234", arxiv_id="2506.01234", title="t",
                         pdf_url="https://arxiv.org/pdf/2506.01234v3")
    assert pdf_url(parse_source("2506.01234"), meta) == "https://arxiv.org/pdf/2506.01234v3"
    other = meta.model_copy(update={"arxiv_id": "2506.09999"})
    assert pdf_url(parse_source("2506.01234"), other) == "https://arxiv.org/pdf/2506.01234"
    assert pdf_url(parse_source("https://x.org/a.pdf")) == "https://x.org/a.pdf"
    assert pdf_url(parse_source(str(PDF))) is None


def test_download_then_cache_hit(settings: Settings, pdf_bytes: bytes) -> None:
    server = Recorder(httpx2.Response(200, content=pdf_bytes, headers={"Content-Type": "application/pdf"}))
    meta = PaperMetadata(key="1905.02249", arxiv_id="1905.02249", title="MixMatch",
                         pdf_url="https://arxiv.org/pdf/1905.02249v2")
    source = parse_source("1905.02249")
    path = fetch_pdf(source, settings, meta, client=server.client(), sleep=_no_sleep)
    assert path.read_bytes() == pdf_bytes
    digest = hashlib.sha256(pdf_bytes).hexdigest()
    assert sha256_file(path) == digest
    assert path == Cache.from_settings(settings).path_for("pdf", digest, ".pdf")  # content-addressed
    (request,) = server.requests
    assert str(request.url) == "https://arxiv.org/pdf/1905.02249v2"
    assert request.headers["User-Agent"] == settings.arxiv.user_agent
    offline = Recorder(httpx2.Response(500))
    assert fetch_pdf(source, settings, meta, client=offline.client()) == path
    assert offline.requests == []
    assert not [p for p in _cache_files(settings) if p.name.startswith(".tmp-")]


def test_same_bytes_from_two_urls_share_one_file(settings: Settings, pdf_bytes: bytes) -> None:
    server = Recorder(httpx2.Response(200, content=pdf_bytes))
    a = fetch_pdf(parse_source("https://a.example/x.pdf"), settings, client=server.client())
    b = fetch_pdf(parse_source("https://b.example/y.pdf"), settings, client=server.client())
    assert a == b and len(server.requests) == 2


def test_html_instead_of_pdf_is_rejected(settings: Settings) -> None:
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    server = Recorder(httpx2.Response(200, content=page, headers={"Content-Type": "text/html; charset=utf-8"}))
    url = "https://journal.example/paper.pdf"
    with pytest.raises(PdfError, match=rf"{url} is not a PDF \(got text/html starting with b'<!DO'\)"):
        fetch_pdf(parse_source(url), settings, client=server.client(), sleep=_no_sleep)
    assert len(server.requests) == 1  # not retried
    assert [p for p in _cache_files(settings) if p.suffix == ".pdf"] == []
    assert not [p for p in _cache_files(settings) if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("body", [b"", b"%P", b"PK\x03\x04zipfile", b"\x89PNG\r\n\x1a\n"])
def test_short_or_other_bodies_are_rejected(settings: Settings, body: bytes) -> None:
    server = Recorder(httpx2.Response(200, content=body, headers={"Content-Type": "application/pdf"}))
    with pytest.raises(PdfError, match="is not a PDF"):
        fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client())
    assert _cache_files(settings) == []


class _Body(httpx2.SyncByteStream):
    def __init__(self, chunks: list[bytes], fail: Exception | None = None) -> None:
        self.chunks = chunks
        self.fail = fail
        self.read = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.read += 1
            yield chunk
        if self.fail is not None:
            raise self.fail


def test_content_length_over_limit_is_refused_before_reading(settings: Settings) -> None:
    settings.pdf.max_bytes = 1000
    body = _Body([b"%PDF-1.4", b"x" * 5000])
    server = Recorder(httpx2.Response(200, headers={"Content-Length": "5008"}, stream=body))
    with pytest.raises(PdfError, match=r"https://x.example/a.pdf is 0.0 MB, over the 0 MB limit"):
        fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client())
    assert body.read == 0
    assert _cache_files(settings) == []


def test_body_over_limit_without_content_length_stops(settings: Settings) -> None:
    settings.pdf.max_bytes = 1000
    body = _Body([b"%PDF-1.4"] + [b"x" * 400] * 50)
    server = Recorder(httpx2.Response(200, stream=body))
    with pytest.raises(PdfError, match="over the 0 MB limit"):
        fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client())
    assert body.read < 10
    assert _cache_files(settings) == []


def test_read_error_mid_body_is_retried_then_fails_cleanly(settings: Settings, pdf_bytes: bytes) -> None:
    half = pdf_bytes[: len(pdf_bytes) // 2]
    server = Recorder(lambda: httpx2.Response(200, stream=_Body([half], httpx2.ReadError("connection reset"))))
    sleeps: list[float] = []
    with pytest.raises(NetworkError, match=r"cannot reach https://x.example/a.pdf after 4 attempts: ReadError"):
        fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client(),
                  sleep=sleeps.append)
    assert len(server.requests) == 4 and sleeps == [1.0, 2.0, 4.0]
    assert _cache_files(settings) == []


def test_404_is_not_retried(settings: Settings) -> None:
    server = Recorder(httpx2.Response(404))
    with pytest.raises(PdfError, match=r"cannot download https://x.example/a.pdf: HTTP 404 Not Found"):
        fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client(), sleep=_no_sleep)
    assert len(server.requests) == 1


def test_429_then_success(settings: Settings, pdf_bytes: bytes) -> None:
    server = Recorder(httpx2.Response(429, headers={"Retry-After": "5"}), httpx2.Response(200, content=pdf_bytes))
    sleeps: list[float] = []
    path = fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client(),
                     sleep=sleeps.append)
    assert sleeps == [5.0] and path.read_bytes() == pdf_bytes


# --------------------------------------------------------------------------- a real socket


class _Handler(http.server.BaseHTTPRequestHandler):
    pdf = b""
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = self.pdf
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.startswith("/drop"):
            # Half the body, then the connection closes: what a flaky network does.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback(pdf_bytes: bytes) -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_Handler,), {"pdf": pdf_bytes, "hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_interrupted_download_over_a_socket_leaves_no_cached_file(
        settings: Settings, loopback: tuple[str, list[str]]) -> None:
    base, hits = loopback
    settings.arxiv.max_attempts = 2
    url = f"{base}/drop/paper.pdf"
    with pytest.raises(NetworkError, match=f"cannot reach {url} after 2 attempts"):
        fetch_pdf(parse_source(url), settings, sleep=_no_sleep)
    assert len(hits) == 2
    assert _cache_files(settings) == []


def test_whole_download_over_a_socket(settings: Settings, loopback: tuple[str, list[str]],
                                      pdf_bytes: bytes) -> None:
    base, hits = loopback
    path = fetch_pdf(parse_source(f"{base}/ok/paper.pdf"), settings)
    assert path.read_bytes() == pdf_bytes
    assert fetch_pdf(parse_source(f"{base}/ok/paper.pdf"), settings) == path
    assert hits == ["/ok/paper.pdf"]


def test_truncated_cached_file_is_downloaded_again(settings: Settings, loopback: tuple[str, list[str]],
                                                   pdf_bytes: bytes) -> None:
    base, hits = loopback
    path = fetch_pdf(parse_source(f"{base}/ok/paper.pdf"), settings)
    path.write_bytes(pdf_bytes[:100])  # e.g. damaged by hand
    again = fetch_pdf(parse_source(f"{base}/ok/paper.pdf"), settings)
    assert again.read_bytes() == pdf_bytes and len(hits) == 2


def test_too_many_redirects_is_one_error(settings: Settings) -> None:
    server = Recorder(httpx2.Response(302, headers={"Location": "https://x.example/a.pdf"}))
    with pytest.raises(NetworkError, match="redirects more than 5 times"):
        fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client())
    assert len(server.requests) == 6


def test_disk_error_while_downloading_is_one_error(settings: Settings, pdf_bytes: bytes,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.core.errors import ConfigError

    def full(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    server = Recorder(httpx2.Response(200, content=pdf_bytes))
    monkeypatch.setattr(Path, "open", full)
    with pytest.raises(ConfigError, match="No space left on device"):
        fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client())
    monkeypatch.undo()
    assert [p for p in _cache_files(settings) if p.suffix == ".pdf"] == []


def test_cli_fetch_pdf_url_downloads_only_with_pdf_flag(loopback: tuple[str, list[str]], pdf_bytes: bytes,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from pipeline.cli import main

    base, hits = loopback
    url = f"{base}/ok/paper.pdf"
    assert main(["fetch", "--json", url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["url"] == url and "pdf_path" not in data and hits == []
    assert main(["fetch", "--json", "--pdf", url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert Path(data["pdf_path"]).read_bytes() == pdf_bytes and "comes from the PDF" in data["note"]
    assert hits == ["/ok/paper.pdf"]


# --------------------------------------------------------------------------- hostile servers (issue 12)


class _Trickle(http.server.BaseHTTPRequestHandler):
    """A PDF one byte at a time, ``pause`` seconds apart: slow enough to take long, fast enough never
    to trip a read timeout."""

    pause = 0.2
    body = b"%PDF-1.4\n" + b"x" * 40

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        try:
            for i in range(len(self.body)):
                self.wfile.write(self.body[i:i + 1])
                self.wfile.flush()
                time.sleep(self.pause)
        except OSError:  # the client gave up, as it should
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_trickling_server_is_cut_off_at_the_download_deadline(settings: Settings) -> None:
    settings.pdf.download_deadline_seconds = 1.0
    with _serve(_Trickle) as base:
        url = f"{base}/slow/paper.pdf"
        started = time.monotonic()
        # Before the fix: 49 bytes x 0.2 s, accepted after ~10 s whatever the limit.
        with pytest.raises(NetworkError, match=r"did not finish within 1 s .*PIPELINE_DOWNLOAD_DEADLINE"):
            fetch_pdf(parse_source(url), settings, sleep=_no_sleep)
        assert time.monotonic() - started < 2.0
    assert [p for p in _cache_files(settings) if p.suffix == ".pdf" or p.name.startswith(".tmp-")] == []


def test_a_deadline_also_bounds_the_retries(settings: Settings) -> None:
    settings.pdf.download_deadline_seconds = 0.5
    server = Recorder(httpx2.Response(503))
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    with pytest.raises(NetworkError, match=r"did not finish within 0\.5 s"):
        fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client(), sleep=sleep)
    assert sum(slept) <= 0.5


def test_a_redirect_to_loopback_is_refused(monkeypatch: pytest.MonkeyPatch, pdf_bytes: bytes) -> None:
    monkeypatch.delenv("PIPELINE_ALLOW_PRIVATE_URLS")
    settings = load_settings(os.environ)
    with _serve(type("Inner", (_Handler,), {"pdf": pdf_bytes, "hits": []})) as inner:
        server = Recorder(httpx2.Response(302, headers={"Location": f"{inner}/secret/paper.pdf"}))
        # Before the fix the redirect was followed and the loopback server's PDF cached.
        with pytest.raises(NetworkError, match=r"refusing http://127\.0\.0\.1:\d+/secret/paper\.pdf: "
                                               r"127\.0\.0\.1 is a private, loopback or link-local .*"
                                               r"PIPELINE_ALLOW_PRIVATE_URLS=1"):
            fetch_pdf(parse_source("https://public.example/paper.pdf"), settings, client=server.client(),
                      sleep=_no_sleep)
    assert len(server.requests) == 1
    assert [p for p in _cache_files(settings) if p.suffix == ".pdf"] == []


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1.2.3", "localhost", "0.0.0.0", "[::1]", "[::]", "169.254.169.254", "10.0.0.1",
    "172.16.0.1", "172.31.255.255", "192.168.1.1", "[fc00::1]", "[fd12:3456::1]", "[fe80::1]",
    "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "100.64.0.1",
])
def test_private_loopback_and_link_local_hosts_are_refused(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.delenv("PIPELINE_ALLOW_PRIVATE_URLS")
    settings = load_settings(os.environ)
    server = Recorder(httpx2.Response(200, content=b"%PDF-1.4"))
    with pytest.raises(NetworkError, match="refusing"):
        fetch_pdf(parse_source(f"http://{host}/paper.pdf"), settings, client=server.client())
    assert server.requests == []


def test_a_name_that_resolves_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.delenv("PIPELINE_ALLOW_PRIVATE_URLS")
    settings = load_settings(os.environ)

    def resolve(host: str, port: object, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        address = {"inside.example": "10.1.2.3", "outside.example": "93.184.215.14"}[host]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 443))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    server = Recorder(httpx2.Response(302, headers={"Location": "https://inside.example/b.pdf"}))
    with pytest.raises(NetworkError, match=r"inside\.example is a private.*\(10\.1\.2\.3\)"):
        fetch_pdf(parse_source("https://outside.example/a.pdf"), settings, client=server.client())
    assert [str(r.url) for r in server.requests] == ["https://outside.example/a.pdf"]


def test_redirects_are_followed_hop_by_hop(settings: Settings, pdf_bytes: bytes) -> None:
    server = Recorder(httpx2.Response(301, headers={"Location": "/moved/a.pdf"}),
                      httpx2.Response(200, content=pdf_bytes))
    path = fetch_pdf(parse_source("https://x.example/a.pdf"), settings, client=server.client())
    assert path.read_bytes() == pdf_bytes
    assert [str(r.url) for r in server.requests] == ["https://x.example/a.pdf", "https://x.example/moved/a.pdf"]
