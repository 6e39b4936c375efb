"""read_document on every format it reads and every bad input it refuses; each file is made
here: PDFs, EPUB, FB2 and SVG with PyMuPDF or by hand, images rendered by PyMuPDF and saved by
Pillow, emails with the stdlib, Word files and archives with zipfile and tarfile."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from app.reading import Document, UnreadableFile, ocr, read_document, read_documents
from app.reading.budget import budget_chars, estimate_tokens, fit
from app.reading.plaintext import decode

from .conftest import upload
from .documents import READ_BEFORE, ledger_bytes, report_pdf_bytes

# Eleven words, so that pages made from them differ beyond their digits.
TOPICS = "apples boilers cranes dairy engines ferries grain harbours iron jute kilns".split()


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


def picture(text: str, *, width: int = 420, height: int = 90) -> Image.Image:
    """`text` rendered in black on white, as a scanner or a phone would see it."""
    doc = pymupdf.open()
    page = doc.new_page(width=width, height=height)
    for number, line in enumerate(text.split("\n")):
        page.insert_text((16, 40 + 32 * number), line, fontsize=22)
    pixmap = page.get_pixmap(dpi=144)
    return Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)


def image_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def zip_bytes(files: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def docx_bytes(body: str) -> bytes:
    """A minimal Word file: the parts Word needs, with `body` as the document's XML body."""
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    return zip_bytes(
        {
            "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.'
            'openxmlformats.org/package/2006/content-types"><Default Extension="xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
            'document.main+xml"/></Types>',
            "word/document.xml": f'<?xml version="1.0"?><w:document xmlns:w="{ns}">'
            f"<w:body>{body}</w:body></w:document>",
        }
    )


def paragraph(*runs: str) -> str:
    return "<w:p>" + "".join(f"<w:r>{run}</w:r>" for run in runs) + "</w:p>"


