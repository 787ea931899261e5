"""Batch runs: selection, concurrency against the loopback fake server, failures, budget, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from synthetic_papers import write_pdf

from pipeline import cli
from pipeline.core.config import Price, Settings, load_settings
from pipeline.core.errors import ConfigError
from pipeline.devtools.devserver import FakeServer
from pipeline.model import ratelimit
from pipeline.workspace import batch, store
from pipeline.workspace.papers import load_papers, update_entry

ROOT = Path(__file__).resolve().parent.parent
HEADER = """# test backlog
list:
  title: Test list
  sections:
    - id: semi-supervised
      name_zh: 半监督学习
      name_en: Semi-supervised learning
papers:
"""


def title(i: int) -> str:
    return f"Synthetic Paper {i:03d} on Consistency Learning"


def make_pdf(path: Path, i: int) -> Path:
    """A one-page paper the fake server can summarize with grounded quotes."""
    return write_pdf(path, i, title(i))


def make_backlog(folder: Path, n: int, extra: str = "") -> Path:
    """``n`` PDFs and a papers.yaml listing them as backlog entries (relative paths)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [HEADER.rstrip("\n")]
    for i in range(n):
        make_pdf(folder / f"paper{i:03d}.pdf", i)
        lines.append(f"  - source: paper{i:03d}.pdf\n    setting: semi-supervised\n    priority: {i % 3}")
    papers = folder / "papers.yaml"
    papers.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return papers


def env_for(folder: Path, server: FakeServer | None) -> dict[str, str]:
    env = {"PIPELINE_CACHE_DIR": str(folder / "cache"), "PIPELINE_SUMMARIES_DIR": str(folder / "summaries"),
           "PIPELINE_PAPERS_FILE": str(folder / "papers.yaml"), "PIPELINE_OFFLINE": "1",
           "PIPELINE_ARXIV_DELAY": "0", "PIPELINE_MAX_REPAIRS": "1"}
    if server is not None:
        # Named, so that it is priced as that model (else the one model a loopback server lists is used).
        env |= {"PIPELINE_BASE_URL": server.base_url, "PIPELINE_API_KEY": "test-key", "PIPELINE_MODEL": "gpt-4o-mini"}
    return env


def settings_for(folder: Path, server: FakeServer | None = None) -> Settings:
    return load_settings(env_for(folder, server))


def statuses(papers: Path) -> dict[str, str]:
    return {e.source: e.status for e in load_papers(papers).data.papers}


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


# --------------------------------------------------------------------------- plan


def test_plan_selects_orders_and_explains(tmp_path: Path) -> None:
    extra = ("  - source: \"title:A Paper Known Only By Title\"\n"
             "  - source: done.pdf\n    status: drafted\n")
    make_backlog(tmp_path, 4, extra)
    settings = settings_for(tmp_path)
    selected = batch.plan(settings, batch.BatchOptions())
    assert [i.source for i in selected.runnable] == ["paper002.pdf", "paper001.pdf", "paper000.pdf",
                                                     "paper003.pdf"]  # priority 2, 1, 0, 0; file order
    skips = {i.source: i.skip for i in selected.items if i.skip}
    assert "title only" in (skips["title:A Paper Known Only By Title"] or "")
    assert skips["done.pdf"] == "already drafted"
    limited = batch.plan(settings, batch.BatchOptions(limit=1, statuses=["backlog"]))
    assert [i.source for i in limited.runnable] == ["paper002.pdf"]
    assert sum(1 for i in limited.items if i.skip and "limit" in i.skip) == 3
    only = batch.plan(settings, batch.BatchOptions(ids=["paper003.pdf", "paper000.pdf"]))
    assert [i.source for i in only.items] == ["paper000.pdf", "paper003.pdf"]
    forced = batch.plan(settings, batch.BatchOptions(statuses=["drafted"], force=True))
    assert [i.source for i in forced.runnable] == ["done.pdf"]
    with pytest.raises(ConfigError, match="no entry"):
        batch.plan(settings, batch.BatchOptions(ids=["nope.pdf"]))
    with pytest.raises(ConfigError, match="unknown status 'drafed'"):
        batch.plan(settings, batch.BatchOptions(statuses=["drafed"]))
    with pytest.raises(ConfigError, match="unknown setting"):
        batch.plan(settings, batch.BatchOptions(setting="fully-supervised"))


# --------------------------------------------------------------------------- runs


