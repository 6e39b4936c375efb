"""read_document on PDFs made here with PyMuPDF and on text files in several encodings."""

from __future__ import annotations

import time
from pathlib import Path

import pymupdf
import pytest

from app.text import Document, UnreadableFile, read_document


def make_pdf(path: Path, pages: list[str], **save_options: object) -> Path:
    doc = pymupdf.open()
    for text in pages:
        doc.new_page().insert_text((72, 72), text)
    doc.save(path, **save_options)
    doc.close()
    return path


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_pdf_text_layer(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", ["Invoice 2024-17", "Total due: 120 EUR"])

    document = read_document(path, 3000)

    assert (document.kind, document.page_count) == ("pdf", 2)
    assert document.text == "Invoice 2024-17\n\nTotal due: 120 EUR"


def test_pdf_reading_stops_at_the_budget(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", [f"Page {n}: lorem ipsum dolor sit" for n in range(1, 11)])

    document = read_document(path, 80)

    assert len(document.text) == 80
    assert document.text.startswith("Page 1: lorem")
    assert "Page 3" in document.text and "Page 4" not in document.text
    assert document.page_count == 10


def test_long_pdf_reads_only_the_pages_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_pdf(tmp_path / "long.pdf", [f"Page {n}: quarterly report" for n in range(300)])
    get_text = pymupdf.Page.get_text
    pages_read: list[int] = []

    def counting_get_text(page: pymupdf.Page, *args: object, **kwargs: object) -> object:
        pages_read.append(page.number)
        return get_text(page, *args, **kwargs)

    monkeypatch.setattr(pymupdf.Page, "get_text", counting_get_text)
    start = time.perf_counter()
    document = read_document(path, 300)

    assert time.perf_counter() - start < 1.0
    assert document.page_count == 300
    assert len(document.text) == 300
    assert len(pages_read) < 20


def test_encrypted_pdf_asks_for_a_password(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "locked.pdf",
        ["secret"],
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        user_pw="user",
        owner_pw="owner",
    )

    with pytest.raises(UnreadableFile, match="password"):
        read_document(path, 3000)


@pytest.mark.parametrize("keep", [0.5, 0.1], ids=["half", "tenth"])
def test_truncated_pdf_is_unreadable(tmp_path: Path, keep: float) -> None:
    data = make_pdf(tmp_path / "whole.pdf", ["Invoice"]).read_bytes()
    path = write(tmp_path / "cut.pdf", data[: int(len(data) * keep)])

    with pytest.raises(UnreadableFile, match="damaged"):
        read_document(path, 3000)


def test_pdf_header_over_garbage_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "fake.pdf", b"%PDF-1.7\n" + b"\x93garbage\x00" * 200)

    with pytest.raises(UnreadableFile, match="damaged"):
        read_document(path, 3000)


def test_empty_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="empty"):
        read_document(write(tmp_path / "empty.txt", b""), 3000)


def test_binary_junk_is_unsupported(tmp_path: Path) -> None:
    path = write(tmp_path / "photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)

    with pytest.raises(UnreadableFile, match="unsupported"):
        read_document(path, 3000)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be"])
def test_text_files_in_unicode_encodings(tmp_path: Path, encoding: str) -> None:
    text = "Grüße aus Köln: the contract — § 4, 10 €"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data

    document = read_document(write(tmp_path / "a.txt", data), 3000)

    assert document == Document("text", text)


def test_latin1_text_is_read(tmp_path: Path) -> None:
    document = read_document(write(tmp_path / "a.txt", "Straße café".encode("latin-1")), 3000)

    assert document.text == "Straße café"


def test_utf8_character_cut_by_the_read_is_not_taken_for_latin1(tmp_path: Path) -> None:
    """A budget of 3 reads 12 bytes, which end halfway through the sixth "é"."""
    path = write(tmp_path / "a.txt", ("a" + "é" * 10).encode())

    assert read_document(path, 3).text == "aéé"


def test_text_budget(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"invoice " * 10_000)

    assert read_document(path, 100).text == ("invoice " * 13)[:100]


def test_whitespace_is_cleaned(tmp_path: Path) -> None:
    raw = "\r\n  Invoice\t\t42\u00a0 EUR\r\n\r\n\r\n\r\nTotal   due\f\n  \n"

    document = read_document(write(tmp_path / "a.txt", raw.encode()), 3000)

    assert document.text == "Invoice 42 EUR\n\nTotal due"


def test_type_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    text_named_pdf = write(tmp_path / "scan.pdf", b"Plain text invoice")
    pdf_named_text = make_pdf(tmp_path / "notes.txt", ["A real PDF"])

    assert read_document(text_named_pdf, 3000) == Document("text", "Plain text invoice")
    assert read_document(pdf_named_text, 3000).kind == "pdf"
