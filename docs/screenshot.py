"""Make the README's screenshot of the review desk: the demo draft's paper page, one bullet clicked.

    python docs/screenshot.py [--out docs/desk.png]

The demo draft is the embedded model's real draft of docs/report/pipeline-report.pdf, replayed from its
recording (tests/cassettes/pipeline-report-4deec728.json) in a scratch folder (nothing is written into
the checkout but the PNG), then served by the desk and photographed by headless Chromium, as the browser
tests do (needs chromium and chromium-driver).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the browser and demo-draft helpers live with the tests

import httpx2  # noqa: E402
from browser import chromium  # noqa: E402
from cassette import ReplayTransport  # noqa: E402
from test_desk_browser import DEMO_PDF, make_settings  # noqa: E402

from pipeline.core.config import Settings  # noqa: E402
from pipeline.desk.app import Desk  # noqa: E402
from pipeline.desk.server import running  # noqa: E402
from pipeline.model.embedded import embedded_backend  # noqa: E402
from pipeline.model.llm import LLM  # noqa: E402
from pipeline.workspace.summarize import summarize  # noqa: E402

CASSETTE = ROOT / "tests" / "cassettes" / "pipeline-report-4deec728.json"


def real_draft(settings: Settings) -> Path:
    """The embedded model's draft of the demo report, replayed from its recording."""
    client = httpx2.Client(transport=ReplayTransport(CASSETTE), base_url="http://embedded.local/v1")
    connection, profile = embedded_backend(settings, client)
    return summarize(str(DEMO_PDF), settings, llm=LLM(connection, settings.llm, profile)).path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "desk.png")
    parser.add_argument("--bullet", default="problems-1", help="the bullet to click (default problems-1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="desk-shot-") as tmp:
        settings = make_settings(Path(tmp))
        key = real_draft(settings).stem
        with running(Desk(settings, by="curator")) as bound, chromium() as driver:
            driver.set_window_size(1400, 860)
            driver.get(bound.base + bound.desk.url(f"/paper/{key}"))
            pair = driver.find_element("css selector", f'.pair[data-bullet="{args.bullet}"]')
            pair.find_element("css selector", ".evidence").click()
            time.sleep(0.3)
            png = driver.get_screenshot_as_png()
    args.out.write_bytes(png)
    _shrink(args.out)
    print(f"{args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


def _shrink(path: Path) -> None:
    """A palette PNG: a page of text needs far fewer than 256 colours."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


if __name__ == "__main__":
    raise SystemExit(main())