def test_run_drafts_everything_then_a_rerun_sends_nothing(tmp_path: Path, server: FakeServer) -> None:
    papers = make_backlog(tmp_path, 6)
    settings = settings_for(tmp_path, server)
    events: list[batch.BatchEvent] = []
    report = batch.run(settings, batch.BatchOptions(concurrency=3), on_event=events.append)
    assert report.exit_code == 0, report.to_dict()
    assert report.totals.done == 6 and report.totals.requests == len(server.requests) == 6
    assert set(statuses(papers).values()) == {"drafted"}
    assert len(list(store.iter_records(settings.summaries_dir))) == 6
    assert sum(1 for e in events if e.kind == "finish") == 6
    assert server.peak_in_flight <= 3

    again = batch.run(settings, batch.BatchOptions(concurrency=3))
    assert len(server.requests) == 6  # not one more request
    assert again.totals.skipped == 6 and {o.reason for o in again.outcomes} == {"already drafted"}


def test_rerun_of_a_finished_batch_of_100_sends_nothing(tmp_path: Path, server: FakeServer) -> None:
    papers = tmp_path / "papers.yaml"
    papers.write_text(HEADER + "".join(f"  - source: '2301.{i + 1:05d}'\n    status: drafted\n" for i in range(100)),
                      encoding="utf-8")
    report = batch.run(settings_for(tmp_path, server), batch.BatchOptions(concurrency=16))
    assert server.requests == [] and report.exit_code == 0
    assert report.totals.skipped == 100 and len(report.outcomes) == 100
    report = batch.run(settings_for(tmp_path, None), batch.BatchOptions())  # needs no LLM endpoint at all
    assert report.totals.skipped == 100


def test_backlog_entry_with_a_draft_on_disk_is_synced_without_the_llm(tmp_path: Path,
                                                                      server: FakeServer) -> None:
    papers = make_backlog(tmp_path, 2)
    settings = settings_for(tmp_path, server)
    batch.run(settings, batch.BatchOptions())
    papers.write_text(papers.read_text(encoding="utf-8").replace("status: drafted", "status: backlog"),
                      encoding="utf-8")  # as after a kill before the status was written
    assert set(statuses(papers).values()) == {"backlog"}
    report = batch.run(settings, batch.BatchOptions())
    assert len(server.requests) == 2
    assert [o.reason for o in report.outcomes] == ["summary already on disk (drafted)"] * 2
    assert set(statuses(papers).values()) == {"drafted"}


def test_a_permanent_failure_is_reported_and_the_others_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    papers = make_backlog(tmp_path, 5)
    with FakeServer(fault_for={title(3): ["refusal*"]}) as fake:
        for name, value in env_for(tmp_path, fake).items():
            monkeypatch.setenv(name, value)
        code = cli.main(["batch", "--concurrency", "2"])
    out = capsys.readouterr().out
    assert code == 1
    state = statuses(papers)
    assert state.pop("paper003.pdf") == "failed"
    assert set(state.values()) == {"drafted"}
    entry = next(e for e in load_papers(papers).data.papers if e.source == "paper003.pdf")
    assert entry.last_error and "refused" in entry.last_error
    assert "failed: paper003" in out and "refused" in out
    assert "4 done, 1 failed, 0 skipped" in out


def test_budget_stops_starting_papers(tmp_path: Path, server: FakeServer) -> None:
    make_backlog(tmp_path, 6)
    settings = settings_for(tmp_path, server)
    plan = batch.dry_run(settings, batch.BatchOptions())
    each = plan.runnable[0].estimate_cost_usd or 0.0
    assert each > 0 and plan.to_dict()["total"]["runnable"] == 6
    assert plan.to_dict()["total"]["cost_usd"] == pytest.approx(6 * each, rel=0.01)
    assert not server.requests  # a dry run asks nothing
    capped = batch.dry_run(settings, batch.BatchOptions(budget_usd=2.5 * each))
    assert len(capped.runnable) == 2 and capped.to_dict()["total"]["cost_usd"] == pytest.approx(2 * each)
    assert all((i.skip or "").startswith(f"budget: its estimate ${each:.4f} would pass ${2.5 * each:.4f}")
               for i in capped.items[2:])

    report = batch.run(settings, batch.BatchOptions(concurrency=1, budget_usd=2.5 * each))
    skipped = [o for o in report.outcomes if o.state == "skipped"]
    assert report.totals.done >= 2 and skipped
    assert all(o.reason.startswith("budget") for o in skipped)
    assert report.totals.cost_usd <= 2.5 * each
    assert report.totals.done + len(skipped) == 6


