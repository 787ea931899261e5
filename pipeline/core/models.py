"""Core data types: metadata, extracted text, bibliography, provenance, and papers.yaml.

Core module: no I/O. What the model writes and the stored summary record are in `pipeline.model.summary`.
"""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.core.links import HttpLink, InlineMarkdown, MarkdownText

Dim = Literal["2D", "3D", "2D+3D", "N/A", "unknown"]
ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
# The list's sections are the only sections: a setting is the id of one of them (papers.yaml
# `list.sections`), never a word from a fixed vocabulary.
Setting = Annotated[str, Field(pattern=ID_PATTERN, max_length=60)]
Status = Literal["draft", "approved", "rejected", "needs-changes"]
Backend = Literal["remote", "local", "imported"]
SectionKind = Literal[
    "title", "abstract", "introduction", "related", "method", "experiments", "discussion",
    "conclusion", "references", "acknowledgements", "appendix", "other",
]
# The summary's bullet groups in order, with their Chinese and English titles: the one definition that
# the summary models (pipeline.model.summary), the prompts' schema, review, rendering and import read.
BULLET_GROUPS: dict[str, tuple[str, str]] = {
    "problems": ("文章考虑的问题", "Problems addressed"),
    "motivation": ("文章的动机和思路", "Motivation and idea"),
    "framework": ("文章的整体框架", "Overall framework"),
}
FIELDS: tuple[str, ...] = tuple(BULLET_GROUPS)
FIELD_TITLES_ZH = {name: zh for name, (zh, _) in BULLET_GROUPS.items()}
FIELD_TITLES_EN = {name: en for name, (_, en) in BULLET_GROUPS.items()}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- metadata and text


class PaperMetadata(StrictModel):
    """Bibliographic facts about one paper, from arXiv's API or the PDF itself; never from an LLM."""

    key: str = Field(description="Filesystem-safe key, e.g. 2209.08575 or hep-th_9901001.")
    arxiv_id: str | None = Field(None, description="Canonical arXiv id without version.")
    version: int | None = Field(None, description="arXiv version number, if known.")
    title: str
    authors: list[str] = Field(default_factory=list)
    published: dt.date | None = None
    updated: dt.date | None = None
    abstract: str = ""
    primary_category: str | None = None
    categories: list[str] = Field(default_factory=list)
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    pdf_url: HttpLink | None = None
    abs_url: HttpLink | None = None
    withdrawn: bool = False

    @property
    def first_author(self) -> str | None:
        return self.authors[0] if self.authors else None

    @property
    def last_author(self) -> str | None:
        return self.authors[-1] if self.authors else None


class Section(StrictModel):
    """One section of a paper's cleaned text."""

    title: str = Field(description="Heading as printed, e.g. '3.2 Decoder' or 'Abstract'.")
    kind: SectionKind = Field(description="Canonical kind used by the budgeted selection.")
    number: str | None = Field(None, description="Section number as printed ('3.2', 'II'), if any.")
    level: int = Field(1, ge=1, description="1 for a top-level section, 2 for a subsection, ...")
    text: str
    tokens: int = Field(0, ge=0, description="Estimated tokens of title and text.")
    page: int | None = Field(None, description="1-based page where the heading appears.")


class ExtractedDocument(StrictModel):
    """The cleaned, sectioned text of one PDF."""

    sha256: str = Field(description="sha256 of the PDF bytes.")
    pages: int
    chars: int
    sections: list[Section]
    title: str | None = Field(None, description="Title guessed from the PDF when no metadata has one.")
    authors: list[str] = Field(default_factory=list,
                               description="Authors from the PDF's info dictionary, else from page 1.")
    front: str = Field("", description="The lines before the first section (authors, affiliations, links).")
    date: str | None = Field(None, description="YYYY-MM the PDF was created, from its info dictionary.")
    removed: dict[str, int] = Field(default_factory=dict,
                                    description="What cleaning removed, e.g. {'running_header': 9}.")

    @property
    def text(self) -> str:
        """All kept sections (references and appendices already cut) as one string."""
        return "\n\n".join(f"{s.title}\n{s.text}" if s.title else s.text for s in self.sections)


class SelectionPart(StrictModel):
    """One section's fate in the budgeted selection."""

    title: str
    kind: SectionKind
    tokens: int
    kept: bool
    trimmed_to: int | None = Field(None, description="Token count after trimming, when partly kept.")


class TextSelection(StrictModel):
    """The budgeted text sent to the model and what was used or cut to fit."""

    text: str
    tokens: int
    budget: int
    parts: list[SelectionPart]

    @property
    def used(self) -> list[str]:
        return [p.title for p in self.parts if p.kept]

    @property
    def cut(self) -> list[str]:
        """Sections left out or trimmed."""
        return [p.title for p in self.parts if not p.kept or p.trimmed_to is not None]

    @property
    def trimmed(self) -> list[str]:
        return [p.title for p in self.parts if p.kept and p.trimmed_to is not None]

    @property
    def left_out(self) -> list[str]:
        return [p.title for p in self.parts if not p.kept]


# --------------------------------------------------------------------------- the stored record's parts

