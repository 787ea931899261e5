"""Get a source's PDF onto disk: local files are checked, remote ones downloaded into the cache.

Downloads stream into a temporary file in the cache and are renamed into place only after the whole
body arrived, stayed under ``settings.pdf.max_bytes`` and started with ``%PDF``. An interrupted or
rejected download therefore never leaves a cached file. PDFs are stored content-addressed (by the
sha256 of their bytes, namespace ``pdf``) with a URL index (namespace ``pdf-url``), so a second call
for the same URL makes no request.

A download has one wall-clock deadline over all its attempts, redirects and body bytes
(``settings.pdf.download_deadline_seconds``): a server that sends a byte every few seconds never
trips the per-read timeout, and once made a 30 s limit take 100 s. Redirects are followed here, one
hop at a time (at most ``settings.pdf.max_redirects``), so that every URL on the way passes
`check_public_url` before it is requested: a PDF link must not lead to 127.0.0.1 or the local network.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx2

from pipeline.core.config import Settings
from pipeline.core.errors import ConfigError, NetworkError, PdfError, SourceError
from pipeline.core.models import PaperMetadata
from pipeline.sources.http import (
    Deadline,
    RateLimiter,
    Sleep,
    call_with_retries,
    check_public_url,
    check_transient_status,
    headers,
    http_client,
    polite_wait,
)
from pipeline.sources.ids import Source
from pipeline.storage.cache import Cache

log = logging.getLogger(__name__)

PDF_NAMESPACE = "pdf"
INDEX_NAMESPACE = "pdf-url"
_MB = 1024 * 1024


def pdf_url(source: Source, metadata: PaperMetadata | None = None) -> str | None:
    """The URL a source's PDF is downloaded from (None for local files)."""
    if source.kind == "url":
        return source.url
    if source.kind == "arxiv":
        if metadata is not None and metadata.pdf_url and metadata.arxiv_id == source.arxiv_id:
            return metadata.pdf_url
        return f"https://arxiv.org/pdf/{source.versioned_id}"
    return None


def fetch_pdf(source: Source, settings: Settings, metadata: PaperMetadata | None = None, *,
              client: httpx2.Client | None = None, sleep: Sleep = time.sleep,
              limiter: RateLimiter | None = None) -> Path:
    """A local path to the PDF of ``source``: the file itself, or a cached download.

    Raises `SourceError` for a missing local file, `PdfError` for a body that is not a PDF, too large
    or refused by the server, and `NetworkError` when the transport retries run out.
    """
    if source.kind == "pdf":
        return check_local_pdf(source, settings)
    url = pdf_url(source, metadata)
    if url is None:
        raise SourceError(f"{source.raw!r} names no PDF to download")
    cache = Cache.from_settings(settings)
    cached = _cached(cache, url)
    if cached is not None:
        log.debug("PDF of %s from the cache: %s", url, cached)
        return cached
    deadline = Deadline(settings.pdf.download_deadline_seconds,
                        "pdf.download_deadline_seconds (PIPELINE_DOWNLOAD_DEADLINE)")
    with http_client(settings, client) as http, cache.temp_file(PDF_NAMESPACE) as tmp:
        def attempt() -> tuple[str, int]:
            deadline.check(url)
            polite_wait(url, settings, limiter)
            return _download(http, url, tmp, settings, deadline)

        try:
            digest, size = call_with_retries(attempt, url=url, settings=settings, sleep=sleep, deadline=deadline)
        except OSError as exc:  # writing the temporary file: disk full, permissions
            raise ConfigError(f"cannot write the download of {url} to {tmp.parent}: {exc.strerror or exc}",
                              hint="free disk space or set PIPELINE_CACHE_DIR to a writable folder") from exc
        path = cache.put_file_from(tmp, PDF_NAMESPACE, digest, ".pdf")
    cache.put_json(INDEX_NAMESPACE, url, {"url": url, "sha256": digest, "bytes": size})
    log.info("downloaded %s (%d bytes) to %s", url, size, path)
    return path


