"""Hostile inputs, made at run time, each run as ``python -m pipeline ...`` in a child process that is
killed at a time and a memory bound.

Issue 12 asks every hostile case to finish within 5 s and 300 MB, or to stop earlier with one clear
error line (non-zero exit, no traceback). A case is one row of `CASES`: ``make`` writes its input into
a fresh folder from nothing but code (no third-party data) and returns the command's arguments;
`run` starts the command with that folder as working directory, cache and summaries folder, offline,
and returns an `Outcome` whose `problems` name every broken promise. ``check`` adds a case's own
assertions. To add a case, append a `Case`; `tests/test_hostile.py` runs every one and
`bench/hostile.py` prints their figures.

Time is the child's CPU time (user + system), because that is what the input costs the program:
wall time on a shared machine (parallel tests, other jobs) is several times longer and would make
the bound a lottery. Wall time is bounded too, by ``wall_seconds`` (3 times ``seconds`` unless a case
says otherwise), so a child that hangs or sleeps is killed as well; a case that waits on purpose (a
slow server) sets ``wall_seconds`` to its real limit. CPU time is the kernel's count when the child is
reaped (``wait4``). Peak memory is the high-water mark of the child's resident set (``VmHWM`` in
``/proc``), polled every 10 ms while it runs, which also lets the harness kill it at a bound rather than
after: ``ru_maxrss`` would be simpler but Linux folds the parent's high-water mark into it at exec, so
under a 250 MB pytest process every child looked 250 MB. (Where ``/proc`` is missing, ``ru_maxrss`` it is.)
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML

from pipeline.devtools.devserver import FakeServer

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 5.0
MEGABYTES = 300
WALL_FACTOR = 3.0
_POLL_SECONDS = 0.01
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# --------------------------------------------------------------------------- PDFs from raw bytes


def raw_pdf(content: bytes, *, info: Mapping[str, str] | None = None,
            to_unicode: Mapping[int, str] | None = None) -> bytes:
    """A one-page PDF whose page draws ``content`` (a content stream, Flate-compressed) with Helvetica
    as /F1.

    ``info`` becomes the info dictionary, in UTF-16 strings so that any character gets through;
    ``to_unicode`` maps byte codes of /F1 to the text they stand for (printable ASCII maps to itself),
    so the page text can hold characters no simple font encoding has.
    """
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
               b"/Contents 5 0 R >>", b"", _stream(content)]
    if to_unicode:
        objects.append(_stream(_cmap(to_unicode)))
        font += b" /ToUnicode %d 0 R" % len(objects)
    objects[3] = font + b" >>"
    if info:
        entries = b" ".join(b"/%s <FEFF%s>" % (key.encode(), value.encode("utf-16-be").hex().encode())
                            for key, value in info.items())
        objects.append(b"<< " + entries + b" >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"/Size %d /Root 1 0 R" % (len(objects) + 1) + (b" /Info %d 0 R" % len(objects) if info else b"")
    out += b"trailer\n<< %s >>\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref)
    return bytes(out)


def _stream(data: bytes) -> bytes:
    packed = zlib.compress(data, 9)
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)


def _cmap(codes: Mapping[int, str]) -> bytes:
    chars = "".join(f"<{code:02X}> <{text.encode('utf-16-be').hex().upper()}>\n" for code, text in codes.items())
    return (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            b"1 begincodespacerange <00> <FF> endcodespacerange\n"
            b"1 beginbfrange <20> <7E> <0020> endbfrange\n"
            + f"{len(codes)} beginbfchar\n{chars}endbfchar\n".encode()
            + b"endcmap CMapName currentdict /CMap defineresource pop end end\n")


def literal(text: bytes) -> bytes:
    """``text`` as a PDF literal string."""
    return b"(" + text.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def lines_content(lines: Sequence[bytes], *, size: int = 10) -> bytes:
    """A content stream showing each of ``lines`` on its own line."""
    shown = b"\n".join(literal(line) + b" '" for line in lines)
    return b"BT /F1 %d Tf 72 740 Td %d TL\n%s\nET" % (size, size + 2, shown)


def repeated_content(piece: bytes, times: int) -> bytes:
    """A content stream showing ``piece`` ``times`` times in a row on one line (one text run)."""
    return b"BT /F1 10 Tf 72 740 Td " + (literal(piece) + b" Tj ") * times + b"ET"


PROSE = [
    b"We propose a simple method for semi-supervised segmentation of medical images.",
    b"The method aligns the predictions of two views of every unlabeled image.",
    b"Experiments on two public datasets show that it improves the Dice score by 2.4 points.",
    b"The code and the trained models are released with the paper for others to reuse.",
]

# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One hostile input and the command to run on it.

    ``make(folder, size)`` writes the input into ``folder`` and returns the arguments of
    ``python -m pipeline``; ``size`` is the case's own scale (repetitions, lines): ``size`` as the issue
    reproduced it, ``test_size`` in the test suite when that differs (smaller to save time, or larger so
    that the old code is over the bound on a fast machine too). ``llm`` runs a loopback fake LLM server
    (`FakeServer`) for the command.
    ``expect`` is what the exit must be: ``ok`` (0), ``error`` (one clear error line) or ``either``.
    ``seconds`` bounds CPU time, ``wall_seconds`` wall time (default ``WALL_FACTOR * seconds``).
    """

    name: str
    row: int  # the row of issue 12 this case reproduces
    what: str
    make: Callable[[Path, int], list[str]]
    size: int
    test_size: int | None = None
    llm: bool = False
    expect: Literal["ok", "error", "either"] = "either"
    check: Callable[[Outcome], None] | None = None
    seconds: float = SECONDS
    megabytes: int = MEGABYTES
    wall_seconds: float | None = None

    @property
    def wall_bound(self) -> float:
        """The wall-clock bound in seconds."""
        return self.wall_seconds if self.wall_seconds is not None else WALL_FACTOR * self.seconds


