"""``lint``: list-wide checks that no single file can see.

- the same paper twice: same arXiv id (any version) or near-identical titles;
- summaries copy-pasted between papers: near-identical bullets under two different papers;
- missing required fields: entries without a setting, approved summaries without date, authors or
  bullets, entries marked approved without a summary;
- papers in the list not yet summarized (status ``listed``): one finding with their count and the
  command that summarizes them; it alone does not fail `lint`;
- a rendered list that is stale.

Every finding names both places (file:line and key) so a curator can jump to them.
"""

from __future__ import annotations

import difflib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.core.errors import PipelineError, StoreError
from pipeline.core.models import FIELDS
from pipeline.listing.mdlist import fold
from pipeline.listing.render import Lang, render_list, stale_reason
from pipeline.model.summary import SummaryRecord
from pipeline.storage import files
from pipeline.workspace import papers, store

log = logging.getLogger(__name__)

Kind = Literal["invalid-file", "duplicate-paper", "copied-summary", "missing-field", "stale-render", "listed"]
INFO_KINDS: frozenset[Kind] = frozenset({"listed"})
"""Kinds that tell where the list stands rather than what is wrong with it: they alone do not fail lint."""
TITLE_SIMILARITY = 0.92
BULLET_SIMILARITY = 0.90
_PREFIX = 12  # near-identical bullets are compared within buckets of equal first or last characters


@dataclass
class Finding:
    """One problem: its kind, what is wrong, and every place involved."""

    kind: Kind
    message: str
    places: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join([f"{self.kind}: {self.message}", *(f"  at {p}" for p in self.places)])


@dataclass
class _Item:
    """A paper as lint sees it: from a papers.yaml entry, a summary record, or both."""

    order: int
    key: str
    title: str
    place: str
    arxiv_id: str | None = None
    record: SummaryRecord | None = None
    record_path: Path | None = None
    doc: Any = None


@dataclass
class _Bullet:
    item: _Item
    label: str
    text: str
    folded: str
    line: int | None


def _entries(papers_path: Path, findings: list[Finding]) -> tuple[list[_Item], papers.PapersDoc | None]:
    try:
        doc = papers.load_papers(papers_path)
    except PipelineError as exc:
        findings.append(Finding("invalid-file", str(exc), [str(papers_path)]))
        return [], None
    items = []
    sections = bool(doc.data.list.sections)
    for i, entry in enumerate(doc.data.papers):
        line = files.line_of(doc.raw, ["papers", i])
        try:
            key = papers.entry_key(entry)
        except PipelineError as exc:
            findings.append(Finding("invalid-file", f"entry source cannot be read: {exc}",
                                    [f"{papers_path}:{line}"]))
            continue
        title = entry.title or entry.source.removeprefix(papers.TITLE_PREFIX)
        place = f"{papers_path}:{line} ({key})"
        items.append(_Item(order=i, key=key, title=title, place=place, arxiv_id=papers.entry_arxiv_id(entry)))
        if sections and entry.setting is None:
            findings.append(Finding("missing-field", f"entry {title[:60]!r} has no setting, so render cannot "
                                                     "place it", [place]))
    return items, doc


def _attach_records(items: list[_Item], summaries_dir: Path, findings: list[Finding]) -> list[_Item]:
    by_key = {item.key: item for item in items}
    errors: list[StoreError] = []
    for path, record in store.iter_records(summaries_dir, errors=errors):
        item = by_key.get(record.key)
        if item is None:
            item = _Item(order=len(items), key=record.key, title=record.paper.title,
                         place=f"{path} ({record.key})", arxiv_id=record.paper.arxiv_id)
            items.append(item)
            by_key[record.key] = item
        item.record, item.record_path = record, path
        if item.title == item.key or item.title.startswith(("http", "/", ".")):
            item.title = record.paper.title  # the entry only had its source; the summary knows the title
        item.arxiv_id = item.arxiv_id or record.paper.arxiv_id
        try:
            item.doc = store.parse_document(path)
        except StoreError:
            item.doc = None
    findings.extend(Finding("invalid-file", str(e), []) for e in errors)
    return items


def _record_place(item: _Item, loc: tuple[int | str, ...] = ()) -> str:
    line = files.line_of(item.doc, loc) if item.doc is not None else None
    return f"{item.record_path}:{line or 1} ({item.key})"


def _duplicates(items: list[_Item], findings: list[Finding]) -> None:
    by_id: dict[str, _Item] = {}
    for item in items:
        if item.arxiv_id is None:
            continue
        if item.arxiv_id in by_id:
            first = by_id[item.arxiv_id]
            findings.append(Finding("duplicate-paper", f"arXiv {item.arxiv_id} is listed twice",
                                    [first.place, item.place]))
        else:
            by_id[item.arxiv_id] = item
    titled = [(fold(item.title), item) for item in items]
    for i, (a, first) in enumerate(titled):
        for b, second in titled[i + 1:]:
            if first.arxiv_id and first.arxiv_id == second.arxiv_id:
                continue
            if not a or not b or 2 * min(len(a), len(b)) / (len(a) + len(b)) < TITLE_SIMILARITY:
                continue  # lengths alone rule it out; saves building a matcher per pair
            matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
            if matcher.quick_ratio() < TITLE_SIMILARITY:
                continue
            score = matcher.ratio()
            if score >= TITLE_SIMILARITY:
                findings.append(Finding("duplicate-paper", f"near-identical titles ({score:.2f}): "
                                                           f"{first.title[:60]!r} and {second.title[:60]!r}",
                                        [first.place, second.place]))


