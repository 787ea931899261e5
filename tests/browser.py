"""Headless Chromium for the browser tests: Debian's ``chromium`` driven through ``chromium-driver`` by Selenium.

Outside CI a machine without the browser skips these tests with one line saying how to install it; with
``CI=true`` the same absence fails them, so CI can never pass without running them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "chromedriver")
INSTALL = "apt-get install chromium chromium-driver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,900", "--lang=en-US")


def _which(names: tuple[str, ...]) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


def require_browser() -> tuple[str, str]:
    """Paths of chromium and chromedriver; skips (fails with CI=true) when either is missing."""
    browser, driver = _which(CHROMIUM), _which(DRIVER)
    if browser and driver:
        return browser, driver
    missing = " and ".join(n for n, p in (("chromium", browser), ("chromedriver", driver)) if not p)
    message = f"no {missing}: browser tests need Debian's chromium and chromium-driver ({INSTALL})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; CI=true, so they may not be skipped", pytrace=False)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[object]:
    """A fresh headless Chromium (its own profile folder), closed afterwards."""
    browser, driver_path = require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="desk-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={Path(profile)}")
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
        try:
            yield driver
        finally:
            driver.quit()
