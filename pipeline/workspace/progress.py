"""What a summary run is doing right now, for a live status line (`summarize(progress=...)`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Progress:
    """One step of a summary run: the stage, the request in flight, tokens so far and elapsed time."""

    key: str
    stage: str  # metadata, pdf, text, ask, translate, restate, write, done
    detail: str = ""
    step: int = 0  # request k of n (0 when not asking)
    steps: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    tokens_per_second: float | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    def line(self) -> str:
        """One plain line: ``key: stage detail (k/n) · tokens · tok/s · elapsed``."""
        parts = [f"{self.key}: {self.stage}" + (f" {self.detail}" if self.detail else "")
                 + (f" ({self.step}/{self.steps})" if self.steps else "")]
        if self.prompt_tokens or self.output_tokens:
            parts.append(f"{self.prompt_tokens} in / {self.output_tokens} out tokens")
        if self.tokens_per_second:
            parts.append(f"{self.tokens_per_second:.1f} tok/s")
        parts.append(f"{self.elapsed:.0f} s")
        return " · ".join(parts)


ProgressHook = Callable[[Progress], None]


def silent(progress: Progress) -> None:
    """The default hook: report nothing."""