def _bullets(item: _Item) -> list[_Bullet]:
    if item.record is None:
        return []
    out = []
    summary = item.record.summary
    for lang in ("zh", "en"):
        part = getattr(summary, lang)
        if part is None:
            continue
        for name in FIELDS:
            for i, bullet in enumerate(getattr(part, name)):
                text = bullet if isinstance(bullet, str) else bullet.text
                line = files.line_of(item.doc, ("summary", lang, name, i)) if item.doc is not None else None
                out.append(_Bullet(item, f"{lang}.{name}[{i + 1}]", text, fold(text), line))
    return out


def _copies(items: list[_Item], findings: list[Finding]) -> None:
    buckets: dict[str, list[_Bullet]] = defaultdict(list)
    all_bullets = [b for item in items for b in _bullets(item)]
    for bullet in all_bullets:
        if len(bullet.folded) < 8:
            continue
        buckets["^" + bullet.folded[:_PREFIX]].append(bullet)
        buckets["$" + bullet.folded[-_PREFIX:]].append(bullet)
    pairs: dict[tuple[str, str], dict[tuple[str, str], tuple[_Bullet, _Bullet, float]]] = defaultdict(dict)
    for group in buckets.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if a.item is b.item:
                    continue
                old, new = (a, b) if (a.item.order, a.item.key) < (b.item.order, b.item.key) else (b, a)
                pair_key = (old.label, new.label)
                found = pairs[(old.item.key, new.item.key)]
                if pair_key in found:
                    continue
                score = 1.0 if a.folded == b.folded else difflib.SequenceMatcher(
                    None, a.folded, b.folded, autojunk=False).ratio()
                if score >= BULLET_SIMILARITY:
                    found[pair_key] = (old, new, score)
    by_key = {item.key: item for item in items}
    counts = {item.key: len(_bullets(item)) for item in items if item.record is not None}
    for (earlier_key, later_key), found in sorted(pairs.items(), key=lambda kv: (by_key[kv[0][1]].order,
                                                                                 by_key[kv[0][0]].order)):
        if not found:
            continue
        earlier, later = by_key[earlier_key], by_key[later_key]
        places = [f"{later.record_path}:{new.line or 1} {new.label} = {earlier.record_path}:{old.line or 1} "
                  f"{old.label} ({score:.2f})"
                  for old, new, score in sorted(found.values(), key=lambda t: t[1].line or 0)]
        findings.append(Finding(
            "copied-summary",
            f"{later.title[:60]!r} ({later.key}) carries the summary text of {earlier.title[:60]!r} "
            f"({earlier.key}): {len(found)} of its {counts.get(later.key, 0)} bullets are near-identical",
            [_record_place(later, ("summary",)), _record_place(earlier, ("summary",)), *places]))


def _missing(items: list[_Item], findings: list[Finding]) -> None:
    for item in items:
        record = item.record
        if record is None or record.status != "approved":
            continue
        lacking = ["date"] if record.paper.date is None else []
        if record.paper.first_author is None and not record.paper.authors:
            lacking.append("first_author")
        if lacking:
            findings.append(Finding("missing-field", f"approved summary of {item.title[:60]!r} lacks "
                                                     f"paper.{', paper.'.join(lacking)} (shown in the table)",
                                    [_record_place(item, ("paper",)), item.place]))
        for lang in ("zh", "en"):
            part = getattr(record.summary, lang)
            if part is None:
                continue
            empty = [name for name in FIELDS if not getattr(part, name)]
            if len(empty) == len(FIELDS):
                findings.append(Finding("missing-field", f"approved summary of {item.title[:60]!r} has no "
                                                         f"{lang} bullets at all", [_record_place(item, ("summary",))]))
            elif empty:
                findings.append(Finding("missing-field", f"approved summary of {item.title[:60]!r} has no "
                                                         f"{lang} bullets for {', '.join(empty)}",
                                        [_record_place(item, ("summary", lang))]))


def _listed(doc: papers.PapersDoc, papers_path: Path, findings: list[Finding]) -> None:
    listed = [e for e in doc.data.papers if e.status == "listed"]
    if not listed:
        return
    by_title = sum(1 for e in listed if e.source.startswith(papers.TITLE_PREFIX))
    message = (f"{len(listed)} papers are in the list but not summarized yet (status listed); summarize them "
               "with `python -m pipeline batch --status listed`")
    if by_title:
        message += (f" ({by_title} of them are known by title only: give each an arXiv id or a PDF as its "
                    "source first)")
    findings.append(Finding("listed", message, [str(papers_path)]))


def lint_list(papers_path: Path, summaries_dir: Path, out: Path | None = Path("LIST.md"),
              lang: Lang = "both") -> list[Finding]:
    """Every finding about the whole list (empty when it is clean)."""
    findings: list[Finding] = []
    items, doc = _entries(papers_path, findings)
    items = _attach_records(items, summaries_dir, findings)
    _duplicates(items, findings)
    _copies(items, findings)
    _missing(items, findings)
    if doc is not None:
        _listed(doc, papers_path, findings)
        for i, entry in enumerate(doc.data.papers):
            if entry.status == "approved" and not any(it.order == i and it.record for it in items):
                findings.append(Finding("missing-field", f"entry {entry.title or entry.source!r} is marked "
                                                         "approved but has no summary file",
                                        [f"{papers_path}:{files.line_of(doc.raw, ['papers', i, 'status'])}"]))
    if doc is not None and out is not None and out.exists():
        try:
            reason = stale_reason(render_list(papers_path, summaries_dir, lang), out, lang)
        except PipelineError as exc:
            reason = f"cannot render to compare with {out}: {exc}"
        if reason:
            findings.append(Finding("stale-render", reason, [str(out), str(papers_path), str(summaries_dir)]))
    log.info("lint: %d findings", len(findings))
    return findings