def check_local_pdf(source: Source, settings: Settings) -> Path:
    """The local PDF's path after checking it exists, is a file and is under the size limit."""
    path = source.path
    if path is None:
        raise SourceError(f"{source.raw!r} has no local path")
    if not path.exists():
        raise SourceError(f"PDF file not found: {path}", hint="check the path")
    if not path.is_file():
        raise SourceError(f"{path} is not a file", hint="give the path of one PDF file")
    size = path.stat().st_size
    if size > settings.pdf.max_bytes:
        raise PdfError(f"{path} is {size / _MB:.1f} MB, over the {settings.pdf.max_bytes / _MB:.0f} MB limit",
                       hint="raise pdf.max_bytes in the settings if this PDF is genuine")
    return path


def _cached(cache: Cache, url: str) -> Path | None:
    entry: Any = cache.get_json(INDEX_NAMESPACE, url)
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        return None
    path = cache.path_for(PDF_NAMESPACE, entry["sha256"], ".pdf")
    try:
        if path.stat().st_size != entry.get("bytes"):
            log.warning("cached PDF %s has the wrong size; downloading %s again", path, url)
            return None
        with path.open("rb") as handle:
            if not handle.read(4).startswith(b"%PDF"):
                return None
    except OSError:
        return None
    return path


def _download(http: httpx2.Client, url: str, tmp: Path, settings: Settings,
              deadline: Deadline) -> tuple[str, int]:
    current = url
    for _ in range(settings.pdf.max_redirects + 1):
        check_public_url(current, settings)
        # Never wait on one read longer than the deadline leaves.
        timeout = max(min(settings.arxiv.timeout_seconds, deadline.remaining()), 0.001)
        with http.stream("GET", current, headers=headers(settings, Accept="application/pdf"),
                         follow_redirects=False, timeout=timeout) as response:
            location = response.headers.get("Location")
            if response.is_redirect and location:
                current = urljoin(current, location)
                log.debug("%s redirects to %s", url, current)
                continue
            return _receive(response, url, tmp, settings, deadline)
    raise NetworkError(f"{url} redirects more than {settings.pdf.max_redirects} times",
                       hint="give the final URL of the PDF", retryable=False)


def _receive(response: httpx2.Response, url: str, tmp: Path, settings: Settings,
             deadline: Deadline) -> tuple[str, int]:
    limit = settings.pdf.max_bytes
    check_transient_status(response)
    if response.status_code != 200:
        raise PdfError(f"cannot download {url}: HTTP {response.status_code} {response.reason_phrase}",
                       hint="check that the URL opens the PDF in a browser")
    content_type = response.headers.get("Content-Type", "unknown type").split(";")[0].strip()
    declared = _content_length(response)
    if declared is not None and declared > limit:
        raise PdfError(f"{url} is {declared / _MB:.1f} MB, over the {limit / _MB:.0f} MB limit",
                       hint="raise pdf.max_bytes in the settings if this PDF is genuine")
    digest = hashlib.sha256()
    size = 0
    head = b""
    with tmp.open("wb") as out:
        for chunk in response.iter_bytes():
            if len(head) < 4:
                head += chunk[: 4 - len(head)]
                if len(head) >= 4 and head != b"%PDF":
                    raise _not_pdf(url, content_type, head)
            size += len(chunk)
            if size > limit:
                raise PdfError(f"{url} is over the {limit / _MB:.0f} MB limit (stopped reading)",
                               hint="raise pdf.max_bytes in the settings if this PDF is genuine")
            digest.update(chunk)
            out.write(chunk)
            deadline.check(url)
    if head != b"%PDF":
        raise _not_pdf(url, content_type, head)
    # Defends against servers that close early without the transport noticing.
    # Without a content encoding the decoded size is the transferred size.
    if declared is not None and "Content-Encoding" not in response.headers and size < declared:
        raise httpx2.RemoteProtocolError(f"body ended after {size} of {declared} bytes")
    return digest.hexdigest(), size


def _content_length(response: httpx2.Response) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _not_pdf(url: str, content_type: str, head: bytes) -> PdfError:
    return PdfError(f"{url} is not a PDF (got {content_type} starting with {head!r})",
                    hint="give the direct link to the PDF file, not its landing page")
