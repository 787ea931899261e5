"""Paper sources: parse what the user typed, fetch arXiv metadata, get the PDF onto disk.

Public API::

    parse_source(text) -> Source
    fetch_metadata(source, settings, *, client=None) -> PaperMetadata
    fetch_pdf(source, settings, metadata=None, *, client=None) -> Path
    fetch(text, settings, *, pdf=False) -> FetchResult      # the `pipeline fetch` command
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.models import PaperMetadata
from pipeline.sources.ids import ACCEPTED_FORMS, Source, SourceKind, arxiv_key, parse_source

if TYPE_CHECKING:
    import httpx2

    from pipeline.core.config import Settings
    from pipeline.sources.arxiv import fetch_metadata, parse_feed
    from pipeline.sources.download import fetch_pdf, pdf_url
    from pipeline.sources.http import ARXIV_LIMITER, RateLimiter

# The network side (httpx2, the arXiv client, downloads) is imported on first use: the list commands
# import this package for the source ids alone, and those imports were a tenth of their start-up.
_LAZY = {"fetch_metadata": "arxiv", "parse_feed": "arxiv", "fetch_pdf": "download", "pdf_url": "download",
         "ARXIV_LIMITER": "http", "RateLimiter": "http"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"pipeline.sources.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ACCEPTED_FORMS",
    "ARXIV_LIMITER",
    "FetchResult",
    "RateLimiter",
    "Source",
    "SourceKind",
    "arxiv_key",
    "fetch",
    "fetch_metadata",
    "fetch_pdf",
    "parse_feed",
    "parse_source",
    "pdf_url",
]

PDF_METADATA_NOTE = "metadata comes from the PDF itself; run `pipeline extract` to read it"


@dataclass(frozen=True)
class FetchResult:
    """What `fetch` learned about one source: arXiv metadata, or just what is known for a PDF."""

    source: Source
    metadata: PaperMetadata | None = None
    pdf_path: Path | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data, in a stable, readable order, for printing."""
        data: dict[str, Any] = {"key": self.source.key, "source": self.source.kind}
        if self.metadata is not None:
            for name, value in self.metadata.model_dump(mode="json").items():
                if name != "key":
                    data[name] = value
                if name == "authors":
                    data["first_author"] = self.metadata.first_author
                    data["last_author"] = self.metadata.last_author
        else:
            if self.source.arxiv_id:
                data["arxiv_id"] = self.source.arxiv_id
                data["version"] = self.source.version
            if self.source.path is not None:
                data["path"] = str(self.source.path)
            if self.source.url is not None:
                data["url"] = self.source.url
        if self.pdf_path is not None and self.pdf_path != self.source.path:
            data["pdf_path"] = str(self.pdf_path)
        if self.note:
            data["note"] = self.note
        return data


def fetch(text: str, settings: Settings, *, pdf: bool = False, refresh: bool = False,
          client: httpx2.Client | None = None) -> FetchResult:
    """Parse ``text``; for arXiv sources fetch the metadata; with ``pdf`` also get the PDF on disk.

    ``refresh`` bypasses the cached metadata (e.g. to see a new version of an unversioned id).

    Local PDFs and PDF URLs have no metadata service: their metadata comes from the PDF itself.
    """
    from pipeline.sources.arxiv import fetch_metadata
    from pipeline.sources.download import fetch_pdf

    source = parse_source(text)
    if source.kind != "arxiv":
        path = fetch_pdf(source, settings, client=client) if pdf or source.kind == "pdf" else None
        return FetchResult(source=source, pdf_path=path, note=PDF_METADATA_NOTE)
    metadata = fetch_metadata(source, settings, client=client, refresh=refresh)
    path = fetch_pdf(source, settings, metadata, client=client) if pdf else None
    return FetchResult(source=source, metadata=metadata, pdf_path=path)
