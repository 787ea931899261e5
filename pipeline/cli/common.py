"""What the command modules share: printing to stderr, the LLM flags and the live status of a run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from pipeline.core.config import Settings
from pipeline.workspace.progress import Progress

Handler = Callable[[argparse.Namespace, Settings], int]


def err(text: str) -> None:
    """Print one line to stderr (progress, notes, warnings: never data)."""
    print(text, file=sys.stderr)


def apply_llm_flags(args: argparse.Namespace, settings: Settings) -> None:
    """Command-line flags override the environment."""
    if getattr(args, "model", None):
        settings.llm.model, settings.llm.model_set = args.model, True
    if getattr(args, "base_url", None):
        settings.llm.base_url = args.base_url
        settings.llm.explicit = True
    if getattr(args, "output_mode", None):
        settings.llm.output_mode = args.output_mode
    if getattr(args, "translate", None) is not None:
        settings.llm.translate = args.translate
    if getattr(args, "budget", None):
        settings.pdf.budget_tokens = args.budget
        settings.local.budget_tokens = args.budget


class LiveStatus:
    """What a summary run is doing, on stderr: a live status line on a terminal (rich), else one plain
    line whenever the stage or the request changes. Nothing goes to stdout."""

    def __init__(self, live: bool | None = None) -> None:
        self.live = sys.stderr.isatty() if live is None else live
        self._status: Any = None
        self._last: tuple[str, str, int] | None = None

    def __enter__(self) -> LiveStatus:
        if self.live:
            from rich.console import Console

            self._status = Console(stderr=True).status("starting", spinner="dots")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def __call__(self, progress: Progress) -> None:
        if self._status is not None:
            self._status.update(progress.line())
            return
        step = (progress.stage, progress.detail, progress.step)
        if step != self._last:
            self._last = step
            err(progress.line())
