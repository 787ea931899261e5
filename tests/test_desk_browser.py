"""The review desk in a real browser: headless Chromium clicks, types and presses keys as a curator would.

The demo draft is made from the shipped report through the loopback fake model server, exactly as the
README's tour makes it; a second, hand-written draft waits in the queue beside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from conftest import ROOT
from handwritten_records import handwritten_record

from pipeline.core.config import Settings, load_settings
from pipeline.desk.app import Desk
from pipeline.desk.server import Bound, running
from pipeline.devtools.devserver import FakeServer
from pipeline.workspace import store
from pipeline.workspace.summarize import summarize

DEMO_PDF = ROOT / "docs" / "report" / "pipeline-report.pdf"
OTHER = "2301.00001"
COMMENT = "# second look: check the framework bullets against section 2"


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def make_settings(tmp_path: Path) -> Settings:
    """Settings for a scratch folder: summaries, papers.yaml and the cache under ``tmp_path``."""
    return load_settings({**os.environ, "PIPELINE_SUMMARIES_DIR": str(tmp_path / "summaries"),
                          "PIPELINE_PAPERS_FILE": str(tmp_path / "papers.yaml"),
                          "PIPELINE_CACHE_DIR": str(tmp_path / "cache"), "PIPELINE_OFFLINE": "1"})


def demo_draft(settings: Settings) -> Path:
    """The demo draft, summarized through the fake server; returns its path."""
    with FakeServer() as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "dev-server"}
        remote = load_settings({**env, "PIPELINE_SUMMARIES_DIR": str(settings.summaries_dir),
                                "PIPELINE_PAPERS_FILE": str(settings.papers_file),
                                "PIPELINE_CACHE_DIR": str(settings.cache_dir), "PIPELINE_OFFLINE": "1"})
        return summarize(str(DEMO_PDF), remote).path


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Bound, Path]]:
    settings = make_settings(tmp_path)
    path = demo_draft(settings)
    store.write_draft(settings.summaries_dir, handwritten_record(OTHER))
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("summary:\n", f"{COMMENT}\nsummary:\n", 1), encoding="utf-8")
    with running(Desk(settings, by="Ada Lovelace")) as bound:
        yield bound, path


def wait(driver: Any, condition: Any, timeout: float = 10) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def press(driver: Any, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def replace_text(driver: Any, element: Any, text: str) -> None:
    """Empty an editable bullet and type ``text`` into it, key by key."""
    element.click()
    driver.execute_script("arguments[0].textContent = '';", element)
    element.send_keys(text)


def in_view(driver: Any, element: Any) -> bool:
    """True when ``element`` is inside the visible part of the paper pane (and of the window)."""
    return bool(driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(), p = document.getElementById('paper').getBoundingClientRect();"
        "return r.top >= p.top && r.bottom <= p.bottom && r.bottom <= window.innerHeight && r.height > 0;", element))


def test_a_curator_checks_edits_and_approves_the_demo_draft(driver: Any, desk: tuple[Bound, Path]) -> None:
    from selenium.webdriver.common.keys import Keys

    bound, path = desk
    key = path.stem
    driver.get(bound.url)
    rows = wait(driver, lambda d: d.find_elements("css selector", "#queue tr.row"))
    assert [r.get_attribute("data-key") for r in rows] == [OTHER, key]  # drafts by key
    press(driver, "j")
    assert "selected" in rows[1].get_attribute("class")
    press(driver, Keys.ENTER)
    wait(driver, lambda d: f"/paper/{key}" in d.current_url)

    # Click a bullet: the sentence its evidence comes from is marked and scrolled into view.
    last = css(driver, '.pair[data-bullet="framework-2"]')
    cited = last.get_attribute("data-cites").split()
    assert cited, "the demo's last bullet cites no sentence"
    sentence = css(driver, f"#s{cited[0]}")
    assert not in_view(driver, sentence), "the evidence should start out of view for this test to mean anything"
    last.find_element("css selector", ".bullet[data-lang=en] .evidence").click()
    wait(driver, lambda d: "mark" in sentence.get_attribute("class") and in_view(d, sentence))
    evidence = store.load_record(path).summary.en.framework[1].evidence  # type: ignore[union-attr]
    assert evidence.rstrip(".") in sentence.text

    # English typed into a Chinese bullet: an inline error, and the file is not touched.
    before = path.read_bytes()
    zh = css(driver, '.bullet[data-lang=zh][data-group=problems][data-index="0"]')
    replace_text(driver, zh.find_element("css selector", ".text"), "Bibliographic fields come from metadata only.")
    zh.find_element("css selector", ".save").click()
    error = zh.find_element("css selector", ".error")
    wait(driver, lambda d: error.text)
    assert "Chinese" in error.text and "summary.zh.problems" in error.text
    assert path.read_bytes() == before

    # Fixed and saved: the file changes, the curator's comment stays, and `review diff` shows the edit.
    fixed = "本文指出书目信息只能来自元数据，而不能由语言模型生成。"
    replace_text(driver, zh.find_element("css selector", ".text"), fixed)
    zh.find_element("css selector", ".save").click()
    wait(driver, lambda d: "saved" in zh.get_attribute("class"))
    text = path.read_text(encoding="utf-8")
    assert fixed in text and COMMENT in text
    assert store.load_record(path).summary.zh.problems[0] == fixed  # type: ignore[union-attr]
    assert fixed in css(driver, "#preview").text
    from pipeline.workspace import review

    assert any(line.startswith("+") and fixed in line for line in review.diff(path.parent, key).splitlines())

    # `a` approves (leaving the bullet first), with a review event, and the next draft opens.
    press(driver, Keys.ESCAPE)
    press(driver, "a")
    wait(driver, lambda d: f"/paper/{OTHER}" in d.current_url)
    record = store.load_record(path)
    assert record.status == "approved"
    assert [(e.action, e.by) for e in record.review] == [("approve", "Ada Lovelace")]
    assert COMMENT in path.read_text(encoding="utf-8")


def test_an_edit_saved_in_an_editor_while_the_page_is_open_is_never_lost(driver: Any,
                                                                         desk: tuple[Bound, Path]) -> None:
    bound, demo = desk
    path = demo.parent / f"{OTHER}.yaml"
    driver.get(bound.base + bound.desk.url(f"/paper/{OTHER}"))
    wait(driver, lambda d: d.find_elements("css selector", ".pair"))
    editor = path.read_text(encoding="utf-8").replace("slow and costly", "slow and expensive") + "# saved in vim\n"
    path.write_text(editor, encoding="utf-8")

    en = css(driver, '.bullet[data-lang=en][data-group=problems][data-index="0"]')
    replace_text(driver, en.find_element("css selector", ".text"),
                 "Labelled medical scans are scarce since expert annotation takes a long time.")
    en.find_element("css selector", ".save").click()
    banner = css(driver, "#changed")
    wait(driver, lambda d: banner.is_displayed())
    assert "changed on disk" in banner.text
    assert path.read_text(encoding="utf-8") == editor

    css(driver, "body").click()
    press(driver, "a")
    wait(driver, lambda d: banner.is_displayed())
    assert path.read_text(encoding="utf-8") == editor and store.load_record(path).status == "draft"

    css(driver, "#reload").click()
    wait(driver, lambda d: "slow and expensive" in css(d, '.bullet[data-lang=en][data-group=problems] .text').text)
    assert not css(driver, "#changed").is_displayed()


def test_review_serve_open_is_all_a_curator_needs_to_approve_the_demo_draft(driver: Any, tmp_path: Path) -> None:
    """``review serve --open`` in a folder holding the demo draft: the page it opens approves it."""
    import subprocess
    import sys

    from selenium.webdriver.common.keys import Keys

    settings = make_settings(tmp_path)
    path = demo_draft(settings)
    opened = tmp_path / "opened-url"
    browser = tmp_path / "browser"  # stands in for the desktop's browser: `webbrowser` runs $BROWSER
    browser.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n", encoding="utf-8")
    browser.chmod(0o755)
    env = {**os.environ, "BROWSER": str(browser), "PIPELINE_CACHE_DIR": str(settings.cache_dir),
           "PIPELINE_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, "-m", "pipeline", "review", "serve", "--port", "0", "--open"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        printed = server.stdout.readline().strip()
        wait(driver, lambda d: opened.is_file() and opened.read_text(encoding="utf-8").strip(), timeout=20)
        url = opened.read_text(encoding="utf-8").strip()
        assert url == printed and url.startswith("http://127.0.0.1:") and "token=" in url
        driver.get(url)
        wait(driver, lambda d: d.find_elements("css selector", "#queue tr.row"))
        press(driver, Keys.ENTER)
        wait(driver, lambda d: f"/paper/{path.stem}" in d.current_url)
        press(driver, "a")
        wait(driver, lambda d: "/paper/" not in d.current_url)  # no draft left: back to the queue
        assert "approved" in css(driver, "#queue").text
    finally:
        server.terminate()
        server.wait(10)
    record = store.load_record(path)
    assert record.status == "approved" and record.review[-1].action == "approve" and record.review[-1].by


def test_reject_and_needs_changes_ask_why_and_an_invalid_draft_is_not_approved(driver: Any,
                                                                             desk: tuple[Bound, Path]) -> None:
    from selenium.webdriver.common.keys import Keys

    bound, demo = desk
    path = demo.parent / f"{OTHER}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("first_author: Ada Lovelace", "first_author: Bob"),
                    encoding="utf-8")
    driver.get(bound.base + bound.desk.url(f"/paper/{OTHER}"))
    wait(driver, lambda d: d.find_elements("css selector", ".pair"))
    assert "first_author" in css(driver, "#problems").text  # shown before anyone decides
    press(driver, "a")
    refusal = css(driver, "#decision-error")
    wait(driver, lambda d: refusal.is_displayed())
    assert "cannot approve" in refusal.text and "first_author" in refusal.text
    assert store.load_record(path).status == "draft"

    press(driver, "n")
    note = css(driver, "#decision-note")
    wait(driver, lambda d: note.is_displayed())
    note.send_keys("fix the first author", Keys.ENTER)
    wait(driver, lambda d: f"/paper/{demo.stem}" in d.current_url)  # the next draft
    record = store.load_record(path)
    assert record.status == "needs-changes"
    assert [(e.action, e.by, e.note) for e in record.review] == [
        ("needs-changes", "Ada Lovelace", "fix the first author")]

    wait(driver, lambda d: d.find_elements("css selector", ".pair"))
    press(driver, "r")
    wait(driver, lambda d: css(d, "#decision-note").is_displayed())
    css(driver, "#decision-note").send_keys("off topic", Keys.ENTER)
    wait(driver, lambda d: f"/paper/{OTHER}" in d.current_url)  # needs-changes is still to do
    assert store.load_record(demo).status == "rejected" and store.load_record(demo).review[-1].note == "off topic"
