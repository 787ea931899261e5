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

import bisect
import difflib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rapidfuzz import fuzz, process

from pipeline.core.errors import PipelineError, StoreError
from pipeline.core.models import FIELDS
from pipeline.listing.mdparts import fold
from pipeline.listing.render import Lang, render_doc, stale_reason
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


class _Lines:
    """Line numbers for the places of findings, from round-trip documents loaded only when a finding
    needs one: a clean list of 1,000 papers is read once, fast, and never round-trip."""

    def __init__(self, papers_path: Path) -> None:
        self.papers_path = papers_path
        self._papers: Any = None
        self._records: dict[Path, Any] = {}

    def in_papers(self, loc: list[int | str]) -> int | None:
        if self._papers is None:
            try:
                self._papers = papers.load_papers(self.papers_path).raw
            except PipelineError:
                self._papers = {}
        return files.line_of(self._papers, loc)

    def in_record(self, path: Path, loc: tuple[int | str, ...]) -> int | None:
        if path not in self._records:
            try:
                self._records[path] = store.parse_document(path)
            except StoreError:
                self._records[path] = None
        doc = self._records[path]
        return files.line_of(doc, loc) if doc is not None else None


@dataclass
class _Item:
    """A paper as lint sees it: from a papers.yaml entry, a summary record, or both."""

    order: int
    key: str
    title: str
    lines: _Lines
    entry: int | None = None
    """Its index in papers.yaml's papers, when it has an entry."""
    arxiv_id: str | None = None
    record: SummaryRecord | None = None
    record_path: Path | None = None

    @property
    def place(self) -> str:
        if self.entry is not None:
            return f"{self.lines.papers_path}:{self.lines.in_papers(['papers', self.entry])} ({self.key})"
        return f"{self.record_path} ({self.key})"


@dataclass
class _Bullet:
    item: _Item
    label: str
    text: str
    folded: str
    loc: tuple[int | str, ...]

    @property
    def line(self) -> int | None:
        path = self.item.record_path
        return self.item.lines.in_record(path, self.loc) if path is not None else None


def _entries(papers_path: Path, findings: list[Finding], lines: _Lines) -> tuple[list[_Item], papers.PapersDoc | None]:
    try:
        doc = papers.load_papers(papers_path, read_only=True)
    except PipelineError as exc:
        findings.append(Finding("invalid-file", str(exc), [str(papers_path)]))
        return [], None
    items = []
    sections = bool(doc.data.list.sections)
    for i, entry in enumerate(doc.data.papers):
        try:
            key = papers.entry_key(entry)
        except PipelineError as exc:
            findings.append(Finding("invalid-file", f"entry source cannot be read: {exc}",
                                    [f"{papers_path}:{lines.in_papers(['papers', i])}"]))
            continue
        title = entry.title or entry.source.removeprefix(papers.TITLE_PREFIX)
        item = _Item(order=i, key=key, title=title, lines=lines, entry=i, arxiv_id=papers.entry_arxiv_id(entry))
        items.append(item)
        if sections and entry.setting is None:
            findings.append(Finding("missing-field", f"entry {title[:60]!r} has no setting, so render cannot "
                                                     "place it", [item.place]))
    return items, doc


def _attach_records(items: list[_Item], summaries_dir: Path, findings: list[Finding],
                    lines: _Lines) -> dict[str, SummaryRecord]:
    by_key = {item.key: item for item in items}
    errors: list[StoreError] = []
    records: dict[str, SummaryRecord] = {}
    for path, record in store.iter_records(summaries_dir, errors=errors, read_only=True):
        records[record.key] = record
        item = by_key.get(record.key)
        if item is None:
            item = _Item(order=len(items), key=record.key, title=record.paper.title, lines=lines,
                         arxiv_id=record.paper.arxiv_id)
            items.append(item)
            by_key[record.key] = item
        item.record, item.record_path = record, path
        if item.title == item.key or item.title.startswith(("http", "/", ".")):
            item.title = record.paper.title  # the entry only had its source; the summary knows the title
        item.arxiv_id = item.arxiv_id or record.paper.arxiv_id
    findings.extend(Finding("invalid-file", str(e), []) for e in errors)
    return records


def _record_place(item: _Item, loc: tuple[int | str, ...] = ()) -> str:
    line = item.lines.in_record(item.record_path, loc) if item.record_path is not None else None
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
    for i, j in _similar_pairs([folded for folded, _ in titled]):
        (a, first), (b, second) = titled[i], titled[j]
        if first.arxiv_id and first.arxiv_id == second.arxiv_id:
            continue
        score = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
        if score >= TITLE_SIMILARITY:
            findings.append(Finding("duplicate-paper", f"near-identical titles ({score:.2f}): "
                                                       f"{first.title[:60]!r} and {second.title[:60]!r}",
                                    [first.place, second.place]))


def _similar_pairs(titles: list[str]) -> list[tuple[int, int]]:
    """Index pairs (i < j, sorted) of titles that may reach `TITLE_SIMILARITY`.

    Blocking by length (two titles whose lengths alone rule it out are never compared), then
    rapidfuzz's Indel ratio in C. It is never below difflib's ratio (2·LCS/T against 2·M/T, where
    difflib's matched M never exceeds the longest common subsequence), so it drops no pair that
    difflib would report; difflib then scores the few left, as before. Pairwise difflib on 1,000
    titles took 50 s.
    """
    order = sorted(range(len(titles)), key=lambda k: len(titles[k]))
    lengths = [len(titles[k]) for k in order]
    reach = (2 - TITLE_SIMILARITY) / TITLE_SIMILARITY  # 2·la/(la+lb) >= S  <=>  lb <= la·(2-S)/S
    pairs = []
    for pos, k in enumerate(order):
        if not titles[k]:
            continue
        end = bisect.bisect_right(lengths, lengths[pos] * reach, lo=pos + 1)
        window = [titles[m] for m in order[pos + 1:end]]
        for _, _, index in process.extract(titles[k], window, scorer=fuzz.ratio, limit=None,
                                           score_cutoff=TITLE_SIMILARITY * 100 - 1e-6):
            m = order[pos + 1 + index]
            pairs.append((min(k, m), max(k, m)))
    return sorted(pairs)


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
                out.append(_Bullet(item, f"{lang}.{name}[{i + 1}]", text, fold(text), ("summary", lang, name, i)))
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
    lines = _Lines(papers_path)
    items, doc = _entries(papers_path, findings, lines)
    records = _attach_records(items, summaries_dir, findings, lines)
    _duplicates(items, findings)
    _copies(items, findings)
    _missing(items, findings)
    if doc is not None:
        _listed(doc, papers_path, findings)
        summarized = {it.entry for it in items if it.record is not None}
        for i, entry in enumerate(doc.data.papers):
            if entry.status == "approved" and i not in summarized:
                findings.append(Finding("missing-field", f"entry {entry.title or entry.source!r} is marked "
                                                         "approved but has no summary file",
                                        [f"{papers_path}:{lines.in_papers(['papers', i, 'status'])}"]))
    if doc is not None and out is not None and out.exists():
        try:
            reason = stale_reason(render_doc(doc, summaries_dir, lang, records), out, lang)
        except PipelineError as exc:
            reason = f"cannot render to compare with {out}: {exc}"
        if reason:
            findings.append(Finding("stale-render", reason, [str(out), str(papers_path), str(summaries_dir)]))
    log.info("lint: %d findings", len(findings))
    return findings
