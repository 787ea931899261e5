"""The review desk's web app (Starlette): the queue, the paper page, and the two POST actions.

Safe by default, as a local tool that reads model output must be: the server binds 127.0.0.1 only; a
random token (printed in the start-up URL, as Jupyter does) is required on every request, in the query
of a page or in the ``X-Desk-Token`` header of an action; actions are POST-only JSON with that header,
refused when the browser says they come from another site (``Origin``, ``Sec-Fetch-Site``) or the
``Host`` is not the loopback (DNS rebinding). Templates escape every value, and the Content Security
Policy allows only the desk's own script and styles. Only ``summaries/``, ``papers.yaml`` and the cache
are read.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.core.config import Settings
from pipeline.core.errors import PipelineError, StoreError
from pipeline.core.models import FIELD_TITLES_EN, FIELD_TITLES_ZH, FIELDS
from pipeline.desk import actions, paper, preview
from pipeline.model import grounding
from pipeline.model.summary import SummaryRecord
from pipeline.storage import files
from pipeline.workspace import review, store
from pipeline.workspace.summarize import list_context
from pipeline.workspace.validate import cached_text_lookup, validate_file

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TOKEN_HEADER = "X-Desk-Token"
_LOOPBACK = ("127.0.0.1", "localhost")
_ORDER = {"draft": 0, "needs-changes": 1}
_PAGES_KEPT = 32
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


@dataclass(frozen=True)
class QueueRow:
    """One draft in the queue."""

    row: review.ReviewRow
    setting: str


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(FIELDS=FIELDS, FIELD_TITLES_EN=FIELD_TITLES_EN, FIELD_TITLES_ZH=FIELD_TITLES_ZH)
    env.filters["bullet_label"] = paper.bullet_label
    return env


def origin_of(record: SummaryRecord, name: str) -> str:
    """Where bibliographic field ``name`` of ``record`` came from (never from the model)."""
    if record.provenance.backend == "imported":
        return "the imported list"
    if name == "code_url":
        return "a link in the abstract, arXiv comment or paper text"
    if record.paper.arxiv_id is None:
        return "the PDF (its first page and info)"
    if name == "venue":
        return "the arXiv comment or journal reference"
    return "the arXiv record"


class Desk:
    """The app for one folder: ``settings`` says where summaries, papers.yaml and the cache are."""

    def __init__(self, settings: Settings, *, by: str | None = None, token: str | None = None) -> None:
        self.settings = settings
        self.by = by
        self.token = token or secrets.token_urlsafe(24)
        self.templates = _environment()
        self.lookup = cached_text_lookup(settings.cache_dir)
        self._pages: dict[tuple[str, str | None, int], dict[str, Any]] = {}
        for name in ("queue.html", "paper.html", "missing.html"):
            self.templates.get_template(name)  # compiled once, before the first request
        self.app = Starlette(routes=[
            Route("/", self.queue_page),
            Route("/paper/{key}", self.paper_page),
            Route("/paper/{key}/save", self.save, methods=["POST"]),
            Route("/paper/{key}/decide", self.decide, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ], middleware=[Middleware(BaseHTTPMiddleware, dispatch=self._guard)])

    # ----------------------------------------------------------------------------------------- safety

    async def _guard(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        refusal = self.refusal(request)
        if refusal is not None:
            log.warning("refused %s %s: %s", request.method, request.url.path, refusal)
            return PlainTextResponse(f"forbidden: {refusal}\n", status_code=403)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["Referrer-Policy"] = "no-referrer"  # the URL carries the token
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    def refusal(self, request: Request) -> str | None:
        """Why ``request`` is refused, or None when it may go on."""
        if (request.url.hostname or "") not in _LOOPBACK:
            return "the desk answers only to 127.0.0.1 and localhost"
        if request.method in ("GET", "HEAD"):
            given = request.query_params.get("token", "")
        elif request.method == "POST":
            given = request.headers.get(TOKEN_HEADER, "")
            site = request.headers.get("sec-fetch-site")
            if site is not None and site not in ("same-origin", "none"):
                return f"a {site} request may not change anything"
            origin = request.headers.get("origin")
            if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
                return f"a request from {origin} may not change anything"
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return "actions are JSON requests sent by the desk's page"
        else:
            return f"method {request.method} is not used by the desk"
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return "missing or wrong token; open the URL that `pipeline review serve` printed"
        return None

    def url(self, path: str, **query: str) -> str:
        """``path`` with the token (and ``query``) in its query string."""
        return f"{path}?{urlencode({'token': self.token, **{k: v for k, v in query.items() if v}})}"

    # ----------------------------------------------------------------------------------------- the queue

    def queue(self) -> tuple[list[QueueRow], list[str]]:
        """Every record, drafts first, then needs-changes, then the rest (by key within each)."""
        listing = review.list_reviews(self.settings.summaries_dir)
        settings_of = {record.key: record.summary.setting
                       for _, record in store.iter_records(self.settings.summaries_dir, errors=[])}
        rows = [QueueRow(row, settings_of.get(row.key, "")) for row in listing.rows]
        rows.sort(key=lambda r: (_ORDER.get(r.row.status, 2), r.row.key))
        return rows, listing.errors

    def next_draft(self, after: str) -> str | None:
        """The key of the first draft (or needs-changes) in the queue other than ``after``."""
        rows, _ = self.queue()
        return next((r.row.key for r in rows if r.row.status in _ORDER and r.row.key != after), None)

    async def queue_page(self, request: Request) -> Response:
        status = request.query_params.get("status", "")
        setting = request.query_params.get("setting", "")
        rows, errors = await run_in_threadpool(self.queue)
        shown = [r for r in rows if (not status or r.row.status == status) and (not setting or r.setting == setting)]
        html = self.templates.get_template("queue.html").render(
            desk=self, rows=shown, errors=errors, status=status, setting=setting,
            statuses=["draft", "needs-changes", "approved", "rejected"],
            settings=sorted({r.setting for r in rows}), folder=str(self.settings.summaries_dir))
        return HTMLResponse(html)

    # ----------------------------------------------------------------------------------------- a paper

    def paper_context(self, key: str) -> dict[str, Any]:
        """Everything the paper page shows about ``key``; StoreError when there is no valid record.

        Kept per version of the file (its sha256) and of papers.yaml, so showing a page again costs no
        YAML parse; any change to either file is a new version.
        """
        path = store.record_path(self.settings.summaries_dir, key)
        if not path.is_file():
            raise StoreError(f"no summary {path} for key {key!r}", hint="see the queue")
        papers_file = self.settings.papers_file
        papers_stamp = papers_file.stat().st_mtime_ns if papers_file.is_file() else 0
        version = (key, files.Snapshot.read(path).sha256, papers_stamp)
        context = self._pages.get(version)
        if context is None:
            context = self._build_context(path)
            if context["loaded"] == version[1] and not context["text"].missing:
                self._pages[version] = context
                while len(self._pages) > _PAGES_KEPT:
                    self._pages.pop(next(iter(self._pages)))
        record = context["record"]
        return {**context, "age": review.age_text(record.provenance.created_at, dt.datetime.now(dt.UTC))}

    def _build_context(self, path: Path) -> dict[str, Any]:
        terms = list_context(self.settings)[1]
        for _ in range(3):  # the snapshot must be of the bytes shown: read again if an editor saved meanwhile
            loaded = files.Snapshot.read(path)
            report = validate_file(path, self.lookup, terms)  # what `pipeline validate` reports
            if files.Snapshot.read(path) == loaded:
                break
        record = report.record
        if record is None:
            raise StoreError(f"{path} cannot be shown: " + "; ".join(str(p) for p in report.problems),
                             hint="fix it in an editor (see `pipeline validate`), then reload")
        text = paper.paper_text(record, self.settings)
        copied: set[str] = set()
        if record.summary.en is not None:
            for group in FIELDS:
                for i, bullet in enumerate(getattr(record.summary.en, group)):
                    if grounding.normalize(bullet.evidence).strip(" .") in grounding.normalize(bullet.text):
                        copied.add(paper.bullet_id(group, i))
        bib = [(name, value, origin_of(record, name)) for name, value in record.paper.model_dump().items()
               if value not in (None, [], "")]
        return {"desk": self, "problems": report.problems, "record": record, "text": text,
                "cites": paper.citations(text), "copied": copied, "bib": bib, "loaded": loaded.sha256,
                "local_banner": review.LOCAL_BANNER,
                "preview": preview.preview_html(record, self.settings.summaries_dir, self.settings.papers_file)}

    async def paper_page(self, request: Request) -> Response:
        key = request.path_params["key"]
        try:
            context = await run_in_threadpool(self.paper_context, key)
        except StoreError as exc:
            return HTMLResponse(self.templates.get_template("missing.html").render(desk=self, message=str(exc)),
                                status_code=404)
        return HTMLResponse(self.templates.get_template("paper.html").render(**context))

    # ----------------------------------------------------------------------------------------- actions

    async def save(self, request: Request) -> Response:
        key = request.path_params["key"]
        body = await _json(request)
        lang, group, index, text = body.get("lang"), body.get("group"), body.get("index"), body.get("text")
        if lang not in ("zh", "en") or group not in FIELDS or not isinstance(index, int) or \
                not isinstance(text, str) or not isinstance(body.get("loaded"), str):
            return JSONResponse({"error": "a save needs lang, group, index, text and loaded"}, status_code=400)

        def run() -> actions.EditResult:
            return actions.edit_bullet(self.settings.summaries_dir, key, lang=lang, group=group, index=index,
                                       text=text, loaded=body["loaded"], lookup=self.lookup,
                                       terms=list_context(self.settings)[1])
        try:
            result = await run_in_threadpool(run)
        except files.FileChanged as exc:
            return _changed(exc)
        except PipelineError as exc:
            return JSONResponse({"error": _line(exc)}, status_code=400)
        if not result.written:
            return JSONResponse({"errors": result.errors}, status_code=422)
        path = store.record_path(self.settings.summaries_dir, key)
        record = await run_in_threadpool(store.load_record, path)
        html = await run_in_threadpool(preview.preview_html, record, self.settings.summaries_dir,
                                       self.settings.papers_file)
        # What `validate` says of the file now, for the page's problem list (a save may fix or leave some).
        report = await run_in_threadpool(validate_file, path, self.lookup, list_context(self.settings)[1])
        return JSONResponse({"loaded": result.snapshot, "preview": html,
                             "problems": [str(p) for p in report.problems]})

    async def decide(self, request: Request) -> Response:
        key = request.path_params["key"]
        body = await _json(request)
        action, note = body.get("action"), body.get("note")
        if action not in ("approve", "reject", "needs-changes") or not isinstance(body.get("loaded"), str) \
                or not (note is None or isinstance(note, str)):
            return JSONResponse({"error": "a decision needs action, loaded and an optional note"}, status_code=400)

        def run() -> SummaryRecord:
            return actions.decide(self.settings.summaries_dir, key, action, note=note, by=self.by,
                                  loaded=body["loaded"], lookup=self.lookup)
        try:
            record = await run_in_threadpool(run)
        except files.FileChanged as exc:
            return _changed(exc)
        except PipelineError as exc:
            return JSONResponse({"error": _line(exc)}, status_code=400)
        following = await run_in_threadpool(self.next_draft, key)
        event = record.review[-1]
        return JSONResponse({"status": record.status, "by": event.by,
                             "next": self.url(f"/paper/{following}") if following else self.url("/")})


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _line(exc: PipelineError) -> str:
    return f"{exc} ({exc.hint})" if getattr(exc, "hint", None) else str(exc)


def _changed(exc: files.FileChanged) -> JSONResponse:
    return JSONResponse({"changed": f"{exc.path} changed on disk since this page was loaded; nothing was "
                                    "written. Reload to see the file as it is now."}, status_code=409)