def test_budget_skips_what_does_not_fit_and_still_runs_what_does(tmp_path: Path, server: FakeServer) -> None:
    papers = make_backlog(tmp_path, 6)
    settings = settings_for(tmp_path, server)
    plan = batch.dry_run(settings, batch.BatchOptions())
    each, last = plan.items[0].estimate_cost_usd or 0.0, plan.items[-1]
    # Summarize the last paper once, then put it back in the backlog: its reply is cached, so free.
    assert batch.run(settings, batch.BatchOptions(ids=[last.source], concurrency=1)).totals.done == 1
    for folder in (settings.summaries_dir, settings.summaries_dir / store.ORIGINAL_DIR):
        (folder / f"{last.key}.yaml").unlink()
    update_entry(papers, last.source, status="backlog")

    capped = batch.dry_run(settings, batch.BatchOptions(budget_usd=2.5 * each))
    assert [i.skip is None for i in capped.items] == [True, True, False, False, False, True]
    assert capped.items[-1].estimate_cached and capped.items[-1].estimate_cost_usd == 0.0

    asked = len(server.requests)
    report = batch.run(settings, batch.BatchOptions(concurrency=1, budget_usd=2.5 * each))
    states = [o.state for o in report.outcomes]
    # Real costs run below the estimates, so a third paid paper may fit; never all of them.
    assert states[:2] == ["done", "done"] and "skipped" in states[2:5] and states[5] == "done"
    assert all(o.reason.startswith("budget: its estimate") for o in report.outcomes if o.state == "skipped")
    assert statuses(papers)[last.source] == "drafted"
    assert report.totals.cost_usd <= 2.5 * each
    assert len(server.requests) - asked >= 2  # the two paid papers asked; the cached one did not need to


def test_stop_event_lets_running_papers_finish_and_reports_the_rest(tmp_path: Path,
                                                                   server: FakeServer) -> None:
    papers = make_backlog(tmp_path, 6)
    settings = settings_for(tmp_path, server)
    stop = threading.Event()

    def on_event(event: batch.BatchEvent) -> None:
        if event.kind == "finish":
            stop.set()

    report = batch.run(settings, batch.BatchOptions(concurrency=2), on_event=on_event, stop=stop)
    assert report.interrupted and report.exit_code == 130
    done = [o for o in report.outcomes if o.state == "done"]
    assert 1 <= len(done) <= 4  # at most the papers in progress: 2 requests in flight + 2 preparing
    assert all(o.reason.startswith("not started") for o in report.outcomes if o.state == "skipped")
    assert len(report.outcomes) == 6
    assert sum(1 for s in statuses(papers).values() if s == "drafted") == len(done)


