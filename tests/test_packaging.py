"""A built wheel is a working product: prompts and templates ship inside it, nothing reads the checkout.

The wheel is built and installed into a fresh virtual environment without the network: build without
isolation (the test environment has setuptools) and the dependencies taken from this environment
through a ``.pth`` line, so the only copy of ``pipeline`` the new interpreter can import is the wheel's.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import PDFS, ROOT

from pipeline.devtools.devserver import FakeServer


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv holding only the built wheel of this checkout."""
    base = tmp_path_factory.mktemp("wheel")
    # A copy, so that neither a stale build/ folder of the checkout nor this build's leftovers count.
    source = base / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "summaries"))
    dist = base / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(dist), str(source)], check=True, capture_output=True, text=True)
    (wheel,) = dist.glob("pipeline-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, capture_output=True, text=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # Appended after the venv's own site-packages, and .pth files inside are not run: this
    # environment's editable install of pipeline stays invisible to the new interpreter.
    (Path(purelib) / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
    return python


def _run(python: Path, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_wheel_carries_prompts_and_templates(installed: Path, tmp_path: Path) -> None:
    probe = ("import pipeline, pathlib; p = pathlib.Path(pipeline.__file__).parent; "
             "print(p); print(sorted(x.name for x in (p / 'prompts').glob('*.j2'))); "
             "print(sorted(x.name for x in (p / 'listing' / 'templates').glob('*.j2'))); "
             "print(sorted(x.name for x in (p / 'desk' / 'templates').glob('*.html'))); "
             "print(sorted(x.name for x in (p / 'desk' / 'static').iterdir()))")
    out = subprocess.run([str(installed), "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert not out[0].startswith(str(ROOT)), f"the installed interpreter imports the checkout: {out[0]}"
    assert not (Path(out[0]) / "prompts").is_symlink()
    assert eval(out[1]) == sorted(p.name for p in (ROOT / "prompts").glob("*.j2"))
    assert eval(out[2]) == ["list.md.j2", "native.md.j2"]
    desk = ROOT / "pipeline" / "desk"
    assert eval(out[3]) == sorted(p.name for p in (desk / "templates").glob("*.html"))
    assert eval(out[4]) == sorted(p.name for p in (desk / "static").iterdir()) == ["desk.css", "desk.js"]


def test_the_installed_wheel_summarizes_from_another_folder(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    pdf = PDFS / "mixmatch_1905.02249.pdf"
    with FakeServer() as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "dev-server",
               "PIPELINE_CACHE_DIR": str(tmp_path / "cache")}
        env.pop("PIPELINE_PROMPTS_DIR", None)
        done = _run(installed, "summarize", str(pdf), cwd=work, env=env)
        assert done.returncode == 0, done.stderr
    draft = work / "summaries" / "1905.02249.yaml"
    assert draft.is_file(), done.stdout + done.stderr
    checked = _run(installed, "validate", str(draft), cwd=work, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
