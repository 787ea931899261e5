"""What the command modules share: printing to stderr and the LLM flags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pipeline.core.config import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def err(text: str) -> None:
    """Print one line to stderr (progress, notes, warnings: never data)."""
    print(text, file=sys.stderr)


def apply_llm_flags(args: argparse.Namespace, settings: Settings) -> None:
    """Command-line flags override the environment."""
    if getattr(args, "model", None):
        settings.llm.model = args.model
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
