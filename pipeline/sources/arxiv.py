"""arXiv metadata from the Atom API (``id_list=``), cached, polite and retried.

`fetch_metadata` asks ``settings.arxiv.api_url`` for one id, parses the Atom feed with
``xml.etree.ElementTree`` (`parse_feed`) and caches the result, so a second call makes no request.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import httpx2

from pipeline.core.config import Settings
from pipeline.core.errors import MetadataError, PaperNotFound, PaperWithdrawn
from pipeline.core.models import PaperMetadata
from pipeline.sources.http import (
    RateLimiter,
    Sleep,
    call_with_retries,
    check_transient_status,
    headers,
    http_client,
    polite_wait,
)
from pipeline.sources.ids import Source, arxiv_key, match_arxiv_id
from pipeline.storage.cache import Cache

log = logging.getLogger(__name__)

NAMESPACE = "arxiv-meta"
_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
_WITHDRAWN = re.compile(
    r"^\s*withdrawn\b|\b(paper|article|submission|manuscript|preprint|work)\s+(has\s+been|is|was)\s+"
    r"withdrawn\b|\bwithdrawn\s+by\s+(the\s+)?(author|authors|arxiv|administrators?)\b",
    re.IGNORECASE,
)


def fetch_metadata(source: Source, settings: Settings, *, client: httpx2.Client | None = None,
                   sleep: Sleep = time.sleep, limiter: RateLimiter | None = None,
                   refresh: bool = False) -> PaperMetadata:
    """The arXiv metadata of ``source`` (which must carry an arXiv id), from the cache or the API.

    Entries never expire on their own (an unversioned id keeps the version first seen);
    ``refresh`` asks the API again and replaces the cached entry.

    Raises `PaperNotFound` ("no arXiv paper <id>"), `PaperWithdrawn`, `MetadataError` (the API's
    error message, e.g. for a malformed id) or `NetworkError` after the transport retries.
    """
    wanted = source.versioned_id
    if wanted is None:
        raise MetadataError(f"{source.raw!r} has no arXiv id, so arXiv has no metadata for it",
                            hint="its metadata comes from the PDF itself")
    cache = Cache.from_settings(settings)
    cached = None if refresh else cache.get_json(NAMESPACE, wanted)
    metadata = _from_cache(cached, wanted) if cached is not None else None
    if metadata is None:
        metadata = _request(wanted, source, settings, client=client, sleep=sleep, limiter=limiter)
        cache.put_json(NAMESPACE, wanted, metadata.model_dump(mode="json"))
    else:
        log.debug("arXiv metadata of %s from the cache", wanted)
    if metadata.withdrawn:
        raise PaperWithdrawn(f"arXiv paper {wanted} was withdrawn by its authors"
                             + (f": {metadata.comment}" if metadata.comment else ""),
                             hint="pick an earlier version (e.g. v1) or another paper")
    return metadata


def _from_cache(value: Any, wanted: str) -> PaperMetadata | None:
    try:
        return PaperMetadata.model_validate(value)
    except ValueError as exc:
        log.warning("ignoring cached arXiv metadata of %s: %s", wanted, exc)
        return None


def _request(wanted: str, source: Source, settings: Settings, *, client: httpx2.Client | None,
             sleep: Sleep, limiter: RateLimiter | None) -> PaperMetadata:
    api = settings.arxiv.api_url
    params = {"id_list": wanted, "start": "0", "max_results": "1"}
    shown = f"{api}?id_list={wanted}"

    with http_client(settings, client) as http:
        def attempt() -> httpx2.Response:
            polite_wait(api, settings, limiter)
            log.info("asking arXiv for %s", wanted)
            response = http.get(api, params=params, headers=headers(settings), follow_redirects=True,
                                timeout=settings.arxiv.timeout_seconds)
            check_transient_status(response)
            return response

        response = call_with_retries(attempt, url=shown, settings=settings, sleep=sleep)

    if response.status_code == 400:
        message = _feed_error(response.text)
        raise MetadataError(f"arXiv API rejected id {wanted}: {message or 'HTTP 400'}",
                            hint="check the id, e.g. 2506.01234 or hep-th/9901001")
    if response.status_code != 200:
        raise MetadataError(f"arXiv API answered HTTP {response.status_code} for {shown}",
                            hint="check settings.arxiv.api_url (PIPELINE_ARXIV_API_URL)")
    entries = parse_feed(response.text, url=shown)
    for entry in entries:
        if entry.arxiv_id == source.arxiv_id:
            return entry.model_copy(update={"key": source.key})
    raise PaperNotFound(f"no arXiv paper {wanted}", hint="check the id on https://arxiv.org")


def parse_feed(text: str, *, url: str = "the arXiv API") -> list[PaperMetadata]:
    """Every paper in an arXiv Atom feed, in feed order (error entries raise `MetadataError`)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise MetadataError(f"unreadable answer from {url}: not an Atom feed ({exc})",
                            hint="arXiv may be having trouble; try again later") from exc
    message = _error_message(root)
    if message:
        raise MetadataError(f"arXiv API error for {url}: {message}")
    papers = []
    for entry in root.findall("atom:entry", _NS):
        paper = _parse_entry(entry)
        if paper is not None:
            papers.append(paper)
    return papers