Killed = Literal["cpu", "wall", "memory"]


@dataclass(frozen=True)
class Outcome:
    """What one run of a case did: exit code, output, wall and CPU seconds, peak resident megabytes."""

    case: Case
    folder: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float
    megabytes: float
    killed: Killed | None = None

    @property
    def figures(self) -> str:
        """'0.9 s CPU, 1.4 s wall, 63 MB'."""
        return f"{self.cpu_seconds:.1f} s CPU, {self.seconds:.1f} s wall, {self.megabytes:.0f} MB"

    def problems(self) -> list[str]:
        """Every broken promise: a bound exceeded, a traceback, not exactly one error line, the wrong exit."""
        case = self.case
        if self.killed:
            bound = {"cpu": f"{case.seconds:g} s CPU", "wall": f"{case.wall_bound:g} s wall",
                     "memory": f"{case.megabytes} MB"}[self.killed]
            return [f"killed at the {bound} bound ({self.figures})"]
        found = []
        if self.cpu_seconds > case.seconds:
            found.append(f"took {self.cpu_seconds:.1f} s CPU, over {case.seconds:g} s")
        if self.seconds > case.wall_bound:
            found.append(f"took {self.seconds:.1f} s wall, over {case.wall_bound:g} s")
        if self.megabytes > case.megabytes:
            found.append(f"peaked at {self.megabytes:.0f} MB, over {case.megabytes} MB")
        if self.returncode != 0:
            if "Traceback (most recent call last)" in self.stderr:
                found.append(f"exit {self.returncode} with a traceback: {self.last_line}")
            elif len(self.error_lines) != 1:
                found.append(f"exit {self.returncode} without exactly one 'error:' line: {self.last_line}")
        if case.expect == "ok" and self.returncode != 0:
            found.append(f"failed ({self.returncode}): {self.last_line}")
        if case.expect == "error" and self.returncode == 0:
            found.append("succeeded where a clear error was expected")
        return found

    @property
    def error_lines(self) -> list[str]:
        """The lines of stderr that report the error."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    @property
    def last_line(self) -> str:
        """The exception line of a traceback on stderr, else its last line; shortened."""
        _, marker, trace = self.stderr.rpartition("Traceback (most recent call last):")
        if marker:
            found = next((line for line in trace.splitlines() if line.strip() and not line[:1].isspace()), "")
            return found[:200]
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1][:200] if lines else "(no output on stderr)"

    def written(self) -> dict[Path, str]:
        """Every YAML, Markdown or JSON file the command wrote into the folder (summaries, papers.yaml,
        not the cache), by path."""
        return {path: _read(path) for path in sorted(self.folder.rglob("*"))
                if path.is_file() and path.suffix in (".yaml", ".md", ".json")
                and "cache" not in path.relative_to(self.folder).parts}


def run(case: Case, folder: Path, *, size: int | None = None, root: Path = ROOT) -> Outcome:
    """Make the case's input in ``folder`` and run its command there, under its bounds.

    ``root`` is the checkout whose ``pipeline`` runs (another one to measure old code).
    """
    folder.mkdir(parents=True, exist_ok=True)
    args = case.make(folder, size if size is not None else case.size)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PIPELINE_", "OPENAI_")) and name != "PYTHONPATH"}
    env.update(PYTHONPATH=str(root), PIPELINE_OFFLINE="1", PIPELINE_CACHE_DIR=str(folder / "cache"),
               PIPELINE_SUMMARIES_DIR=str(folder / "summaries"), PIPELINE_PAPERS_FILE=str(folder / "papers.yaml"),
               PIPELINE_ARXIV_DELAY="0", PYTHONDONTWRITEBYTECODE="1")
    with contextlib.ExitStack() as stack:
        if case.llm:
            base_url = stack.enter_context(_llm_server(root, env))
            env.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="hostile-test-key")
        return _bounded(case, folder, [sys.executable, "-m", "pipeline", *args], env)


@contextlib.contextmanager
def _llm_server(root: Path, env: dict[str, str]) -> Iterator[str]:
    """A loopback fake LLM server's base URL: in this process for this checkout, else the other
    checkout's own ``dev-server`` (its replies fit its own code)."""
    if root.resolve() == ROOT:
        with FakeServer() as server:
            yield server.base_url
        return
    server_process = subprocess.Popen([sys.executable, "-m", "pipeline", "dev-server", "--port", "0"], cwd=root,
                                      env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
    try:
        assert server_process.stdout is not None
        line = server_process.stdout.readline().strip()
        if not line.startswith("OPENAI_BASE_URL="):
            raise RuntimeError(f"the dev-server of {root} did not start: {line!r}")
        yield line.removeprefix("OPENAI_BASE_URL=")
    finally:
        server_process.terminate()
        server_process.wait(timeout=10)


def _bounded(case: Case, folder: Path, command: list[str], env: dict[str, str]) -> Outcome:
    out_path, err_path = folder / "stdout.txt", folder / "stderr.txt"
    killed: Killed | None = None
    peak = 0.0
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.monotonic()
        # Its own session, so that a kill at a bound takes whatever the command started with it.
        child = subprocess.Popen(command, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 start_new_session=True)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            cpu, high_water = _usage(child.pid)
            peak = max(peak, high_water)
            if cpu > case.seconds:
                killed = "cpu"
            elif time.monotonic() - started > case.wall_bound:
                killed = "wall"
            elif peak > case.megabytes:
                killed = "memory"
            if killed:
                os.killpg(child.pid, signal.SIGKILL)  # not reaped yet, so the id is still this child's
                _, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(_POLL_SECONDS)
        seconds = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    megabytes = peak or usage.ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)
    return Outcome(case=case, folder=folder, returncode=child.returncode, stdout=_read(out_path),
                   stderr=_read(err_path),
                   seconds=seconds, cpu_seconds=usage.ru_utime + usage.ru_stime, megabytes=megabytes,
                   killed=killed)


