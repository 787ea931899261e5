"""The architecture's seams hold: one openai importer, one pypdf importer, core does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "pipeline"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0] if not node.module.startswith("pipeline") else node.module)
    return names


def _importers(module: str) -> list[str]:
    return sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if module in _imports(p))


def test_only_llm_imports_openai() -> None:
    assert _importers("openai") == ["llm.py"]


def test_only_pdf_imports_pypdf() -> None:
    assert _importers("pypdf") == ["pdf.py"]


def test_core_modules_do_no_io() -> None:
    core = ["errors.py", "config.py", "models.py", "summary.py", "grounding.py"]
    banned = {"os", "io", "socket", "httpx", "openai", "pypdf", "subprocess", "shutil", "urllib"}
    for name in core:
        found = _imports(PKG / name) & banned
        assert not found, f"{name} imports {found}"
        source = (PKG / name).read_text(encoding="utf-8")
        assert "open(" not in source.replace("Field(", ""), f"{name} opens files"
