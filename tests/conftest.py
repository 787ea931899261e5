"""Shared test fixtures. Tests never touch the network: any connection beyond loopback fails."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TESTDATA = SHARED / "testdata"
PDFS = TESTDATA / "pdfs"
ARXIV_API = TESTDATA / "arxiv_api"
EXAMPLE_LIST = SHARED / "examples" / "awesome-list-example.md"
LISTS = SHARED / "lists"
_SHARED_PATHS = (SHARED, TESTDATA, PDFS, ARXIV_API, EXAMPLE_LIST, LISTS)
SHARED_MISSING = (f"needs the real test data in {SHARED} (the shared/ folder beside the checkout, "
                  "as CI lays it), which is missing")


def _needs_shared(item: pytest.Item) -> bool:
    """A test needs ../shared when its module holds one of the shared paths or it asks for shared_pdfs."""
    module = getattr(item, "module", None)
    held = vars(module).values() if module is not None else ()
    return any(value is path for value in held for path in _SHARED_PATHS) or \
        "shared_pdfs" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ../shared, every test that reads it is skipped with one reason instead of failing."""
    if PDFS.is_dir() and ARXIV_API.is_dir() and EXAMPLE_LIST.is_file():
        return
    skip = pytest.mark.skip(reason=SHARED_MISSING)
    for item in items:
        if _needs_shared(item):
            item.add_marker(skip)

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    if (isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1"))) or \
            self.family == socket.AF_UNIX:
        return _real_connect(self, address)
    raise RuntimeError(f"test tried to reach the network: {address!r}")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real credentials or user cache leak into a test."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PIPELINE_API_KEY", "PIPELINE_BASE_URL",
                 "PIPELINE_MODEL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIPELINE_ARXIV_DELAY", "0")
    monkeypatch.setenv("PIPELINE_OFFLINE", "1")
    # The tests' PDF servers are on loopback; tests of the refusal unset it.
    monkeypatch.setenv("PIPELINE_ALLOW_PRIVATE_URLS", "1")


@pytest.fixture
def shared_pdfs() -> list[Path]:
    """The real third-party PDFs in ../shared/testdata/pdfs."""
    pdfs = sorted(PDFS.glob("*.pdf"))
    assert pdfs, f"no PDFs in {PDFS}; CI needs ../shared beside the checkout"
    return pdfs
