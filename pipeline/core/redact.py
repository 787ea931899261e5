"""Credentials out of every message: one scrub for URLs and exception texts. Core module: no I/O.

A base URL may carry ``user:password@`` or a key in its query string (``?key=…``, ``api_key=…``); an
exception text may quote that URL. Whatever is turned into a message, a log line or a record on disk
passes through `scrub` first, and an endpoint is recorded only as ``host[:port]`` (`endpoint_host`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]*@")
_SECRET_PARAM = re.compile(
    r"(?i)((?:[?&;](?:key|token|secret|password|passwd|pwd|auth|sig|signature|code)"
    r"|\b(?:api[_-]?key|access[_-]?token|client[_-]?secret))=)[^&#\s\"'<>]*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")
HIDDEN = "***"


def scrub(text: str) -> str:
    """``text`` with URL credentials, secret query parameters and bearer tokens replaced by ``***``."""
    if not text:
        return text
    text = _USERINFO.sub(rf"\1{HIDDEN}@", text)
    text = _SECRET_PARAM.sub(rf"\1{HIDDEN}", text)
    text = _BEARER.sub(rf"\1{HIDDEN}", text)
    return _OPENAI_KEY.sub(HIDDEN, text)


def endpoint_host(url: str | None, default: str = "api.openai.com") -> str:
    """``host[:port]`` of ``url``: never its credentials, path or query (IPv6 hosts keep brackets)."""
    if not url:
        return default
    try:
        parts = urlsplit(url if "//" in url else f"//{url}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(invalid URL)"
    if not host:
        return "(invalid URL)"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def is_loopback(url: str | None) -> bool:
    """True when ``url`` names this machine (127.0.0.0/8, ::1, localhost)."""
    if not url:
        return False
    try:
        host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower()
    except ValueError:
        return False
    return host == "localhost" or host.endswith(".localhost") or host.startswith("127.") or host == "::1"
