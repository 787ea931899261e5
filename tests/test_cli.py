"""The command line as a shell user meets it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_a_reader_that_goes_away_gives_no_traceback(tmp_path: Path) -> None:
    """`pipeline ... | head -1` closes the pipe early: exit quietly, as other Unix tools do."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    report = ROOT / "docs" / "report" / "pipeline-report.pdf"
    env = {**os.environ, "PIPELINE_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pipeline", "extract", str(report)], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=60, env=env)
    os.close(write_end)
    assert "Traceback" not in done.stderr, done.stderr
    assert "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141