def epub_bytes(chapters: list[str]) -> bytes:
    items = "".join(
        f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
        for i in range(len(chapters))
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    files: dict[str, str | bytes] = {
        "mimetype": "application/epub+zip",
        "META-INF/container.xml": '<?xml version="1.0"?><container version="1.0" xmlns="urn:'
        'oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/'
        'book.opf" media-type="application/oebps-package+xml"/></rootfiles></container>',
        "OEBPS/book.opf": '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf"'
        ' version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements'
        '/1.1/"><dc:identifier id="id">b1</dc:identifier><dc:title>Manual</dc:title>'
        f"<dc:language>en</dc:language></metadata><manifest>{items}</manifest>"
        f"<spine>{spine}</spine></package>",
    }
    for i, text in enumerate(chapters):
        files[f"OEBPS/c{i}.xhtml"] = (
            '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
            f"<head><title>c{i}</title></head><body><p>{text}</p></body></html>"
        )
    return zip_bytes(files)


# PDF ----------------------------------------------------------------------------------


def test_pdf_text_layer(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", ["Invoice 2024-17", "Total due: 120 EUR"])

    document = read_document(path, 750)

    assert (document.kind, document.page_count, document.pages_used) == ("pdf", 2, (1, 2))
    assert document.text == "Invoice 2024-17\n\nTotal due: 120 EUR"


def test_figures_cost_a_token_a_digit_so_fewer_of_them_fit() -> None:
    prose = "The committee met on a quiet morning and agreed on the plan. " * 20
    figures = "Item 1042 qty 3 at 12.50 = 37.50 EUR, ref 20240117-0031\n" * 20
    assert estimate_tokens("abcd1234") == 5
    assert len(fit(prose, 50)) <= budget_chars(50)
    assert len(fit(figures, 50)) < len(fit(prose, 50)) / 1.5
    for text in (prose, figures):
        assert 40 <= estimate_tokens(fit(text, 50)) <= 55
    assert fit("A short note.", 50) == "A short note."


def test_pdf_budget_takes_the_first_pages_and_the_end_of_the_last(tmp_path: Path) -> None:
    pages = [f"Page {n} is about {TOPICS[n]}, " + "and more " * 8 for n in range(10)]
    path = make_pdf(tmp_path / "a.pdf", pages)

    document = read_document(path, 80)

    assert len(document.text) <= budget_chars(80)
    assert document.text.startswith("Page 0 is about apples")
    assert "\n\nPage 1 is about boilers" in document.text
    assert "\n\n[… 7 pages left out …]\n\nPage 9 is about jute, and more" in document.text
    assert document.text.endswith("and more")
    assert document.pages_used == (1, 2, 10)
    assert document.page_count == 10


@pytest.fixture
def pages_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The numbers of the PDF pages whose text layer was read, in order."""
    get_text = pymupdf.Page.get_text
    read: list[int] = []

    def counting_get_text(page: pymupdf.Page, *args: object, **kwargs: object) -> object:
        read.append(page.number)
        return get_text(page, *args, **kwargs)

    monkeypatch.setattr(pymupdf.Page, "get_text", counting_get_text)
    return read


def test_long_pdf_reads_only_the_pages_it_needs(tmp_path: Path, pages_read: list[int]) -> None:
    pages = [f"Page {n}: report {chr(97 + n % 26)}{chr(97 + n // 26)}" for n in range(500)]
    path = make_pdf(tmp_path / "long.pdf", pages)
    start = time.perf_counter()
    document = read_document(path, 75)

    assert time.perf_counter() - start < 1.0
    assert document.page_count == 500
    assert len(document.text) <= 300
    assert len(pages_read) < 20
    assert document.pages_used is not None and document.pages_used[-1] == 500


def test_running_headers_and_page_numbers_are_kept_once(tmp_path: Path) -> None:
    pages = [
        f"ACME Corp - Annual Report 2025\n{TOPICS[n]} did well this year\nPage {n + 1} of 4"
        for n in range(4)
    ]
    path = make_pdf(tmp_path / "report.pdf", pages)

    text = read_document(path, 500).text

    assert text.count("ACME Corp - Annual Report 2025") == 1
    assert text.count("of 4") == 1
    assert all(f"{topic} did well" in text for topic in TOPICS[:4])


def test_dot_leaders_and_runs_of_whitespace_are_cleaned(tmp_path: Path) -> None:
    page = "Contents  of   the\tbook\nIntroduction ............ 1\nMethods . . . . . 4"
    path = make_pdf(tmp_path / "toc.pdf", [page])

    assert (
        read_document(path, 500).text == "Contents of the book\nIntroduction ... 1\nMethods ... 4"
    )


def test_encrypted_pdf_asks_for_a_password(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "locked.pdf",
        ["secret"],
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        user_pw="user",
        owner_pw="owner",
    )

    with pytest.raises(UnreadableFile, match="encrypted with a password"):
        read_document(path, 750)


@pytest.mark.parametrize("keep", [0.5, 0.1], ids=["half", "tenth"])
def test_truncated_pdf_is_unreadable(tmp_path: Path, keep: float) -> None:
    data = make_pdf(tmp_path / "whole.pdf", ["Invoice"]).read_bytes()
    path = write(tmp_path / "cut.pdf", data[: int(len(data) * keep)])

    with pytest.raises(UnreadableFile, match="damaged"):
        read_document(path, 750)


def test_pdf_header_over_garbage_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "fake.pdf", b"%PDF-1.7\n" + b"\x93garbage\x00" * 200)

    with pytest.raises(UnreadableFile, match="damaged"):
        read_document(path, 750)


def test_blank_pdf_has_no_text_and_says_why(tmp_path: Path) -> None:
    document = read_document(make_pdf(tmp_path / "blank.pdf", ["", ""]), 500)

    assert (document.text, document.page_count, document.pages_used) == ("", 2, ())
    assert "no readable text" in document.no_text_reason


def test_scanned_pdf_page_is_read_by_ocr(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=420, height=90)
    page.insert_image(page.rect, stream=image_bytes(picture("Delivery note 5521"), "PNG"))
    doc.save(tmp_path / "scan.pdf")

    document = read_document(tmp_path / "scan.pdf", 500)

    assert (document.kind, document.page_count, document.pages_used) == ("pdf", 1, (1,))
    assert "Delivery note 5521" in document.text


# Images -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        ("PNG", "png"),
        ("JPEG", "jpeg"),
        ("TIFF", "tiff"),
        ("WEBP", "webp"),
        ("GIF", "gif"),
        ("BMP", "bmp"),
        ("AVIF", "avif"),
    ],
)
def test_images_are_read_by_ocr(tmp_path: Path, fmt: str, kind: str) -> None:
    path = write(tmp_path / "photo", image_bytes(picture("Invoice 2024-17 total due"), fmt))

    document = read_document(path, 500)

    assert (document.kind, document.page_count, document.pages_used) == (kind, 1, (1,))
    assert document.text.replace(" ", "") == "Invoice2024-17totaldue"  # OCR may lose a space


def test_a_png_named_pdf_just_works(tmp_path: Path) -> None:
    path = write(tmp_path / "scan.pdf", image_bytes(picture("Receipt 42"), "PNG"))

    assert read_document(path, 500) == Document("png", "Receipt 42", 1, (1,))


def test_every_page_of_a_tiff_is_a_page(tmp_path: Path) -> None:
    first, second = picture("Service agreement"), picture("Signed by both parties")
    data = image_bytes(first, "TIFF", save_all=True, append_images=[second])

    document = read_document(write(tmp_path / "fax.tif", data), 500)

    assert document.text == "Service agreement\n\nSigned by both parties"
    assert (document.page_count, document.pages_used) == (2, (1, 2))


def test_a_phone_photo_is_turned_upright_from_its_exif(tmp_path: Path) -> None:
    sideways = picture("Parking ticket 77").rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; rotate 90 degrees clockwise
    data = image_bytes(sideways, "JPEG", exif=exif.tobytes())

    assert read_document(write(tmp_path / "IMG_0001.jpg", data), 500).text == "Parking ticket 77"


def test_dark_text_on_a_transparent_background_is_read(tmp_path: Path) -> None:
    ink = picture("Memo to all staff").convert("L").point(lambda v: 255 - v)
    clear = Image.new("RGBA", ink.size, (0, 0, 0, 0))
    clear.putalpha(ink)

    assert read_document(write(tmp_path / "a.png", image_bytes(clear, "PNG")), 500).text == (
        "Memo to all staff"
    )


def test_an_image_without_text_has_no_text_and_says_why(tmp_path: Path) -> None:
    path = write(tmp_path / "sky.png", image_bytes(Image.new("RGB", (300, 200), "skyblue"), "PNG"))

    document = read_document(path, 500)

    assert (document.kind, document.text, document.pages_used) == ("png", "", ())
    assert "OCR found no readable text" in document.no_text_reason


def test_a_truncated_image_is_damaged(tmp_path: Path) -> None:
    data = image_bytes(picture("Invoice"), "PNG")

    with pytest.raises(UnreadableFile, match="PNG image is damaged"):
        read_document(write(tmp_path / "cut.png", data[: len(data) // 2]), 500)


def test_ocr_recognises_only_the_lines_the_budget_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f"Row {chr(65 + n)} of the long scan" for n in range(26)]
    page = picture("\n".join(lines), height=40 + 32 * len(lines))
    engine = ocr._load()
    recognised: list[int] = []
    text_rec = engine.text_rec
    monkeypatch.setattr(
        engine, "text_rec", lambda crops: recognised.append(len(crops)) or text_rec(crops)
    )

    document = read_document(write(tmp_path / "scan.png", image_bytes(page, "PNG")), 10)

    assert document.text.startswith("Row A of the long scan")
    assert recognised == [ocr.CHUNK]


def test_ocr_is_loaded_only_when_an_image_needs_it() -> None:
    code = "import sys, app.reading; print('rapidocr_onnxruntime' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.stdout.strip() == "False", result.stderr


# Text, Markdown, CSV ------------------------------------------------------------------


def test_empty_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="empty"):
        read_document(write(tmp_path / "empty.txt", b""), 750)


def test_binary_junk_is_unsupported(tmp_path: Path) -> None:
    path = write(tmp_path / "data.txt", bytes(range(256)) * 40)

    with pytest.raises(UnreadableFile, match="unsupported file type: docsort reads PDF"):
        read_document(path, 750)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be"])
def test_text_files_in_unicode_encodings(tmp_path: Path, encoding: str) -> None:
    text = "Grüße aus Köln: the contract — § 4, 10 €"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data

    document = read_document(write(tmp_path / "a.txt", data), 750)

    assert document == Document("text", text)


def test_latin1_text_is_read(tmp_path: Path) -> None:
    document = read_document(write(tmp_path / "a.txt", "Straße café".encode("latin-1")), 750)

    assert document.text == "Straße café"


def test_utf8_character_cut_by_the_read_is_not_taken_for_latin1(tmp_path: Path) -> None:
    """16 bytes end halfway through the eighth "é"."""
    assert decode(("a" + "é" * 10).encode()[:16]) == "a" + "é" * 7


def test_text_budget(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"invoice " * 10_000)

    text = read_document(path, 25).text
    assert len(text) <= 100
    assert text.startswith("invoice invoice invoice") and text.endswith("invoice")
    assert "[…]" in text


def test_whitespace_is_cleaned(tmp_path: Path) -> None:
    raw = "\r\n  Invoice\t\t42\u00a0 EUR\r\n\r\n\r\n\r\nTotal   due\f\n  \n"

    document = read_document(write(tmp_path / "a.txt", raw.encode()), 750)

    assert document.text == "Invoice 42 EUR\n\nTotal due"


def test_whitespace_only_text_is_empty(tmp_path: Path) -> None:
    assert read_document(write(tmp_path / "a.txt", b" \n\n \t \r\n"), 750) == Document("text", "")


def test_type_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    text_named_pdf = write(tmp_path / "scan.pdf", b"Plain text invoice")
    pdf_named_text = make_pdf(tmp_path / "notes.txt", ["A real PDF"])

    assert read_document(text_named_pdf, 750) == Document("text", "Plain text invoice")
    assert read_document(pdf_named_text, 750).kind == "pdf"


def test_markdown_and_csv_are_told_from_plain_text(tmp_path: Path) -> None:
    markdown = b"# Meeting notes\n\n- budget agreed\n- see [the plan](plan.md)\n"
    table = b"date,item,amount\n2026-01-02,paper,12.50\n2026-01-03,toner,80.00\n"

    assert read_document(write(tmp_path / "a", markdown), 500).kind == "markdown"
    assert read_document(write(tmp_path / "b", table), 500) == Document(
        "csv", table.decode().strip()
    )
    assert read_document(write(tmp_path / "c", b"Hello, world.\nBye."), 500).kind == "text"


def test_an_mbox_message_is_an_email_and_a_letter_with_a_subject_line_is_not(
    tmp_path: Path,
) -> None:
    mbox = (
        b"From ana@example.com Sat Jan  3 01:05:34 2026\nFrom: ana@example.com\nTo: b@x.org\n\nHi"
    )
    letter = b"Dear Sir,\nSubject: your order\nDate: today\n\nThank you."

    assert read_document(write(tmp_path / "a", mbox), 500).kind == "email"
    assert read_document(write(tmp_path / "b", letter), 500).kind == "text"


def test_rtf_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="RTF documents cannot be read; save it as"):
        read_document(write(tmp_path / "a.rtf", rb"{\rtf1\ansi Hello}"), 500)


# HTML ---------------------------------------------------------------------------------


def test_html_gives_the_readable_text(tmp_path: Path) -> None:
    page = b"""<!DOCTYPE html><html><head><title>Order confirmed</title>
    <style>body { color: red }</style><script>var total = 1;</script></head>
    <body><h1>Thanks for your order</h1><p>Order&nbsp;#12 &amp; receipt:
    two   items</p><table><tr><td>Pens</td><td>3.00</td></tr></table>
    <pre>keep   this</pre></body></html>"""

    document = read_document(write(tmp_path / "page", page), 500)

    assert document == Document(
        "html",
        "Order confirmed\n\nThanks for your order\n\nOrder #12 & receipt: two items\n\n"
        "Pens 3.00\n\nkeep this",
    )


def test_html_of_only_scripts_and_styles_has_no_text(tmp_path: Path) -> None:
    page = b"<html><head><style>p {}</style></head><body><script>go()</script></body></html>"

    assert read_document(write(tmp_path / "app.html", page), 500) == Document("html", "")


def test_html_charset_comes_from_its_meta_tag(tmp_path: Path) -> None:
    page = '<html><head><meta charset="windows-1252"></head><body>Caf\u00e9 – 5 €</body></html>'

    document = read_document(write(tmp_path / "page.html", page.encode("cp1252")), 500)

    assert document.text == "Café – 5 €"


def test_long_html_is_parsed_only_as_far_as_the_budget_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.reading import htmltext

    fed: list[int] = []
    feed = htmltext._Text.feed
    monkeypatch.setattr(
        htmltext._Text, "feed", lambda self, data: fed.append(len(data)) or feed(self, data)
    )
    page = b"<html><body>" + b"<p>Chapter text goes on and on.</p>" * 200_000 + b"</body></html>"

    document = read_document(write(tmp_path / "big.html", page), 100)

    assert len(document.text) == 400
    assert sum(fed) < 200_000


# Email --------------------------------------------------------------------------------


def email_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes()


def test_email_headers_and_body(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = "Ana Lopez <ana@example.com>"
    message["To"] = "accounts@example.org"
    message["Subject"] = "Überweisung für Rechnung 42"
    message["Date"] = "Tue, 03 Mar 2026 10:00:00 +0100"
    message.set_content("Guten Tag,\nbitte zahlen Sie bis Freitag.", charset="iso-8859-1")

    document = read_document(write(tmp_path / "mail.eml", email_bytes(message)), 500)

    assert document == Document(
        "email",
        "From: Ana Lopez <ana@example.com>\nTo: accounts@example.org\n"
        "Subject: Überweisung für Rechnung 42\nDate: Tue, 03 Mar 2026 10:00:00 +0100\n\n"
        "Guten Tag,\nbitte zahlen Sie bis Freitag.",
    )


def test_email_text_part_comes_before_html_and_attachments_are_named(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["Subject"] = "Your order"
    message.set_content("Plain: your order has shipped.")
    message.add_alternative("<p>HTML: your order has <b>shipped</b>.</p>", subtype="html")
    message.add_attachment(b"%PDF-1.7", maintype="application", subtype="pdf", filename="inv.pdf")

    text = read_document(write(tmp_path / "mail.eml", email_bytes(message)), 500).text

    assert text == (
        "From: shop@example.com\nSubject: Your order\nAttachments: inv.pdf\n\n"
        "Plain: your order has shipped."
    )


def test_an_html_only_email_gives_its_text(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = "news@example.com"
    message["Subject"] = "Weekly digest"
    message.set_content(
        "<html><body><h1>Top stories</h1><p>Rain &amp; sun</p></body></html>", subtype="html"
    )

    text = read_document(write(tmp_path / "mail.eml", email_bytes(message)), 500).text

    assert text.endswith("Subject: Weekly digest\n\nTop stories\n\nRain & sun")


def test_an_email_in_an_unknown_charset_is_still_read(tmp_path: Path) -> None:
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Hi\r\n"
        b"Content-Type: text/plain; charset=x-made-up\r\n\r\nCaf\xc3\xa9 at noon\r\n"
    )

    assert read_document(write(tmp_path / "m.eml", raw), 500).text.endswith("Café at noon")


# Word, EPUB and other formats ---------------------------------------------------------


def test_word_document_paragraphs_and_tables(tmp_path: Path) -> None:
    body = (
        paragraph("<w:t>Employment contract</w:t>")
        + paragraph("<w:t>Salary:</w:t>", "<w:tab/>", "<w:t>4000 EUR</w:t>")
        + "<w:tbl><w:tr><w:tc>"
        + paragraph("<w:t>Start</w:t>")
        + "</w:tc><w:tc>"
        + paragraph("<w:t>1 May</w:t>", "<w:br/>", "<w:t>2026</w:t>")
        + "</w:tc></w:tr></w:tbl>"
    )

    document = read_document(write(tmp_path / "c.bin", docx_bytes(body)), 500)

    assert document == Document("docx", "Employment contract\nSalary: 4000 EUR\nStart\n1 May\n2026")


def test_a_truncated_word_document_is_damaged(tmp_path: Path) -> None:
    data = docx_bytes(paragraph("<w:t>Employment contract</w:t>" * 200))

    with pytest.raises(UnreadableFile, match="damaged"):
        read_document(write(tmp_path / "c.docx", data[: len(data) - 40]), 500)


def test_epub_is_read_page_by_page(tmp_path: Path) -> None:
    data = epub_bytes(["User manual of the coffee machine", "Descaling every month"])

    document = read_document(write(tmp_path / "book.epub", data), 500)

    assert document.kind == "epub"
    assert document.text == "User manual of the coffee machine\n\nDescaling every month"
    assert (document.page_count, document.pages_used) == (2, (1, 2))


def test_fb2_and_svg_are_read_by_pymupdf(tmp_path: Path) -> None:
    fb2 = (
        '<?xml version="1.0" encoding="utf-8"?><FictionBook xmlns="http://www.gribuser.ru/'
        'xml/fictionbook/2.0"><body><section><p>The lighthouse keeper</p></section></body>'
        "</FictionBook>"
    )
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="60"><title>plan</title>'
        '<text x="10" y="40" font-size="20">Floor plan</text></svg>'
    )

    assert read_document(write(tmp_path / "a", fb2.encode()), 500).text == "The lighthouse keeper"
    svg_document = read_document(write(tmp_path / "b", svg.encode()), 500)
    assert (svg_document.kind, svg_document.text) == ("svg", "Floor plan")


# Files that are not documents ---------------------------------------------------------


def tar_bytes() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("invoice.txt")
        info.size = 7
        tar.addfile(info, io.BytesIO(b"Invoice"))
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (zip_bytes({"a.pdf": b"%PDF-1.7", "b.txt": "hi"}), "ZIP archive, not a document"),
        (tar_bytes(), "tar archive"),
        (b"\x1f\x8b\x08\x00" + bytes(100), "gzip archive"),
        (b"7z\xbc\xaf\x27\x1c" + bytes(100), "7-Zip archive"),
        (b"Rar!\x1a\x07\x01\x00" + bytes(100), "RAR archive"),
        (b"PK\x03\x04" + bytes(100), "ZIP-based file is damaged"),
        (zip_bytes({"xl/workbook.xml": "<workbook/>"}), "Excel and PowerPoint files"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old-style or password-protected"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(100), "HEIC photos cannot be read yet"),
        (b"\x00\x00\x00\x18ftypisom" + bytes(100), "audio or video"),
    ],
    ids=["zip", "tar", "gzip", "7z", "rar", "bad-zip", "xlsx", "doc", "heic", "mp4"],
)
def test_files_that_are_not_documents_fail_with_a_reason(
    tmp_path: Path, data: bytes, message: str
) -> None:
    with pytest.raises(UnreadableFile, match=message):
        read_document(write(tmp_path / "upload.pdf", data), 500)


def test_a_reader_tripping_on_odd_input_is_a_clear_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.reading import plaintext

    def trip(*args: object) -> Document:
        raise ValueError("unexpected byte")

    monkeypatch.setattr(plaintext, "open_text", trip)

    with pytest.raises(UnreadableFile, match=r"this text file could not be read \(unexpected"):
        read_document(write(tmp_path / "a.txt", b"hello"), 500)


# One read for several budgets (a verdict's and its chained extraction's) ----------------

MADE = {"report.pdf": report_pdf_bytes, "ledger.txt": ledger_bytes}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("order", [(500, 1000), (1000, 500)], ids=["verdict-first", "last"])
@pytest.mark.parametrize("name", list(MADE))
def test_a_file_read_for_two_budgets_gives_each_the_text_it_had_alone(
    tmp_path: Path, name: str, order: tuple[int, int]
) -> None:
    path = write(tmp_path / name, MADE[name]())

    documents = read_documents(path, order)

    for tokens, document in zip(order, documents, strict=True):
        assert isinstance(document, Document)
        assert sha256(document.text) == READ_BEFORE[name][tokens]  # byte for byte as before
        assert document == read_document(path, tokens)
    assert documents[0].text != documents[1].text


def test_two_budgets_read_each_page_once(tmp_path: Path, pages_read: list[int]) -> None:
    path = write(tmp_path / "report.pdf", report_pdf_bytes())
    verdict, extraction = read_documents(path, [500, 1000])

    assert isinstance(verdict, Document) and isinstance(extraction, Document)
    assert (verdict.pages_used, extraction.pages_used) == ((1, 8), (1, 2, 8))
    assert sorted(pages_read) == [0, 1, 7]  # the pages either used, each once


def test_two_budgets_recognise_each_scanned_line_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f"Row {chr(65 + n)} of the long scan" for n in range(ocr.CHUNK + 1)]
    doc = pymupdf.open()
    page = doc.new_page(width=420, height=40 + 32 * len(lines))
    scan = picture("\n".join(lines), height=40 + 32 * len(lines))
    page.insert_image(page.rect, stream=image_bytes(scan, "PNG"))
    path = tmp_path / "scan.pdf"
    doc.save(path)
    engine = ocr._load()
    recognised: list[int] = []
    text_rec = engine.text_rec
    monkeypatch.setattr(
        engine, "text_rec", lambda crops: recognised.append(len(crops)) or text_rec(crops)
    )

    verdict, extraction = read_documents(path, [10, 150])
    once, recognised[:] = list(recognised), []
    small = read_document(path, 10)
    small_crops, recognised[:] = list(recognised), []
    large = read_document(path, 150)

    assert (verdict, extraction) == (small, large)
    assert isinstance(large, Document) and "Row M of the long scan" in large.text
    assert small_crops == [ocr.CHUNK]
    # The larger budget went on from the lines the smaller one had recognised.
    assert once == recognised == [ocr.CHUNK, 1]


def test_a_budget_the_file_fails_for_does_not_fail_a_smaller_one(tmp_path: Path) -> None:
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(paragraph(f"<w:t>Clause {n} of the lease</w:t>") for n in range(40))
    xml = f'<?xml version="1.0"?><w:document xmlns:w="{ns}"><w:body>{body}<w:p><w:r><w:t>'
    path = write(tmp_path / "lease.docx", zip_bytes({"word/document.xml": xml}))  # XML cut short

    small, large = read_documents(path, [20, 500])

    assert small == read_document(path, 20)
    assert isinstance(small, Document) and small.text.startswith("Clause 0 of the lease\n")
    assert isinstance(large, UnreadableFile) and "Word document is damaged" in str(large)
    # A budget after one that failed is not read: it gets that failure.
    first, second = read_documents(path, [500, 20])
    assert isinstance(first, UnreadableFile) and second is first


# In the worker: each bad file fails alone ---------------------------------------------


async def test_bad_files_fail_alone_in_a_batch(client, inbox, worker, fake_model) -> None:  # type: ignore[no-untyped-def]
    good_pdf = pymupdf.open()
    good_pdf.new_page().insert_text((72, 72), "Invoice 7 from ACME")
    files = {
        "invoice.pdf": good_pdf.tobytes(),
        "empty.txt": b"",
        "junk.bin": bytes(range(256)) * 8,
        "cut.pdf": good_pdf.tobytes()[:200],
        "photos.zip": zip_bytes({"a.jpg": b"\xff\xd8\xff"}),
        "blank.txt": b" \n\t\n",
        "sky.png": image_bytes(Image.new("RGB", (120, 80), "skyblue"), "PNG"),
        "receipt.pdf": image_bytes(picture("Receipt 42"), "PNG"),
    }
    batch = await upload(client, inbox["id"], files)

    await worker.drain()

    view = (await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")).json()
    by_name = {f["file_name"]: f for f in view["files"]}
    assert view["batch"]["status"] == "processed"
    assert by_name["invoice.pdf"]["classified_category_name"] == "Invoice"
    assert by_name["invoice.pdf"]["document"] == {"type": "pdf", "page_count": 1, "pages_used": [1]}
    assert by_name["receipt.pdf"]["classified_category_name"] == "Receipt"
    assert by_name["receipt.pdf"]["document"]["type"] == "png"
    errors = {name: f["error"] for name, f in by_name.items() if f["status"] == "failed"}
    assert set(errors) == {"empty.txt", "junk.bin", "cut.pdf", "photos.zip"}
    assert errors["empty.txt"] == "the file is empty"
    assert errors["junk.bin"].startswith("unsupported file type")
    assert "damaged" in errors["cut.pdf"]
    assert "ZIP archive" in errors["photos.zip"]
    assert by_name["empty.txt"]["document"] is None
    for name, reason in [("blank.txt", "no readable text"), ("sky.png", "OCR found no")]:
        assert by_name[name]["status"] == "processed"
        assert by_name[name]["classified_category_id"] is None
        assert reason in by_name[name]["classification_reasoning"]
    assert len(fake_model.calls) == 2  # the invoice and the receipt; nothing else asked


def test_a_long_text_shows_its_start_and_its_end(tmp_path: Path) -> None:
    lines = [f"item {i:04d}  1.00" for i in range(2000)]
    path = tmp_path / "receipt.txt"
    path.write_text("SUPERMART RECEIPT\n" + "\n".join(lines) + "\nTOTAL 2000.00\nCHANGE 0.00\n")
    document = read_document(path, 100)
    assert document.text.startswith("SUPERMART RECEIPT\nitem 0000")
    assert document.text.endswith("TOTAL 2000.00\nCHANGE 0.00")
    assert "[…]" in document.text and "item 1000" not in document.text
    assert len(document.text) <= 400


def test_a_text_just_over_budget_keeps_its_end_too(tmp_path: Path) -> None:
    path = tmp_path / "letter.txt"
    path.write_text("Dear Sir,\n" + "blah " * 100 + "\nYours sincerely,\nAnn")
    document = read_document(path, 50)
    assert document.text.startswith("Dear Sir,")
    assert document.text.endswith("Yours sincerely,\nAnn")
    assert len(document.text) <= 200


def test_lines_without_a_word_are_dropped(tmp_path: Path) -> None:
    raw = "Form 3903\n.\n.\n.\n1 Transportation\n. .\n$\n2 Travel\n\n---\n\nSign here"

    document = read_document(write(tmp_path / "form.txt", raw.encode()), 750)

    assert document.text == "Form 3903\n1 Transportation\n2 Travel\n\nSign here"
