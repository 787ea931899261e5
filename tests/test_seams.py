"""The architecture's seams hold: stages import only earlier stages, one openai importer, one pypdf
importer, core does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "pipeline"

# The flow, in order: a module may import its own stage and the stages before it, never a later one.
STAGES = ["core", "storage", "sources", "text", "model", "workspace", "listing", "desk", "devtools", "cli"]


def _imports(path: Path) -> set[str]:
    """Top-level names of third-party imports, and full dotted names of pipeline imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.name if alias.name.startswith("pipeline") else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "pipeline":
                names.update(f"pipeline.{alias.name}" for alias in node.names)
            elif node.module.startswith("pipeline."):
                names.add(node.module)
            else:
                names.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.add("<relative>")
    return names


def _stage(parts: list[str]) -> str | None:
    return parts[0] if len(parts) > 1 and parts[0] in STAGES else None


def layer_violations(package: Path) -> list[str]:
    """Every import in ``package`` that runs back up the flow, as ``file: imports name``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        own = _stage(rel.split("/"))
        for name in sorted(_imports(path)):
            if name == "<relative>":
                found.append(f"{rel}: uses a relative import")
                continue
            if not name.startswith("pipeline."):
                continue
            target = _stage([*name.split(".")[1:], ""])
            if target is None:
                if name != "pipeline.__version__":
                    found.append(f"{rel}: imports {name}, which belongs to no stage")
                continue
            if rel == "__main__.py" and target == "cli":
                continue
            if own is None or STAGES.index(target) > STAGES.index(own):
                found.append(f"{rel}: imports {name} (stage {target} comes after {own or 'the package root'})")
    return found


def _importers(module: str) -> list[str]:
    return sorted(p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if module in _imports(p))


def test_every_module_sits_in_a_stage() -> None:
    loose = [p.name for p in PKG.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert loose == [], "modules belong in a stage package"
    assert sorted(p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted(STAGES)


def test_no_stage_imports_a_later_one() -> None:
    assert layer_violations(PKG) == []


def test_the_layer_check_catches_an_upward_import(tmp_path: Path) -> None:
    for stage in ("core", "text", "cli"):
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "__init__.py").write_text("")
    (tmp_path / "core" / "types.py").write_text("from pipeline.text import clean\n")
    (tmp_path / "text" / "clean.py").write_text("from pipeline.core import types\nfrom pipeline import cli\n")
    (tmp_path / "text" / "rel.py").write_text("from . import clean\n")
    assert layer_violations(tmp_path) == [
        "core/types.py: imports pipeline.text (stage text comes after core)",
        "text/clean.py: imports pipeline.cli (stage cli comes after text)",
        "text/rel.py: uses a relative import",
    ]


def test_every_error_class_is_defined_in_the_error_module() -> None:
    tree = ast.parse((PKG / "core" / "errors.py").read_text(encoding="utf-8"))
    errors = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {"PipelineError", "ModelOutputError"} <= errors
    elsewhere = []
    for path in sorted(PKG.rglob("*.py")):
        if path == PKG / "core" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in getattr(node, "bases", [])}
            if isinstance(node, ast.ClassDef) and (bases & errors or node.name.endswith("Error")):
                elsewhere.append(f"{path.relative_to(PKG).as_posix()}: {node.name}")
    assert elsewhere == [], "error classes belong in pipeline/core/errors.py"


def test_only_llm_imports_openai() -> None:
    # model/batchapi.py moves the Batch API's files and jobs through a client model/llm.py makes.
    assert _importers("openai") == ["model/llm.py"]


def test_only_pdf_imports_pypdf() -> None:
    assert _importers("pypdf") == ["text/pdf.py"]


@pytest.mark.parametrize("name", ["core/errors.py", "core/config.py", "core/models.py",
                                  "model/summary.py", "model/grounding.py"])
def test_core_types_do_no_io(name: str) -> None:
    banned = {"os", "io", "socket", "httpx", "httpx2", "openai", "pypdf", "subprocess", "shutil", "urllib",
              "tempfile", "pipeline.storage.files", "pipeline.storage.cache"}
    found = _imports(PKG / name) & banned
    assert not found, f"{name} imports {found}"
    source = (PKG / name).read_text(encoding="utf-8")
    assert "open(" not in source.replace("Field(", ""), f"{name} opens files"


def test_the_io_ban_knows_the_http_client_actually_used() -> None:
    assert "httpx2" in _imports(PKG / "sources" / "http.py")
