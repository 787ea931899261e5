"""The ``add`` command: put one paper on the reading backlog in ``papers.yaml``.

A paper is named by an arXiv id or URL, a PDF URL or a local PDF path, or found by its title
through the arXiv API (``search_query=ti:"..."``). A title match is taken only when it is
unambiguous: the normalized titles are equal, or the best match beats the runner-up by a clear
margin; otherwise the candidates come back for the user to pick by id. The same paper (same arXiv
id, any version) is never added twice; ``--title`` on a paper already listed by its title alone
gives that entry the arXiv id found (its other fields, and the key of an existing summary, stay).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from pipeline.core.config import Settings
from pipeline.core.errors import ConfigError, MetadataError
from pipeline.core.models import PaperEntry, PaperMetadata
from pipeline.sources import fetch_metadata, parse_feed, parse_source
from pipeline.sources.http import call_with_retries, check_transient_status, headers, http_client, polite_wait
from pipeline.storage import files
from pipeline.workspace import store
from pipeline.workspace.papers import TITLE_PREFIX, add_entry, entry_key, find_entry, load_papers, update_entry

log = logging.getLogger(__name__)

SEARCH_RESULTS = 10
MATCH_RATIO = 0.9  # similarity a best match needs without an exact title match
MATCH_MARGIN = 0.1  # ... and how far ahead of the runner-up it must be


@dataclass
class Candidate:
    """One arXiv search hit for a title."""

    arxiv_id: str
    title: str
    authors: list[str]
    year: int | None
    score: float


@dataclass
class AddResult:
    """What ``add`` did: the new entry, or (title search) the candidates when no match was clear."""

    papers_file: Path
    entry: PaperEntry | None = None
    key: str | None = None
    candidates: list[Candidate] = field(default_factory=list)
    message: str = ""

    @property
    def added(self) -> bool:
        """True when an entry was written."""
        return self.entry is not None


def fold_title(title: str) -> str:
    """Case-, accent-insensitive title with punctuation and spacing flattened, for comparison."""
    return " ".join(re.sub(r"[^\w]+", " ", title.casefold()).split())


def rank_candidates(title: str, papers: Sequence[PaperMetadata]) -> list[Candidate]:
    """Search hits scored by similarity to ``title`` (1.0 for an equal folded title), best first."""
    wanted = fold_title(title)
    ranked: dict[str, Candidate] = {}
    for paper in papers:
        if not paper.arxiv_id:
            continue
        folded = fold_title(paper.title)
        score = 1.0 if folded == wanted else difflib.SequenceMatcher(None, wanted, folded).ratio()
        year = paper.published.year if paper.published else None
        if paper.arxiv_id not in ranked or ranked[paper.arxiv_id].score < score:
            ranked[paper.arxiv_id] = Candidate(paper.arxiv_id, " ".join(paper.title.split()),
                                               paper.authors, year, round(score, 3))
    return sorted(ranked.values(), key=lambda c: -c.score)


def pick(candidates: Sequence[Candidate]) -> Candidate | None:
    """The one unambiguous match, or None: an exact title match that no other hit shares, or a best
    match of at least MATCH_RATIO that leads the runner-up by MATCH_MARGIN."""
    if not candidates:
        return None
    exact = [c for c in candidates if c.score == 1.0]
    if len(exact) == 1:
        return exact[0]
    if exact:
        return None  # two different papers with the same title: the user must choose
    best = candidates[0]
    runner_up = candidates[1].score if len(candidates) > 1 else 0.0
    return best if best.score >= MATCH_RATIO and best.score - runner_up >= MATCH_MARGIN else None


def search_title(title: str, settings: Settings, *, client: httpx2.Client | None = None) -> list[PaperMetadata]:
    """arXiv papers whose title matches ``title`` (phrase search), politely and with retries."""
    phrase = " ".join(title.replace('"', " ").split())
    if not phrase:
        raise ConfigError("an empty title cannot be searched", hint='give --title "<the paper\'s title>"')
    api = settings.arxiv.api_url
    params = {"search_query": f'ti:"{phrase}"', "start": "0", "max_results": str(SEARCH_RESULTS)}
    shown = f'{api}?search_query=ti:"{phrase}"'
    with http_client(settings, client) as http:
        def attempt() -> httpx2.Response:
            polite_wait(api, settings)  # the process-wide arXiv limiter
            response = http.get(api, params=params, headers=headers(settings), follow_redirects=True,
                                timeout=settings.arxiv.timeout_seconds)
            check_transient_status(response)
            return response

        response = call_with_retries(attempt, url=shown, settings=settings)
    if response.status_code != 200:
        raise MetadataError(f"arXiv API answered HTTP {response.status_code} for {shown}",
                            hint="check settings.arxiv.api_url (PIPELINE_ARXIV_API_URL)")
    return parse_feed(response.text, url=shown)


def _refuse_duplicate(path: Path, source: str) -> None:
    if not path.exists():
        raise ConfigError(f"papers file not found: {path}",
                          hint="create it first (see README) or set PIPELINE_PAPERS_FILE")
    doc = load_papers(path)
    try:
        index = find_entry(doc, source)
    except ConfigError:
        return
    existing = doc.data.papers[index]
    raise ConfigError(f"{source!r} is already in {path} as {existing.source!r} "
                      f"(line {files.line_of(doc.raw, ['papers', index])}, status {existing.status})",
                      hint="the same paper (any arXiv version) is listed once; edit that entry instead")


def _title_entry(path: Path, title: str) -> PaperEntry | None:
    """The entry known only by this title (``source: "title:..."``), if papers.yaml has one."""
    wanted = fold_title(title)
    for entry in load_papers(path).data.papers:
        if entry.source.startswith(TITLE_PREFIX) and fold_title(entry.source[len(TITLE_PREFIX):]) == wanted:
            return entry
    return None


def _resolve(result: AddResult, listed: PaperEntry, chosen: Candidate, settings: Settings) -> AddResult:
    """Give an entry known only by its title the arXiv id found for it; its other fields stay."""
    _refuse_duplicate(result.papers_file, chosen.arxiv_id)
    changes: dict[str, Any] = {"source": chosen.arxiv_id, "title": listed.title or chosen.title}
    old_key = entry_key(listed)
    if store.record_path(settings.summaries_dir, old_key).exists():
        changes["key"] = old_key  # an existing (e.g. imported) summary keeps its file
    result.entry = update_entry(result.papers_file, listed.source, **changes)
    result.key = entry_key(result.entry)
    result.message = (f"resolved {listed.source!r} in {result.papers_file} to arXiv {chosen.arxiv_id}: "
                      f"{chosen.title}")
    return result


def _stored_path(path: Path, papers_file: Path) -> str:
    """Inside the papers file's folder: relative to it (the repository moves); else absolute."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(papers_file.resolve().parent))
    except ValueError:
        return str(resolved)