def test_every_request_goes_through_the_endpoint_limiter(tmp_path: Path, server: FakeServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    make_backlog(tmp_path, 3)
    calls: list[int] = []
    real = ratelimit.RateLimiter.acquire

    def counting(self: ratelimit.RateLimiter, tokens: int = 0, **kwargs: object) -> ratelimit.Reservation:
        calls.append(tokens)
        return real(self, tokens, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ratelimit.RateLimiter, "acquire", counting)
    report = batch.run(settings_for(tmp_path, server), batch.BatchOptions(rpm=6000, tpm=10**7))
    assert report.totals.done == 3
    assert len(calls) == 3 and all(tokens > 1000 for tokens in calls)


def test_estimates_and_accounting_use_the_one_cost_formula(tmp_path: Path, server: FakeServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.model import backend, llm
    from pipeline.workspace import summarize

    assert vars(summarize)["cost_usd"] is vars(llm)["cost_usd"] is backend.cost_usd  # one definition, imported
    priced: list[float] = []

    def spy(connection: backend.Connection, prices: Mapping[str, Price], prompt_tokens: int,
            completion_tokens: int) -> float:
        priced.append(backend.cost_usd(connection, prices, prompt_tokens, completion_tokens))
        return priced[-1]

    monkeypatch.setattr(summarize, "cost_usd", spy)
    monkeypatch.setattr(llm, "cost_usd", spy)
    make_backlog(tmp_path, 1)
    settings = settings_for(tmp_path, server)
    planned = batch.dry_run(settings, batch.BatchOptions())
    assert len(priced) == 1 and planned.runnable[0].estimate_cost_usd == round(priced[0], 6) > 0
    priced.clear()
    report = batch.run(settings, batch.BatchOptions(budget_usd=1.0))  # a budget: the estimate is priced first
    assert report.totals.done == 1 and len(priced) == 1 + report.totals.requests
    assert report.outcomes[0].cost_usd == pytest.approx(sum(priced[1:]), abs=1e-6)
    assert report.outcomes[0].cost_usd > 0


def test_interrupted_twice_the_process_exits_without_waiting_for_the_abandoned_papers(tmp_path: Path) -> None:
    """Papers abandoned by a second Ctrl-C run on daemon threads: a hung request cannot hold the exit."""
    make_backlog(tmp_path, 2)
    with FakeServer(latency=60) as fake:
        env = {**os.environ, **env_for(tmp_path, fake)}
        run = subprocess.Popen([sys.executable, "-m", "pipeline", "batch", "--concurrency", "2"], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not fake.requests and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.requests, "the run never sent a request"
        run.send_signal(signal.SIGINT)
        time.sleep(0.5)
        run.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = run.communicate(timeout=30)
        assert time.monotonic() - started < 15, "the process waited for the abandoned requests"
    assert run.returncode == 130, err[-2000:]
    assert "abandoned while running" in out


# --------------------------------------------------------------------------- kill -9 and resume


def _drafts(folder: Path) -> set[str]:
    return {p.stem for p in (folder / "summaries").glob("*.yaml")}


def test_kill_9_midway_then_rerun_finishes_without_re_asking(tmp_path: Path) -> None:
    n = 20
    papers = make_backlog(tmp_path, n)
    command = [sys.executable, "-m", "pipeline", "batch", "--concurrency", "4"]
    with FakeServer(latency=0.25) as fake:
        env = {**os.environ, **env_for(tmp_path, fake)}
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(_drafts(tmp_path)) < 6 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        before_kill = _drafts(tmp_path)
        asked_before = len(fake.requests)
        assert 6 <= len(before_kill) < n, "the first run should be killed midway"

        second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr[-2000:]
        counts = {i: fake.count_for(title(i) + "\n") or fake.count_for(title(i)) for i in range(n)}

    assert set(statuses(papers).values()) == {"drafted"}
    records = list(store.iter_records(tmp_path / "summaries"))  # raises on any invalid file
    assert len(records) == n
    load_papers(papers)
    assert all(count >= 1 for count in counts.values()), counts
    keys = {i: f"paper{i:03d}" for i in range(n)}
    for i, count in counts.items():
        if any(stem.startswith(keys[i]) for stem in before_kill):
            assert count == 1, f"paper {i} was drafted before the kill but asked {count} times"
    # Only papers in flight at the kill may be asked twice.
    assert sum(counts.values()) <= n + 4
    assert len(fake.requests) - asked_before <= n - len(before_kill) + 4


def test_listed_papers_are_runnable(tmp_path: Path) -> None:
    make_backlog(tmp_path, 1, "  - source: listed.pdf\n    status: listed\n")
    selected = batch.plan(settings_for(tmp_path), batch.BatchOptions(statuses=["listed"]))
    assert [i.source for i in selected.runnable] == ["listed.pdf"]


def test_credentials_in_the_base_url_stay_out_of_papers_yaml_and_the_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12, row 1: user:pass@ of the base URL reached last_error in papers.yaml and the output."""
    papers = make_backlog(tmp_path / "work", 3)
    monkeypatch.setattr("pipeline.model.llm._sleep", lambda seconds: None)
    with FakeServer(fault_for={title(1): ["500*"]}, retry_after="0") as fake:
        for name, value in env_for(tmp_path / "work", fake).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PIPELINE_BASE_URL", fake.base_url.replace("http://", "http://alice:S3cret@"))
        code = cli.main(["-v", "batch", "--concurrency", "2"])
    out, err = capsys.readouterr()
    assert code == 1 and statuses(papers)["paper001.pdf"] == "failed"
    assert "127.0.0.1:" in papers.read_text(encoding="utf-8")  # last_error names the host...
    leaks = [p for p in (tmp_path / "work").rglob("*") if p.is_file() and b"S3cret" in p.read_bytes()]
    assert leaks == [] and "S3cret" not in out + err  # ...and nothing else
