"""The preview route: docsort's own PNG of a PDF's or an image's first page, cached, with
headers that let it be nothing but an image; never the uploaded bytes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from PIL import Image

from app.settings import Settings
from app.web import preview

from .conftest import upload
from .documents import pdf_bytes


def png_bytes(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), "white").save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 190, 170)).save(out, "JPEG")
    return out.getvalue()


async def file_id(client: AsyncTestClient, cls_id: str, name: str, data: bytes) -> str:
    batch = await upload(client, cls_id, {name: data})
    listed = await client.get(f"/v1/classifications/{cls_id}/batches/{batch['id']}")
    return listed.json()["files"][0]["id"]


def size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


async def test_a_pdf_page_is_rendered_800_wide_and_cached(
    client: AsyncTestClient, settings: Settings, inbox: dict[str, Any]
) -> None:
    fid = await file_id(client, inbox["id"], "a.pdf", pdf_bytes("INVOICE 42\nTotal due: 10"))
    url = f"/classifications/{inbox['id']}/files/{fid}/preview.png"
    response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-security-policy"] == "default-src 'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"].startswith("private, max-age=")
    width, height = size(response.content)
    assert width == 800 and 1100 < height < 1150  # A4's proportions
    cached = settings.data_dir / "previews" / f"{fid}.png"
    assert cached.read_bytes() == response.content
    cached.write_bytes(png_bytes(3, 3))  # a second request is served from the cache
    again = await client.get(url)
    assert size(again.content) == (3, 3)


async def test_an_image_is_scaled_and_never_served_as_uploaded(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    uploaded = jpeg_bytes(2400, 1200)
    fid = await file_id(client, inbox["id"], "scan.jpg", uploaded)
    response = await client.get(f"/classifications/{inbox['id']}/files/{fid}/preview.png")
    assert response.status_code == 200
    assert response.content != uploaded and response.content.startswith(b"\x89PNG")
    assert size(response.content) == (800, 400)


async def test_a_small_image_keeps_its_size_and_a_tall_one_its_top(tmp_path: Path) -> None:
    small, tall = tmp_path / "small", tmp_path / "tall"
    small.write_bytes(png_bytes(300, 200, "LA"))
    tall.write_bytes(png_bytes(1000, 4000))
    assert size(preview.render_image(small)) == (300, 200)
    assert size(preview.render_image(tall)) == (800, preview.MAX_HEIGHT)


async def test_text_and_damaged_files_have_no_preview(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    text = await file_id(client, inbox["id"], "a.txt", b"just text")
    damaged = await file_id(client, inbox["id"], "b.pdf", b"%PDF-1.7\nnot really a pdf")
    for fid in (text, damaged):
        response = await client.get(f"/classifications/{inbox['id']}/files/{fid}/preview.png")
        assert response.status_code == 404
        assert "image/png" not in response.headers["content-type"]


async def test_another_classifications_file_has_no_preview_here(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    fid = await file_id(client, inbox["id"], "a.png", png_bytes(100, 100))
    other = await client.post(
        "/v1/classifications", json={"name": "Other", "categories": [{"name": "X"}]}
    )
    other_id = other.json()["classification"]["id"]
    response = await client.get(f"/classifications/{other_id}/files/{fid}/preview.png")
    assert response.status_code == 404
    mine = await client.get(f"/classifications/{inbox['id']}/files/{fid}/preview.png")
    assert mine.status_code == 200


async def test_an_examples_file_has_no_preview(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    category = inbox["categories"][0]["id"]
    response = await client.post(
        f"/v1/classifications/{inbox['id']}/categories/{category}/examples",
        files=[("files", ("e.png", png_bytes(50, 50), "image/png"))],
    )
    example = response.json()["examples"][0]["id"]
    shown = await client.get(f"/classifications/{inbox['id']}/files/{example}/preview.png")
    assert shown.status_code == 404


def test_opening_text_is_cut(tmp_path: Path) -> None:
    source = tmp_path / "long"
    source.write_text("word " * 2000)
    text = preview.opening_text(source)
    assert len(text) <= preview.OPENING_CHARS + 2 and text.endswith(" …")
