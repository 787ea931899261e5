"""The fake server's Files and Batches endpoints: a provider's batch jobs, in memory, for tests and benches.

`BatchFake` stores uploaded files and jobs. A job stays ``in_progress`` for ``polls`` retrieves, then
runs every request line through the fake chat endpoint (`FakeServer.batch_item`: same replies, same
faults, counted in ``requests``) and ends ``completed``; a line whose prompt holds an ``expire``
substring is not run, the job ends ``expired`` and the line goes to the error file with code
``batch_expired`` (the rest of the output is kept: partial output). A reply that is not HTTP 200 is an
error-file line with its ``response``. ``cancel`` (or ``POST /batches/{id}/cancel`` before it ran)
ends a job ``cancelled`` with no output. A request file with a line that is not a request fails the
whole job (``failed``, ``errors.data``). ``create_delay`` holds the create call's answer after the job
exists (a client killed meanwhile has created a job it never heard of).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.devtools.devreplies import Json, prompt_text

Answer = Callable[[Json], tuple[int, Json]]
Response = tuple[int, Json | bytes]
_FILE = re.compile(r"^/files/([\w-]+)(/content)?$")
_BATCH = re.compile(r"^/batches/([\w-]+)(/cancel)?$")


def _error(message: str, kind: str = "invalid_request_error") -> Json:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class BatchFake:
    """In-memory Files and Batches endpoints (see the module docstring)."""

    def __init__(self, answer: Answer, *, expire: Sequence[str] = (), polls: int = 0, create_delay: float = 0.0,
                 stop: threading.Event | None = None) -> None:
        self.answer, self.expire, self.polls, self.create_delay = answer, list(expire), polls, create_delay
        self._stop = stop or threading.Event()
        self._lock = threading.Lock()
        self.files: dict[str, tuple[Json, bytes]] = {}
        self.jobs: dict[str, Json] = {}
        self._polled: dict[str, int] = {}
        self._count = 0

    @property
    def created(self) -> int:
        """How many jobs were created."""
        with self._lock:
            return len(self.jobs)

    def route(self, method: str, path: str, content_type: str, raw: bytes) -> Response | None:
        """Answer a Files or Batches request (``path`` after ``/v1``); None when it is neither."""
        path = path.split("?", 1)[0].rstrip("/")
        if method == "POST" and path == "/files":
            return self._upload(content_type, raw)
        if method == "POST" and path == "/batches":
            return self._create(raw)
        if method == "GET" and path == "/batches":
            with self._lock:
                data = sorted(self.jobs.values(), key=lambda j: -int(j["created_at"]))
            return 200, {"object": "list", "data": data, "has_more": False,
                         "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
        if found := _FILE.match(path):
            with self._lock:
                stored = self.files.get(found.group(1))
            if stored is None or method != "GET":
                return 404, _error(f"no file {found.group(1)}")
            return (200, stored[1]) if found.group(2) else (200, stored[0])
        if found := _BATCH.match(path):
            job_id, cancel = found.group(1), found.group(2)
            if job_id not in self.jobs:
                return 404, _error(f"no batch {job_id}")
            if cancel and method == "POST":
                return 200, self.cancel(job_id)
            if method == "GET":
                return 200, self._advance(job_id)
        return None

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            self._count += 1
            return f"{prefix}-fake-{self._count}"

    def _store(self, name: str, data: bytes, purpose: str) -> Json:
        meta: Json = {"id": self._new_id("file"), "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": purpose, "status": "processed"}
        with self._lock:
            self.files[meta["id"]] = (meta, data)
        return meta

    def _upload(self, content_type: str, raw: bytes) -> Response:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = (part.get_filename() or "", payload if isinstance(payload, bytes) else b"")
        if "file" not in fields or "purpose" not in fields:
            return 400, _error("a file upload needs the multipart fields 'file' and 'purpose'")
        name, data = fields["file"]
        return 200, self._store(name or "upload.jsonl", data, fields["purpose"][1].decode())

    def _create(self, raw: bytes) -> Response:
        try:
            body = json.loads(raw)
            input_id = str(body["input_file_id"])
        except (ValueError, KeyError, TypeError):
            return 400, _error("a batch needs an input_file_id")
        if input_id not in self.files:
            return 404, _error(f"no file {input_id}")
        job: Json = {"id": self._new_id("batch"), "object": "batch", "endpoint": body.get("endpoint"),
                     "input_file_id": input_id, "completion_window": body.get("completion_window", "24h"),
                     "status": "validating", "created_at": int(time.time()), "metadata": body.get("metadata"),
                     "output_file_id": None, "error_file_id": None, "errors": None,
                     "request_counts": {"total": 0, "completed": 0, "failed": 0}}
        with self._lock:
            self.jobs[job["id"]] = job
            self._polled[job["id"]] = 0
        if self.create_delay:
            self._stop.wait(self.create_delay)
        return 200, dict(job)

    def cancel(self, job_id: str) -> Json:
        """End a job that has not run yet as ``cancelled`` (no output); return it."""
        with self._lock:
            job = self.jobs[job_id]
            if job["status"] in ("validating", "in_progress"):
                job.update(status="cancelled", cancelled_at=int(time.time()))
            return dict(job)

    def _advance(self, job_id: str) -> Json:
        with self._lock:
            job = self.jobs[job_id]
            if job["status"] not in ("validating", "in_progress"):
                return dict(job)
            self._polled[job_id] += 1
            if self._polled[job_id] <= self.polls:
                job["status"] = "in_progress"
                return dict(job)
            job["status"] = "finalizing"  # no second retrieve runs it again meanwhile
        self._run(job)
        with self._lock:
            return dict(job)

    def _run(self, job: Json) -> None:
        lines = self.files[job["input_file_id"]][1].decode("utf-8", errors="replace").splitlines()
        requests: list[Json] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item.get("custom_id"), str) or not isinstance(item.get("body"), dict):
                    raise ValueError("a request needs custom_id and body")
            except (ValueError, AttributeError) as exc:
                job.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": [
                    {"code": "invalid_request", "message": f"line {number}: {exc}", "line": number, "param": None}]})
                return
            requests.append(item)
        output: list[Json] = []
        errors: list[Json] = []
        for item in requests:
            row: Json = {"id": self._new_id("batch_req"), "custom_id": item["custom_id"]}
            if any(s in prompt_text(item["body"]) for s in self.expire):
                errors.append({**row, "response": None, "error": {
                    "code": "batch_expired", "message": "This request could not be executed before the "
                    "completion window expired."}})
                continue
            status, body = self.answer(item["body"])
            row.update(response={"status_code": status, "request_id": row["id"], "body": body}, error=None)
            (output if status == 200 else errors).append(row)
        now = int(time.time())
        job.update(status="expired" if any(e["error"] for e in errors) else "completed",
                   request_counts={"total": len(requests), "completed": len(output), "failed": len(errors)})
        job["expired_at" if job["status"] == "expired" else "completed_at"] = now
        if output:
            job["output_file_id"] = self._store("output.jsonl", _jsonl(output), "batch_output")["id"]
        if errors:
            job["error_file_id"] = self._store("errors.jsonl", _jsonl(errors), "batch_output")["id"]


def _jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


__all__ = ["BatchFake"]
