"""Prompt files in ``prompts/``, rendered with jinja2 ``StrictUndefined``.

A missing variable is an error, never an empty string. Each rendered prompt carries the name and
sha256 of its file so every draft records exactly which prompts produced it. No variable can close (or
open) a ``<<<`` … ``>>>`` fence of a template: every value passes `fence_safe` as it is written, so a
paper's text cannot end its own quotation and speak as the prompt.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from pipeline.core.errors import ConfigError

_DELIMITER = re.compile(r"<{3,}|>{3,}")


def fence_safe(value: Any) -> Any:
    """``value`` unable to close (or open) a ``<<<`` … ``>>>`` fence: in a string, any run of three or
    more angle brackets is spaced out ("> > >"); anything else, and text without such a run, is unchanged."""
    if not isinstance(value, str):
        return value
    return _DELIMITER.sub(lambda m: " ".join(m.group(0)), value)


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt and the identity of the file it came from."""

    name: str
    sha256: str
    text: str


@lru_cache(maxsize=8)
def _environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # plain-text prompts, not HTML
        finalize=fence_safe,  # untrusted text (a paper, a model's reply) stays inside its fence
    )


def render(prompts_dir: Path, name: str, **variables: Any) -> Prompt:
    """Render ``prompts_dir/name`` with ``variables``; ConfigError names the file on any problem."""
    path = prompts_dir / name
    try:
        source = path.read_bytes()
        template = _environment(str(prompts_dir)).get_template(name)
        text = template.render(**variables)
    except FileNotFoundError as exc:
        raise ConfigError(f"prompt file {path} is missing",
                          hint="restore it from git or set PIPELINE_PROMPTS_DIR") from exc
    except jinja2.TemplateError as exc:
        raise ConfigError(f"prompt {path} cannot be rendered: {exc}",
                          hint="fix the template; every variable it uses must be passed") from exc
    return Prompt(name=name, sha256=hashlib.sha256(source).hexdigest(), text=text.strip() + "\n")


def file_sha256(prompts_dir: Path, name: str) -> str:
    """sha256 of a prompt file's bytes (its identity in provenance and cache keys)."""
    path = prompts_dir / name
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError as exc:
        raise ConfigError(f"prompt file {path} is missing",
                          hint="restore it from git or set PIPELINE_PROMPTS_DIR") from exc