def _read(path: Path, limit: int = 16 << 20) -> str:
    """A file's text, at most ``limit`` bytes of it (a hostile case may print without end)."""
    with path.open("rb") as file:
        return file.read(limit).decode("utf-8", errors="replace")


def _usage(pid: int) -> tuple[float, float]:
    """The running child's CPU seconds and peak resident megabytes (VmHWM) so far; zeros where /proc
    does not say (the wall bound and the figures at exit still hold there)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return 0.0, 0.0
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces; what follows does not
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS if len(fields) > 12 else 0.0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return cpu, (int(match.group(1)) / 1024 if match else 0.0)


# --------------------------------------------------------------------------- checks

# What must never reach a terminal or a file from a PDF: C0 controls but tab and newline, DEL, C1
# controls, and the bidirectional controls that reorder what a line displays.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def assert_no_controls(outcome: Outcome) -> None:
    """No control character in stdout, stderr, or any file written, raw or escaped inside YAML."""
    texts = {"stdout": outcome.stdout, "stderr": outcome.stderr}
    for path, text in outcome.written().items():
        texts[str(path.relative_to(outcome.folder))] = text
        if path.suffix == ".yaml":
            texts[f"{path.name} (parsed)"] = "\n".join(_strings(YAML(typ="safe").load(text)))
    for name, text in texts.items():
        found = sorted({f"U+{ord(c):04X}" for c in UNSAFE.findall(text)})
        assert not found, f"{outcome.case.name}: {name} holds control characters {', '.join(found)}"


def _drafts(outcome: Outcome) -> list[dict[str, Any]]:
    return [YAML(typ="safe").load(path.read_text(encoding="utf-8"))
            for path in sorted((outcome.folder / "summaries").glob("*.yaml"))]


def _check_escapes_summarized(outcome: Outcome) -> None:
    assert_no_controls(outcome)
    drafts = _drafts(outcome)
    assert len(drafts) == 1, f"expected one draft in {outcome.folder / 'summaries'}"
    paper = drafts[0]["paper"]
    assert paper["title"] == "Notes on Evil Titles", paper["title"]
    assert paper["authors"] == ["Eve Example", "Mallory Person"], paper["authors"]


def _check_code_link(outcome: Outcome) -> None:
    drafts = _drafts(outcome)
    assert len(drafts) == 1, f"expected one draft in {outcome.folder / 'summaries'}"


def _check_extracted(outcome: Outcome) -> None:
    assert outcome.returncode != 0 or outcome.stdout.strip(), "extract printed nothing"


# --------------------------------------------------------------------------- inputs


def _one_long_word(folder: Path, size: int) -> list[str]:
    path = folder / "one-long-word.pdf"
    path.write_bytes(raw_pdf(repeated_content(b"Aa", size)))
    return ["extract", str(path)]


def _url_run(folder: Path, size: int) -> list[str]:
    path = folder / "url-run.pdf"
    run = b"BT /F1 10 Tf 72 400 Td " + literal(b"http://" * size) + b" Tj ET"
    path.write_bytes(raw_pdf(lines_content(PROSE) + b"\n" + run))
    return ["summarize", str(path)]


def _numbered_lines(folder: Path, size: int) -> list[str]:
    path = folder / "numbered-lines.pdf"
    # One string holding every line: pypdf spends next to nothing on it, the heading search all the more.
    path.write_bytes(raw_pdf(b"BT /F1 10 Tf 72 740 Td " + literal(b"3.2 Method Part\n" * size) + b" Tj ET"))
    return ["extract", str(path)]



def _one_word_repeated(folder: Path, size: int) -> list[str]:
    path = folder / "one-word-repeated.pdf"
    # One sentence of one-letter words, far over the budget: the trim to whole words measured the
    # whole prefix again for every word it added.
    path.write_bytes(raw_pdf(b"BT /F1 10 Tf 72 740 Td " + literal(b"a " * size) + b" Tj ET"))
    return ["extract", "--budget", "12000", str(path)]

# Byte codes of /F1 that the page's ToUnicode map turns into ESC, BEL, CSI (C1), RLO and LRI.
_ESC, _BEL, _CSI, _RLO, _LRI = 1, 2, 3, 4, 5
_CONTROL_CODES = {_ESC: "\x1b", _BEL: "\x07", _CSI: "\x9b", _RLO: "\u202e", _LRI: "\u2066"}
_ESCAPED_INFO = {
    # An OSC that retitles the terminal, then clear-screen; a C1 CSI and a right-to-left override.
    "Author": "Eve\x1b]0;pwned\x07 Example\x1b[2J, Mallory\u202e Person\x9b31m",
    "Title": "Notes on \u202eEvil\x1b[5m Titles\x1b]8;;http://evil.example/\x1b\\",
}


def _escapes(folder: Path, command: str) -> list[str]:
    e, b, c, r, i = (bytes([code]) for code in (_ESC, _BEL, _CSI, _RLO, _LRI))
    body = [*PROSE, b"The terminal title " + e + b"]0;owned" + b + b" and a cleared screen " + e + b"[2J here.",
            b"A " + c + b"31m red word and " + r + b"reversed" + i + b" text in the results.", *PROSE]
    # One large word first: page 1's largest text is then too short for a title, so the /Title is used.
    content = b"BT /F1 24 Tf 72 760 Td (Notes) Tj ET\n" + lines_content(body)
    path = folder / "escapes.pdf"
    path.write_bytes(raw_pdf(content, info=_ESCAPED_INFO, to_unicode=_CONTROL_CODES))
    return [command, str(path)]


CASES: list[Case] = [
    Case("one-long-word", 3, "a one-page PDF showing `(Aa) Tj` over and over: one line of letters, no space",
         _one_long_word, size=120_000, test_size=30_000, check=_check_extracted),
    Case("url-run", 4, "a PDF whose text holds `http://` over and over, summarized (the code-link search)",
         _url_run, size=20_000, test_size=10_000, llm=True, expect="ok", check=_check_code_link),
    Case("numbered-lines", 14, "4,000 lines like `3.2 Method Part` (the numbered-heading search)",
         _numbered_lines, size=4_000, test_size=8_000, check=_check_extracted),
    Case("one-word-repeated", 0, "`a a a …` as one sentence, extracted at a 12,000-token budget (the trim to "
         "whole words; found after issue 12)", _one_word_repeated, size=200_000, check=_check_extracted),
    Case("escapes-extract", 12, "terminal escapes and bidi overrides in /Author, /Title and the page text",
         lambda folder, _: _escapes(folder, "extract"), size=1, expect="ok", check=assert_no_controls),
    Case("escapes-summarize", 12, "the same PDF summarized: the draft's title and authors",
         lambda folder, _: _escapes(folder, "summarize"), size=1, llm=True, expect="ok",
         check=_check_escapes_summarized),
]


# --------------------------------------------------------------------------- files and limits (rows 5, 9, 11, 13)

_LIST = "list:\n  title: A list\npapers:\n  - source: '2501.00001'\n"


def alias_bomb(levels: int) -> str:
    """``levels`` lines of ten aliases each under an unknown key: a few hundred bytes that expanded
    to 10 ** ``levels`` values when turned into plain data (issue 12, row 5)."""
    lines = [f"  - &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 10)}]" for i in range(levels)]
    return "junk:\n" + "\n".join(lines) + "\n"


def blank_page(text: bytes, blank_bytes: int) -> bytes:
    """A page's content stream object: ``text`` shown, then ``blank_bytes`` spaces, Flate-compressed in
    pieces (74 MB of spaces pack into about 72 KB without ever being held whole)."""
    packer = zlib.compressobj(9)
    parts = [packer.compress(b"BT /F1 10 Tf 72 740 Td " + literal(text) + b" Tj ET\n")]
    piece = b" " * (1 << 20)
    for _ in range(blank_bytes >> 20):
        parts.append(packer.compress(piece))
    parts.append(packer.compress(b" " * (blank_bytes & ((1 << 20) - 1))))
    parts.append(packer.flush())
    packed = b"".join(parts)
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)


def pages_pdf(streams: Sequence[bytes]) -> bytes:
    """A PDF with one page per content stream object (e.g. `blank_page`), Helvetica as /F1."""
    count = len(streams)
    font = 3 + 2 * count
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count)]
    for i, stream in enumerate(streams):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R "
                       b">> >> /Contents %d 0 R >>" % (font, 4 + 2 * i))
        objects.append(stream)
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _summary(folder: Path, extra: str) -> None:
    summaries = folder / "summaries"
    summaries.mkdir(parents=True, exist_ok=True)
    (summaries / "2501.00001.yaml").write_text("key: '2501.00001'\nstatus: draft\n" + extra, encoding="utf-8")


def _bomb_in_summary(folder: Path, size: int) -> list[str]:
    _summary(folder, alias_bomb(size))
    return ["review", "show", "2501.00001"]


def _bomb_in_papers(folder: Path, size: int) -> list[str]:
    (folder / "papers.yaml").write_text(_LIST + alias_bomb(size), encoding="utf-8")
    return ["render", "--out", "LIST.md"]


def _tagged(command: list[str]) -> Callable[[Path, int], list[str]]:
    def make(folder: Path, size: int) -> list[str]:
        (folder / "papers.yaml").write_text(_LIST, encoding="utf-8")
        _summary(folder, "note: !foo bar\n")
        return command
    return make


def _inflating_pages(folder: Path, size: int) -> list[str]:
    path = folder / "inflates.pdf"
    path.write_bytes(pages_pdf([blank_page(b"A line of real text.", 74_000_000)] * size))
    return ["extract", str(path)]


def _long_key(folder: Path, size: int) -> list[str]:
    return ["review", "approve", "a" * size]


def _newline_key(folder: Path, size: int) -> list[str]:
    _summary(folder, "")
    return ["review", "show", "2501.00001\n"]


def _symlinked_original(folder: Path, size: int) -> list[str]:
    (folder / "outside").mkdir()
    (folder / "summaries").mkdir()
    (folder / "summaries" / "_original").symlink_to(folder / "outside", target_is_directory=True)
    path = folder / "paper.pdf"
    path.write_bytes(raw_pdf(lines_content(PROSE)))
    return ["summarize", str(path)]


def _says(*words: str) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        line = " ".join(outcome.error_lines)
        for word in words:
            assert word in line, f"{outcome.case.name}: {word!r} not in {line!r}"
    return check


def _check_outside_empty(outcome: Outcome) -> None:
    _says("_original is a symbolic link")(outcome)
    assert not list((outcome.folder / "outside").iterdir()), "a file was written through the link"


CASES += [
    Case("alias-bomb-summary", 5, "a summary file with levels of ten aliases under an unknown key (review show)",
         _bomb_in_summary, size=7, expect="error", check=_says("2501.00001.yaml:4:", "anchor &l0 is not accepted")),
    Case("alias-bomb-papers", 5, "the same aliases in papers.yaml (render)",
         _bomb_in_papers, size=7, expect="error", check=_says("papers.yaml:6:", "anchor &l0 is not accepted")),
    Case("tag-review-show", 9, "`note: !foo bar` in a summary file (review show)",
         _tagged(["review", "show", "2501.00001"]), size=1, expect="error",
         check=_says("2501.00001.yaml:3:", "tag !foo is not accepted")),
    Case("tag-review-list", 9, "the same file (review list)", _tagged(["review", "list"]), size=1,
         expect="error", check=_says("2501.00001.yaml:3:", "tag !foo is not accepted")),
    Case("tag-render", 9, "the same file (render: the rest is published, the file noted)",
         _tagged(["render", "--out", "LIST.md"]), size=1, expect="ok"),
    Case("inflating-page", 11, "a 72 KB PDF whose one page inflates to 74 MB of whitespace (extract)",
         _inflating_pages, size=1, expect="error", check=_says("page 1 decompresses to more than 8 MB")),
    Case("inflating-pages", 11, "six such pages (extract)", _inflating_pages, size=6, expect="error",
         check=_says("page 1 decompresses to more than 8 MB")),
    Case("long-key", 13, "a 300-character key (review approve)", _long_key, size=300, expect="error",
         check=_says("is 300 characters, over the limit of 128")),
    Case("newline-key", 13, "a key with a trailing newline (review show)", _newline_key, size=1, expect="error",
         check=_says("invalid summary key")),
    Case("symlinked-original", 13, "summaries/_original is a link to a folder outside (summarize)",
         _symlinked_original, size=1, llm=True, expect="error", check=_check_outside_empty),
]


# --------------------------------------------------------------------------- row 6: links in free Markdown

_BAD_LINKS = ("[the demo](javascript:alert(1)) and <img src=\"data:image/svg+xml,<svg onload=alert(1)>\">",
              "[r]: vbscript:alert(1)")


def _link_in_introduction(folder: Path, size: int) -> list[str]:
    intro = "\n\n".join([f"Paragraph {i}: see {_BAD_LINKS[0]}." for i in range(size)] + [_BAD_LINKS[1]])
    (folder / "papers.yaml").write_text("list:\n  title: A list\n  description: |\n"
                                        + "".join(f"    {line}\n" for line in intro.splitlines())
                                        + "papers: []\n", encoding="utf-8")
    return ["render", "--out", "LIST.md"]


def _list_with_bad_links(folder: Path, size: int) -> list[str]:
    rows = "".join(f"| 2025-01 | Paper {i} | [x](javascript:alert({i})) |\n" for i in range(size))
    (folder / "list.md").write_text(
        f"# A list\n\nAn introduction: {_BAD_LINKS[0]}.\n\n{_BAD_LINKS[1]}\n\n"
        "## [Methods](javascript:alert(0))\n\n| Date | Title | [Notes](data:text/html,x) |\n|---|---|---|\n" + rows,
        encoding="utf-8")
    return ["import", "list.md", "--no-summaries"]


def _check_no_bad_links(outcome: Outcome) -> None:
    for path, text in outcome.written().items():
        if path.name == "list.md":
            continue  # the input
        for scheme in ("javascript:", "data:", "vbscript:"):
            assert scheme not in text, f"{path} holds a {scheme} link"


CASES += [
    Case("link-in-introduction", 6, "javascript:, data: and vbscript: links in papers.yaml's introduction (render)",
         _link_in_introduction, size=1, expect="error",
         check=_says("papers.yaml:3: list.description: link 'javascript:alert(1)' is not an http(s) URL")),
    Case("links-in-imported-list", 6, "the same links in a list's introduction, heading, header and cells (import)",
         _list_with_bad_links, size=1_000, test_size=50, expect="ok", check=_check_no_bad_links),
]