def add(source: str | None, settings: Settings, *, title: str | None = None, setting: str | None = None,
        topic: str | None = None, tags: Sequence[str] = (), priority: int = 0,
        client: httpx2.Client | None = None) -> AddResult:
    """Add one paper to ``settings.papers_file`` as a backlog entry.

    Give ``source`` (arXiv id or URL, PDF URL, PDF path) or ``title``. Raises ConfigError for a
    duplicate or an invalid setting/topic, SourceError for an unreadable source, MetadataError or
    PaperNotFound when arXiv knows no such paper. A title without a clear match returns the
    candidates and writes nothing.
    """
    papers_file = settings.papers_file
    result = AddResult(papers_file=papers_file)
    metadata: PaperMetadata | None = None
    if source is None:
        if title is None:
            raise ConfigError("nothing to add", hint='give an arXiv id, URL or PDF path, or --title "..."')
        listed = _title_entry(papers_file, title)
        result.candidates = rank_candidates(title, search_title(title, settings, client=client))
        chosen = pick(result.candidates)
        if chosen is None:
            result.message = (f"no unambiguous arXiv match for title {title!r}: "
                              + (f"{len(result.candidates)} candidates; add one by its id"
                                 if result.candidates else "arXiv found nothing; add it by id or PDF"))
            return result
        if listed is not None:
            return _resolve(result, listed, chosen, settings)
        source = chosen.arxiv_id
    parsed = parse_source(source)
    if parsed.kind == "arxiv":
        value = parsed.versioned_id or source
    elif parsed.kind == "pdf" and parsed.path is not None:
        value = _stored_path(parsed.path, papers_file)
    else:
        value = source.strip()
    _refuse_duplicate(papers_file, parsed.arxiv_id or value)
    if parsed.kind == "arxiv" and not settings.offline:
        metadata = fetch_metadata(parsed, settings, client=client)  # also proves the paper exists
    fields: dict[str, Any] = {"source": value}
    # Only what is known is written, so the new entry reads like a hand-written one.
    for name, known in (("title", metadata.title if metadata else None), ("setting", setting),
                        ("topic", topic), ("tags", list(tags) or None), ("priority", priority or None)):
        if known is not None:
            fields[name] = " ".join(known.split()) if name == "title" and isinstance(known, str) else known
    entry = PaperEntry.model_validate(fields)
    add_entry(papers_file, entry)
    result.entry, result.key = entry, parsed.key
    result.message = f"added {value} to {papers_file}" + (f": {metadata.title}" if metadata else "")
    return result
