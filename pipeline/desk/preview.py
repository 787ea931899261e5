"""The preview: a paper's entry as the rendered list will show it, as HTML the way GitHub shows Markdown.

The entry is rendered by `pipeline.listing.render` itself: a list holding only this paper (its
papers.yaml entry and section when it has one, else one section named after its setting), with the
record taken as approved. The Markdown becomes HTML through markdown-it-py's CommonMark parser with
tables, and with raw HTML off: every value was escaped for Markdown already, and nothing in a title or
bullet can become a tag.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from markdown_it import MarkdownIt
from ruamel.yaml.comments import CommentedMap

from pipeline.core.errors import PipelineError
from pipeline.core.models import PapersFile
from pipeline.listing import render
from pipeline.model.summary import SummaryRecord
from pipeline.workspace import papers

log = logging.getLogger(__name__)

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")


def _one_paper_list(record: SummaryRecord, papers_file: Path) -> papers.PapersDoc:
    entry: dict[str, object] | None = None
    section: dict[str, object] | None = None
    if papers_file.is_file():
        try:
            doc = papers.load_papers(papers_file)
        except PipelineError as exc:
            log.info("preview without %s: %s", papers_file, exc)
        else:
            for candidate in doc.data.papers:
                try:
                    if papers.entry_key(candidate) != record.key:
                        continue
                except PipelineError:
                    continue
                wanted = candidate.setting or record.summary.setting
                found = next((s for s in doc.data.list.sections if s.id == wanted), None)
                if found is not None:
                    entry = candidate.model_dump(exclude_none=True)
                    entry.update(setting=found.id)
                    section = found.model_dump(exclude_none=True)
                break
    if entry is None or section is None:
        setting = record.summary.setting
        section = {"id": setting, "name_zh": setting, "name_en": setting}
        entry = {"source": record.paper.arxiv_id or f"title:{record.paper.title}", "key": record.key,
                 "setting": setting}
    data = PapersFile.model_validate({"list": {"title": "preview", "sections": [section]}, "papers": [entry]})
    return papers.PapersDoc(path=papers_file, data=data, raw=CommentedMap())


def preview_markdown(record: SummaryRecord, summaries_dir: Path, papers_file: Path) -> str:
    """The Markdown of ``record``'s entry (its table row and bullet groups) in the rendered list."""
    approved = record.model_copy(update={"status": "approved"})
    result = render.render_doc(_one_paper_list(record, papers_file), summaries_dir, records={record.key: approved})
    lines = result.text.splitlines()
    # The one-paper list's title, contents and headings are not part of the entry.
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("## ") and render.REVIEW in line), 1)
    return "\n".join(line for line in lines[start:] if not line.startswith("#")).strip() + "\n"


def preview_html(record: SummaryRecord, summaries_dir: Path, papers_file: Path) -> str:
    """`preview_markdown` as HTML (raw HTML in the Markdown is shown as text, never as markup)."""
    try:
        markdown = preview_markdown(record, summaries_dir, papers_file)
    except PipelineError as exc:
        return f"<p>the preview could not be rendered: {html.escape(str(exc))}</p>"
    return str(_MARKDOWN.render(markdown))