class Bibliography(StrictModel):
    """Bibliographic fields of a summary, copied from metadata (never from the model)."""

    arxiv_id: str | None = None
    version: int | None = None
    title: str
    authors: list[str] = Field(default_factory=list)
    first_author: str | None = None
    last_author: str | None = None
    date: str | None = Field(None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM of first publication.")
    venue: str = Field("arXiv", description="e.g. CVPR2025, MICCAI2024, or arXiv.")
    code_url: HttpLink | None = Field(None, description="Code link found in the abstract, comment or paper text.")
    has_code: bool | None = Field(None, description="Code is public but its URL is unknown (imported lists).")
    pdf_url: HttpLink | None = None
    abs_url: HttpLink | None = None
    doi: str | None = None


class Usage(StrictModel):
    """Token usage and cost of all requests that made one summary."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cost_usd: float = 0.0


class Provenance(StrictModel):
    """Where a summary came from, so any draft can be reproduced and audited."""

    backend: Backend
    model: str | None = None
    endpoint_host: str | None = None
    output_mode: str | None = None
    passes: Literal["single", "translate", "imported"] = "single"
    readings: list[str] = Field(default_factory=list, description="One line per request that read the paper: "
                                "the question(s) it answered, its tokens and the sections it read.")
    prompts: dict[str, str] = Field(default_factory=dict, description="prompt file name -> sha256")
    schema_sha256: str | None = None
    pipeline_version: str
    source_sha256: str | None = None
    sections_used: list[str] = Field(default_factory=list)
    sections_cut: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    attempts: int = 0
    repairs: int = 0
    grounding_score: float | None = None
    created_at: dt.datetime
    imported_from: str | None = None


class ReviewEvent(StrictModel):
    """One review action: who did what, when and why."""

    action: Literal["approve", "reject", "needs-changes", "reset", "edit"]
    by: str | None = None
    at: dt.datetime
    note: str | None = None


# --------------------------------------------------------------------------- papers.yaml

# "listed": in the list (imported), not yet summarized; "approved": its summary is approved.
EntryStatus = Literal["backlog", "listed", "submitted", "drafted", "approved", "rejected", "failed"]
Layout = Literal["table", "bullets", "lines"]
"""How a section shows its papers: a table, one line per paper, or a title line with link lines and an
author sub-bullet."""


class ListTopic(StrictModel):
    """A sub-topic inside a section, e.g. 一致性学习 / Consistency learning, or a year."""

    id: str = Field(pattern=ID_PATTERN, description="Stable id used by paper entries.")
    name_zh: str
    name_en: str
    heading: InlineMarkdown | None = Field(None, description="The heading as the list writes it (Markdown), "
                                                             "e.g. '**2024**'.")
    level: int | None = Field(None, ge=0, le=6, description="Heading level 1-6; 0 for a bold line used as heading.")


class ListSection(StrictModel):
    """A section of the list (its own table or lines of papers, and a block of summaries)."""

    id: str = Field(pattern=ID_PATTERN, description="Stable id used by paper entries.")
    name_zh: str
    name_en: str
    emoji: str | None = None
    heading: InlineMarkdown | None = Field(None, description="The heading as the list writes it (Markdown).")
    level: int | None = Field(None, ge=0, le=6, description="Heading level 1-6; 0 for a bold line used as heading.")
    layout: Layout | None = Field(None, description="table, bullets or lines; default table.")
    columns: list[InlineMarkdown] | None = Field(None, description="Table header cells as the list writes "
                                                 "them; default Date | The First and Last Authors | Dim | "
                                                 "Title | Code | Reference.")
    topics: list[ListTopic] = Field(default_factory=list)


class ListInfo(StrictModel):
    """The rendered list's heading, introduction and structure."""

    title: str
    subtitle: str | None = None
    description: MarkdownText | None = Field(None, description="Introduction, Markdown kept as written.")
    style: Literal["review", "native"] = Field(
        "review", description="review: contents, one table per section, then the summaries; native: the "
                              "imported list's own headings and layouts.")
    sort: Literal["date"] | None = Field(None, description="date: newest first; default: the order of papers.")
    sections: list[ListSection] = Field(default_factory=list)
    glossary: dict[str, str] = Field(default_factory=dict, description="English term -> the Chinese term this "
                                     "list uses; added to the built-in seed (pipeline.model.glossary).")


class Link(StrictModel):
    """A labelled link of a paper, e.g. a second reference or a project page."""

    label: str
    url: HttpLink


class PaperEntry(StrictModel):
    """One paper in the reading backlog."""

    source: str = Field(description="arXiv id, arXiv/PDF URL, local PDF path, or title:<title> when only "
                                    "the title is known (imported lists).")
    key: str | None = Field(None, description="Summary file key; derived from the source when absent.")
    title: str | None = Field(None, description="Known title (for entries found by title or imported).")
    date: str | None = Field(None, pattern=r"^\d{4}(-\d{2})?$", description="YYYY-MM (or YYYY) of publication.")
    authors: str | None = Field(None, description="The authors as the list writes them.")
    first_author: str | None = None
    last_author: str | None = None
    institute: str | None = None
    venue: str | None = Field(None, description="e.g. CVPR2025, MICCAI2024, or arXiv.")
    venue_note: str | None = Field(None, description="Text after the reference links, e.g. 'under TMI revision'.")
    paper_url: HttpLink | None = Field(None, description="The paper's link (the reference's URL).")
    links: list[Link] = Field(default_factory=list, description="Further links: more references, project pages.")
    cells: dict[str, InlineMarkdown] = Field(default_factory=dict, description="Table cells of columns not "
                                             "understood, Markdown kept as written, by header.")
    dim: Dim | None = None
    code_url: HttpLink | None = None
    has_code: bool | None = Field(None, description="Code is public but its URL is unknown.")
    setting: str | None = Field(None, description="Id of a section in list.sections.")
    topic: str | None = Field(None, description="Id of a topic inside that section.")
    tags: list[str] = Field(default_factory=list)
    priority: int = Field(0, description="Higher runs first in batch.")
    status: EntryStatus = "backlog"
    last_error: str | None = None
    notes: str | None = None


class PapersFile(StrictModel):
    """The whole of ``papers.yaml``."""

    list: ListInfo
    # builtins.list: the field named `list` shadows the builtin inside this class body.
    papers: builtins.list[PaperEntry] = Field(default_factory=builtins.list)
