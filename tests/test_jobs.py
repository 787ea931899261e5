"""Provider batch jobs (`batch submit|status|collect`) against the fake Files and Batches endpoints,
through the real ``openai`` client: every reply is validated and repaired as live, nothing is dropped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from test_batch import ROOT, env_for, make_backlog, settings_for, statuses, title

from pipeline import cli
from pipeline.core.config import Settings
from pipeline.devtools.devserver import FakeServer
from pipeline.workspace import batch, jobs, jobstate, store
from pipeline.workspace.papers import load_papers


def summaries(settings: Settings) -> dict[str, dict[str, object]]:
    return {r.key: r.summary.model_dump(mode="json") for _, r in store.iter_records(settings.summaries_dir)}


def test_all_succeed_in_one_job_with_the_drafts_a_live_run_writes(tmp_path: Path) -> None:
    papers = make_backlog(tmp_path / "jobs", 4)
    make_backlog(tmp_path / "live", 4)
    with FakeServer() as server:
        settings = settings_for(tmp_path / "jobs", server)
        submitted = jobs.submit(settings, batch.BatchOptions())
        assert submitted.count("submitted") == 4 and submitted.requests == 4 and server.requests == []
        assert set(statuses(papers).values()) == {"submitted"}
        shown = jobs.status(settings)
        assert [o.state for o in shown.outcomes] == ["waiting"] * 4 and len(shown.jobs) == 1
        report = jobs.collect(settings)
        assert report.count("drafted") == 4 and report.exit_code == 0 and report.requests == 0
        assert len(server.requests) == 4 and server.batches.created == 1
        live = settings_for(tmp_path / "live", server)
        live_run = batch.run(live, batch.BatchOptions())
        assert live_run.totals.done == 4
        assert report.cost_usd > 0 and report.cost_usd == pytest.approx(live_run.totals.cost_usd / 2, abs=1e-5)
    assert set(statuses(papers).values()) == {"drafted"}
    assert summaries(settings) == summaries(live)  # the same validation, the same drafts
    _, record = next(store.iter_records(settings.summaries_dir))
    assert record.provenance.usage.requests == 1 and record.provenance.output_mode == "json_schema"
    assert jobstate.load(settings).papers == {}
    again = jobs.submit(settings, batch.BatchOptions())
    assert again.requests == 0 and {o.reason for o in again.outcomes} == {"already drafted"}


def test_invalid_replies_are_repaired_in_follow_up_jobs_as_a_live_run_repairs_them(tmp_path: Path) -> None:
    papers = make_backlog(tmp_path / "jobs", 4)
    make_backlog(tmp_path / "live", 4)
    faults = {title(1): ["bad-evidence"], title(2): ["malformed"]}
    with FakeServer(fault_for=faults) as server:
        settings = settings_for(tmp_path / "jobs", server)
        jobs.submit(settings, batch.BatchOptions())
        first = jobs.collect(settings)
        assert first.count("drafted") == 2 and first.count("submitted") == 2 and first.requests == 2
        repairs = {o.reason.split(" in ")[0] for o in first.outcomes if o.state == "submitted"}
        assert {r.split("|", 1)[1] for r in repairs} == {"all|2"}  # key|pass|attempt
        assert set(statuses(papers).values()) == {"drafted", "submitted"}
        rounds = 1
        while jobstate.load(settings).papers:
            jobs.collect(settings)
            rounds += 1
            assert rounds < 6
        sent = server.requests
    with FakeServer(fault_for=faults) as live_server:
        live = settings_for(tmp_path / "live", live_server)
        assert batch.run(live, batch.BatchOptions(concurrency=1)).totals.done == 4
        # papers x passes + the genuine repairs: the very requests a live run sends
        assert sorted(json.dumps(b["messages"]) for b in sent) == \
            sorted(json.dumps(b["messages"]) for b in live_server.requests)
    assert set(statuses(papers).values()) == {"drafted"}
    assert summaries(settings) == summaries(live)
    assert {r.provenance.repairs for _, r in store.iter_records(settings.summaries_dir)} >= {0, 1}


def test_translate_mode_sends_the_chinese_pass_as_the_next_round(tmp_path: Path) -> None:
    make_backlog(tmp_path, 3)
    with FakeServer() as server:
        base = settings_for(tmp_path, server)
        settings = base.model_copy(update={"llm": base.llm.model_copy(update={"translate": True})})
        jobs.submit(settings, batch.BatchOptions())
        assert jobs.collect(settings).count("submitted") == 3
        assert jobs.collect(settings).count("drafted") == 3
        assert len(server.requests) == 6 and server.batches.created == 2
    assert all(r.summary.zh and r.summary.zh.problems for _, r in store.iter_records(settings.summaries_dir))


def test_expired_and_failed_items_go_back_to_the_backlog_with_their_cause(tmp_path: Path) -> None:
    papers = make_backlog(tmp_path, 4)
    with FakeServer(fault_for={title(3): ["500"]}, batch_expire=[title(2)]) as server:
        settings = settings_for(tmp_path, server)
        jobs.submit(settings, batch.BatchOptions())
        report = jobs.collect(settings)
        assert report.jobs[0].status == "expired"
    assert report.exit_code == 1 and len(report.outcomes) == 4
    back = {o.source: o.reason for o in report.outcomes if o.state == "backlog"}
    assert back.keys() == {"paper002.pdf", "paper003.pdf"}
    assert back["paper002.pdf"].startswith("batch_expired") and back["paper003.pdf"].startswith("HTTP 500")
    entries = {e.source: e for e in load_papers(papers).data.papers}
    assert entries["paper002.pdf"].status == "backlog" and "batch_expired" in (entries["paper002.pdf"].last_error or "")
    assert statuses(papers)["paper000.pdf"] == "drafted"
    assert jobstate.load(settings).papers == {}


def test_a_cancelled_job_sends_its_papers_back(tmp_path: Path) -> None:
    papers = make_backlog(tmp_path, 2)
    with FakeServer(batch_polls=5) as server:
        settings = settings_for(tmp_path, server)
        job = jobs.submit(settings, batch.BatchOptions()).jobs[0]
        assert job.id is not None
        assert jobs.collect(settings).count("waiting") == 2  # still running: nothing settled
        server.batches.cancel(job.id)
        report = jobs.collect(settings)
    assert {o.reason for o in report.outcomes} == {"the job was cancelled"} and report.count("backlog") == 2
    assert set(statuses(papers).values()) == {"backlog"}


def test_budget_at_submit_uses_batch_prices(tmp_path: Path) -> None:
    make_backlog(tmp_path, 4)
    with FakeServer(model="gpt-4o-mini") as server:
        settings = settings_for(tmp_path, server).model_copy()
        settings.llm.model = "gpt-4o-mini"
        planned = batch.dry_run(settings, batch.BatchOptions())
        each = planned.runnable[0]
        assert each.estimate_batch_cost_usd == pytest.approx((each.estimate_cost_usd or 0) / 2, abs=1e-6)
        report = jobs.submit(settings, batch.BatchOptions(budget_usd=2.5 * (each.estimate_batch_cost_usd or 0)))
    assert report.count("submitted") == 2 and report.count("skipped") == 2
    assert all(o.reason.startswith("budget: its batch estimate") for o in report.outcomes if o.state == "skipped")


def test_export_then_collect_from_a_results_file(tmp_path: Path) -> None:
    papers = make_backlog(tmp_path, 3)
    exported = tmp_path / "requests.jsonl"
    with FakeServer(fault_for={title(0): ["bad-evidence"]}) as server:
        settings = settings_for(tmp_path, server)
        jobs.submit(settings, batch.BatchOptions(), export=exported)
        assert server.batches.created == 0 and server.requests == []
        lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
        assert {tuple(line) for line in lines} == {("custom_id", "method", "url", "body")}
        assert {line["url"] for line in lines} == {"/v1/chat/completions"}

        def run_batch(requests: Path, results: Path) -> None:  # what vLLM's run_batch does with the file
            out = []
            for line in requests.read_text(encoding="utf-8").splitlines():
                item = json.loads(line)
                reply = httpx2.post(server.base_url + "/chat/completions", json=item["body"], timeout=30)
                out.append({"id": "r", "custom_id": item["custom_id"], "error": None,
                            "response": {"status_code": reply.status_code, "body": reply.json()}})
            results.write_text("".join(json.dumps(o) + "\n" for o in out), encoding="utf-8")

        run_batch(exported, tmp_path / "results.jsonl")
        first = jobs.collect(settings, results=tmp_path / "results.jsonl")
        assert first.count("drafted") == 2 and first.count("submitted") == 1
        follow_up = Path(first.jobs[-1].file)
        assert follow_up == tmp_path / "results.round2.jsonl" and follow_up.exists()
        run_batch(follow_up, tmp_path / "results2.jsonl")
        second = jobs.collect(settings, results=tmp_path / "results2.jsonl")
        assert second.count("drafted") == 1
        assert server.batches.created == 0 and len(server.requests) == 4
    assert set(statuses(papers).values()) == {"drafted"}


def test_a_submit_killed_after_creating_the_job_is_collected_without_resubmitting(tmp_path: Path) -> None:
    papers = make_backlog(tmp_path, 3)
    with FakeServer(batch_create_delay=60) as server:
        env = {**os.environ, **env_for(tmp_path, server)}
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", "batch", "submit"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while server.batches.created == 0 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.batches.created == 1, "the submit never created its job"
        finally:
            os.kill(proc.pid, signal.SIGKILL)  # while the create call waits for its answer
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        settings = settings_for(tmp_path, server)
        state = jobstate.load(settings)
        assert len(state.jobs) == 1 and state.jobs[0].id is None and len(state.papers) == 3
        report = jobs.collect(settings)
        assert report.count("drafted") == 3, report.to_dict()
        assert server.batches.created == 1 and len(server.requests) == 3  # found by its token, not sent again
    assert set(statuses(papers).values()) == {"drafted"}


def test_cli_dry_run_prints_live_and_batch_cost_and_the_workflow_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    make_backlog(tmp_path, 2)
    with FakeServer() as server:
        for name, value in env_for(tmp_path, server).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PIPELINE_MODEL", "gpt-4o-mini")
        assert cli.main(["batch", "submit", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "live $" in out and "batch $" in out and "total: 2 papers" in out
        assert cli.main(["batch", "submit"]) == 0
        assert "2 submitted" in capsys.readouterr().out
        assert cli.main(["batch", "status"]) == 0
        assert "waiting" in capsys.readouterr().out
        assert cli.main(["batch", "collect", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["totals"]["drafted"] == 2 and data["totals"]["cost_usd"] > 0
        assert cli.main(["batch", "status"]) == 0
        assert capsys.readouterr().out.strip() == "no batch job is waiting: `batch submit` sends the backlog as one"


def test_a_job_the_provider_failed_sends_its_papers_back(tmp_path: Path) -> None:
    papers = make_backlog(tmp_path, 2)
    with FakeServer() as server:
        settings = settings_for(tmp_path, server)
        job = jobs.submit(settings, batch.BatchOptions()).jobs[0]
        assert job.id is not None
        input_id = server.batches.jobs[job.id]["input_file_id"]
        meta, _ = server.batches.files[input_id]
        server.batches.files[input_id] = (meta, b"this is not a request\n")  # as if the upload were mangled
        report = jobs.collect(settings)
    assert report.jobs[0].status == "failed" and report.count("backlog") == 2
    assert all(o.reason.startswith("the job failed: line 1") for o in report.outcomes)
    assert set(statuses(papers).values()) == {"backlog"} and server.requests == []


def test_a_paper_whose_prompts_changed_since_submit_goes_back(tmp_path: Path) -> None:
    papers = make_backlog(tmp_path, 2)
    with FakeServer() as server:
        settings = settings_for(tmp_path, server)
        jobs.submit(settings, batch.BatchOptions())
        text = papers.read_text(encoding="utf-8")  # a new section: the model may now choose another setting
        papers.write_text(text.replace("papers:\n", "    - {id: few-shot, name_zh: 小样本, name_en: Few-shot}\n"
                                       "papers:\n", 1), encoding="utf-8")
        report = jobs.collect(settings)
    assert report.count("backlog") == 2 and all("changed since" in o.reason for o in report.outcomes)
    assert set(statuses(papers).values()) == {"backlog"}


def test_a_small_model_s_many_passes_and_bullet_translations_match_a_live_run(tmp_path: Path) -> None:
    make_backlog(tmp_path / "jobs", 2)
    make_backlog(tmp_path / "live", 2)
    faults = {title(0): ["bad-evidence"]}
    with FakeServer(fault_for=faults) as server:
        settings = load_small(tmp_path / "jobs", server)
        jobs.submit(settings, batch.BatchOptions())
        rounds, ended = 0, []
        while jobstate.load(settings).papers:
            ended += [o for o in jobs.collect(settings).outcomes if o.state in ("drafted", "failed")]
            rounds += 1
            assert rounds < 30
        sent = server.requests
    with FakeServer(fault_for=faults) as live_server:
        live = load_small(tmp_path / "live", live_server)
        live_run = batch.run(live, batch.BatchOptions(concurrency=1))
        assert sorted(json.dumps(b["messages"]) for b in sent) == \
            sorted(json.dumps(b["messages"]) for b in live_server.requests)
    assert rounds >= 9  # three passes, then six bullets to translate, one request after the other
    assert {o.state for o in live_run.outcomes} == {"done"} and {o.state for o in ended} == {"drafted"}
    drafts = sorted(p.name for p in settings.summaries_dir.glob("*.yaml"))
    assert drafts == sorted(p.name for p in live.summaries_dir.glob("*.yaml")) and len(drafts) == 2


def load_small(folder: Path, server: FakeServer) -> Settings:
    from pipeline.core.config import load_settings

    return load_settings({**env_for(folder, server), "PIPELINE_PROFILE": "small"})