def _feed_error(text: str) -> str | None:
    try:
        return _error_message(ET.fromstring(text))
    except ET.ParseError:
        return None


def _error_message(root: ET.Element) -> str | None:
    for entry in root.findall("atom:entry", _NS):
        if "/api/errors" in _text(entry, "atom:id"):
            return _text(entry, "atom:summary") or _text(entry, "atom:title") or "unknown error"
    return None


def _parse_entry(entry: ET.Element) -> PaperMetadata | None:
    entry_id = _text(entry, "atom:id")
    # The API once answered unknown ids with an empty entry instead of an empty feed.
    if "/abs/" not in entry_id:
        return None
    found = match_arxiv_id(entry_id.split("/abs/", 1)[1].strip("/"))
    if found is None:
        log.warning("skipping arXiv entry with an unexpected id %r", entry_id)
        return None
    arxiv_id, version = found
    links = entry.findall("atom:link", _NS)
    pdf_url = next((link.get("href") for link in links
                    if link.get("title") == "pdf" or link.get("type") == "application/pdf"), None)
    abs_url = next((link.get("href") for link in links if link.get("rel") == "alternate"), None)
    primary = entry.find("arxiv:primary_category", _NS)
    categories = [c.get("term", "") for c in entry.findall("atom:category", _NS) if c.get("term")]
    primary_term = primary.get("term") if primary is not None else (categories[0] if categories else None)
    if primary_term and primary_term not in categories:
        categories.insert(0, primary_term)
    comment = _text(entry, "arxiv:comment") or None
    abstract = _text(entry, "atom:summary")
    return PaperMetadata(
        key=arxiv_key(arxiv_id),
        arxiv_id=arxiv_id,
        version=version,
        title=_text(entry, "atom:title"),
        authors=[name for a in entry.findall("atom:author", _NS) if (name := _text(a, "atom:name"))],
        published=_date(_text(entry, "atom:published")),
        updated=_date(_text(entry, "atom:updated")),
        abstract=abstract,
        primary_category=primary_term,
        categories=categories,
        comment=comment,
        journal_ref=_text(entry, "arxiv:journal_ref") or None,
        doi=_text(entry, "arxiv:doi") or None,
        pdf_url=_https(pdf_url),
        abs_url=_https(abs_url),
        withdrawn=is_withdrawn(comment, abstract),
    )


def is_withdrawn(comment: str | None, abstract: str = "") -> bool:
    """True when the comment (or a placeholder abstract) says the paper was withdrawn."""
    if comment and _WITHDRAWN.search(comment):
        return True
    return len(abstract) < 400 and bool(_WITHDRAWN.search(abstract))


def _text(element: ET.Element, path: str) -> str:
    found = element.find(path, _NS)
    if found is None or found.text is None:
        return ""
    return " ".join(found.text.split())


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def _https(url: str | None) -> str | None:
    if url and url.startswith("http://") and "arxiv.org/" in url:
        return "https://" + url[len("http://"):]
    return url
